"""The Hopper matmul kernel (CUDA sm_90: wgmma fed by TMA) against NumPy float64: tile
widths, partial tiles, transposed and packed operands, batches, its fallbacks, the ping-pong
form, and epilogues after and inside it. The shapes are large: GPU only."""

import numpy as np
import pytest

import tensorlogic as tl
from helpers import NP, to_f64
from matmul_checks import EPS, check, check_epilogue, gelu64, on_device, operands

# The Hopper kernel (CUDA sm_90: wgmma fed by TMA, src/cuda/kernels/matmul_wgmma.cu) takes
# float16 / bfloat16 problems whose 128 x 128 tiles cover a third of the SMs: 128 x 256 tiles
# unless 128 x 128 ones take fewer rounds over the SMs than twice theirs; b n-contiguous (x @ w) or k-contiguous (x @ w.T) read in place; operands TMA
# cannot read in place (leading dims not multiples of 8, unaligned, a transposed, several
# batch dims) packed first when the problem is large (2^33 multiply-adds), else the mma
# kernel. Partial tiles along m, n and k; batches walked by the persistent blocks.
HALVES = [tl.float16, tl.bfloat16]


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("mnk,b_t", [((1536, 1536, 256), False),   # 128 x 256 tiles, k one stage x 4
                                     ((2048, 2048, 1000), False),  # k past the last stage's edge
                                     ((2100, 4104, 520), False),   # 128 x 128, partial m, n and k tiles
                                     ((2100, 4104, 520), True),    # x @ w.T: b k-contiguous
                                     ((1536, 1664, 72), True)])
def test_kernel_wgmma_shapes(device, rng, dtype, mnk, b_t):
    m, n, k = mnk
    if device == "cpu" and m * n * k > 1e9:
        pytest.skip("large shapes are for the GPU kernels")
    a, b = operands(rng, dtype, m, n, k, False, b_t)
    got = tl.asarray(a, device=device) @ on_device(device, b, b_t)
    check(got, a, b.T if b_t else b, dtype)


@pytest.mark.parametrize("dtype", HALVES)
def test_kernel_wgmma_batched(device, rng, dtype):
    """Batches (1000^3 x 3 fills the SMs with 128 x 128 tiles), b broadcast (a batch extent
    of 1 in its tensor map), a broadcast, x @ w.T batched, and many small batches."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    a = rng.uniform(-1, 1, (3, 1000, 1000)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (3, 1000, 1000)).astype(NP[dtype])
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    check(ta @ tb, a, b, dtype)
    check(ta @ tb[1], a, b[1], dtype)                                           # b broadcast
    check(ta[2] @ tb, a[2], b, dtype)                                           # a broadcast
    check(ta @ tb.transpose(0, 2, 1), a, b.transpose(0, 2, 1), dtype)           # b^T stored
    x = rng.uniform(-1, 1, (64, 512, 64)).astype(NP[dtype])
    y = rng.uniform(-1, 1, (64, 64, 512)).astype(NP[dtype])
    check(tl.asarray(x, device=device) @ tl.asarray(y, device=device), x, y, dtype)


@pytest.mark.parametrize("dtype", [tl.bfloat16])
def test_kernel_wgmma_odd_shape_packs_operands(device, rng, dtype):
    """4097 x 4095 x 4093: leading dims no TMA can stride, both operands packed first."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    a, b = operands(rng, dtype, 4097, 4095, 4093)
    check(tl.asarray(a, device=device) @ tl.asarray(b, device=device), a, b, dtype)


