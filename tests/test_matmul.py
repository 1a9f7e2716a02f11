"""Matmul against NumPy float64: odd sizes, vectors, batch broadcasting, transposed and
strided views, every float dtype (tolerance grows with K), integers, empty operands."""

import numpy as np
import pytest

import tensorlogic as tl
from helpers import FLOATS, NP, to_f64
from matmul_checks import EPS, check, check_epilogue, gelu64, on_device, operands

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mnk", [(1, 1, 1), (7, 7, 7), (33, 33, 33), (1, 65, 127), (127, 1, 33),
                                 (33, 70, 45), (100, 1, 1), (257, 129, 300), (64, 48, 1)])
def test_matmul_shapes(device, rng, dtype, mnk):
    m, n, k = mnk
    a = rng.uniform(-1, 1, (m, k)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (k, n)).astype(NP[dtype])
    got = tl.asarray(a, device=device) @ tl.asarray(b, device=device)
    assert got.dtype == dtype
    check(got, a, b, dtype)


def test_matmul_large_f32(device, rng):
    a = rng.standard_normal((1000, 333)).astype(np.float32)
    b = rng.standard_normal((333, 517)).astype(np.float32)
    check(tl.matmul(tl.asarray(a, device=device), tl.asarray(b, device=device)), a, b, tl.float32)


def test_vectors(device, rng):
    a = rng.standard_normal((5, 7)).astype(np.float32)
    v = rng.standard_normal(7).astype(np.float32)
    u = rng.standard_normal(5).astype(np.float32)
    ta, tv, tu = (tl.asarray(x, device=device) for x in (a, v, u))
    check(ta @ tv, a, v, tl.float32)
    check(tu @ ta, u, a, tl.float32)
    assert (tv @ tv).shape == ()
    np.testing.assert_allclose(float(tv @ tv), float(v.astype(np.float64) @ v), rtol=1e-5)
    b3 = rng.standard_normal((3, 7, 4)).astype(np.float32)
    check(tv @ tl.asarray(b3, device=device), v, b3, tl.float32)


def test_batch_broadcasting(device, rng):
    a = rng.standard_normal((2, 1, 5, 6)).astype(np.float32)
    b = rng.standard_normal((3, 6, 4)).astype(np.float32)
    got = tl.asarray(a, device=device) @ tl.asarray(b, device=device)
    assert got.shape == (2, 3, 5, 4)
    check(got, a, b, tl.float32)
    many = rng.standard_normal((64, 33, 16)).astype(np.float32)
    w = rng.standard_normal((16, 33)).astype(np.float32)
    check(tl.asarray(many, device=device) @ tl.asarray(w, device=device), many, w, tl.float32)


def test_transposed_and_strided_views(device, rng):
    a = rng.standard_normal((40, 30)).astype(np.float32)
    b = rng.standard_normal((50, 40)).astype(np.float32)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    check(ta.T @ tb.T, a.T, b.T, tl.float32)
    check(ta[::2, 1::3] @ tb[:10:, ::-4].T[:10], a[::2, 1::3], b[:10, ::-4].T[:10], tl.float32)


def test_integer_and_mixed_dtypes(device, rng):
    a = rng.integers(-5, 5, (6, 9)).astype(np.int32)
    b = rng.integers(-5, 5, (9, 4)).astype(np.int32)
    got = tl.asarray(a, device=device) @ tl.asarray(b, device=device)
    assert got.dtype == tl.int32
    np.testing.assert_array_equal(np.asarray(got), a @ b)
    f = rng.standard_normal((9, 4)).astype(np.float16)
    mixed = tl.asarray(a, device=device) @ tl.asarray(f, device=device)
    assert mixed.dtype == tl.float16


def test_empty_and_k_zero(device):
    assert (tl.zeros((0, 5), device=device) @ tl.zeros((5, 3), device=device)).shape == (0, 3)
    z = tl.ones((4, 0), device=device) @ tl.ones((0, 3), device=device)
    np.testing.assert_array_equal(np.asarray(z), np.zeros((4, 3)))


