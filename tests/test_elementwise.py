"""Elementwise ops against NumPy in float64: every op of the table, every dtype, odd sizes,
broadcasting, non-contiguous views, empty tensors, weak scalars, in-place operators."""

import math

import numpy as np
import pytest

import tensorlogic as tl
from helpers import ALL, FLOATS, INTS, NP, assert_close, random_array, to_f64

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (reference on float64, input range)
UNARY_FLOAT = {
    "exp": (np.exp, (-5, 5)),
    "expm1": (np.expm1, (-2, 2)),
    "log": (np.log, (0.1, 10)),
    "log1p": (np.log1p, (-0.5, 5)),
    "sqrt": (np.sqrt, (0, 10)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.1, 10)),
    "sin": (np.sin, (-4, 4)),
    "cos": (np.cos, (-4, 4)),
    "tan": (np.tan, (-1.2, 1.2)),
    "tanh": (np.tanh, (-4, 4)),
    "erf": (_erf, (-3, 3)),
    "sigmoid": (_sigmoid, (-8, 8)),
    "silu": (lambda x: x * _sigmoid(x), (-6, 6)),
    "softplus": (lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0), (-8, 8)),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), (-4, 4)),
    "gelu_tanh": (lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))), (-4, 4)),
}
UNARY_KEEP = {
    "negative": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "square": np.square,
    "relu": lambda x: np.maximum(x, 0),
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "trunc": np.trunc,
}
BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "maximum": np.maximum,
    "minimum": np.minimum,
}
COMPARE = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
def _fn(name):
    if name == "gelu_tanh":
        return lambda x: tl.gelu(x, approximate="tanh")
    return getattr(tl, name)


SIZES = [(0,), (1,), (7,), (33,), (1000,), (3, 5, 7)]


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_float(device, rng, name, dtype):
    ref, (lo, hi) = UNARY_FLOAT[name]
    for shape in SIZES:
        a = random_array(rng, shape, dtype, lo, hi)
        got = _fn(name)(tl.asarray(a, device=device))
        assert got.dtype == dtype and got.shape == shape
        rtol, atol = UNARY_TOL[dtype]
        assert_close(got, ref(to_f64(a)), dtype, rtol=rtol, atol=atol)


def test_gelu_keeps_its_relative_accuracy_in_the_negative_tail(device, rng):
    """gelu(x) = x Phi(x) to float32 accuracy across the range, the tail included, where the
    textbook x (1 + erf(x / sqrt 2)) / 2 loses every digit to the cancellation in 1 + erf;
    inf, -inf and NaN as that formula gives them."""
    x = np.concatenate([rng.uniform(-12.5, 12.5, 1000), -np.logspace(-6, 1.09, 33), np.logspace(-6, 1.09, 33)])
    x = x.astype(np.float32)
    x64 = x.astype(np.float64)
    ref = 0.5 * x64 * np.vectorize(math.erfc, otypes=[np.float64])(-x64 / math.sqrt(2))
    got = tl.gelu(tl.asarray(x, device=device)).numpy().astype(np.float64)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=0)
    specials = tl.gelu(tl.asarray(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32), device=device)).numpy()
    assert specials[0] == np.inf and np.isnan(specials[1]) and np.isnan(specials[2])
    assert specials[3] == 0 and specials[4] == 0 and np.signbit(specials[4])


UNARY_TOL = {tl.float32: (8e-6, 1e-6), tl.float64: (1e-12, 1e-12),
             tl.float16: (2e-3, 2e-3), tl.bfloat16: (1.6e-2, 1.6e-2)}


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
def test_unary_float_of_int_gives_float32(device, rng, name):
    ref, (lo, hi) = UNARY_FLOAT[name]
    a = rng.integers(max(math.ceil(lo), 1 if name in ("log", "rsqrt") else math.ceil(lo)), math.floor(hi) + 1, size=50).astype(np.int32)
    got = _fn(name)(tl.asarray(a, device=device))
    assert got.dtype == tl.float32
    assert_close(got, ref(a.astype(np.float64)), tl.float32, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(UNARY_KEEP))
@pytest.mark.parametrize("dtype", [d for d in FLOATS + INTS])
def test_unary_keep(device, rng, name, dtype):
    a = random_array(rng, (257,), dtype, -3.7, 3.7)
    if dtype in FLOATS:
        a[:4] = np.array([0.5, 1.5, -2.5, 2.5]).astype(NP[dtype])  # round half to even
    got = getattr(tl, name)(tl.asarray(a, device=device))
    assert got.dtype == dtype
    want = UNARY_KEEP[name](to_f64(a))
    if dtype in INTS:
        want = want.astype(np.int64).astype(NP[dtype])
    assert_close(got, want, dtype)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", ALL)
