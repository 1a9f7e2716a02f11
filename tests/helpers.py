"""Reference helpers: NumPy dtypes and tolerances per tensorlogic dtype."""

import ml_dtypes
import numpy as np

import tensorlogic as tl

NP = {
    tl.bool: np.bool_, tl.int8: np.int8, tl.uint8: np.uint8, tl.int32: np.int32,
    tl.int64: np.int64, tl.float16: np.float16, tl.bfloat16: ml_dtypes.bfloat16,
    tl.float32: np.float32, tl.float64: np.float64,
}
FLOATS = [tl.float32, tl.float16, tl.bfloat16, tl.float64]
INTS = [tl.int8, tl.uint8, tl.int32, tl.int64]
ALL = [tl.bool] + INTS + FLOATS

# Relative tolerance of one op computed in f32 and rounded once to the dtype.
RTOL = {tl.float16: 2e-3, tl.bfloat16: 1.6e-2, tl.float32: 2e-6, tl.float64: 1e-12}


def random_array(rng, shape, dtype, low=-3.0, high=3.0):
    """Random values (never all zeros or ones) representable in `dtype`."""
    if dtype == tl.bool:
        return rng.random(shape) < 0.5
    if dtype in INTS:
        info = np.iinfo(NP[dtype])
        lo, hi = max(int(low * 10), info.min), min(int(high * 10), info.max)
        return rng.integers(lo, hi + 1, size=shape).astype(NP[dtype])
    return rng.uniform(low, high, size=shape).astype(NP[dtype])


def to_f64(a):
    return np.asarray(a).astype(np.float64)


def assert_close(got, want, dtype, rtol=None, atol=None):
    got = np.asarray(got)
    if dtype in INTS or dtype == tl.bool:
        np.testing.assert_array_equal(got, want)
        return
    r = RTOL[dtype] if rtol is None else rtol
    a = r if atol is None else atol
    np.testing.assert_allclose(to_f64(got), to_f64(want), rtol=r, atol=a, equal_nan=True)
