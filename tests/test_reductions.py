"""Reductions, scans and softmax against NumPy in float64: every dtype where the op makes
sense, sizes 0 to 1000, every axis (negative too), tuples of axes, keepdims, non-contiguous
views, empty reductions, bad axes, and the large sizes that split work across threads."""

import contextlib
import itertools
import warnings

import numpy as np
import pytest

import tensorlogic as tl
from helpers import ALL, FLOATS, INTS, NP, RTOL, random_array, to_f64

SHAPES = [(), (0,), (1,), (7,), (33,), (1000,), (7, 33), (33, 7), (0, 5), (3, 0, 4),
          (4, 5, 6), (2, 3, 1, 5)]
# Accumulation error allowed, relative to the sum of |terms|: f32 accumulation for
# f16/bf16/f32, f64 for float64.
ACC = {tl.float16: 1e-5, tl.bfloat16: 1e-5, tl.float32: 1e-5, tl.float64: 1e-12}
EXACT = INTS + [tl.bool]


def axes_cases(ndim):
    """None, no axis, each axis (also negative), and tuples of axes."""
    cases = [None, ()] + [a for d in range(ndim) for a in (d, d - ndim)]
    cases += [(0, ndim - 1), (-1, 0)] if ndim >= 2 else []
    return cases + ([(0, 2), (1, 2), tuple(range(ndim))] if ndim >= 3 else [])


def reduced_count(shape, axis):
    axes = range(len(shape)) if axis is None else [axis] if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def rand(rng, shape, dtype):
    return np.asarray(random_array(rng, shape, dtype))  # an array even when 0-d


