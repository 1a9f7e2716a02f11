"""What the matmul tests share: the float64 reference check of a product (tolerance growing
with K and the dtype), random operands (stored transposed when asked), and the check of an
epilogue over a product."""

import numpy as np

import tensorlogic as tl
from helpers import NP, to_f64

EPS = {tl.float16: 2**-10, tl.bfloat16: 2**-7, tl.float32: 2**-23, tl.float64: 2**-52}


def check(got, a, b, dtype, operand_eps=0.0):
    """operand_eps: each operand's relative rounding before the products (tf32's 2^-10)."""
    want = np.matmul(to_f64(a), to_f64(b))
    k = np.shape(a)[-1]
    # f16/bf16 accumulate in f32, rounded once on output.
    acc_eps = EPS[tl.float32] if dtype in (tl.float16, tl.bfloat16) else EPS[dtype]
    scale = np.matmul(np.abs(to_f64(a)), np.abs(to_f64(b)))
    tol = scale * (2 * operand_eps + 2 * k * acc_eps) + np.abs(want) * EPS[dtype] * 2 + 1e-30
    got = to_f64(got)
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= tol), float(np.max(np.abs(got - want) - tol))


def operands(rng, dtype, m, n, k, a_t=False, b_t=False):
    """a (m x k) and b (k x n) as NumPy arrays, stored transposed when asked (then viewed back)."""
    a = rng.uniform(-1, 1, (k, m) if a_t else (m, k)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (n, k) if b_t else (k, n)).astype(NP[dtype])
    return a, b


def on_device(device, x, t):
    return tl.asarray(x, device=device).T if t else tl.asarray(x, device=device)


def gelu64(x):
    from math import erf, sqrt
    return 0.5 * x * (1 + np.vectorize(erf)(x / sqrt(2)))


def check_epilogue(got, want, prod_err, mag, dtype):
    """|got - want| within the product's error (times 1.2: no epilogue op more than
    doubles... gelu's slope is at most 1.13) plus a few roundings of the values involved."""
    eps = max(EPS[dtype], EPS[got.dtype] if got.dtype in EPS else 0)
    tol = 1.2 * prod_err + 6 * eps * mag + 1e-30
    got = to_f64(got)
    assert got.shape == want.shape
    err = np.abs(got - want)
    assert np.all(err <= tol), float(np.max(err - tol))
