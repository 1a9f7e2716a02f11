"""DLPack and the Array API namespace."""

import numpy as np
import pytest

import tensorlogic as tl
from helpers import ALL, NP, random_array


@pytest.mark.parametrize("dtype", [d for d in ALL if d != tl.bfloat16])
def test_dlpack_to_numpy_zero_copy(rng, dtype):
    a = random_array(rng, (4, 6), dtype)
    t = tl.asarray(a)
    v = np.from_dlpack(t)
    np.testing.assert_array_equal(v, a)
    t[0, 0] = t[1, 1]
    assert v[0, 0] == np.asarray(t)[1, 1]


def test_dlpack_of_strided_view():
    t = tl.arange(24).reshape(4, 6)[1::2, ::-1]
    np.testing.assert_array_equal(np.from_dlpack(t), np.arange(24).reshape(4, 6)[1::2, ::-1])


@pytest.mark.parametrize("dtype", [d for d in ALL if d != tl.bfloat16])
def test_from_dlpack_numpy_zero_copy(rng, dtype):
    a = random_array(rng, (5, 3), dtype)
    t = tl.from_dlpack(a)
    assert t.dtype == dtype
    np.testing.assert_array_equal(np.asarray(t), a)
    a[0, 0] = a[4, 2]
    assert np.asarray(t)[0, 0] == a[4, 2]
    del a
    assert t.sum().shape == ()  # the memory stays alive through the tensor


def test_from_dlpack_non_contiguous():
    a = np.arange(30, dtype=np.float32).reshape(5, 6)[::2, 1::2]
    t = tl.from_dlpack(a)
    np.testing.assert_array_equal(np.asarray(t), a)


def test_dlpack_device():
    assert tl.zeros(2).__dlpack_device__() == (1, 0)


def test_torch_interop():
    torch = pytest.importorskip("torch")
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = tl.from_dlpack(x)
    np.testing.assert_array_equal(np.asarray(t), x.numpy())
    x[0, 0] = 42
    assert np.asarray(t)[0, 0] == 42
    back = torch.from_dlpack(t)
    t[1, 1] = -1
    assert back[1, 1].item() == -1
    b = tl.asarray([1.0, 2.0], dtype=tl.bfloat16)
    assert torch.from_dlpack(b).dtype == torch.bfloat16


def test_array_namespace():
    t = tl.zeros(3)
    assert t.__array_namespace__() is tl
