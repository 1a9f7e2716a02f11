"""Shape ops and indexing, differential against NumPy: values, dtypes, view semantics, errors."""
import ml_dtypes
import numpy as np
import pytest

import tensorlogic as tl

NP_DTYPES = {
    "float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16,
    "int32": np.int32, "int64": np.int64, "bool": np.bool_, "uint8": np.uint8,
}
ALL_DTYPES = list(NP_DTYPES)
LAYOUTS = ["contiguous", "transposed", "stepped", "reversed"]

_rng = np.random.default_rng(1234)


def rand(shape, dtype="float32"):
    """Random values that are never all zeros or ones."""
    shape = tuple(shape)
    if dtype == "bool":
        a = _rng.random(shape) < 0.5
        if a.size > 1:
            a.flat[0], a.flat[1] = True, False
        return a
    if dtype == "uint8":
        return _rng.integers(2, 250, shape).astype(np.uint8)
    if dtype in ("int32", "int64"):
        return _rng.integers(-100, 100, shape).astype(NP_DTYPES[dtype])
    return (_rng.standard_normal(shape) * 10).astype(NP_DTYPES[dtype])


def T(a, device):
    # A private copy, so that tl writes can never reach the NumPy reference.
    return tl.asarray(np.array(a, copy=True), device=device)


def make(shape, dtype, layout, device):
    """A NumPy array and the matching tensor, both laid out as `layout` says."""
    shape = tuple(shape)
    nd = len(shape)
    if layout == "transposed" and nd >= 2:
        base = rand(shape[::-1], dtype)
        return base.T, T(base, device).T
    if layout == "stepped" and nd >= 1:
        base = rand([2 * s for s in shape], dtype)
        key = (slice(None, None, 2),) * nd
        return base[key], T(base, device)[key]
    if layout == "reversed" and nd >= 1:
        base = rand(shape, dtype)
        key = (slice(None, None, -1),) + (slice(None),) * (nd - 1)
        return base[key], T(base, device)[key]
    base = rand(shape, dtype)
    return base, T(base, device)


def check(t, expected):
    got = np.asarray(t)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    if got.dtype == ml_dtypes.bfloat16:
        got, expected = got.astype(np.float32), expected.astype(np.float32)
    np.testing.assert_array_equal(got, expected)


def check_aliasing(np_base, np_result, t_base, t_result):
    """Writing through the result changes the base exactly when NumPy's does."""
    if np_result.size == 0 or not np_result.flags.writeable:
        return
    idx = (0,) * np_result.ndim
    old = np_result[idx]
    if np_result.dtype == np.bool_:
        new = not old
    elif np_result.dtype.kind in "iu":
        new = np_result.dtype.type((int(old) + 3) % 100)  # differs from old, never overflows
    else:
        new = old + np_result.dtype.type(3)
    np_result[idx] = new
    t_result[idx] = new.item() if hasattr(new, "item") else new
    check(t_base, np_base)
    check(t_result, np_result)


# ---- views ----

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape,new", [
    ((2, 3, 4), (6, 4)), ((2, 3, 4), (4, -1)), ((2, 3, 4), (24,)), ((2, 3, 4), (2, 1, 12)),
    ((7,), (7, 1)), ((7,), (1, 7)), ((33,), (3, 11)), ((1,), ()), ((0, 3), (3, 0)), ((0, 3), (-1,)),
    ((6, 4), (2, 3, 2, 2)), ((7, 1, 33), (33, 7)),
])
def test_reshape(device, shape, new, dtype, layout):
    a, t = make(shape, dtype, layout, device)
    r = tl.reshape(t, new)
    check(r, a.reshape(new))
    check(t.reshape(*new) if new else t.reshape(()), a.reshape(new))
    check_aliasing(a, a.reshape(new), t, r)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64", "bool"])
