"""Matmul against NumPy float64: odd sizes, vectors, batch broadcasting, transposed and
strided views, every float dtype (tolerance grows with K), integers, empty operands."""

import numpy as np
import pytest

import tensorlogic as tl
from helpers import FLOATS, NP, to_f64

EPS = {tl.float16: 2**-10, tl.bfloat16: 2**-7, tl.float32: 2**-23, tl.float64: 2**-52}


def check(got, a, b, dtype):
    want = np.matmul(to_f64(a), to_f64(b))
    k = np.shape(a)[-1]
    # f16/bf16 accumulate in f32, rounded once on output.
    acc_eps = EPS[tl.float32] if dtype in (tl.float16, tl.bfloat16) else EPS[dtype]
    scale = np.matmul(np.abs(to_f64(a)), np.abs(to_f64(b)))
    tol = scale * (2 * k * acc_eps) + np.abs(want) * EPS[dtype] * 2 + 1e-30
    got = to_f64(got)
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= tol), float(np.max(np.abs(got - want) - tol))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mnk", [(1, 1, 1), (7, 7, 7), (33, 33, 33), (1, 65, 127), (127, 1, 33),
                                 (33, 70, 45), (100, 1, 1), (257, 129, 300), (64, 48, 1)])
def test_matmul_shapes(device, rng, dtype, mnk):
    m, n, k = mnk
    a = rng.uniform(-1, 1, (m, k)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (k, n)).astype(NP[dtype])
    got = tl.asarray(a, device=device) @ tl.asarray(b, device=device)
    assert got.dtype == dtype
    check(got, a, b, dtype)


def test_matmul_large_f32(device, rng):
    a = rng.standard_normal((1000, 333)).astype(np.float32)
    b = rng.standard_normal((333, 517)).astype(np.float32)
    check(tl.matmul(tl.asarray(a, device=device), tl.asarray(b, device=device)), a, b, tl.float32)


def test_vectors(device, rng):
    a = rng.standard_normal((5, 7)).astype(np.float32)
    v = rng.standard_normal(7).astype(np.float32)
    u = rng.standard_normal(5).astype(np.float32)
    ta, tv, tu = (tl.asarray(x, device=device) for x in (a, v, u))
    check(ta @ tv, a, v, tl.float32)
    check(tu @ ta, u, a, tl.float32)
    assert (tv @ tv).shape == ()
    np.testing.assert_allclose(float(tv @ tv), float(v.astype(np.float64) @ v), rtol=1e-5)
    b3 = rng.standard_normal((3, 7, 4)).astype(np.float32)
    check(tv @ tl.asarray(b3, device=device), v, b3, tl.float32)


def test_batch_broadcasting(device, rng):
    a = rng.standard_normal((2, 1, 5, 6)).astype(np.float32)
    b = rng.standard_normal((3, 6, 4)).astype(np.float32)
    got = tl.asarray(a, device=device) @ tl.asarray(b, device=device)
    assert got.shape == (2, 3, 5, 4)
    check(got, a, b, tl.float32)
    many = rng.standard_normal((64, 33, 16)).astype(np.float32)
    w = rng.standard_normal((16, 33)).astype(np.float32)
    check(tl.asarray(many, device=device) @ tl.asarray(w, device=device), many, w, tl.float32)


def test_transposed_and_strided_views(device, rng):
    a = rng.standard_normal((40, 30)).astype(np.float32)
    b = rng.standard_normal((50, 40)).astype(np.float32)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    check(ta.T @ tb.T, a.T, b.T, tl.float32)
    check(ta[::2, 1::3] @ tb[:10:, ::-4].T[:10], a[::2, 1::3], b[:10, ::-4].T[:10], tl.float32)


def test_integer_and_mixed_dtypes(device, rng):
    a = rng.integers(-5, 5, (6, 9)).astype(np.int32)
    b = rng.integers(-5, 5, (9, 4)).astype(np.int32)
    got = tl.asarray(a, device=device) @ tl.asarray(b, device=device)
    assert got.dtype == tl.int32
    np.testing.assert_array_equal(np.asarray(got), a @ b)
    f = rng.standard_normal((9, 4)).astype(np.float16)
    mixed = tl.asarray(a, device=device) @ tl.asarray(f, device=device)
    assert mixed.dtype == tl.float16


def test_empty_and_k_zero(device):
    assert (tl.zeros((0, 5), device=device) @ tl.zeros((5, 3), device=device)).shape == (0, 3)
    z = tl.ones((4, 0), device=device) @ tl.ones((0, 3), device=device)
    np.testing.assert_array_equal(np.asarray(z), np.zeros((4, 3)))


@pytest.mark.parametrize("dtype", [tl.float32, tl.float64, tl.float16])
def test_matrix_vector_layouts(device, rng, dtype):
    """The matrix-vector path: row- and column-major matrices, strided vectors, batches."""
    a = rng.uniform(-1, 1, (300, 257)).astype(NP[dtype])
    v = rng.uniform(-1, 1, 600).astype(NP[dtype])
    ta, tv = tl.asarray(a, device=device), tl.asarray(v, device=device)
    check(ta @ tv[::-1][:257], a, v[::-1][:257], dtype)             # dot form, strided x
    check(ta.T @ tv[:600:2], a.T, v[:600:2], dtype)                  # column-major matrix
    check(tv[1:301] @ ta, v[1:301], a, dtype)                        # vector @ matrix
    check(tv[:257] @ ta.T, v[:257], a.T, dtype)
    check(ta[::2, ::3] @ tv[:86], a[::2, ::3], v[:86], dtype)        # neither dim contiguous
    b = rng.uniform(-1, 1, (5, 300, 40)).astype(NP[dtype])
    check(tl.asarray(b, device=device) @ tv[:40].reshape(40, 1), b, v[:40].reshape(40, 1), dtype)
    check(tv[:300] @ tl.asarray(b, device=device), v[:300], b, dtype)