@pytest.mark.parametrize("dtype", [tl.float32, tl.float64, tl.float16])
def test_matrix_vector_layouts(device, rng, dtype):
    """The matrix-vector path: row- and column-major matrices, strided vectors, batches."""
    a = rng.uniform(-1, 1, (300, 257)).astype(NP[dtype])
    v = rng.uniform(-1, 1, 600).astype(NP[dtype])
    ta, tv = tl.asarray(a, device=device), tl.asarray(v, device=device)
    check(ta @ tv[::-1][:257], a, v[::-1][:257], dtype)             # dot form, strided x
    check(ta.T @ tv[:600:2], a.T, v[:600:2], dtype)                  # column-major matrix
    check(tv[1:301] @ ta, v[1:301], a, dtype)                        # vector @ matrix
    check(tv[:257] @ ta.T, v[:257], a.T, dtype)
    check(ta[::2, ::3] @ tv[:86], a[::2, ::3], v[:86], dtype)        # neither dim contiguous
    b = rng.uniform(-1, 1, (5, 300, 40)).astype(NP[dtype])
    check(tl.asarray(b, device=device) @ tv[:40].reshape(40, 1), b, v[:40].reshape(40, 1), dtype)
    check(tv[:300] @ tl.asarray(b, device=device), v[:300], b, dtype)


# The CUDA kernel family (src/cuda/cuda_matmul.cpp picks one per problem): these shapes and
# layouts reach each kernel and each of its paths on every device. On CUDA: M or N <= 16 is
# the GEMV kernel (a lane per row when the long operand's rows are its unit-stride dim, split
# along k across blocks when the rows alone leave SMs idle, else a warp per row); float16/bfloat16 otherwise the tensor-core kernel, with 64x64 tiles until
# 128x128 tiles fill the GPU, each operand loaded with cp.async when its unit-stride dim is
# contiguous and 16-byte aligned, element by element otherwise; float32 the SIMT kernel
# (128 or 64 tiles, vector loads where 4-aligned); float64 the plain kernel.
HALVES_AND_F32 = [tl.float16, tl.bfloat16, tl.float32]


@pytest.mark.parametrize("dtype", HALVES_AND_F32)
@pytest.mark.parametrize("mnk", [(17, 17, 1), (64, 64, 64), (65, 63, 7), (128, 128, 32), (129, 127, 33),
                                 (31, 200, 127), (200, 40, 1000), (72, 136, 40), (1537, 1600, 72)])
@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_kernel_tiles_and_layouts(device, rng, dtype, mnk, layout):
    """Tile edges (64 and 128), K = 1 and K not a multiple of the K step, in every layout
    (a^T or b^T stored: the other layout of each operand's tile); sizes that are multiples of
    8 take the cp.async loads, odd ones the element loads."""
    m, n, k = mnk
    if m * n * k > 30_000_000 and device == "cpu" and layout != "nn":
        pytest.skip("one layout of the largest shape is enough on the CPU")
    a_t, b_t = layout[0] == "t", layout[1] == "t"
    a, b = operands(rng, dtype, m, n, k, a_t, b_t)
    got = on_device(device, a, a_t) @ on_device(device, b, b_t)
    check(got, a.T if a_t else a, b.T if b_t else b, dtype)


@pytest.mark.parametrize("dtype", HALVES_AND_F32)
def test_kernel_unaligned_and_strided_operands(device, rng, dtype):
    """Offsets that break 16-byte alignment, leading dims not a multiple of 8, and views
    strided both ways (read element by element)."""
    a = rng.uniform(-1, 1, (130, 97)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (97, 90)).astype(NP[dtype])
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    check(ta[1:, 1:] @ tb[1:, 3:], a[1:, 1:], b[1:, 3:], dtype)                 # odd offsets
    check(ta[:, :96] @ tb[:96, :88], a[:, :96], b[:96, :88], dtype)             # ld 97: unaligned rows
    check(ta[::2, ::3] @ tb[::3, ::2], a[::2, ::3], b[::3, ::2], dtype)         # no unit stride
    check(ta[::-1, :40] @ tb[:40, ::-1], a[::-1, :40], b[:40, ::-1], dtype)     # negative strides
    big = rng.uniform(-1, 1, (96, 256)).astype(NP[dtype])
    tbig = tl.asarray(big, device=device)
    check(tbig[:, 8:] @ tbig[:, :248].T, big[:, 8:], big[:, :248].T, dtype)    # aligned offset 8