def make_input(rng, shape, dtype, near_one=False):
    """Random values; products get values near +-1 so they neither overflow nor vanish."""
    if near_one and dtype in FLOATS:
        mag = rng.uniform(0.9, 1.1, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return np.asarray(mag, dtype=NP[dtype])
    return rand(rng, shape, dtype)


def check_accumulated(got, want, scale, dtype, acc, msg=""):
    """|got - want| within acc * scale (accumulation) plus one rounding to dtype."""
    got = np.asarray(got)
    assert got.shape == np.shape(want), msg
    if dtype in EXACT:
        return np.testing.assert_array_equal(got, want, err_msg=msg)
    got, want = to_f64(got), np.asarray(want, dtype=np.float64)
    tol = acc * np.asarray(scale) + RTOL[dtype] * np.abs(want) + 1e-300
    with quiet():
        bad = ~((np.abs(got - want) <= tol) | (np.isnan(got) & np.isnan(want)) | (got == want))
    assert not bad.any(), f"{msg}: got {got[bad][:5]} want {want[bad][:5]}"


@contextlib.contextmanager
def quiet():
    """NumPy's references warn on empty slices and inf - inf; the values are what we test."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def tensor(x, dtype, device):
    return tl.asarray(x, dtype=dtype, device=device)


# ---- sum, prod, max, min, any, all, mean ----

def expected_dtype(name, dtype):
    if name in ("any", "all"):
        return tl.bool
    if dtype in FLOATS or name in ("max", "min"):
        return dtype
    return tl.float32 if name == "mean" else tl.int64


def reference(name, x, axis, keepdims, dtype):
    """(value, scale of the accumulation error, allowed relative accumulation error)."""
    if name in ("sum", "prod") and dtype in EXACT:  # int64 arithmetic wraps like ours
        fn = np.sum if name == "sum" else np.prod
        return fn(x.astype(np.int64), axis=axis, keepdims=keepdims), 0, 0
    x64 = to_f64(x)
    if name == "sum":
        return (np.sum(x64, axis=axis, keepdims=keepdims),
                np.sum(np.abs(x64), axis=axis, keepdims=keepdims), ACC.get(dtype, 0))
    if name == "mean":
        with quiet():
            want = np.mean(x64, axis=axis, keepdims=keepdims)
            scale = np.mean(np.abs(x64), axis=axis, keepdims=keepdims)
        return want, np.nan_to_num(scale), ACC.get(dtype, 1e-5)
    if name == "prod":
        want = np.prod(x64, axis=axis, keepdims=keepdims)
        return want, np.abs(want), 0 if dtype == tl.float64 else 1e-4
    fn = {"max": np.max, "min": np.min, "any": np.any, "all": np.all}[name]
    want = fn(x64, axis=axis, keepdims=keepdims)
    if name in ("any", "all") or dtype == tl.bool:
        want = want.astype(bool)
    return want, 0, 0


def check_reduce(name, t, x, dtype, axis, keepdims=False):
    msg = f"{name} {x.shape} axis={axis} keepdims={keepdims}"
    got = getattr(tl, name)(t, axis=axis, keepdims=keepdims)
    assert got.dtype == expected_dtype(name, dtype), msg
    want, scale, acc = reference(name, x, axis, keepdims, dtype)
    check_accumulated(got, want, scale, expected_dtype(name, dtype), acc, msg)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL, ids=str)
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "any", "all", "mean"])
def test_reduce(device, rng, name, dtype, shape):
    x = make_input(rng, shape, dtype, near_one=name == "prod")
    t = tensor(x, dtype, device)
    for axis, keepdims in itertools.product(axes_cases(len(shape)), (False, True)):
        if name in ("max", "min") and reduced_count(shape, axis) == 0:
            with pytest.raises(ValueError, match="zero-size array"):
                getattr(tl, name)(t, axis=axis, keepdims=keepdims)
        else:
            check_reduce(name, t, x, dtype, axis, keepdims)


def views(t, a):
    """Pairs of the same non-contiguous view of a tensor and of its NumPy source."""
    return [(t.T, a.T), (t[::2, 1::3], a[::2, 1::3]), (t[::-1, ::2], a[::-1, ::2]),
            (t[1:, None, ::3], a[1:, None, ::3])]


@pytest.mark.parametrize("dtype", [tl.float32, tl.float16, tl.bfloat16, tl.float64, tl.int32,
                                   tl.uint8, tl.bool], ids=str)
@pytest.mark.parametrize("name", ["sum", "max", "min", "any", "mean", "prod"])
def test_reduce_non_contiguous(device, rng, name, dtype):
    base = make_input(rng, (33, 40), dtype, near_one=name == "prod")
    t = tensor(base, dtype, device)
    for tv, av in views(t, base):
        for axis in axes_cases(av.ndim):
            check_reduce(name, tv, av, dtype, axis)


# Shapes that take the parallel paths: one long reduction split into partials, few long
# rows, few columns accumulated over many rows, and many short outputs.
LARGE = [((1 << 20) + 3,), (3, 200_001), (200_001, 3), (1000, 300), (300, 1000), (64, 70_000)]


@pytest.mark.parametrize("shape", LARGE, ids=str)
@pytest.mark.parametrize("dtype", [tl.float32, tl.float16, tl.bfloat16, tl.float64, tl.int32],
                         ids=str)
def test_reduce_large(device, rng, dtype, shape):
    x = rand(rng, shape, dtype)
    t = tensor(x, dtype, device)
    for axis in [None] + list(range(len(shape))):
        for name in ("sum", "max", "mean"):
            check_reduce(name, t, x, dtype, axis)
        check_arg("argmax", t, x, axis)


def test_sum_f32_accuracy_large(device, rng):
    x = rng.uniform(0.0, 1.0, size=1 << 22).astype(np.float32)
    want = np.sum(x.astype(np.float64))
    assert abs(float(np.asarray(tl.sum(tensor(x, tl.float32, device)))) - want) <= 1e-6 * want


def test_mean_float16_does_not_overflow(device, rng):
    x = rng.uniform(400, 600, size=1000).astype(np.float16)  # the f16 sum would be inf
    got = tl.mean(tensor(x, tl.float16, device))
    assert got.dtype == tl.float16
    np.testing.assert_allclose(to_f64(got), np.mean(to_f64(x)), rtol=2e-3)


def test_reduce_nan_propagates(device):
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -1.0]], dtype=np.float32)
    t = tensor(x, tl.float32, device)
    for name in ("sum", "max", "min", "mean", "prod"):
        got = np.asarray(getattr(tl, name)(t, axis=1))
        assert np.isnan(got[0]) and not np.isnan(got[1]), name
    assert bool(np.asarray(tl.any(t))) and bool(np.asarray(tl.all(t)))


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_empty_reductions(device, dtype):
    t = tensor(np.zeros((0, 3), dtype=NP[dtype]), dtype, device)
    assert np.asarray(tl.sum(t, axis=0)).tolist() == [0, 0, 0]
    assert np.asarray(tl.prod(t, axis=0)).tolist() == [1, 1, 1]
    assert np.asarray(tl.any(t, axis=0)).tolist() == [False] * 3
    assert np.asarray(tl.all(t, axis=0)).tolist() == [True] * 3
    assert np.isnan(to_f64(tl.mean(t, axis=0))).all()
    assert np.asarray(tl.max(t, axis=1)).shape == (0,)
    for name in ("max", "min"):
        with pytest.raises(ValueError, match=f"operation {name} which has no identity"):
            getattr(tl, name)(t)
    for name, axis in itertools.product(("argmax", "argmin"), (None, 0)):
        with pytest.raises(ValueError, match="empty sequence"):
            getattr(tl, name)(t, axis=axis)
    assert np.asarray(tl.argmax(t, axis=1)).shape == (0,)


# ---- var, std ----

@pytest.mark.parametrize("shape", [(1,), (7,), (33,), (1000,), (7, 33), (4, 5, 6)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [tl.int32, tl.int8, tl.bool], ids=str)
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std(device, rng, name, dtype, shape):
    x = rand(rng, shape, dtype)
    if dtype in FLOATS:  # an offset that a one-pass formula would lose to cancellation
        x = x + np.array(100, dtype=NP[dtype])
    t = tensor(x, dtype, device)
    out_dtype = dtype if dtype in FLOATS else tl.float32
    for axis, ddof, keepdims in itertools.product(axes_cases(len(shape)), (0, 1), (False, True)):
        with quiet():
            want = getattr(np, name)(to_f64(x), axis=axis, ddof=ddof, keepdims=keepdims)
        got = getattr(tl, name)(t, axis=axis, correction=ddof, keepdims=keepdims)
        assert got.dtype == out_dtype
        check_accumulated(got, want, np.abs(want) * 10, out_dtype, ACC[out_dtype],
                          f"{name} axis={axis} ddof={ddof}")


def test_var_empty_and_large_correction(device):
    t = tensor(np.zeros((0,), np.float32), tl.float32, device)
    assert np.isnan(float(np.asarray(tl.var(t))))
    x = tensor(np.array([1.0, 2.0], np.float32), tl.float32, device)
    assert np.isinf(float(np.asarray(tl.var(x, correction=2))))


# ---- logsumexp ----

@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [tl.int32, tl.int64, tl.bool], ids=str)
def test_logsumexp(device, rng, dtype, shape):
    x = rand(rng, shape, dtype)
    t = tensor(x, dtype, device)
    out_dtype = dtype if dtype in FLOATS else tl.float32
    for axis, keepdims in itertools.product(axes_cases(len(shape)), (False, True)):
        with quiet():
            want = np.log(np.sum(np.exp(to_f64(x)), axis=axis, keepdims=keepdims))
        got = tl.logsumexp(t, axis=axis, keepdims=keepdims)
        assert got.dtype == out_dtype
        check_accumulated(got, want, np.abs(want) + 1, out_dtype, 2 * ACC[out_dtype],
                          f"logsumexp axis={axis}")


def test_logsumexp_stable_and_infinite_rows(device):
    x = np.array([[1000.0, 1000.0, 999.0],
                  [-np.inf, -np.inf, -np.inf],
                  [np.inf, 1.0, 2.0],
                  [-1000.0, -np.inf, -1001.0]], dtype=np.float32)
    got = to_f64(tl.logsumexp(tensor(x, tl.float32, device), axis=1))
    m = np.array([1000.0, -np.inf, np.inf, -1000.0])
    want = m + np.log(np.array([2 + np.exp(-1), 1, 1, 1 + np.exp(-1)]))
    np.testing.assert_allclose(got, want, rtol=1e-6)


# ---- argmax, argmin ----

def check_arg(name, t, x, axis, keepdims=False):
    got = getattr(tl, name)(t, axis=axis, keepdims=keepdims)
    assert got.dtype == tl.int64
    want = getattr(np, name)(to_f64(x), axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(np.asarray(got), want,
                                  err_msg=f"{name} {x.shape} axis={axis} keepdims={keepdims}")


@pytest.mark.parametrize("shape", [s for s in SHAPES if 0 not in s], ids=str)
@pytest.mark.parametrize("dtype", ALL, ids=str)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argreduce(device, rng, name, dtype, shape):
    x = rand(rng, shape, dtype)
    if dtype in FLOATS:  # coarse values: many ties, where the first index must win
        x = (np.round(to_f64(x) * 2) / 2).astype(NP[dtype])
    t = tensor(x, dtype, device)
    for axis, keepdims in itertools.product([None, *range(-len(shape), len(shape))], (0, 1)):
        check_arg(name, t, x, axis, bool(keepdims))


@pytest.mark.parametrize("dtype", [tl.float32, tl.float16, tl.bfloat16, tl.float64], ids=str)
def test_argreduce_nan_and_views(device, rng, dtype):
    x = rand(rng, (33, 40), dtype)
    x[3, 5] = x[3, 9] = x[20, 5] = np.nan  # the first NaN wins, as in NumPy
    for tv, av in views(tensor(x, dtype, device), x):
        for axis in [None] + list(range(av.ndim)):
            check_arg("argmax", tv, av, axis)
            check_arg("argmin", tv, av, axis)


# ---- cumsum, cumprod ----

SCAN_SHAPES = [(), (0,), (1,), (7,), (1000,), (7, 33), (33, 7), (4, 5, 6), (3, 0, 2)]


def check_scan(name, t, x, dtype, axis):
    got = getattr(tl, name)(t, axis=axis)
    assert got.dtype == (dtype if dtype in FLOATS else tl.int64)
    msg = f"{name} {x.shape} axis={axis}"
    if dtype in EXACT:  # int64 arithmetic wraps like ours
        want = getattr(np, name)(x.astype(np.int64), axis=axis)
        return np.testing.assert_array_equal(np.asarray(got), want, err_msg=msg)
    x64 = to_f64(x)
    want = getattr(np, name)(x64, axis=axis)
    if name == "cumsum":  # sequential f32 accumulation
        scale, acc = np.cumsum(np.abs(x64), axis=axis), 5 * ACC[dtype]
    else:
        scale, acc = np.abs(want), 0 if dtype == tl.float64 else 1e-4
    check_accumulated(got, want, scale, dtype, acc, msg)


@pytest.mark.parametrize("shape", SCAN_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL, ids=str)
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scan(device, rng, name, dtype, shape):
    x = make_input(rng, shape, dtype, near_one=name == "cumprod")
    t = tensor(x, dtype, device)
    for axis in [None] + list(range(-len(shape), len(shape))):
        check_scan(name, t, x, dtype, axis)


@pytest.mark.parametrize("dtype", [tl.float32, tl.bfloat16, tl.int32], ids=str)
def test_scan_views_and_large(device, rng, dtype):
    base = rand(rng, (33, 40), dtype)
    big = rand(rng, (60, 2100), dtype)  # a scan along axis 0 spans several column tiles
    for tv, av in views(tensor(base, dtype, device), base) + [(tensor(big, dtype, device), big)]:
        for axis in [None] + list(range(av.ndim)):
            check_scan("cumsum", tv, av, dtype, axis)


# ---- softmax, log_softmax ----

def np_log_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


@pytest.mark.parametrize("shape", [(1,), (7,), (1000,), (7, 33), (4, 5, 6), (0, 3)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [tl.int32], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(device, rng, name, dtype, shape):
    x = rand(rng, shape, dtype)
    t = tensor(x, dtype, device)
    out_dtype = dtype if dtype in FLOATS else tl.float32
    for axis in range(-len(shape), len(shape)):
        got = getattr(tl, name)(t, axis=axis)
        assert got.dtype == out_dtype and got.shape == x.shape
        if x.size == 0:
            continue
        want = np_log_softmax(to_f64(x), axis)
        want = np.exp(want) if name == "softmax" else want
        rtol = max(RTOL[out_dtype], 1e-5)
        np.testing.assert_allclose(to_f64(got), want, rtol=rtol, atol=rtol * 0.1,
                                   err_msg=f"{name} axis={axis}")


def test_softmax_stable_and_masked(device):
    x = np.array([[1000.0, 1001.0, -np.inf], [-1e4, -1e4 + 2, 5.0]], dtype=np.float32)
    t = tensor(x, tl.float32, device)
    want = np_log_softmax(x.astype(np.float64), 1)
    np.testing.assert_allclose(to_f64(tl.log_softmax(t)), want, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(to_f64(tl.softmax(t)), np.exp(want), rtol=1e-6, atol=1e-7)
    assert np.asarray(tl.softmax(t))[0, 2] == 0


@pytest.mark.parametrize("shape,dtype,cut", [
    ((9, 8192), tl.float32, None),     # 256 threads a row, 8 vectors each
    ((3, 32768), tl.float32, None),    # 1024 threads a row
    ((41, 1024), tl.float32, None),    # a warp a row, four a block (the last block one)
    ((5, 4100), tl.float32, None),     # the last of a thread's vectors past the row for most threads
    ((1, 1002), tl.float32, None),     # one row: whole vectors, then 2 elements one by one
    ((6, 1004), tl.float32, 1002),     # a view: rows 1004 apart, 1002 long
    ((4, 8200), tl.float16, None),     # 8-element vectors
    ((3, 2056), tl.bfloat16, None),
], ids=str)
def test_multi_pass_rows_kept_in_registers(device, rng, shape, dtype, cut):
    """softmax, log_softmax and layernorm (with a weight row) over rows whose vectors each thread
    keeps in registers across passes on CUDA, against float64."""
    a = rand(rng, shape, dtype)
    t = tensor(a, dtype, device)
    if cut:
        a, t = a[:, :cut], t[:, :cut]
    x = to_f64(a)
    w = rand(rng, (x.shape[1],), dtype)
    rtol = max(RTOL[dtype], 1e-5)
    want = np_log_softmax(x, 1)
    np.testing.assert_allclose(to_f64(tl.log_softmax(t, axis=1)), want, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(to_f64(tl.softmax(t, axis=1)), np.exp(want), rtol=rtol, atol=rtol * 1e-3)
    tw = tensor(w, dtype, device)
    got = (t - t.mean(axis=1, keepdims=True)) / tl.sqrt(t.var(axis=1, keepdims=True) + 1e-5) * tw
    c = x - x.mean(1, keepdims=True)
    np.testing.assert_allclose(to_f64(got), c / np.sqrt(x.var(1, keepdims=True) + 1e-5) * to_f64(w),
                               rtol=rtol * 10, atol=rtol * 10)


@pytest.mark.parametrize("n", [64, 1003, 4096])
def test_softmax_special_values_in_long_rows(device, rng, n):
    """Rows long enough for vector steps (and a scalar tail at 1003): -inf runs before the
    max, a row of -inf, NaN, +inf, huge spreads, as NumPy's two passes in float64 give."""
    x = rng.standard_normal((8, n)).astype(np.float32) * 4
    x[0, :40] = -np.inf
    x[1] = -np.inf
    x[2, n // 2] = np.nan
    x[3, 5] = np.inf
    x[4, -7:] = -np.inf
    x[5] *= 1e30
    x[6, ::3] = -np.inf
    t = tensor(x, tl.float32, device)
    with np.errstate(invalid="ignore", over="ignore"):
        want = np.exp(np_log_softmax(x.astype(np.float64), 1))
        want_log = np_log_softmax(x.astype(np.float64), 1)
    np.testing.assert_allclose(to_f64(tl.softmax(t, axis=1)), want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(to_f64(tl.log_softmax(t, axis=1)), want_log, rtol=1e-5, atol=1e-5)


# ---- methods, errors ----

METHODS = [
    lambda a: a.sum(axis=0, keepdims=True), lambda a: a.mean(axis=1), lambda a: a.std(),
    lambda a: a.prod(axis=-1), lambda a: a.max(), lambda a: a.min(axis=0), lambda a: a.any(),
    lambda a: a.all(), lambda a: a.argmax(axis=0), lambda a: a.argmin(),
    lambda a: a.cumsum(axis=1), lambda a: a.cumprod(axis=0),
]


def test_methods(device, rng):
    x = rand(rng, (5, 6), tl.float32)
    t = tensor(x, tl.float32, device)
    for f in METHODS:
        np.testing.assert_allclose(np.asarray(f(t)), f(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(t.var(correction=1)), x.var(ddof=1), rtol=1e-5)


BAD_AXIS = [("sum", 2), ("sum", -3), ("max", (0, 5)), ("mean", 7), ("var", -9), ("std", 2),
            ("any", 3), ("logsumexp", 2), ("argmax", 2), ("argmin", -3), ("cumsum", 2),
            ("cumprod", -3), ("softmax", 2), ("log_softmax", -3)]


@pytest.mark.parametrize("name,axis", BAD_AXIS, ids=str)
def test_bad_axis(device, rng, name, axis):
    t = tensor(rand(rng, (3, 4), tl.float32), tl.float32, device)
    with pytest.raises(ValueError) as info:
        getattr(tl, name)(t, axis=axis)
    assert isinstance(info.value, IndexError) and isinstance(info.value, tl.AxisError)


def test_repeated_axis(device, rng):
    t = tensor(rand(rng, (3, 4), tl.float32), tl.float32, device)
    with pytest.raises(ValueError, match="repeated axis"):
        tl.sum(t, axis=(1, -1))
