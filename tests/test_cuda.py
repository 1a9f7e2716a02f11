"""The CUDA backend (a preview): devices, the caching pool, host<->device copies, fused
kernels compiled with NVRTC, random numbers, DLPack. Every other op runs on CUDA through the
device-parametrized suite (conftest.py).

Runs where the NVIDIA driver and NVRTC load; elsewhere it checks that CUDA reports itself
unavailable with a reason and that everything else keeps working."""

import numpy as np
import pytest

import tensorlogic as tl
from helpers import ALL, NP, random_array

STATUS = tl._core.backend_status("cuda")
needs_cuda = pytest.mark.skipif(STATUS.startswith("unavailable"), reason=STATUS)


def test_status_names_a_reason_or_a_device():
    assert STATUS in ("available", "preview") or STATUS.startswith("unavailable: "), STATUS
    if STATUS.startswith("unavailable"):
        assert len(STATUS) > len("unavailable: ")
        assert all(d.type == "cpu" for d in tl.devices())
        with pytest.raises(tl.DeviceError):
            tl.asarray([1.0], device="cuda")
        assert tl.asarray([1.0]).tolist() == [1.0]
    else:
        assert tl.Device("cuda:0") in tl.devices()
    # A preview backend is never the default device.
    assert tl.default_device() == tl.cpu or STATUS == "available"


@needs_cuda
@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (33, 65), (0, 3), (2, 3, 1000)])
def test_round_trip(rng, dtype, shape):
    a = random_array(rng, shape, dtype)
    t = tl.asarray(a, device="cuda")
    assert t.device == tl.Device("cuda:0") and t.dtype == dtype and t.shape == shape
    back = np.asarray(t)
    assert back.dtype == NP[dtype]
    np.testing.assert_array_equal(back, a)


@needs_cuda
def test_views_and_transfers(rng):
    a = random_array(rng, (40, 30), tl.float32)
    t = tl.asarray(a, device="cuda")
    np.testing.assert_array_equal(np.asarray(t[5:9]), a[5:9])          # contiguous view
    np.testing.assert_array_equal(t.to("cpu").numpy(), a)
    np.testing.assert_array_equal(np.asarray(tl.asarray(a[:, ::3], device="cuda")), a[:, ::3])
    assert tl.asarray(a, device="cuda")[3, 4].item() == a[3, 4]
    assert repr(tl.asarray(np.float32([1.5]), device="cuda")).endswith("device='cuda:0')")


@needs_cuda
def test_pool_reuses_and_reports():
    tl.memory.empty_cache("cuda")
    before = tl.memory.stats("cuda")
    for _ in range(20):
        t = tl.asarray(np.ones(1 << 20, np.float32), device="cuda")
        del t
    after = tl.memory.stats("cuda")
    assert after["bytes_in_use"] == before["bytes_in_use"]          # nothing leaks
    assert after["pool_hits"] - before["pool_hits"] >= 19           # freed blocks come back
    assert after["system_allocations"] - before["system_allocations"] <= 1
    assert after["bytes_cached"] >= 4 << 20
    tl.memory.empty_cache("cuda")
    assert tl.memory.stats("cuda")["bytes_cached"] == 0


@needs_cuda
def test_out_of_memory_is_memory_error_and_recoverable():
    with pytest.raises(MemoryError, match="cuda"):
        tl.empty((1 << 46,), dtype=tl.uint8, device="cuda")           # 64 TiB
    tl.memory.set_limit(8 << 20, "cuda")
    try:
        with pytest.raises(MemoryError):
            tl.asarray(np.ones(4 << 20, np.float32), device="cuda")   # 16 MiB over an 8 MiB limit
    finally:
        tl.memory.set_limit(0, "cuda")
    t = tl.asarray(np.arange(10, dtype=np.float32), device="cuda")
    assert np.asarray(t).tolist() == list(range(10))                   # the next call works


@needs_cuda
def test_ten_thousand_steps_keep_pool_bytes_flat(rng):
    """A training-style loop (matmul, softmax, reductions, an update) on the GPU: the bytes in
    use and the bytes the pool holds stop growing after the first steps."""
    x = tl.asarray(random_array(rng, (32, 64), tl.float32), device="cuda")
    w = tl.asarray(random_array(rng, (64, 16), tl.float32) * 0.1, device="cuda")
    seen = []
    for i in range(10_000):
        p = tl.softmax(x @ w, axis=1)
        w = w * 0.999 + (x.T @ (p - 1.0 / 16)) * 1e-4
        tl.eval(w)
        if i % 1000 == 999:
            s = tl.memory.stats("cuda")
            seen.append((s["bytes_in_use"], s["bytes_cached"]))
    assert all(v == seen[1] for v in seen[1:]), seen
    assert np.isfinite(np.asarray(w)).all()


