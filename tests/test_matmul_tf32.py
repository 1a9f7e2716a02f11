"""float32 matmul at precision "high" (tl.set_float32_matmul_precision): tf32 tensor cores
where the device has them (CUDA sm_90: the wgmma kernel; b k-contiguous read in place, b
n-contiguous given to wgmma from registers as c^T = b^T a^T ("_rs"), packed transposed where
TMA cannot read it), float32 products elsewhere; against NumPy float64 with
tf32's tolerance, over tile widths, partial tiles, packed and in-place operands, batches and
an epilogue after the kernel."""

import numpy as np
import pytest

import tensorlogic as tl
from helpers import to_f64
from matmul_checks import EPS, check, check_epilogue, gelu64

TF32 = 2**-10  # an operand's relative error: tf32 keeps 10 of float32's 23 mantissa bits


@pytest.fixture(autouse=True)
def high_precision():
    tl.set_float32_matmul_precision("high")
    yield
    tl.set_float32_matmul_precision("highest")


def _hopper(device):
    return device.startswith("cuda") and "sm_90" in tl._core.device_name(device)


def _check(got, a, b):
    check(got, a, b, tl.float32, operand_eps=TF32)


def _profiled(fn):
    with tl.profiler.profile() as prof:
        got = fn()
        tl.eval(got)
    return got, [e["name"] for e in prof.events]


def test_precision_setting():
    assert tl.get_float32_matmul_precision() == "high"
    tl.set_float32_matmul_precision("highest")
    assert tl.get_float32_matmul_precision() == "highest"
    with pytest.raises(ValueError, match="'highest' or 'high'"):
        tl.set_float32_matmul_precision("medium")
    assert tl.get_float32_matmul_precision() == "highest"


def test_tf32_rounds_operands_only_where_tensor_cores_run_it(device, rng):
    """Operands with more than tf32's 10 mantissa bits: on Hopper, products lose those bits
    (tf32 tensor cores); elsewhere they stay float32-exact. 1024 x 768 x 256 is wgmma's size."""
    a = (1 + rng.integers(0, 2**20, (1024, 256)) * 2.0**-20).astype(np.float32)
    b = (1 + rng.integers(0, 2**20, (256, 768)) * 2.0**-20).astype(np.float32)
    got, names = _profiled(lambda: tl.asarray(a, device=device) @ tl.asarray(b, device=device))
    got = to_f64(got)
    want = to_f64(a) @ to_f64(b)
    rel = np.max(np.abs(got - want) / want)
    if _hopper(device):
        assert "_wgmma_" in names[-1] and "float32" in names[-1], names
        assert 256 * 2**-23 < rel < 4 * TF32, rel
    else:
        assert rel < 256 * 2**-23, rel
    _check(got, a, b)


def test_precision_is_the_one_set_when_the_matmul_was_recorded(device, rng):
    a = rng.uniform(-1, 1, (1024, 256)).astype(np.float32)
    b = rng.uniform(-1, 1, (256, 768)).astype(np.float32)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    tl.eval(ta, tb)
    with tl.profiler.profile() as prof:  # (it evaluates what is pending when it opens)
        tl.set_float32_matmul_precision("highest")
        exact = ta @ tb
        tl.set_float32_matmul_precision("high")
        fast = ta @ tb
        tl.set_float32_matmul_precision("highest")
        tl.eval(exact, fast)
    names = [e["name"] for e in prof.events if e["kind"] == "matmul"]
    assert len(names) == 2, names
    if _hopper(device):
        assert sum("_wgmma_" in n for n in names) == 1, names
    _check(fast, a, b)
    want = to_f64(a) @ to_f64(b)
    assert np.max(np.abs(to_f64(exact) - want)) < 512 * 256 * 2**-23


@pytest.mark.parametrize("mnk,b_t", [((1100, 1304, 200), False),  # a from registers (c^T), partial tiles
                                     ((1100, 1304, 200), True),   # x @ w.T: b read in place
                                     ((1700, 2296, 136), True),   # 128 x 256 tiles, partial tiles
                                     ((2100, 4104, 520), False),  # k past the last stage's edge
                                     ((1001, 777, 333), False)])  # leading dims TMA cannot stride: packed
def test_tf32_shapes(device, rng, mnk, b_t):
    m, n, k = mnk
    if device == "cpu" and m * n * k > 1e9:
        pytest.skip("large shapes are for the GPU kernels")
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if b_t else (k, n)).astype(np.float32)
    tb = tl.asarray(b, device=device)
    got, names = _profiled(lambda: tl.asarray(a, device=device) @ (tb.T if b_t else tb))
    if _hopper(device):
        assert "_wgmma_" in names[-1], names
        assert ("_rs" in names[-1]) == (not b_t and n % 8 == 0), names
        assert ("_pb" in names[-1]) == (not b_t and n % 8 != 0), names
    _check(got, a, b.T if b_t else b)


def test_tf32_strided_and_batched(device, rng):
    """a stored transposed (packed transposed), batches (b packed per batch), b broadcast over
    the batch, a view with an offset."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    a = rng.uniform(-1, 1, (3, 700, 640)).astype(np.float32)
    b = rng.uniform(-1, 1, (3, 640, 520)).astype(np.float32)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    _check(ta @ tb, a, b)
    _check(ta @ tb[1], a, b[1])
    _check(ta @ tb.transpose(0, 2, 1).transpose(0, 2, 1), a, b)
    at = rng.uniform(-1, 1, (900, 1300)).astype(np.float32)
    bb = rng.uniform(-1, 1, (901, 1100)).astype(np.float32)
    tat, tbb = tl.asarray(at, device=device), tl.asarray(bb, device=device)
    got, names = _profiled(lambda: tat.T @ tbb[1:])
    if _hopper(device):
        assert "_wgmma_" in names[-1] and "_pa" in names[-1], names
    _check(got, at.T, bb[1:])
    # b a view 1301 wide of rows 1304 apart: read in place (a from registers), c's rows 1301
    # apart (the transposed store element by element, a partial last vector).
    bw = rng.uniform(-1, 1, (1100, 1304)).astype(np.float32)
    tbw = tl.asarray(bw, device=device)
    got, names = _profiled(lambda: tl.asarray(at[:, :1100], device=device) @ tbw[:, :1301])
    if _hopper(device):
        assert "_rs" in names[-1], names
    _check(got, at[:, :1100], bw[:, :1301])


def test_tf32_then_its_epilogue(device, rng):
    """gelu(x @ w + b) in float32 at "high": the matmul, then the epilogue as a kernel of its
    own (the cooperative kernel takes none)."""
    if device == "cpu":
        pytest.skip("large shapes are for the GPU kernels")
    m, n, k = 1100, 1304, 200
    x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    w = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    bias = rng.uniform(-1, 1, n).astype(np.float32)
    tx, tw, tb = (tl.asarray(v, device=device) for v in (x, w, bias))
    got, names = _profiled(lambda: tl.gelu(tx @ tw + tb))
    assert names[-1].endswith("_epilogue_add_gelu"), names
    rows = np.unique(np.concatenate([rng.choice(m, 40), [0, m - 1]]))
    q = np.matmul(to_f64(x[rows]), to_f64(w))
    prod_err = np.matmul(np.abs(to_f64(x[rows])), np.abs(to_f64(w))) * (2 * TF32 + 2 * k * EPS[tl.float32])
    want = gelu64(q + to_f64(bias))
    check_epilogue(np.asarray(got)[rows], want, prod_err, np.abs(q) + 1 + np.abs(want), tl.float32)