def test_transposes(device, dtype, layout):
    a, t = make((2, 3, 4), dtype, layout, device)
    check(tl.permute_dims(t, (2, 0, 1)), np.transpose(a, (2, 0, 1)))
    check(tl.permute_dims(t, (-1, 0, -2)), np.transpose(a, (2, 0, 1)))
    check(t.transpose(1, 0, 2), a.transpose(1, 0, 2))
    check(t.transpose(), a.transpose())
    check(t.T, a.T)
    check(t.mT, np.swapaxes(a, -1, -2))
    check(tl.swapaxes(t, 0, -1), np.swapaxes(a, 0, -1))
    check(tl.moveaxis(t, 0, -1), np.moveaxis(a, 0, -1))
    check(tl.moveaxis(t, -1, 1), np.moveaxis(a, -1, 1))
    check_aliasing(a, a.T, t, t.T)
    check_aliasing(a, np.moveaxis(a, 0, -1), t, tl.moveaxis(t, 0, -1))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_expand_squeeze_broadcast(device, layout):
    a, t = make((3, 1, 7), "float32", layout, device)
    for axis in [0, -1, 2, (0, 2), (-1, 0)]:
        check(tl.expand_dims(t, axis), np.expand_dims(a, axis))
    check(tl.squeeze(t), np.squeeze(a))
    check(tl.squeeze(t, 1), np.squeeze(a, 1))
    check(tl.squeeze(t, -2), np.squeeze(a, -2))
    check(tl.squeeze(t, (1,)), np.squeeze(a, (1,)))
    check_aliasing(a, np.squeeze(a), t, tl.squeeze(t))
    check_aliasing(a, np.expand_dims(a, 0), t, tl.expand_dims(t, 0))
    check(tl.broadcast_to(t, (2, 3, 5, 7)), np.broadcast_to(a, (2, 3, 5, 7)))
    b, u = make((5, 1), "int32", layout, device)
    for got, want in zip(tl.broadcast_arrays(t, u), np.broadcast_arrays(a, b)):
        check(got, want)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float16", "int32", "bool"])
def test_flatten_flip_diagonal(device, dtype, layout):
    a, t = make((3, 4, 5), dtype, layout, device)
    check(t.flatten(), a.flatten())
    check_aliasing(a, a.flatten(), t, t.flatten())  # flatten always copies
    for axis in [None, 0, -1, (0, 2)]:
        check(tl.flip(t, axis=axis), np.flip(a, axis=axis))
    check_aliasing(a, np.flip(a, 1), t, tl.flip(t, axis=1))
    for offset in [-4, -1, 0, 2, 7]:
        for a1, a2 in [(0, 1), (1, 0), (0, -1), (-1, 1)]:
            check(tl.diagonal(t, offset=offset, axis1=a1, axis2=a2), np.diagonal(a, offset, a1, a2))
    # NumPy's diagonal view is read-only; ours is a writable view: write through it.
    d_np = np.diagonal(a, 1, 1, 2)
    new = ~d_np if dtype == "bool" else d_np[::-1]
    tl.diagonal(t, offset=1, axis1=1, axis2=2)[...] = T(new, device)
    a_new = a.copy()
    a_new[:, np.arange(4), np.arange(4) + 1] = new
    check(t, a_new)


# ---- copies ----

@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_concat_stack(device, dtype, layout):
    a, t = make((2, 7), dtype, layout, device)
    b, u = make((2, 7), dtype, layout, device)
    c, v = make((3, 7), dtype, "contiguous", device)
    check(tl.concat([t, u]), np.concatenate([a, b]))
    check(tl.concat([t, u], axis=-1), np.concatenate([a, b], axis=-1))
    check(tl.concat([t, u, v], axis=0), np.concatenate([a, b, c], axis=0))
    check(tl.concat([t, v], axis=None), np.concatenate([a, c], axis=None))
    e, w = make((0, 7), dtype, "contiguous", device)
    check(tl.concat([w, t, w], axis=0), np.concatenate([e, a, e], axis=0))
    check(tl.concat([w, w], axis=0), np.concatenate([e, e], axis=0))
    for axis in [0, 1, -1, 2]:
        check(tl.stack([t, u], axis=axis), np.stack([a, b], axis=axis))


