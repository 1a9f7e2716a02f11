"""Creation functions, transfers, conversions to Python and NumPy, repr."""

import ml_dtypes
import numpy as np
import pytest

import tensorlogic as tl
from helpers import ALL, FLOATS, NP, random_array


@pytest.mark.parametrize("dtype", ALL)
def test_zeros_ones_full_empty(device, dtype):
    for shape in [(), (0,), (1,), (7,), (3, 33)]:
        z = tl.zeros(shape, dtype=dtype, device=device)
        o = tl.ones(shape, dtype=dtype, device=device)
        f = tl.full(shape, 3, dtype=dtype, device=device)
        e = tl.empty(shape, dtype=dtype, device=device)
        for t in (z, o, f, e):
            assert t.shape == shape and t.dtype == dtype and t.size == int(np.prod(shape))
        np.testing.assert_array_equal(np.asarray(z), np.zeros(shape, NP[dtype]))
        np.testing.assert_array_equal(np.asarray(o), np.ones(shape, NP[dtype]))
        np.testing.assert_array_equal(np.asarray(f), np.full(shape, 3, NP[dtype]))


def test_default_dtypes(device):
    assert tl.zeros(3, device=device).dtype == tl.float32
    assert tl.full((2,), 7, device=device).dtype == tl.int64
    assert tl.full((2,), 7.5, device=device).dtype == tl.float32
    assert tl.full((2,), True, device=device).dtype == tl.bool
    assert tl.asarray([1, 2], device=device).dtype == tl.int64
    assert tl.asarray([1.0, 2], device=device).dtype == tl.float32
    assert tl.asarray(np.array([1.0, 2.0]), device=device).dtype == tl.float64
    assert tl.asarray(3.5, device=device).shape == ()


@pytest.mark.parametrize("dtype", ALL)
def test_like_functions(device, rng, dtype):
    x = tl.asarray(random_array(rng, (4, 5), dtype), device=device)
    for f, v in [(tl.zeros_like, 0), (tl.ones_like, 1)]:
        y = f(x)
        assert y.shape == x.shape and y.dtype == x.dtype
        np.testing.assert_array_equal(np.asarray(y), np.full((4, 5), v, NP[dtype]))
    y = tl.full_like(x, 2, dtype=tl.float16)
    assert y.dtype == tl.float16
    assert tl.empty_like(x).shape == (4, 5)


def test_arange_linspace_eye(device):
    np.testing.assert_array_equal(np.asarray(tl.arange(7, device=device)), np.arange(7))
    assert tl.arange(7, device=device).dtype == tl.int64
    np.testing.assert_array_equal(np.asarray(tl.arange(2, 11, 3, device=device)), np.arange(2, 11, 3))
    np.testing.assert_array_equal(np.asarray(tl.arange(5, 0, -2, device=device)), np.arange(5, 0, -2))
    np.testing.assert_allclose(np.asarray(tl.arange(0.5, 3.0, 0.25, device=device)), np.arange(0.5, 3.0, 0.25))
    assert tl.arange(3, 1, device=device).shape == (0,)
    np.testing.assert_allclose(np.asarray(tl.linspace(-1, 2, 33, device=device)), np.linspace(-1, 2, 33), rtol=1e-6)
    assert np.asarray(tl.linspace(0, 1, 7, device=device))[-1] == 1.0
    np.testing.assert_allclose(np.asarray(tl.linspace(0, 1, 5, endpoint=False, device=device)), np.linspace(0, 1, 5, endpoint=False))
    for n, m, k in [(1, 1, 0), (4, 4, 0), (3, 5, 1), (5, 3, -2), (3, 3, 5)]:
        np.testing.assert_array_equal(np.asarray(tl.eye(n, m, k=k, device=device)), np.eye(n, m, k))
    with pytest.raises(ValueError):
        tl.arange(0, 5, 0, device=device)


@pytest.mark.parametrize("dtype", ALL)
def test_numpy_roundtrip_every_dtype(device, rng, dtype):
    a = random_array(rng, (3, 7), dtype)
    t = tl.asarray(a, device=device)
    back = np.asarray(t)
    assert back.dtype == NP[dtype]
    np.testing.assert_array_equal(back, a)
    np.testing.assert_array_equal(t.numpy(), a)


def test_bfloat16_converts_to_ml_dtypes():
    t = tl.asarray([1.0, 2.5], dtype=tl.bfloat16)
    assert np.asarray(t).dtype == ml_dtypes.bfloat16
    assert t.tolist() == [1.0, 2.5]