@pytest.mark.parametrize("dtype", HALVES_AND_F32)
def test_kernel_batched(device, rng, dtype):
    """Batches through grid z: plain, broadcast (stride-0 batch of either operand), several
    batch dims, and a transposed batched operand."""
    a = rng.uniform(-1, 1, (4, 65, 40)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (4, 40, 72)).astype(NP[dtype])
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    check(ta @ tb, a, b, dtype)
    w = rng.uniform(-1, 1, (40, 24)).astype(NP[dtype])
    check(ta @ tl.asarray(w, device=device), a, w, dtype)                      # b broadcast
    x = rng.uniform(-1, 1, (33, 65)).astype(NP[dtype])
    check(tl.asarray(x, device=device) @ ta, x, a, dtype)                      # a broadcast
    c = rng.uniform(-1, 1, (3, 1, 40, 48)).astype(NP[dtype])
    d = rng.uniform(-1, 1, (5, 48, 33)).astype(NP[dtype])
    check(tl.asarray(c, device=device) @ tl.asarray(d, device=device), c, d, dtype)
    e = rng.uniform(-1, 1, (4, 72, 40)).astype(NP[dtype])                      # b^T stored per batch
    check(ta @ tl.asarray(e, device=device).transpose(0, 2, 1), a, e.transpose(0, 2, 1), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mnk", [(1, 1, 300), (5, 300, 257), (300, 5, 257), (16, 1000, 70), (1000, 16, 70),
                                 (17, 700, 33), (3, 4, 1), (16, 16, 2000), (2, 9000, 64)])