def test_concat_promotes(device):
    a, b = rand((3,), "int32"), rand((2,), "float32")
    check(tl.concat([T(a, device), T(b, device)]), np.concatenate([a.astype(np.float32), b]))
    m = rand((4,), "bool")
    check(tl.concat([T(m, device), T(a, device)]), np.concatenate([m.astype(np.int32), a]))
    h = rand((2,), "float16")
    check(tl.concat([T(h, device), T(b, device)]), np.concatenate([h.astype(np.float32), b]))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_split(device, layout):
    a, t = make((12, 5), "float32", layout, device)
    for how in [1, 3, 4, 12, [2, 5], [0, 12], [-3], [5, 2], [3, 20], []]:
        got, want = tl.split(t, how), np.split(a, how)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            check(g, w)
    for g, w in zip(tl.split(t, 5, axis=-1), np.split(a, 5, axis=-1)):
        check(g, w)
    parts_np, parts = np.split(a, [2, 5]), tl.split(t, [2, 5])
    check_aliasing(a, parts_np[1], t, parts[1])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64", "bool", "uint8"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_tile_repeat(device, dtype, layout):
    a, t = make((2, 3), dtype, layout, device)
    for reps in [2, (2, 1), (1, 3), (2, 2, 2), (0, 2), (3,)]:
        check(tl.tile(t, reps), np.tile(a, reps))
    for reps, axis in [(2, None), (3, 0), (2, -1), (0, 1), (1, None)]:
        check(tl.repeat(t, reps, axis=axis), np.repeat(a, reps, axis=axis))
    r = np.array([2, 0, 3])
    check(tl.repeat(t, T(r, device), axis=1), np.repeat(a, r, axis=1))
    r = np.array([1, 2, 0, 3, 1, 1])
    check(tl.repeat(t, T(r, device)), np.repeat(a, r))
    check(tl.repeat(t, T(np.array([2]), device), axis=0), np.repeat(a, [2], axis=0))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "bool"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_pad(device, dtype, layout):
    a, t = make((3, 4), dtype, layout, device)
    for width in [1, (1, 2), ((0, 1), (2, 0)), ((2, 2),), 0]:
        check(tl.pad(t, width), np.pad(a, width))
    value = True if dtype == "bool" else 5
    check(tl.pad(t, ((1, 0), (0, 2)), constant_values=value),
          np.pad(a, ((1, 0), (0, 2)), constant_values=value))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int32", "bool"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (7, 3), (2, 3, 5), (1, 1), (0, 3)])
def test_tril_triu(device, shape, dtype, layout):
    a, t = make(shape, dtype, layout, device)
    for k in [-2, -1, 0, 1, 3]:
        check(tl.tril(t, k=k), np.tril(a, k))
        check(tl.triu(t, k=k), np.triu(a, k))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "bfloat16"])
def test_take(device, dtype, layout):
    a, t = make((4, 7), dtype, layout, device)
    idx = np.array([[3, -1], [0, 2]])
    check(tl.take(t, T(idx, device)), np.take(a, idx))
    check(tl.take(t, T(idx, device), axis=0), np.take(a, idx, axis=0))
    check(tl.take(t, T(idx, device), axis=-1), np.take(a, idx, axis=-1))
    check(tl.take(t, T(np.array([], np.int64), device), axis=1), np.take(a, [], axis=1))
    with pytest.raises(IndexError):
        tl.take(t, T(np.array([4]), device), axis=0)


# ---- getitem / setitem ----

I = np.array  # noqa: E741

KEYS = [
    1, -1, (0, 2), (-1, -1, -1), (slice(None),), (slice(1, 3),), (slice(None, None, -1),),
    (slice(None, None, 2), slice(4, 0, -2)), (slice(-2, None), slice(None, -3, 3), slice(5, None, -3)),
    (slice(10, -10),), (slice(None, None, -4), 2), None, (None, 1), (1, None, slice(None), None),
    Ellipsis, (Ellipsis, 1), (1, Ellipsis), (0, Ellipsis, 0), (Ellipsis, None), (None, Ellipsis, None),
    [0, 2], [-1, 0, 0], [[0, 1], [2, 3]], ([0, 2], [1, 4]), ([0, 2], slice(None), [1, 4]),
    (slice(None), [1, 0], [5, -1]), (slice(1, None), [[0], [1]], [2, 3]), ([3, 0], 1),
    (1, slice(None), [2, 3]), (Ellipsis, [0, 1, 1]), ([1], None, [2]), (None, [1], [2]),
    (I([1, 3]), slice(None, None, -1)), (I(2), slice(None)),
]


