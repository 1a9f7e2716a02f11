"""Property tests (hypothesis): random broadcastable shapes, strided views and dtypes for
binary ops and reductions, checked against NumPy."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorlogic as tl
from helpers import NP, assert_close, to_f64

DTYPES = [tl.float32, tl.float64, tl.int32, tl.int64, tl.float16]
OPS = {"add": np.add, "multiply": np.multiply, "maximum": np.maximum, "subtract": np.subtract}


@st.composite
def broadcast_pair(draw):
    ndim = draw(st.integers(0, 4))
    shape = [draw(st.integers(0, 6)) for _ in range(ndim)]
    a = [d if draw(st.booleans()) else 1 for d in shape]
    b = [d if draw(st.booleans()) else 1 for d in shape]
    cut = draw(st.integers(0, ndim))
    return tuple(a), tuple(b[cut:])


def make(rng, shape, dtype, view):
    """A tensor of `shape` that is a contiguous array, a transposed view or a stepped slice."""
    if view == "step":
        big = rng.uniform(-9, 9, tuple(2 * d for d in shape)).astype(NP[dtype])
        a = big[tuple(slice(None, None, 2) for _ in shape)]
        return a, tl.asarray(big)[tuple(slice(None, None, 2) for _ in shape)]
    if view == "transpose" and len(shape) >= 2:
        base = rng.uniform(-9, 9, shape[::-1]).astype(NP[dtype])
        return base.T, tl.asarray(base).T
    a = rng.uniform(-9, 9, shape).astype(NP[dtype])
    return a, tl.asarray(a)


@settings(max_examples=150, deadline=None)
@given(shapes=broadcast_pair(), dtype=st.sampled_from(DTYPES), op=st.sampled_from(sorted(OPS)),
       views=st.tuples(*[st.sampled_from(["contig", "step", "transpose"])] * 2),
       seed=st.integers(0, 2**31))
def test_binary_broadcast_views(shapes, dtype, op, views, seed):
    rng = np.random.default_rng(seed)
    a, ta = make(rng, shapes[0], dtype, views[0])
    b, tb = make(rng, shapes[1], dtype, views[1])
    got = getattr(tl, op)(ta, tb)
    want = OPS[op](to_f64(a), to_f64(b))
    assert got.shape == want.shape and got.dtype == dtype
    if dtype in (tl.int32, tl.int64):
        want = OPS[op](a, b)
    assert_close(got, want, dtype)


@settings(max_examples=100, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4),
       dtype=st.sampled_from([tl.float32, tl.float64, tl.int32]), keepdims=st.booleans(),
       data=st.data(), seed=st.integers(0, 2**31))
def test_sum_max_over_random_axes(shape, dtype, keepdims, data, seed):
    rng = np.random.default_rng(seed)
    a, ta = make(rng, tuple(shape), dtype, data.draw(st.sampled_from(["contig", "step", "transpose"])))
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda x: x % len(shape)))
    axis = tuple(axes) if axes else None
    got = tl.sum(ta, axis=axis, keepdims=keepdims)
    want = np.sum(to_f64(a), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(to_f64(got), want, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(tl.max(ta, axis=axis, keepdims=keepdims)),
                                  np.max(a, axis=axis, keepdims=keepdims))