@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_kernel_gemv(device, rng, dtype, mnk, layout):
    """M or N <= 16 (and 17, just past): both GEMV forms, each with and without vector loads,
    1 to 16 accumulated columns."""
    m, n, k = mnk
    a_t, b_t = layout[0] == "t", layout[1] == "t"
    a, b = operands(rng, dtype, m, n, k, a_t, b_t)
    got = on_device(device, a, a_t) @ on_device(device, b, b_t)
    check(got, a.T if a_t else a, b.T if b_t else b, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_gemv_batched_and_strided(device, rng, dtype):
    a = rng.uniform(-1, 1, (6, 8, 130)).astype(NP[dtype])
    w = rng.uniform(-1, 1, (130, 300)).astype(NP[dtype])
    ta, tw = tl.asarray(a, device=device), tl.asarray(w, device=device)
    check(ta @ tw, a, w, dtype)                                                 # M = 8, b broadcast
    check(tw.T @ ta.transpose(0, 2, 1), w.T, a.transpose(0, 2, 1), dtype)       # N = 8
    check(ta[:, ::2, 1::2] @ tw[::2, ::5], a[:, ::2, 1::2], w[::2, ::5], dtype)  # strided both ways


@pytest.mark.parametrize("dtype", HALVES_AND_F32)
@pytest.mark.parametrize("k", [1, 7, 1000, 8193])
@pytest.mark.parametrize("n", [1, 7, 4099])
@pytest.mark.parametrize("m", [1, 3, 16])
def test_kernel_gemv_k_split(device, rng, dtype, m, n, k):
    """M <= 16 with b row-major (the lane form on CUDA): k split across blocks once k >= 512
    and the rows leave SMs idle (partials added by a second kernel), k not a multiple of the
    split, the staged chunk or the vector; N = 7 and 1 take the other form or a single row."""
    a, b = operands(rng, dtype, m, n, k)
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    got = ta @ tb
    check(got, a, b, dtype)
    if k == 8193 and n == 4099:
        # The partials are added in a fixed order: the same bits every run.
        np.testing.assert_array_equal(np.asarray(ta @ tb), np.asarray(got))


@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_gemv_k_split_batched_and_strided(device, rng, dtype):
    """k splits with batches (partials per batch), a broadcast b, a b stored transposed
    (element loads) and an odd offset (narrower vectors)."""
    a = rng.uniform(-1, 1, (3, 16, 1500)).astype(NP[dtype])
    b = rng.uniform(-1, 1, (3, 1500, 700)).astype(NP[dtype])
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    check(ta @ tb, a, b, dtype)
    check(ta @ tb[1], a, b[1], dtype)                                            # b broadcast
    check(ta[:, :5, 1:] @ tb[0, 1:, 1:], a[:, :5, 1:], b[0, 1:, 1:], dtype)     # odd offsets
    bt = rng.uniform(-1, 1, (700, 1500)).astype(NP[dtype])
    check(ta @ tl.asarray(bt, device=device).T, a, bt.T, dtype)                 # b^T stored


@pytest.mark.parametrize("shape", [(1, 1000, 1000, 1000), (1, 700, 650, 1500), (2, 300, 290, 2000)], ids=str)
@pytest.mark.parametrize("layout", ["nn", "tn"])
def test_kernel_f32_k_split(device, rng, shape, layout):
    """float32 problems whose 128x128 tiles leave most SMs idle: on CUDA (sm_80+) k is split
    over the grid (2, 3 and 7 splits on 132 SMs; partial tiles, a last split shorter than the
    rest, batches), each tile's last block adding the splits in order (epilogues: the
    simt_k_split kind of test_epilogue_on_each_kernel)."""
    batch, m, n, k = shape
    a_t = layout[0] == "t"
    a, b = operands(rng, tl.float32, m, n, k, a_t, False)
    if batch > 1:
        a, b = np.stack([a, a[::-1]]), np.stack([b, -b])  # (a stored transposed: swapped back)
        ta = tl.asarray(a, device=device)
        if a_t:
            ta, a = ta.transpose(0, 2, 1), np.swapaxes(a, 1, 2)
    else:
        ta = on_device(device, a, a_t)
        a = a.T if a_t else a
    tb = tl.asarray(b, device=device)
    with tl.profiler.profile() as prof:
        got = ta @ tb
        tl.eval(got)
    if device.startswith("cuda"):
        assert "_ks" in [e["name"] for e in prof.events][-1], prof.summary()
    check(got, a, b, tl.float32)


def test_kernel_f32_stays_float32_exact(device, rng):
    """float32 is multiplied in float32 (no tf32 rounding): values with more than tf32's 10
    mantissa bits give products a tf32 kernel would get visibly wrong."""
    a = (1 + rng.integers(0, 2**20, (256, 256)) * 2.0**-20).astype(np.float32)
    b = (1 + rng.integers(0, 2**20, (256, 256)) * 2.0**-20).astype(np.float32)
    got = np.asarray(tl.asarray(a, device=device) @ tl.asarray(b, device=device)).astype(np.float64)
    want = a.astype(np.float64) @ b.astype(np.float64)
    assert np.max(np.abs(got - want) / want) < 256 * 2**-23


# Fused epilogues: the elementwise consumer of a product that nothing else reads runs in the
# matmul kernel, before its store (CUDA: each kernel's TL_EPILOGUE_STORE; CPU: on each
# finished block). Each kernel kind of the CUDA family (see above) with each epilogue the
# planner folds, against float64 NumPy: the product is rounded to its dtype once (as a stored
# product would be), then each op of the epilogue rounds to its result dtype.
EPILOGUE_KINDS = {  # name: (dtype, (m, n, k)) reaching that kernel on CUDA
    "mma_bf16": (tl.bfloat16, (127, 33, 65)),
    "mma_f16": (tl.float16, (33, 1000, 7)),
    "mma_small_n_bf16": (tl.bfloat16, (1000, 7, 33)),       # 16-wide tiles
    "mma_one_row_f16": (tl.float16, (1, 127, 1000)),         # 16-wide tiles, k split
    "mma_small_m_k_split_bf16": (tl.bfloat16, (16, 300, 2000)),
    "simt_f32": (tl.float32, (127, 1000, 33)),
    "simt_k_split_f32": (tl.float32, (700, 650, 1500)),      # 128x128 tiles, k split in 3
    "gemv_small_m_f32": (tl.float32, (7, 1000, 127)),        # the lane form (swapped)
    "gemv_small_m_k_split_f32": (tl.float32, (3, 700, 1500)),
    "gemv_small_n_f32": (tl.float32, (1000, 7, 33)),         # a warp per row
    "gemv_small_n_f64": (tl.float64, (300, 5, 257)),
    "plain_f64": (tl.float64, (33, 127, 7)),
}


def _epilogue_case(name, mm, ex, dtype):
    """(the tensor expression over the product mm(), its float64 reference over the product
    q); ex: the extra operands as tensors (and "np": as NumPy arrays)."""
    out_cast = tl.float32 if dtype in (tl.float16, tl.bfloat16) else tl.float16
    row, col, res, res_t = (to_f64(ex["np"][key]) for key in ("row", "col", "res", "res_t"))
    cases = {
        "scale": (lambda: mm() * 0.37, lambda q: q * 0.37),
        "bias_row": (lambda: mm() + ex["row"], lambda q: q + row),
        "bias_col": (lambda: mm() + ex["col"], lambda q: q + col),
        "relu": (lambda: tl.relu(mm() + ex["row"]), lambda q: np.maximum(q + row, 0)),
        "gelu": (lambda: tl.gelu(mm() + ex["row"]), lambda q: gelu64(q + row)),
        "silu": (lambda: tl.silu(mm()), lambda q: q / (1 + np.exp(-q))),
        "residual": (lambda: mm() + ex["res"], lambda q: q + res),
        "residual_transposed": (lambda: mm() + ex["res_t"].T, lambda q: q + res_t.T),
        "cast": (lambda: mm().astype(out_cast), lambda q: q),
        "chain": (lambda: (tl.gelu(mm() * 0.5 + ex["row"]) + ex["res"]).astype(out_cast),
                  lambda q: gelu64(q * 0.5 + row) + res),
    }
    return cases[name]


EPILOGUES = ["scale", "bias_row", "bias_col", "relu", "gelu", "silu", "residual", "residual_transposed", "cast",
             "chain"]


@pytest.mark.parametrize("epilogue", EPILOGUES)
@pytest.mark.parametrize("kind", list(EPILOGUE_KINDS))
def test_epilogue_on_each_kernel(device, rng, kind, epilogue):
    dtype, (m, n, k) = EPILOGUE_KINDS[kind]
    a, b = operands(rng, dtype, m, n, k)
    ex_np = {"row": rng.uniform(-1, 1, n).astype(NP[dtype]), "col": rng.uniform(-1, 1, (m, 1)).astype(NP[dtype]),
             "res": rng.uniform(-1, 1, (m, n)).astype(NP[dtype]), "res_t": rng.uniform(-1, 1, (n, m)).astype(NP[dtype])}
    ex = {key: tl.asarray(v, device=device) for key, v in ex_np.items()}
    ex["np"] = ex_np
    ta, tb = tl.asarray(a, device=device), tl.asarray(b, device=device)
    tl.eval(ta, tb, *(ex[key] for key in ex_np))
    expr, ref = _epilogue_case(epilogue, lambda: ta @ tb, ex, dtype)  # the product held by no variable
    with tl.profiler.profile() as prof:
        got = expr()
        tl.eval(got)
    # One kernel: the matmul, named for its epilogue; no elementwise kernel of its own.
    assert prof.by_kind["matmul"] == 1 and prof.by_kind["elementwise"] == 0, prof.summary()
    assert "_epilogue" in prof.events[-1]["name"], prof.summary()
    if device.startswith("cuda"):  # and for the kernel of the family that ran
        assert f"_{kind.split('_')[0]}_" in prof.events[-1]["name"], prof.summary()
    q = np.matmul(to_f64(a), to_f64(b))
    acc_eps = EPS[tl.float32] if dtype in (tl.float16, tl.bfloat16) else EPS[dtype]
    prod_err = np.matmul(np.abs(to_f64(a)), np.abs(to_f64(b))) * (2 * k * acc_eps) + np.abs(q) * EPS[dtype] * 2
    mag = np.abs(q) + 1 + np.abs(ref(q))
    check_epilogue(got, ref(q), prod_err, mag, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_epilogue_batched_transposed_and_strided(device, rng, dtype):
    """Batched and broadcast-batched products, transposed operands, a bias per batch row and
    a strided residual view: the epilogue's loads index with each output's (batch, m, n)."""
    a = rng.uniform(-1, 1, (3, 40, 70)).astype(NP[dtype])       # used as a^T per batch
    b = rng.uniform(-1, 1, (33, 40)).astype(NP[dtype])          # used as b^T, broadcast over batches
    bias = rng.uniform(-1, 1, (3, 1, 33)).astype(NP[dtype])
    res = rng.uniform(-1, 1, (3, 140, 66)).astype(NP[dtype])
    ta, tb, tbias, tres = (tl.asarray(v, device=device) for v in (a, b, bias, res))
    tl.eval(ta, tb, tbias, tres)
    with tl.profiler.profile() as prof:
        got = tl.silu(ta.transpose(0, 2, 1) @ tb.T + tbias) - tres[:, ::2, 1::2]
        tl.eval(got)
    assert prof.by_kind["matmul"] == 1 and prof.by_kind["elementwise"] == 0, prof.summary()
    q = np.matmul(to_f64(a).transpose(0, 2, 1), to_f64(b).T)
    z = q + to_f64(bias)
    want = z / (1 + np.exp(-z)) - to_f64(res)[:, ::2, 1::2]
    prod_err = np.matmul(np.abs(to_f64(a)).transpose(0, 2, 1), np.abs(to_f64(b)).T) * 80 * EPS[tl.float32] + \
        np.abs(q) * EPS[dtype] * 2
    check_epilogue(got, want, prod_err, np.abs(z) + np.abs(want) + 1, dtype)
    # Small sides in batches (the GEMV kernel on CUDA, both forms), with a per-batch column bias.
    for shape_a, shape_b in (((4, 5, 300), (4, 300, 200)), ((4, 200, 300), (300, 3))):
        x = rng.uniform(-1, 1, shape_a).astype(NP[dtype])
        w = rng.uniform(-1, 1, shape_b).astype(NP[dtype])
        col = rng.uniform(-1, 1, (4, shape_a[-2], 1)).astype(NP[dtype])
        got = tl.relu(tl.asarray(x, device=device) @ tl.asarray(w, device=device) * 2 + tl.asarray(col, device=device))
        q = np.matmul(to_f64(x), to_f64(w))
        want = np.maximum(q * 2 + to_f64(col), 0)
        prod_err = np.matmul(np.abs(to_f64(x)), np.abs(to_f64(w))) * 600 * EPS[tl.float32] + np.abs(q) * EPS[dtype] * 2
        check_epilogue(got, want, 2 * prod_err, np.abs(q) * 2 + 2, dtype)


def test_epilogue_profiler_shows_one_matmul_kernel(device, rng):
    """gelu(x @ w + b): one kernel, the matmul named for its epilogue ops, where the device's
    matmul takes epilogues (CPU and CUDA)."""
    x = tl.asarray(rng.uniform(-1, 1, (64, 96)).astype(np.float32), device=device)
    w = tl.asarray(rng.uniform(-1, 1, (96, 48)).astype(np.float32), device=device)
    b = tl.asarray(rng.uniform(-1, 1, 48).astype(np.float32), device=device)
    with tl.profiler.profile() as prof:
        y = tl.gelu(x @ w + b)
        tl.eval(y)
    if not tl._core.fuses_matmul_epilogues(device):
        pytest.skip("this device's matmul takes no epilogue")
    names = [e["name"] for e in prof.events]
    assert prof.kernels == 1 and prof.by_kind["matmul"] == 1, names
    # MM_<m>x<n>x<k>_b<batch>_<dtype>[_<kernel config>]_epilogue_<ops>
    assert names[0].startswith("MM_64x48x96_b1_float32_"), names
    assert names[0].endswith("_epilogue_add_gelu"), names
    assert "matmul with epilogue" in tl.profiler.last_plan()
