"""CUDA streams, events, the stream-ordered pool and pinned staging (src/cuda/cuda_stream.h,
cuda_staging.h; core/buffer_cache.h). The pool's stream rule itself is unit-tested on the CPU
(tests/cpp/test_buffer_cache_streams.cpp).

Where CUDA is absent, the stream API raises tl.DeviceError and tl.cuda stays a plain device."""

import threading
import time

import numpy as np
import pytest

import tensorlogic as tl

STATUS = tl._core.backend_status("cuda")
HAS_CUDA = not STATUS.startswith("unavailable")
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason=STATUS)


def test_tl_cuda_is_the_device_cuda0():
    assert tl.cuda == tl.Device("cuda:0") and tl.cuda == "cuda:0"
    assert hash(tl.cuda) == hash(tl.Device("cuda:0"))
    assert isinstance(tl.cuda, tl.Device) and tl.cuda.type == "cuda" and tl.cuda.index == 0
    assert repr(tl.cuda) == "device('cuda:0')"
    assert tl.cuda.is_available() == HAS_CUDA
    assert tl.cuda.device_count() == sum(d.type == "cuda" for d in tl.devices())
    with tl.cuda.stream(None) as s:  # None: no change, on every machine
        assert s is None


@pytest.mark.skipif(HAS_CUDA, reason="checks the API without CUDA")
def test_stream_api_without_cuda_raises_device_error():
    for make in (tl.cuda.Stream, tl.cuda.Event, tl.cuda.current_stream, tl.cuda.default_stream,
                 lambda: tl.cuda.Event(enable_timing=True), lambda: tl.cuda.Stream(device="cuda:1")):
        with pytest.raises(tl.DeviceError, match="cuda"):
            make()
    with pytest.raises(ValueError, match="not a CUDA device"):
        tl.cuda.Stream(device="cpu")
    tl.synchronize()  # still fine
    assert tl.asarray([1.0, 2.0]).tolist() == [1.0, 2.0]


# ---- on a GPU ----

@needs_cuda
def test_current_stream_follows_with_blocks():
    default = tl.cuda.default_stream()
    assert tl.cuda.current_stream() == default
    assert "default" in repr(default)
    s1, s2 = tl.cuda.Stream(), tl.cuda.Stream()
    assert s1 != s2 and s1 != default and s1.cuda_stream != 0 and s1.device == tl.cuda
    with tl.cuda.stream(s1):
        assert tl.cuda.current_stream() == s1
        with s2:
            assert tl.cuda.current_stream() == s2
        assert tl.cuda.current_stream() == s1
        seen = []
        t = threading.Thread(target=lambda: seen.append(tl.cuda.current_stream()))
        t.start()
        t.join()
        assert seen == [default]  # per thread
    assert tl.cuda.current_stream() == default
    with pytest.raises(RuntimeError):
        with tl.cuda.stream(s1):
            raise RuntimeError("boom")
    assert tl.cuda.current_stream() == default  # restored on error


@needs_cuda
def test_side_stream_work_then_wait_stream(rng):
    x = rng.standard_normal(1 << 22).astype(np.float32)
    a = tl.asarray(x, device="cuda")  # written on the default stream
    side = tl.cuda.Stream()
    side.wait_stream(tl.cuda.current_stream())
    with tl.cuda.stream(side):
        b = a * 2 + 1
        for _ in range(20):
            b = b * 1.5 - b * 0.5  # b stays b, with enough work to still run below
            tl.eval(b)
        c = tl.sum(b)
    tl.cuda.current_stream().wait_stream(side)
    np.testing.assert_allclose(np.asarray(b), x * 2 + 1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(c), float(np.sum((x * 2 + 1).astype(np.float64))), rtol=1e-3)
    side.synchronize()
    assert side.query()


@needs_cuda
def test_synchronize_waits_for_every_stream():
    s = tl.cuda.Stream()
    with s:
        y = tl.ones((2048, 2048), device="cuda")
        for _ in range(10):
            y = y @ y * (1.0 / 2048)
        tl.eval(y)
    tl.synchronize()
    assert s.query()
    tl.cuda.current_stream().wait_stream(s)
    np.testing.assert_allclose(np.asarray(y)[:2, :2], 1.0, rtol=1e-4)


@needs_cuda
def test_events():
    start, end = tl.cuda.Event(enable_timing=True), tl.cuda.Event(enable_timing=True)
    assert start.query()  # never recorded
    start.record()
    y = tl.ones((2048, 2048), device="cuda")
    y = y @ y
    tl.eval(y)
    end.record()
    end.synchronize()
    assert end.query()
    assert start.elapsed_time(end) >= 0.0
    s = tl.cuda.Stream()
    e = s.record_event()
    tl.cuda.current_stream().wait_event(e)
    e.wait()
    with pytest.raises(ValueError, match="enable_timing"):
        e.elapsed_time(end)
    assert "cuda:0" in repr(e)