def mask_keys(a):
    return [a > 0, (a > 0)[:, 0, 0], (slice(None), (a > 0)[0, :, 0]), ((a > 0)[..., 0], 1),
            (Ellipsis, (a > 0)[0, 0]), True, False, (0, True), (slice(None), (a > 0)[0, :, 0], 2),
            ((a > 0)[:, 0, 0], slice(None), 1)]


def to_tl_key(key, device):
    """Array parts of a key become tensors (lists stay lists: both must work)."""
    if isinstance(key, tuple):
        return tuple(to_tl_key(k, device) for k in key)
    if isinstance(key, np.ndarray):
        return T(key, device)
    return key


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_getitem(device, dtype, layout):
    a, t = make((4, 5, 6), dtype, layout, device)
    for key in KEYS + mask_keys(a):
        want = a[key]
        got = t[to_tl_key(key, device)]
        check(got, want)
        shares = np.shares_memory(a, want) if isinstance(want, np.ndarray) else False
        if shares:
            check_aliasing(a, want, t, got)


def test_getitem_scalar_results(device):
    a, t = make((3, 4), "float32", "contiguous", device)
    assert float(t[1, 2]) == float(a[1, 2])
    assert np.asarray(t[1, 2]).shape == ()
    check(t[-1][2], a[-1][2])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_setitem(device, dtype, layout):
    shape = (4, 5, 6)
    for key in KEYS + mask_keys(rand(shape, "float32")):
        a, t = make(shape, dtype, layout, device)
        target = a[key]
        # a full-shaped value, a broadcast one and a Python scalar
        values = [rand(np.shape(target), dtype)]
        if np.ndim(target) >= 1:
            values.append(rand(np.shape(target)[-1:], dtype))
        values.append(rand((), dtype).item())
        for v in values:
            a[key] = v
            t[to_tl_key(key, device)] = T(v, device) if isinstance(v, np.ndarray) else v
            check(t, a)


def test_empty_list_index(device):
    # NumPy takes an empty list as an empty integer index, not a float array.
    a, t = make((4, 5), "float32", "contiguous", device)
    for key in [[], (slice(None), []), ([], 1)]:
        check(t[key], a[key])
        a[key] = 1.5
        t[key] = 1.5
        check(t, a)


def test_setitem_casts_and_repeats(device):
    a, t = make((5, 3), "int32", "contiguous", device)
    f = np.array([1.75, -2.5, 3.25], np.float32)
    a[1] = f
    t[1] = T(f, device)
    check(t, a)
    a[[0, 0, 2]] = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.int32)  # last write wins
    t[[0, 0, 2]] = T(np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.int32), device)
    check(t, a)
    a[a > 3] = 0
    t[t > 3] = 0
    check(t, a)
    a[1:, ::-1] = a[:-1]  # overlapping source and destination
    t[1:, ::-1] = t[:-1]
    check(t, a)
    a[[1, 2]] = a[[2, 1]]
    t[[1, 2]] = t[[2, 1]]
    check(t, a)
    a[0] = np.ones((1, 3), np.int32) * 7  # leading 1s of the value are dropped
    t[0] = T(np.ones((1, 3), np.int32) * 7, device)
    check(t, a)


@pytest.mark.parametrize("n", [0, 1, 7, 33, 1000, 70000])
def test_gather_scatter_sizes(device, n):
    a, t = make((n, 3), "float32", "transposed", device)
    idx = _rng.integers(-n, n, 2 * n) if n else np.zeros(0, np.int64)
    check(t[T(idx, device)], a[idx])
    check(t[T(idx, device), 1], a[idx, 1])
    idx3 = _rng.integers(-3, 3, 5)
    check(t[:, T(idx3, device)], a[:, idx3])
    u = np.unique(idx)
    vals = rand((len(u), 3))
    a[u] = vals
    t[T(u, device)] = T(vals, device)
    check(t, a)