def test_binary_arith(device, rng, name, dtype):
    if name == "subtract" and dtype == tl.bool:
        with pytest.raises(TypeError):
            tl.subtract(tl.asarray([True], device=device), tl.asarray([False], device=device))
        return
    for sa, sb in [((33,), (33,)), ((7, 1), (1, 5)), ((4, 3, 5), (5,)), ((0, 3), (1, 3)), ((), (6,))]:
        a, b = random_array(rng, sa, dtype), random_array(rng, sb, dtype)
        got = getattr(tl, name)(tl.asarray(a, device=device), tl.asarray(b, device=device))
        assert got.shape == np.broadcast_shapes(sa, sb)
        assert got.dtype == dtype
        want = BINARY[name](a, b) if dtype not in FLOATS else BINARY[name](to_f64(a), to_f64(b))
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_divide_pow_floordiv_remainder_float(device, rng, dtype):
    a = random_array(rng, (100,), dtype, -5, 5)
    b = random_array(rng, (100,), dtype, 0.5, 3)
    b[::2] *= -1
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    fa, fb = to_f64(a), to_f64(b)
    assert_close(ta / tb, fa / fb, dtype)
    assert_close(tl.floor_divide(ta, tb), np.floor_divide(fa, fb), dtype, atol=1.01)  # rounding of a/b
    assert_close(tl.remainder(ta, tb), np.remainder(fa, fb), dtype, atol=RTOL_ABS(dtype))
    pa = np.abs(fa) + 0.1
    assert_close(tl.asarray(pa.astype(NP[dtype]), device=device) ** tb, to_f64(pa.astype(NP[dtype])) ** fb, dtype)


def RTOL_ABS(dtype):
    return {tl.float16: 1e-2, tl.bfloat16: 5e-2, tl.float32: 1e-5, tl.float64: 1e-12}[dtype]