@needs_cuda
def test_two_streams_keep_pool_bytes_flat():
    streams = [tl.cuda.Stream(), tl.cuda.Stream()]

    def loop(s, n):
        with tl.cuda.stream(s):
            x = tl.zeros(1 << 18, device="cuda")
            for _ in range(n):
                x = x * 0.5 + 1.0
                tl.eval(x)
            return x

    def held():
        st = tl.memory.stats("cuda")
        return st["bytes_in_use"] + st["bytes_cached"]

    for s in streams:  # warm up each stream's blocks
        loop(s, 20)
    tl.synchronize()
    base, allocs = held(), tl.memory.stats("cuda")["system_allocations"]
    for _ in range(10):  # interleaved on one thread
        for s in streams:
            loop(s, 20)
    threads = [threading.Thread(target=loop, args=(s, 300)) for s in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tl.synchronize()
    assert held() <= base + (8 << 20)
    assert tl.memory.stats("cuda")["system_allocations"] - allocs <= 8


@needs_cuda
def test_cross_stream_reuse_waits_for_the_free_event():
    s = tl.cuda.Stream()
    before = tl.memory.stats("cuda")
    with s:
        x = tl.ones(1 << 20, device="cuda") * 3
        tl.eval(x)
    del x  # freed on s: the default stream takes the block once s is past the free
    s.synchronize()
    y = tl.ones(1 << 20, device="cuda") * 2
    tl.eval(y)
    after = tl.memory.stats("cuda")
    assert after["pool_hits"] > before["pool_hits"]
    assert float(tl.sum(y)) == 2.0 * (1 << 20)


@needs_cuda
def test_record_stream_keeps_the_block_until_the_stream_is_done(rng):
    x = rng.standard_normal(1 << 20).astype(np.float32)
    a = tl.asarray(x, device="cuda")
    s = tl.cuda.Stream()
    s.wait_stream(tl.cuda.current_stream())
    with s:
        b = a + 1
        for _ in range(10):
            b = b * 1.0
            tl.eval(b)
    a.record_stream(s)
    del a  # its block may not be reused by the default stream before s is done
    for _ in range(5):
        tl.eval(tl.zeros(1 << 20, device="cuda") + 7)
    tl.cuda.current_stream().wait_stream(s)
    np.testing.assert_allclose(np.asarray(b), x + 1, rtol=1e-6)
    with pytest.raises(ValueError):
        tl.zeros(3).record_stream(s)


@needs_cuda
def test_staged_writes_round_trip(rng):
    # Sizes past the staging ring and its chunk: the ring wraps and waits; every byte lands.
    sizes = [1, 7, 4096, (3 << 20) + 5, 9 << 20, 40 << 20, 1 << 10, (13 << 20) + 3]
    arrays = [rng.integers(0, 255, n, dtype=np.uint8) for n in sizes]
    tensors = [tl.asarray(a, device="cuda") for a in arrays]
    for a, t in zip(arrays, tensors):
        np.testing.assert_array_equal(np.asarray(t), a)


@needs_cuda
def test_asarray_does_not_wait_for_the_gpu_queue():
    y = tl.ones((4096, 4096), device="cuda")
    tl.eval(y)
    tl.synchronize()
    t0 = time.perf_counter()
    for _ in range(30):
        y = y @ y * (1.0 / 4096)
        tl.eval(y)  # queued, not waited for
    queued = time.perf_counter() - t0
    t1 = time.perf_counter()
    small = tl.asarray(np.arange(1000, dtype=np.float32), device="cuda")
    write = time.perf_counter() - t1
    still_running = not tl.cuda.current_stream().query()
    tl.synchronize()
    total = time.perf_counter() - t0
    if still_running:  # the GPU was busy when the write returned: it did not wait
        assert write < 0.5 * (total - queued) + 0.01
    np.testing.assert_array_equal(np.asarray(small), np.arange(1000, dtype=np.float32))
    np.testing.assert_allclose(np.asarray(y)[:2, :2], 1.0, rtol=1e-3)


@needs_cuda
def test_dlpack_stream_argument_protocol():
    t = tl.ones(4, device="cuda") * 2
    side = tl.cuda.Stream()  # (alive while its handle is used)
    for stream in (None, 1, 2, -1, side.cuda_stream, tl.cuda.current_stream().cuda_stream):
        cap = t.__dlpack__(stream=stream)
        assert cap is not None
    with pytest.raises(ValueError, match="stream=0"):
        t.__dlpack__(stream=0)
    assert tl.from_dlpack(t).tolist() == [2.0] * 4
