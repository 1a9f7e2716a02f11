"""NumPy's functions accept tensors: np.sum(t) calls t.sum(axis=..., out=...)."""

import numpy as np
import pytest

import tensorlogic as tl


def test_numpy_reductions_on_tensors():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = tl.asarray(a)
    np.testing.assert_allclose(np.asarray(np.sum(t, axis=0)), a.sum(axis=0))
    np.testing.assert_allclose(float(np.mean(t)), a.mean())
    assert float(np.max(t)) == 11.0
    assert tl.sum(t, dtype=tl.float64).dtype == tl.float64
    with pytest.raises(TypeError, match="out="):
        t.sum(out=t)