def _chain(lib, x, w, b):
    y = x * w + b
    y = 0.5 * y * (1 + lib.tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
    y = y * 0.5 + 1
    return lib.tanh(y) * w - b


@needs_cuda
@pytest.mark.parametrize("n", [1, 7, 33, 1000, 1 << 20])
def test_fused_chain_matches_numpy_and_cpu(rng, n):
    x, w, b = (random_array(rng, (n,), tl.float32) for _ in range(3))
    cx, cw, cb = (tl.asarray(a, device="cuda") for a in (x, w, b))
    with tl.profiler.profile() as p:
        y = _chain(tl, cx, cw, cb)
    assert p.kernels == 1, p.summary()
    want = _chain(np, x.astype(np.float64), w, b)
    np.testing.assert_allclose(np.asarray(y), want, rtol=2e-5, atol=2e-5)
    cpu = _chain(tl, tl.asarray(x), tl.asarray(w), tl.asarray(b))
    np.testing.assert_allclose(np.asarray(y), np.asarray(cpu), rtol=2e-6, atol=2e-6)


@needs_cuda
def test_broadcast_views_casts_and_writes(rng):
    a = random_array(rng, (33, 70), tl.float32)
    v = random_array(rng, (70,), tl.float64)
    i = random_array(rng, (33, 1), tl.int32)
    ta, tv, ti = (tl.asarray(x, device="cuda") for x in (a, v, i))
    got = (ta.T[::2] * tv[::2, None] - ti.T) / 3            # transposed, strided, broadcast, int
    want = (a.T[::2] * v[::2, None] - i.T.astype(np.float64)) / 3
    assert got.dtype == tl.float64
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray((ta > 0).astype(tl.int8) + ti.astype(tl.int8)),
                                  (a > 0).astype(np.int8) + i.astype(np.int8))
    np.testing.assert_array_equal(np.asarray((ta * 50).astype(tl.uint8)),     # saturating cast
                                  np.clip(np.nan_to_num(a * 50), 0, 255).astype(np.uint8))
    z = tl.zeros((4, 5), device="cuda")
    z[1:3] = 2.5                                              # a write through a view
    z += tl.ones((5,), device="cuda")                         # in place, broadcast
    want_z = np.ones((4, 5), np.float32)
    want_z[1:3] += 2.5
    np.testing.assert_array_equal(np.asarray(z), want_z)
    e = tl.where(ta > 0, tl.exp(ta), -ta * ta)
    np.testing.assert_allclose(np.asarray(e), np.where(a > 0, np.exp(a), -a * a), rtol=1e-6)
    assert np.asarray(tl.zeros((0, 3), device="cuda") + 1).shape == (0, 3)


@needs_cuda
@pytest.mark.parametrize("shape,axis", [((7,), None), ((33, 1000), 1), ((33, 1000), 0),
                                        ((4, 5, 6), (0, 2)), ((1, 1), None), ((3, 0), 1),
                                        ((1 << 20,), None), ((3, 200001), 1), ((300000, 2), 0),
                                        ((5, 5000), 0), ((3, 4, 4100), (0, 1)), ((3, 300000), 0)])
def test_reductions_match_numpy(rng, shape, axis):
    a = random_array(rng, shape, tl.float32)
    i = random_array(rng, shape, tl.int32)
    ta, ti = tl.asarray(a, device="cuda"), tl.asarray(i, device="cuda")
    a64 = a.astype(np.float64)
    np.testing.assert_allclose(np.asarray(ta.sum(axis=axis)), a64.sum(axis=axis), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(ti.sum(axis=axis)), i.astype(np.int64).sum(axis=axis))
    if a.size:
        np.testing.assert_array_equal(np.asarray(ta.max(axis=axis)), a.max(axis=axis))
        np.testing.assert_array_equal(np.asarray(ti.min(axis=axis)), i.min(axis=axis))
        np.testing.assert_allclose(np.asarray((ta * ta).mean(axis=axis)), (a64 * a64).mean(axis=axis),
                                   rtol=1e-5)