@pytest.mark.parametrize("dtype", INTS)
def test_integer_division_matches_numpy(device, rng, dtype):
    a = random_array(rng, (200,), dtype)
    b = random_array(rng, (200,), dtype)
    b[b == 0] = 3
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    np.testing.assert_array_equal(np.asarray(ta // tb), a // b)
    np.testing.assert_array_equal(np.asarray(ta % tb), a % b)
    got = ta / tb
    assert got.dtype == tl.float32
    np.testing.assert_allclose(np.asarray(got), a / b, rtol=1e-6)
    # x // 0 gives 0 instead of trapping
    z = tl.asarray(np.zeros(3, NP[dtype]), device=device)
    np.testing.assert_array_equal(np.asarray(tl.asarray(a[:3], device=device) // z), [0, 0, 0])


def test_integer_pow(device):
    a = tl.asarray(np.array([2, -3, 5, 0, 7], np.int64), device=device)
    b = tl.asarray(np.array([10, 3, 0, 4, 2], np.int64), device=device)
    np.testing.assert_array_equal(np.asarray(a**b), [1024, -27, 1, 0, 49])


@pytest.mark.parametrize("name", COMPARE)
@pytest.mark.parametrize("dtype", ALL)
def test_compare(device, rng, name, dtype):
    a = random_array(rng, (5, 7), dtype, -2, 2)
    b = random_array(rng, (7,), dtype, -2, 2)
    a[0, :] = b  # equal elements exist
    got = getattr(tl, name)(tl.asarray(a, device=device), tl.asarray(b, device=device))
    assert got.dtype == tl.bool
    np.testing.assert_array_equal(np.asarray(got), getattr(np, name)(a, b))


@pytest.mark.parametrize("dtype", ALL)
def test_logical(device, rng, dtype):
    a = random_array(rng, (50,), dtype, -1, 1)
    b = random_array(rng, (50,), dtype, -1, 1)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    for name in ("logical_and", "logical_or", "logical_xor"):
        np.testing.assert_array_equal(np.asarray(getattr(tl, name)(ta, tb)), getattr(np, name)(a, b))
    np.testing.assert_array_equal(np.asarray(tl.logical_not(ta)), np.logical_not(a))


@pytest.mark.parametrize("dtype", INTS + [tl.bool])
def test_bitwise(device, rng, dtype):
    a = random_array(rng, (64,), dtype)
    b = random_array(rng, (64,), dtype)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    np.testing.assert_array_equal(np.asarray(ta & tb), a & b)
    np.testing.assert_array_equal(np.asarray(ta | tb), a | b)
    np.testing.assert_array_equal(np.asarray(ta ^ tb), a ^ b)
    np.testing.assert_array_equal(np.asarray(~ta), ~a)
    if dtype != tl.bool:
        s = (np.abs(b) % 5).astype(NP[dtype])
        ts = tl.asarray(s, device=device)
        np.testing.assert_array_equal(np.asarray(ta << ts), a << s)
        np.testing.assert_array_equal(np.asarray(ta >> ts), a >> s)


def test_bitwise_on_float_is_type_error(device):
    x = tl.asarray([1.5, 2.5], device=device)
    with pytest.raises(TypeError, match="bitwise_and.*float32"):
        x & x


@pytest.mark.parametrize("dtype", FLOATS)
def test_predicates(device, dtype):
    a = np.array([0.0, np.nan, np.inf, -np.inf, 1.5, -2.0], dtype=NP[dtype])
    t = tl.asarray(a, device=device)
    for name in ("isnan", "isinf", "isfinite"):
        np.testing.assert_array_equal(np.asarray(getattr(tl, name)(t)), getattr(np, name)(a.astype(np.float64)))


def test_nan_propagates_through_maximum_and_relu(device):
    a = tl.asarray([np.nan, 1.0, -1.0], device=device)
    b = tl.asarray([0.0, np.nan, -2.0], device=device)
    np.testing.assert_array_equal(np.isnan(np.asarray(tl.maximum(a, b))), [True, True, False])
    np.testing.assert_array_equal(np.isnan(np.asarray(tl.minimum(a, b))), [True, True, False])
    assert np.isnan(np.asarray(tl.relu(a))[0])


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_casts(device, rng, src, dst):
    a = random_array(rng, (37,), src, -100, 100)
    got = tl.asarray(a, device=device).astype(dst)
    assert got.dtype == dst
    want = a.astype(np.float64) if src in FLOATS else a
    if dst in INTS and src in FLOATS:
        want = np.trunc(want)
        want = want[(want >= np.iinfo(NP[dst]).min) & (want <= np.iinfo(NP[dst]).max)]
        got = np.asarray(got)[(np.trunc(a.astype(np.float64)) >= np.iinfo(NP[dst]).min) & (np.trunc(a.astype(np.float64)) <= np.iinfo(NP[dst]).max)]
        np.testing.assert_array_equal(got, want.astype(NP[dst]))
        return
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want).astype(NP[dst]))


def test_non_contiguous_inputs(device, rng):
    a = rng.standard_normal((40, 30)).astype(np.float32)
    b = rng.standard_normal((30, 40)).astype(np.float32)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    np.testing.assert_allclose(np.asarray(ta[::3, 1::2] * tb.T[::3, 1::2]), a[::3, 1::2] * b.T[::3, 1::2], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(tl.exp(ta[::-1, ::-2])), np.exp(a[::-1, ::-2]), rtol=1e-6)


def test_where_and_clip(device, rng):
    a = rng.standard_normal((6, 9)).astype(np.float32)
    c = a > 0
    t = tl.asarray(a, device=device)
    np.testing.assert_array_equal(np.asarray(tl.where(t > 0, t, 0.0)), np.where(c, a, 0.0))
    np.testing.assert_array_equal(np.asarray(tl.where(tl.asarray(c, device=device), 1, 2)), np.where(c, 1, 2))
    np.testing.assert_array_equal(np.asarray(tl.clip(t, -0.5, 0.5)), np.clip(a, -0.5, 0.5))
    np.testing.assert_array_equal(np.asarray(tl.clip(t, max=0.1)), np.minimum(a, 0.1))
    assert tl.clip(tl.asarray([1, 5, 9], device=device), 2.5, 7).dtype == tl.int64


def test_weak_scalars(device):
    h = tl.asarray(np.array([1, 2], np.float16), device=device)
    assert (h * 2.5).dtype == tl.float16
    assert (h + 1).dtype == tl.float16
    i = tl.asarray(np.array([1, 2], np.int32), device=device)
    assert (i + 1).dtype == tl.int32
    assert (i * 1.5).dtype == tl.float32
    assert (2 - i).dtype == tl.int32
    np.testing.assert_array_equal(np.asarray(10 - i), [9, 8])
    np.testing.assert_array_equal(np.asarray(2 ** i), [2, 4])
    b = tl.asarray([True, False], device=device)
    assert (b + 1).dtype == tl.int64
    assert (b * 1.5).dtype == tl.float32


def test_promotion_table():
    assert tl.promote_types(tl.int8, tl.uint8) == tl.int32
    assert tl.promote_types(tl.int32, tl.float16) == tl.float16
    assert tl.promote_types(tl.float16, tl.bfloat16) == tl.float32
    assert tl.promote_types(tl.bool, tl.int8) == tl.int8
    assert tl.promote_types(tl.int32, tl.int64) == tl.int64
    assert tl.promote_types(tl.float32, tl.float64) == tl.float64


def test_inplace_operators_keep_identity_and_dtype(device, rng):
    a = rng.standard_normal((5, 4)).astype(np.float32)
    t = tl.asarray(a, device=device)
    view = t[1:3]
    t += 1
    t *= tl.asarray(np.arange(4, dtype=np.float32), device=device)
    np.testing.assert_allclose(np.asarray(t), (a + 1) * np.arange(4), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(view), ((a + 1) * np.arange(4))[1:3], rtol=1e-6)
    i = tl.asarray(np.array([1, 2, 3], np.int32), device=device)
    with pytest.raises(TypeError):
        i += 1.5
    np.testing.assert_array_equal(np.asarray(i), [1, 2, 3])  # untouched after the error
    i //= 2
    np.testing.assert_array_equal(np.asarray(i), [0, 1, 1])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        i += tl.asarray(np.ones((2, 3), np.int32), device=device)


def test_inplace_with_overlapping_view(device):
    a = np.arange(10, dtype=np.float32)
    t = tl.asarray(a, device=device)
    t[1:] += t[:-1]
    a[1:] += a[:-1].copy()
    np.testing.assert_array_equal(np.asarray(t), a)


def test_numpy_operand_on_either_side(device, rng):
    a = rng.standard_normal(5).astype(np.float32)
    t = tl.asarray(a, device=device)
    r = a + t
    assert isinstance(r, tl.Tensor)
    np.testing.assert_allclose(np.asarray(r), 2 * a)


def test_shape_mismatch_names_both_shapes(device):
    a = tl.zeros((2, 3), device=device)
    b = tl.zeros((4,), device=device)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        a + b
    assert (a + 1).shape == (2, 3)  # still works after the error


def test_empty_tensors(device):
    e = tl.zeros((0, 4), device=device)
    assert (e + 1).shape == (0, 4)
    assert tl.exp(e).shape == (0, 4)
    assert (e @ tl.zeros((4, 3), device=device)).shape == (0, 3)


def test_result_type_with_weak_scalars():
    assert tl.result_type(tl.float16, 1.0) == tl.float16
    assert tl.result_type(tl.int32, 1.0) == tl.float32
    assert tl.result_type(tl.zeros(2, dtype=tl.int8), tl.uint8, 3) == tl.int32
    with pytest.raises(ValueError):
        tl.result_type(1.0)


@pytest.mark.parametrize("dtype", [tl.float32, tl.float16, tl.bfloat16])
def test_row_broadcasts_whole_and_partial_vectors(device, rng, dtype):
    """gelu(x + b) and x * c over rows: rows that whole 16-byte vectors divide and start
    aligned (vectors along the row on CUDA), rows of odd length, rows starting off a vector
    (a column slice), every other row, and a column broadcast."""
    np_t = NP[dtype]
    for m, n in [(33, 64), (5, 1000), (3, 7), (2, 4096), (1, 24)]:
        x = rng.uniform(-2, 2, (m, n + 8)).astype(np_t)  # rows n + 8 apart: aligned where n is
        b = rng.uniform(-1, 1, n + 8).astype(np_t)
        c = rng.uniform(-1, 1, (m, 1)).astype(np_t)
        tx, tb, tc = (tl.asarray(v, device=device) for v in (x, b, c))
        for xs, bs, xv, bv in [(tx[:, :n], tb[:n], x[:, :n], b[:n]),
                               (tx[:, 1:n + 1], tb[1:n + 1], x[:, 1:n + 1], b[1:n + 1]),  # rows start one element in
                               (tx[::2, :n], tb[:n], x[::2, :n], b[:n])]:
            got = tl.gelu(xs + bs)
            s = to_f64(xv.astype(np_t) + bv.astype(np_t)).astype(np_t)  # the sum, rounded as stored
            want = 0.5 * to_f64(s) * (1 + np.vectorize(math.erf)(to_f64(s) / math.sqrt(2)))
            assert_close(got, want, dtype)
            assert_close(xs * tc[: xs.shape[0]], to_f64(xv) * to_f64(c[: xv.shape[0]]), dtype)
    xa = rng.uniform(-1, 1, (6, 32)).astype(np_t)  # contiguous rows, 32 wide: whole vectors
    ba = rng.uniform(-1, 1, 32).astype(np_t)
    assert_close(tl.asarray(xa, device=device) - tl.asarray(ba, device=device), to_f64(xa) - to_f64(ba), dtype)