def test_numpy_view_is_zero_copy_on_cpu():
    t = tl.arange(6, device="cpu").reshape(2, 3)
    a = np.asarray(t)
    t[0, 0] = 100
    assert a[0, 0] == 100
    v = np.asarray(t.T)
    assert v.shape == (3, 2) and v[0, 0] == 100


def test_asarray_from_tensor_and_copy_flags(device):
    t = tl.asarray([1.0, 2.0], device=device)
    assert tl.asarray(t) is not None and np.asarray(tl.asarray(t)).tolist() == [1.0, 2.0]
    c = tl.asarray(t, copy=True)
    c[0] = 5
    assert t.tolist() == [1.0, 2.0]
    assert tl.asarray(t, dtype=tl.float64).dtype == tl.float64
    with pytest.raises(ValueError):
        tl.asarray([1, 2], copy=False)


def test_python_conversions(device):
    t = tl.asarray([[1.5, 2.0], [3.0, 4.0]], device=device)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert t[0, 0].item() == 1.5 and isinstance(t[0, 0].item(), float)
    assert float(t[1, 1]) == 4.0
    assert int(tl.asarray(7, device=device)) == 7
    assert isinstance(tl.asarray(7, device=device).item(), int)
    assert tl.asarray(True, device=device).item() is True
    assert bool(tl.asarray([1], device=device)) is True
    assert [5, 6, 7][tl.asarray(1, device=device)] == 6
    assert len(t) == 2
    rows = list(t)
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    with pytest.raises(ValueError):
        t.item()
    with pytest.raises(TypeError):
        len(tl.asarray(1.0, device=device))
    with pytest.raises(TypeError):
        [1, 2][tl.asarray(1.0, device=device)]


def test_properties(device):
    t = tl.zeros((2, 3, 4), dtype=tl.float16, device=device)
    assert t.ndim == 3 and t.size == 24 and t.nbytes == 48
    assert t.strides == (12, 4, 1)
    assert t.T.shape == (4, 3, 2) and t.mT.shape == (2, 4, 3)
    assert str(t.device) == device.split(":")[0] if device == "cpu" else str(t.device) == device
    assert t.dtype.itemsize == 2 and str(t.dtype) == "float16"


def test_repr_like_numpy():
    assert repr(tl.asarray([1.0, 2.5])) == "tensor([1. , 2.5])"
    assert repr(tl.asarray([1, 2], dtype=tl.int32)) == "tensor([1, 2], dtype=int32)"
    assert "dtype=bfloat16" in repr(tl.asarray([1.0], dtype=tl.bfloat16))
    assert str(tl.asarray([1, 2])) == "[1 2]"


def test_to_device_and_astype(device, rng):
    a = rng.standard_normal((5, 3)).astype(np.float32)
    t = tl.asarray(a, device="cpu").to(device)
    assert str(t.device) == str(tl.Device(device))
    np.testing.assert_array_equal(np.asarray(t.to("cpu")), a)
    for d in FLOATS:
        assert t.astype(d).dtype == d
    assert t.astype(tl.float32, copy=False) is not None


def test_devices_api():
    ds = tl.devices()
    assert tl.Device("cpu") in ds
    assert tl.default_device() in ds
    assert tl.cpu == "cpu"
    with pytest.raises(ValueError):
        tl.Device("tpu")


def test_absent_backend_raises_device_error():
    if not tl._core.backend_status("cuda").startswith("unavailable"):
        pytest.skip("CUDA present")
    with pytest.raises(tl.DeviceError):
        tl.zeros(3, device="cuda")
    assert tl.zeros(3).shape == (3,)  # the library keeps working


def test_dtype_and_device_objects():
    assert repr(tl.float32) == "tensorlogic.float32" and str(tl.bfloat16) == "bfloat16"
    assert tl.cpu == "cpu" and not (tl.cpu == "foo") and tl.cpu != 3
    assert {tl.cpu: 1}.get("cpu") == 1
    tl.synchronize("cpu")
    tl.synchronize(tl.cpu)
    tl.synchronize()


def test_numpy_scalars_keep_their_dtype():
    assert tl.asarray(np.float64(1.5)).dtype == tl.float64
    assert tl.asarray(np.float64(1.5)).shape == ()
    assert tl.arange(np.int64(3)).dtype == tl.int64
    assert (tl.zeros(2, dtype=tl.float32) + np.float64(1)).dtype == tl.float64  # strong, as in NumPy 2
    assert (tl.zeros(2, dtype=tl.float32) + 1.0).dtype == tl.float32  # Python floats are weak
