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


# ---- CUDA: zero-copy exchange with PyTorch and CuPy, ordered by DLPack's stream protocol ----

CUDA_STATUS = tl._core.backend_status("cuda")
needs_cuda = pytest.mark.skipif(CUDA_STATUS.startswith("unavailable"), reason=CUDA_STATUS)


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no GPU")
    return torch


@needs_cuda
def test_torch_cuda_zero_copy_both_ways():
    torch = _torch_cuda()
    x = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    t = tl.from_dlpack(x)
    assert t.device == tl.cuda
    np.testing.assert_array_equal(np.asarray(t), x.cpu().numpy())
    back = torch.from_dlpack(t)
    assert back.data_ptr() == x.data_ptr()   # zero copy both ways
    y = tl.ones((4,), device="cuda") * 5
    assert torch.from_dlpack(y).cpu().tolist() == [5.0] * 4


@needs_cuda
def test_torch_consumer_stream_waits_for_our_stream():
    # A long chain queued on our stream; torch, reading on its own side stream, must see the
    # final values without any host synchronization in between.
    torch = _torch_cuda()
    m = tl.ones((2048, 2048), device="cuda") * (1.0 / 2048)  # a @ m: each row's mean
    a = tl.ones((2048, 2048), device="cuda")
    for _ in range(20):
        a = a @ m + 1.0
    tl.eval(a)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        x = torch.from_dlpack(a)  # passes side's handle: side waits on our stream
        total = x.sum()
    side.synchronize()
    assert total.item() == pytest.approx(21.0 * 2048 * 2048, rel=1e-4)


@needs_cuda
def test_we_pass_our_stream_to_torch():
    # torch's work queued on its current stream is ordered before ours when we import.
    torch = _torch_cuda()
    m = torch.full((2048, 2048), 1.0 / 2048, device="cuda")
    x = torch.ones((2048, 2048), device="cuda")
    for _ in range(20):
        x = x @ m + 1.0
    s = tl.cuda.Stream()
    with tl.cuda.stream(s):
        t = tl.from_dlpack(x)  # s waits for torch's stream
        total = tl.sum(t)
        tl.eval(total)
    tl.cuda.current_stream().wait_stream(s)
    assert float(total) == pytest.approx(21.0 * 2048 * 2048, rel=1e-4)


@needs_cuda
def test_cupy_interop_with_streams():
    cp = pytest.importorskip("cupy")
    a = tl.arange(1000, dtype=tl.float32, device="cuda") * 2
    with cp.cuda.Stream(non_blocking=True) as cs:
        c = cp.from_dlpack(a)  # CuPy passes its stream; it waits for ours
        s = float(c.sum())
    assert s == pytest.approx(2.0 * 999 * 1000 / 2)
    x = cp.arange(10, dtype=cp.float32) + 1
    t = tl.from_dlpack(x)
    np.testing.assert_array_equal(np.asarray(t), np.arange(10, dtype=np.float32) + 1)
    cs.synchronize()