@pytest.mark.parametrize("dtype", HALVES)
def test_kernel_wgmma_fallbacks(device, rng, dtype):
    """Shapes that would take wgmma but for an operand TMA cannot read in place, too small to
    pay for packing: the mma kernel (unaligned offset, a transposed, several batch dims); a
    leading dim past k (read in place, zeros past k); a transposed at 4096 (packed)."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    a = rng.uniform(-1, 1, (2049, 1032)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (1032, 2048)).astype(NP[dtype])
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    check(ta[1:, 1:1025] @ tb[1:1025], a[1:, 1:1025], b[1:1025], dtype)       # a offset 1
    check(ta[:, :1020] @ tb[:1020], a[:, :1020], b[:1020], dtype)             # ld 1032, k 1020: in place
    check(ta[:1032].T[:, :1024] @ tb[:1024], a[:1032].T[:, :1024], b[:1024], dtype)  # a^T stored
    c = rng.uniform(-1, 1, (3, 4, 512, 128)).astype(NP[dtype])
    d = rng.uniform(-1, 1, (4, 128, 512)).astype(NP[dtype])
    check(tl.asarray(c, device=device) @ tl.asarray(d, device=device), c, d, dtype)  # 2 batch dims
    big = rng.uniform(-1, 1, (4096, 4096)).astype(NP[dtype])
    tbig = tl.asarray(big, device=device)
    check(tbig.T @ tbig, big.T, big, dtype)                                    # a^T: packed


def _gelu_bias_profiled(device, rng, dtype, m, n, k, w_t=False):
    """gelu(x @ w + b) on random operands, checked against float64 on a sample of rows (the
    float64 gelu is slow); the profile of its evaluation. With w_t, w is stored k-contiguous
    (w^T's rows), readable in place whatever n is."""
    a, b = operands(rng, dtype, m, n, k)
    bias = rng.uniform(-1, 1, n).astype(NP[dtype])
    ta, tb, tbias = (tl.asarray(v, device=device) for v in (a, np.ascontiguousarray(b.T) if w_t else b, bias))
    tb = tb.T if w_t else tb
    tl.eval(ta, tb, tbias)
    with tl.profiler.profile() as prof:
        got = tl.gelu(ta @ tb + tbias)
        tl.eval(got)
    rows = np.unique(np.concatenate([rng.choice(m, 40), [0, m - 1]]))
    q = np.matmul(to_f64(a[rows]), to_f64(b))
    prod_err = np.matmul(np.abs(to_f64(a[rows])), np.abs(to_f64(b))) * (2 * k * EPS[tl.float32]) + np.abs(q) * EPS[dtype] * 2
    want = gelu64(q + to_f64(bias))
    check_epilogue(np.asarray(got)[rows], want, prod_err, np.abs(q) + 1 + np.abs(want), dtype)
    return prof


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("mnk", [(1100, 1304, 200),    # 128 x 128 tiles, partial m and n tiles
                                 (1700, 2296, 136),    # 128 x 256 tiles, partial m and n tiles
                                 (1001, 1303, 136, True)])  # c's rows not 16-byte aligned: no vectors
def test_kernel_wgmma_then_its_epilogue(device, rng, dtype, mnk):
    """The cooperative wgmma kernel takes the epilogue at its store: gelu(x @ w + b) is one
    launch, the bias read 16 bytes at a time where c's rows allow it, else an element at a
    time."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    prof = _gelu_bias_profiled(device, rng, dtype, *mnk)
    names = [e["name"] for e in prof.events]
    assert prof.by_kind["matmul"] == 1 and names[-1].endswith("_epilogue_add_gelu"), names
    if device.startswith("cuda") and "sm_90" in tl._core.device_name(device):
        assert "_wgmma_" in names[-1] and prof.by_kind["elementwise"] == 0, names


@pytest.mark.parametrize("force", ["wgmma128", "wgmma256"])
def test_kernel_wgmma_then_its_epilogue_batched(device, rng, force, monkeypatch):
    """Both cooperative tile widths, then their epilogue over batches: a bias per batch and a
    transposed residual, each output indexed by its (batch, m, n)."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    monkeypatch.setenv("TENSORLOGIC_MATMUL_FORCE", force)
    dtype = tl.bfloat16
    x = rng.uniform(-1, 1, (3, 700, 640)).astype(NP[dtype])
    y = rng.uniform(-1, 1, (3, 640, 520)).astype(NP[dtype])
    bias = rng.uniform(-1, 1, (3, 1, 520)).astype(NP[dtype])
    res = rng.uniform(-1, 1, (3, 520, 700)).astype(NP[dtype])
    tx, ty, tbias, tres = (tl.asarray(v, device=device) for v in (x, y, bias, res))
    with tl.profiler.profile() as prof:
        got = tl.silu(tx @ ty + tbias) + tres.transpose(0, 2, 1)
        tl.eval(got)
    assert prof.by_kind["matmul"] == 1 and "_epilogue" in prof.events[-1]["name"], prof.summary()
    if device.startswith("cuda") and "sm_90" in tl._core.device_name(device):
        assert "_wgmma_128x" + force[5:] in prof.events[-1]["name"], prof.summary()
    q = np.matmul(to_f64(x), to_f64(y))
    prod_err = np.matmul(np.abs(to_f64(x)), np.abs(to_f64(y))) * (2 * 640 * EPS[tl.float32]) + np.abs(q) * EPS[dtype] * 2
    z = q + to_f64(bias)
    want = z / (1 + np.exp(-z)) + np.swapaxes(to_f64(res), 1, 2)
    check_epilogue(got, want, prod_err, np.abs(q) + 1 + np.abs(want), dtype)


@pytest.mark.parametrize("dtype", HALVES)
def test_kernel_wgmma_pingpong(device, rng, dtype, monkeypatch):
    """The ping-pong wgmma kernel (each consumer warpgroup every other tile, whole), forced:
    partial tiles, k past the last stage, b k-contiguous, odd tile counts per block, batches,
    and an epilogue fused into it (bias, gelu)."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    monkeypatch.setenv("TENSORLOGIC_MATMUL_FORCE", "wgmma_pp")
    for (m, n, k), b_t in [((2100, 4104, 520), False), ((1536, 1664, 72), True), ((1000, 1000, 1000), False)]:
        a, b = operands(rng, dtype, m, n, k, False, b_t)
        with tl.profiler.profile() as prof:
            got = tl.asarray(a, device=device) @ on_device(device, b, b_t)
            tl.eval(got)
        if "sm_90" in tl._core.device_name(device):
            assert "_pp" in prof.events[-1]["name"], prof.summary()
        check(got, a, b.T if b_t else b, dtype)
    x = rng.uniform(-1, 1, (3, 700, 640)).astype(NP[dtype])
    y = rng.uniform(-1, 1, (3, 640, 520)).astype(NP[dtype])
    check(tl.asarray(x, device=device) @ tl.asarray(y, device=device), x, y, dtype)
    prof = _gelu_bias_profiled(device, rng, dtype, 1100, 1304, 200)
    assert prof.kernels == 1 and prof.events[-1]["name"].endswith("_epilogue_add_gelu"), prof.summary()