@needs_cuda
def test_softmax_and_layernorm_are_one_kernel(rng):
    a = random_array(rng, (65, 1000), tl.float32)
    ta = tl.asarray(a, device="cuda")
    with tl.profiler.profile() as p:
        s = tl.softmax(ta, axis=1)
    assert p.kernels == 1, p.summary()
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(np.asarray(s), e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    with tl.profiler.profile() as q:
        m = ta.mean(axis=1, keepdims=True)
        d = ta - m
        ln = d / tl.sqrt((d * d).mean(axis=1, keepdims=True) + 1e-5)
        del m, d
    assert q.kernels == 1, q.summary()
    a64 = a.astype(np.float64)
    dd = a64 - a64.mean(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(ln), dd / np.sqrt((dd * dd).mean(1, keepdims=True) + 1e-5),
                               rtol=1e-4, atol=1e-5)
    b = random_array(rng, (9, 5000), tl.float32)                      # columns: a thread each
    e0 = np.exp(b - b.max(0, keepdims=True))
    np.testing.assert_allclose(np.asarray(tl.softmax(tl.asarray(b, device="cuda"), axis=0)),
                               e0 / e0.sum(0, keepdims=True), rtol=1e-5, atol=1e-7)
    nan = tl.asarray(np.array([[1.0, np.nan, 3.0]], np.float32), device="cuda")
    assert np.isnan(np.asarray(nan.max(axis=1))).all()             # NaN propagates


@needs_cuda
def test_random_and_ranges_match_the_cpu():
    for fn in (lambda d: tl.random.uniform(-2, 3, size=(1000,), device=d),
               lambda d: tl.random.randint(0, 10, size=(64,), device=d)):
        tl.random.seed(11)
        on_gpu = np.asarray(fn("cuda"))
        tl.random.seed(11)
        np.testing.assert_array_equal(on_gpu, np.asarray(fn("cpu")))   # one Philox stream
    np.testing.assert_array_equal(np.asarray(tl.arange(3, 40, 3, device="cuda")), np.arange(3, 40, 3))
    np.testing.assert_allclose(np.asarray(tl.linspace(0, 1, 7, device="cuda")), np.linspace(0, 1, 7))
    np.testing.assert_array_equal(np.asarray(tl.eye(3, 4, k=1, device="cuda")), np.eye(3, 4, 1))


@needs_cuda
def test_dlpack_with_torch_is_zero_copy_both_ways():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA")
    x = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    t = tl.from_dlpack(x)
    assert t.device == tl.Device("cuda:0") and t.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(t), x.cpu().numpy())
    x[0, 0] = 42  # torch's write, on its stream, is seen by ours
    assert np.asarray(t * 1)[0, 0] == 42
    back = torch.from_dlpack(t[:, 1:])  # a strided view
    assert back.data_ptr() == x.data_ptr() + 4 and back.stride() == (4, 1)
    t[1, 1] = -1  # our write is seen by torch
    assert back[1, 0].item() == -1
    s = tl.exp(t) + 1  # a pending result: exported after it is computed
    np.testing.assert_allclose(torch.from_dlpack(s).cpu().numpy(), np.exp(np.asarray(t)) + 1, rtol=1e-6)
    for dtype in (tl.bfloat16, tl.float16, tl.int8, tl.bool):
        a = tl.asarray([1, 0, 1], dtype=dtype, device="cuda")
        np.testing.assert_array_equal(torch.from_dlpack(a).double().cpu().numpy(), [1, 0, 1])


@needs_cuda
def test_dlpack_with_cupy():
    cupy = pytest.importorskip("cupy")
    c = cupy.arange(10, dtype=cupy.float64)[::2]
    t = tl.from_dlpack(c)
    np.testing.assert_array_equal(np.asarray(t), cupy.asnumpy(c))
    back = cupy.from_dlpack(t * 2)
    np.testing.assert_array_equal(cupy.asnumpy(back), cupy.asnumpy(c) * 2)


@needs_cuda
@pytest.mark.parametrize("dtype", [tl.float32, tl.float64, tl.float16, tl.bfloat16])
def test_random_on_the_device_gives_the_cpu_numbers(dtype):
    """Philox on the GPU: uniform draws equal the CPU's bit for bit (also at the top of the
    interval, where rounding is pushed back below b); normal draws agree to about an ulp (CUDA's
    log, cos and sqrt)."""
    def draws(device):
        tl.random.seed(11)
        return (tl.random.uniform(-2.0, 3.0, size=(1001,), dtype=dtype, device=device),
                tl.random.uniform(0.0, 1e-30, size=(257,), dtype=dtype, device=device),
                tl.random.normal(1.0, 2.0, size=(33, 7), dtype=dtype, device=device))
    (gu, gt, gn), (wu, wt, wn) = draws("cuda"), draws("cpu")
    assert gu.device == tl.Device("cuda:0")
    for g, w in ((gu, wu), (gt, wt)):
        np.testing.assert_array_equal(np.asarray(g.astype(tl.float64)), np.asarray(w.astype(tl.float64)))
    rtol = {tl.float64: 1e-14, tl.float32: 2e-6, tl.float16: 2e-3, tl.bfloat16: 1.6e-2}[dtype]
    np.testing.assert_allclose(np.asarray(gn.astype(tl.float64)), np.asarray(wn.astype(tl.float64)),
                               rtol=rtol, atol=rtol)
    assert float(np.asarray(gu.astype(tl.float64)).max()) < 3.0


@needs_cuda
@pytest.mark.parametrize("dtype", [tl.int8, tl.uint8, tl.int32, tl.int64])
def test_random_integers_on_the_device_equal_the_cpu(dtype):
    def draw(device):
        tl.random.seed(5)
        return np.asarray(tl.random.randint(-7 if dtype != tl.uint8 else 0, 100, size=(4099,), dtype=dtype,
                                            device=device))
    got, want = draw("cuda"), draw("cpu")
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 50