# ---- errors ----

def test_errors(device):
    a, t = make((3, 4), "float32", "contiguous", device)
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 3"):
        t[5]
    with pytest.raises(IndexError, match="out of bounds for axis 1 with size 4"):
        t[0, -5]
    with pytest.raises(IndexError, match="out of bounds"):
        t[[0, 3]]
    with pytest.raises(IndexError, match="out of bounds"):
        t[[0, 1], [1, -9]] = 1.0
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(IndexError):
        t[..., 0, ...]
    with pytest.raises(IndexError):
        t[T(np.ones(4, bool), device)]
    with pytest.raises(IndexError):
        t[[0, 1], [0, 1, 2]]
    with pytest.raises(ValueError, match=r"size 12.*\(5, 2\)|\(5, 2\).*size 12"):
        tl.reshape(t, (5, 2))
    with pytest.raises(ValueError, match="cannot reshape array of size 6 into shape"):
        T(rand((6,)), device).reshape(4)
    with pytest.raises(ValueError):
        tl.reshape(t, (-1, -1))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 5\)|\(3, 5\).*\(3, 4\)"):
        tl.concat([t, T(rand((3, 5)), device)])
    with pytest.raises(ValueError):
        tl.concat([t, T(rand((12,)), device)])
    with pytest.raises(ValueError):
        tl.squeeze(t, 0)
    with pytest.raises(ValueError):
        tl.split(t, 5)
    with pytest.raises(ValueError):
        tl.stack([t, T(rand((4, 3)), device)])
    with pytest.raises(ValueError):
        T(rand((3,)), device).mT
    with pytest.raises(ValueError):
        t[[0, 1]] = T(rand((3, 4)), device)
    for bad in [lambda: tl.swapaxes(t, 0, 2), lambda: tl.flip(t, axis=-3),
                lambda: tl.expand_dims(t, 3), lambda: tl.concat([t, t], axis=2),
                lambda: tl.moveaxis(t, 2, 0), lambda: tl.permute_dims(t, (0, 2))]:
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(IndexError):
        tl.swapaxes(t, 0, 2)
    with pytest.raises(tl.AxisError):
        tl.diagonal(t, axis1=0, axis2=5)
    assert issubclass(tl.AxisError, ValueError) and issubclass(tl.AxisError, IndexError)
    check(t, a)  # nothing above changed the tensor


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int64", "bool"])
def test_transposing_copies_and_ops(device, dtype):
    """Kernels that load along another dim than they store (on CUDA through shared-memory
    tiles): whole and partial 32 x 32 tiles, batches, a 3-dim permutation, an offset view, an
    operand read in place beside the transposed one, a broadcast row and an in-place add."""
    cases = [
        (rand((1000, 33), dtype), lambda t: t.T),
        (rand((33, 1000), dtype), lambda t: t.T),
        (rand((5, 40, 17), dtype), lambda t: t.transpose(0, 2, 1)),
        (rand((17, 20, 33), dtype), lambda t: t.transpose(2, 0, 1)),
        (rand((60, 70), dtype), lambda t: t[3:50, 5:40].T),
    ]
    for a, view in cases:
        t = T(a, device)
        want = view(a)
        got = view(t).copy()
        assert got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), want)
    a, b, row = rand((45, 70), dtype), rand((70, 45), dtype), rand((45,), dtype)
    if dtype == "bool":
        np.testing.assert_array_equal(np.asarray(T(a, device).T | T(b, device)), a.T | b)
        return
    tol = {"float16": 2e-3, "bfloat16": 1.6e-2}.get(dtype, 1e-6)
    f64 = lambda x: np.asarray(x).astype(np.float64)  # noqa: E731
    np.testing.assert_allclose(f64(T(a, device).T + T(b, device) * T(row, device)),
                               f64(a.T) + f64(b) * f64(row), rtol=tol, atol=tol * 100)
    y = T(b, device)
    y += T(a, device).T
    np.testing.assert_allclose(f64(y), f64(b) + f64(a.T), rtol=tol, atol=tol * 10)
