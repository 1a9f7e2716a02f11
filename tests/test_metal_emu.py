"""The Metal kernels (metal/*.metal) on the CPU emulation harness (tests/metal_emu): the
harness's own tests, the lint, and every kernel against a NumPy float64 reference on random
inputs with odd sizes. Every launch runs under forward, reverse and random thread orders and
must give bitwise identical buffers. Needs only a C++ compiler."""

import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "metal_emu"))
import emu  # noqa: E402
import lint  # noqa: E402
from preprocess import MetalError, translate  # noqa: E402

METAL = TESTS.parent / "metal"
SELFTEST = TESTS / "metal_emu" / "selftest.metal"
ASAN_PROBE = TESTS / "metal_emu" / "asan_probe.metal"
BF16 = ml_dtypes.bfloat16
DTYPES = {"f32": np.float32, "f16": np.float16, "bf16": BF16, "i32": np.int32}

pytestmark = pytest.mark.skipif(
    emu.compiler() is None, reason="no C++ compiler (g++ or clang++) to build the Metal emulator")


@pytest.fixture(scope="module")
def libs():
    files = {"selftest": SELFTEST, **{p.stem: p for p in METAL.glob("*.metal")}}
    emu.build(SELFTEST)  # the shared launcher objects first, then the kernels in parallel
    with ThreadPoolExecutor(2) as pool:
        built = dict(zip(files, pool.map(emu.build, files.values())))
    return {name: emu.Library(path) for name, path in built.items()}


def run_orders(lib, name, buffers, grid, threadgroup, **kw):
    """Launches under the three thread orders on fresh copies of `buffers`; all must agree
    bit for bit. Returns the buffers of the forward run."""
    runs = []
    for order in ("forward", "reverse", "random"):
        bufs = [b.copy() if isinstance(b, np.ndarray) else b for b in buffers]
        lib.launch(name, bufs, grid, threadgroup, order=order, seed=12345, **kw)
        runs.append(bufs)
    for other in runs[1:]:
        for i, (a, b) in enumerate(zip(runs[0], other)):
            if isinstance(a, np.ndarray):
                assert a.tobytes() == b.tobytes(), f"{name}: buffer {i} depends on thread order"
    return runs[0]


def metal_line(path, kernel, needle):
    """'path:line' of the first line containing `needle` after `kernel`'s definition."""
    lines = Path(path).read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if re.search(rf"\b{kernel}\s*\(", l))
    return f"{path}:{next(i for i in range(start, len(lines)) if needle in lines[i]) + 1}"


def random(rng, shape, dtype, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape).astype(dtype)


def assert_close(actual, expected, scale, rtol):
    """|actual - expected| <= rtol * scale, with scale the sum of magnitudes a result was
    computed from (so that cancellation does not demand more than the dtype holds)."""
    err = np.abs(np.asarray(actual, np.float64) - expected)
    assert (err <= rtol * scale).all(), f"error {err.max()}, {(err / scale).max()} of the scale"


# ---- the harness itself -------------------------------------------------------------------

def test_registration_table(libs):
    assert libs["selftest"].kernels()["builtins"] == (1, 1)
    layouts = [(t, ab) for t in ("f32", "f16", "bf16") for ab in ("nn", "nt", "tn", "tt")]
    assert libs["matmul"].kernels().keys() == {
        f"matmul_{t}_{ab}_{c}" for t, ab in layouts for c in ("32x32x16", "64x64x16", "64x32x32")}
    assert libs["gemv"].kernels().keys() == {f"gemv_{t}_{ab}" for t, ab in layouts}
    assert {f"copy_{a}_{b}" for a in DTYPES for b in DTYPES} <= libs["elementwise"].kernels().keys()


def test_barrier_shares_threadgroup_memory_which_starts_as_nan(libs):
    rng = np.random.default_rng(1)
    x = random(rng, 120, np.float32)
    before, after = np.zeros(120, np.uint32), np.zeros(120, np.float32)
    _, before, after = run_orders(libs["selftest"], "shared_tile", [x, before, after], (3, 1, 1),
                                  (40, 1, 1))
    assert (before == 0xFFFFFFFF).all()  # NaN fill before every threadgroup, not just the first
    expected = x.reshape(3, 40)[:, (np.arange(40) + 1) % 40].ravel()
    np.testing.assert_array_equal(after, expected)


def test_thread_orders_expose_a_missing_barrier(libs):
    x = random(np.random.default_rng(2), 40, np.float32)
    out = {}
    for order in ("forward", "reverse"):
        out[order] = np.zeros(40, np.float32)
        libs["selftest"].launch("shared_tile_race", [x, out[order]], (1, 1, 1), (40, 1, 1),
                                order=order)
    assert np.isnan(out["forward"]).any()
    assert not np.array_equal(out["forward"], out["reverse"], equal_nan=True)


def test_simd_functions_on_full_and_partial_simdgroups(libs):
    groups, size = 2, 80  # SIMD-groups of 32, 32 and 16 live lanes
    n = groups * size
    x = np.random.default_rng(3).integers(-100, 100, n).astype(np.float32)
    out = np.zeros(10 * n, np.float32)
    _, out = run_orders(libs["selftest"], "simd_functions", [x, out], (groups, 1, 1), (size, 1, 1))
    poison = np.float32(np.uint32(0xFFFFFFFF).view(np.float32))
    expected = np.zeros((10, n), np.float32)
    for start in range(0, n, size):
        for first in range(0, size, 32):
            live = min(32, size - first)
            v = x[start + first:start + first + live]
            lane = np.arange(live)

            def read(src, v=v, live=live):
                return np.where(src < live, v[np.minimum(src, live - 1)], poison)

            rows = [np.full(live, v.sum()), np.full(live, v.max()), np.full(live, v.min()),
                    np.concatenate([[0], np.cumsum(v)[:-1]]),
                    np.where(lane + 3 < 32, read(lane + 3), v), np.where(lane >= 5, v[lane - 5], v),
                    read(lane ^ 6), read((lane * 7 + 3) % 32), np.full(live, v[4]),
                    np.full(live, v.sum() + 3 * live)]
            expected[:, start + first:start + first + live] = rows
    np.testing.assert_array_equal(out.view(np.uint32), expected.ravel().view(np.uint32))


def block(mem, ld, x, y, transpose):
    """The 8x8 matrix simdgroup_load reads at origin (x = column, y = row)."""
    r, c = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    return mem[(y + c) * ld + x + r] if transpose else mem[(y + r) * ld + x + c]


@pytest.mark.parametrize("dtype", ["f32", "f16"])
@pytest.mark.parametrize("ta,tb,td", [(0, 0, 0), (1, 0, 0), (0, 1, 1), (1, 1, 0), (0, 0, 1)])
def test_simdgroup_matrix_load_mma_store(libs, dtype, ta, tb, td):
    rng = np.random.default_rng(4)
    t = DTYPES[dtype]
    ld = [11, 9, 8, 13]
    x, y = [2, 0, 0, 3], [1, 3, 0, 2]
    a, b, c = (random(rng, 8 * 14, t) for _ in range(3))
    d = np.full(13 * 11, -7, t)
    params = np.array([(ld, x, y, [ta, tb, 0, td])], dtype=[(f, "<u4", 4) for f in "lxyt"])
    *_, d_out, _ = run_orders(libs["selftest"], f"simdgroup_mma_{dtype}", [a, b, c, d, params],
                              (1, 1, 1), (32, 1, 1))
    ma, mb, mc = (block(m.astype(np.float64), ld[i], x[i], y[i], tr)
                  for i, (m, tr) in enumerate([(a, ta), (b, tb), (c, 0)]))
    expected = d.astype(np.float64)
    r, col = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    index = (y[3] + col) * ld[3] + x[3] + r if td else (y[3] + r) * ld[3] + x[3] + col
    expected[index] = ma @ mb + mc
    scale = np.abs(d.astype(np.float64))
    scale[index] = np.abs(ma) @ np.abs(mb) + np.abs(mc)
    assert_close(d_out, expected, scale, 1e-6 if dtype == "f32" else 1e-3)


def test_simdgroup_filled_and_diagonal(libs):
    (d,) = run_orders(libs["selftest"], "simdgroup_filled", [np.zeros(64, np.float32)], (1, 1, 1),
                      (32, 1, 1))
    assert (d == 8.5).all()


def test_atomics(libs):
    x = (np.random.default_rng(5).integers(-40, 40, 150) / 4).astype(np.float32)  # exact sums
    bufs = [np.zeros(1, np.uint32), np.zeros(1, np.float32), np.full(1, -(2**31), np.int32), x]
    count, total, largest, _ = run_orders(libs["selftest"], "atomics", bufs, (3, 1, 1), (50, 1, 1))
    assert count[0] == 150 and total[0] == x.sum() and largest[0] == int((x * 10).max())


MATH = [np.exp, np.exp2, np.log, np.log2, np.sqrt, lambda v: 1 / np.sqrt(v), np.tanh, np.abs,
        np.floor, np.ceil, lambda v: v ** 1.5, lambda v: v * 2.5 + 1, lambda v: np.maximum(v, 1),
        lambda v: np.minimum(v, 1), lambda v: np.clip(v, 0.5, 2), np.abs,
        lambda v: np.where(v > 1, -v, v), lambda v: 0 * v, np.exp, np.sqrt]


@pytest.mark.parametrize("dtype", ["f32", "f16"])
def test_math_functions(libs, dtype):
    n = 33
    x = random(np.random.default_rng(6), n, DTYPES[dtype], 0.1, 3.0)
    out = np.zeros(len(MATH) * n, DTYPES[dtype])
    _, out, _ = run_orders(libs["selftest"], f"math_{dtype}", [x, out, np.uint32(n)], (n, 1, 1),
                           (16, 1, 1), dispatch_threads=True)
    expected = np.stack([f(x.astype(np.float64)) for f in MATH])
    rtol = 1e-6 if dtype == "f32" else 1e-3
    np.testing.assert_allclose(out.reshape(len(MATH), n), expected, rtol=rtol)


def test_vectors_and_swizzles(libs):
    n = 7
    v = random(np.random.default_rng(7), (n, 4), np.float32)
    bufs = [v, np.zeros((n, 4), np.float32), np.zeros((n, 4), np.int32)]
    _, out, ints = run_orders(libs["selftest"], "vectors", bufs, (n, 1, 1), (4, 1, 1),
                              dispatch_threads=True)
    r = v * 2 + v.astype(np.float16).astype(np.float32) - v[:, ::-1]
    r[:, :2] = r[:, 2:] * v[:, :2]
    t = v[:, :3] + np.concatenate([v[:, :2], np.ones((n, 1), np.float32)], axis=1)
    r += 0.5 - 0.25
    r[:, 2:] += t[:, 1::-1]
    expected_ints = np.clip(np.trunc(v * 3), -2, 4).astype(np.int32)
    big = v > 1
    alt = np.concatenate([t, (expected_ints[:, :1] + expected_ints[:, 3:]).astype(np.float32)], 1)
    flags = np.stack([big.all(1), big.any(1), 0 * big[:, 0], 0 * big[:, 0]], axis=1)
    expected = np.where(big, alt, r) + flags
    np.testing.assert_array_equal(ints, expected_ints)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_builtins_of_a_3d_grid_with_edge_threadgroups(libs):
    grid, tg = (5, 3, 2), (4, 2, 1)
    out = np.zeros(30 * 23, np.uint32)
    (out,) = run_orders(libs["selftest"], "builtins", [out], grid, tg, dispatch_threads=True,
                        threadgroup_lengths=(32,))
    groups = [-(-g // t) for g, t in zip(grid, tg)]
    for z in range(grid[2]):
        for y in range(grid[1]):
            for x in range(grid[0]):
                pos, group = (x, y, z), [p // t for p, t in zip((x, y, z), tg)]
                local = [p % t for p, t in zip(pos, tg)]
                size = [min(t, g - gp * t) for t, g, gp in zip(tg, grid, group)]
                index = local[0] + size[0] * (local[1] + size[1] * local[2])
                count = size[0] * size[1] * size[2]
                want = [*pos, *group, *local, *size, *groups[:2], *grid, index, index % 32,
                        index // 32, 32, -(-count // 32), (index + 1) % count * 10]
                row = ((z * grid[1] + y) * grid[0] + x) * 23
                assert list(out[row:row + 23]) == want, pos


@pytest.mark.parametrize("kernel,needle,message", [
    ("simdgroup_divergent_load_error", "simdgroup_load",
     r"simdgroup_load: arguments differ between lane 0 and lane 1"),
    ("simdgroup_divergent_matrix_error", "simdgroup_store",
     r"simdgroup_store: lanes 0 and 1 hold different matrices"),
    ("nonuniform_shuffle_error", "simd_shuffle_down",
     r"simd_shuffle_down: argument differs across lanes \(lane 0: 0, lane 1: 1\)"),
    ("missing_lane_error", "simd_shuffle", r"simd_shuffle: lane 40 does not exist"),
    ("threadgroup_limit_error", "big[8193]", r"exceed the 32768-byte limit"),
    ("divergent_barrier_error", "threadgroup_barrier",
     r"barrier is not reached by all threads.* 16 at threadgroup_barrier .* 16 returned"),
    ("early_return_barrier_error", "threadgroup_barrier",
     r"not reached by all threads.* 16 returned"),
    ("different_barriers_error", "threadgroup_barrier", r"other threads wait at the one at"),
    ("divergent_simd_error", "simd_sum", r"simd_sum is not reached by all threads.* 8 at simd_sum"),
])
def test_kernel_errors_are_reported_at_their_metal_line(libs, kernel, needle, message):
    for order in ("forward", "reverse", "random"):
        with pytest.raises(emu.LaunchError, match=message) as e:
            libs["selftest"].launch(kernel, [np.zeros(64, np.float32)], (1, 1, 1), (32, 1, 1),
                                    order=order)
        assert metal_line(SELFTEST, kernel, needle) in str(e.value)


@pytest.mark.parametrize("name,buffers,lengths,message", [
    ("builtins", 1, (32784,), "exceed the 32 KiB limit"),
    ("builtins", 1, (20,), "multiples of 16"),
    ("builtins", 1, (), "too few buffers or threadgroup lengths"),
    ("vectors", 2, (), "too few buffers"),
    ("nonexistent", 1, (), "no kernel named nonexistent"),
])
def test_launch_arguments_are_checked(libs, name, buffers, lengths, message):
    with pytest.raises(emu.LaunchError, match=message):
        libs["selftest"].launch(name, [np.zeros(64, np.uint32)] * buffers, (1, 1, 1), (8, 1, 1),
                                threadgroup_lengths=lengths)


def test_portable_context_switch():
    """The ucontext fallback (non-x86-64 hosts) passes the barrier and SIMD tests too."""
    lib = emu.load(SELFTEST, ucontext=True)
    test_barrier_shares_threadgroup_memory_which_starts_as_nan({"selftest": lib})
    test_simd_functions_on_full_and_partial_simdgroups({"selftest": lib})


def test_compile_errors_point_at_the_metal_line(tmp_path):
    src = tmp_path / "broken.metal"
    src.write_text("#include <metal_stdlib>\nusing namespace metal;\n\n"
                   "kernel void k(device float* y [[buffer(0)]],\n"
                   "              uint i [[thread_position_in_grid]]) {\n"
                   "  y[i] = undeclared_name;\n}\n")
    with pytest.raises(emu.BuildError, match=re.escape(f"{src}:6")):
        emu.build(src)


def test_local_header_is_inlined_under_its_own_lines(tmp_path):
    """`#include "name.h"` next to the .metal file (metal/matmul_common.h): inlined as the build
    embeds it, rebuilt when the header changes, and errors name the header's or the file's line."""
    header, src = tmp_path / "shared.h", tmp_path / "user.metal"
    header.write_text("// shared\nconstant constexpr float kTwo = 2.0f;\n"
                      "float twice(float x) {\n  return kTwo * x;\n}\n")
    src.write_text('#include <metal_stdlib>\nusing namespace metal;\n#include "shared.h"\n\n'
                   "kernel void k(device float* y [[buffer(0)]],\n"
                   "              uint i [[thread_position_in_grid]]) {\n  y[i] = twice(y[i]);\n}\n")
    y = np.arange(5, dtype=np.float32)
    emu.load(src).launch("k", [y], (5, 1, 1), (1, 1, 1), dispatch_threads=True)
    np.testing.assert_array_equal(y, 2 * np.arange(5, dtype=np.float32))
    header.write_text(header.read_text().replace("kTwo * x", "kTwo * undeclared_name"))
    with pytest.raises(emu.BuildError, match=re.escape(f"{header}:4")):
        emu.build(src)
    header.write_text(header.read_text().replace("undeclared_name", "x"))
    src.write_text(src.read_text().replace("twice(y[i])", "twice(undeclared_name)"))
    with pytest.raises(emu.BuildError, match=re.escape(f"{src}:7")):
        emu.build(src)
    src.write_text(src.read_text().replace("shared.h", "missing.h"))
    with pytest.raises(MetalError, match="no header missing.h"):
        translate(src.read_text(), str(src))
    assert any("no header missing.h" in f for f in lint.lint_source(src.read_text(), str(src)))
    header.write_text("kernel void k2(device float* y [[buffer(0)]]) {}\n")
    src.write_text(src.read_text().replace("missing.h", "shared.h"))
    with pytest.raises(MetalError, match="holds no kernels"):
        translate(src.read_text(), str(src))


@pytest.mark.parametrize("source,message", [
    ("kernel void k(device float* y [[buffer(0)]], uint i [[sample_id]]) {}",
     "unsupported attribute"),
    ("kernel void k(device float* y) {}", "needs exactly one"),
    ("#define K(T) kernel void k_##T(device T* y [[buffer(0)]]) {}\nK(float)", "macros"),
    ("template <typename T> kernel void k(device T* y [[buffer(0)]]) {}\n"
     "template kernel void k<float>(device float* y [[buffer(0)]]);", "without [[host_name"),
])
def test_preprocess_rejects(source, message):
    with pytest.raises(MetalError, match=re.escape(message)):
        translate(source, "x.metal")


def test_preprocess_host_name_and_kernel_attribute():
    src = ('[[host_name("renamed")]] [[kernel]] void f(device float* y [[buffer(0)]]) {}\n'
           "kernel void g(device float* y [[buffer(1)]], uint i [[thread_position_in_grid]]) {}")
    out = translate(src, "x.metal")
    assert '{"renamed", tl_emu_wrap_0, 1, 0}' in out and '{"g", tl_emu_wrap_1, 2, 0}' in out


# ---- the lint -----------------------------------------------------------------------------

@pytest.mark.parametrize("snippet,message", [
    ("double d = 1.0f;", "no double"),
    ("long double d = 1.0f;", "no double"),
    ("float* p = new float;", "new/delete"),
    ("delete p;", "new/delete"),
    ("throw 1;", "exceptions"),
    ("try { } catch (int e) { }", "exceptions"),
    ("struct S { virtual void f(); };", "virtual"),
    ("int m = std::max(1, 2);", "std::"),
    ("goto done;", "goto"),
    ("void (*fp)(int);", "function pointers"),
    ("float x = 0.5;", "suffix"),
    ("float f(float x) { return x > 0.0f ? f(x - 1.0f) : x; }", "f calls itself"),
    ("void g(int n); void h(int n) { if (n) { g(n - 1); } } void g(int n) { h(n); }", "leads back"),
    ("#include <stdio.h>", "<metal_...>"),
])
def test_lint_rejects(snippet, message):
    src = "#include <metal_stdlib>\nusing namespace metal;\n" + snippet + "\n"
    found = lint.lint_source(src, "bad.metal")
    assert any(message in f and f.startswith("bad.metal:3:") for f in found), found


def test_lint_passes_the_real_sources():
    assert lint.main([str(p) for p in [*METAL.glob("*.metal"), SELFTEST, ASAN_PROBE]]) == 0
    ok = "struct S { S() = delete; };\nfloat x = 1.5f + 2.0h;\n"
    assert lint.lint_source(ok, "ok.metal") == []


# ---- metal/elementwise.metal --------------------------------------------------------------

COPY_PARAMS = np.dtype([("n", "<u4"), ("rank", "<u4"), ("src_offset", "<i8"), ("dst_offset", "<i8"),
                        ("shape", "<u4", 6), ("src_strides", "<i8", 6), ("dst_strides", "<i8", 6)])


def view_layout(view, base):
    """(element offset, element strides) of a NumPy view into `base`."""
    size = base.itemsize
    offset = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // size
    return offset, [s // size for s in view.strides]


def strided_copy(lib, src_t, dst_t, shape, rng):
    """Copies a flipped, transposed view into every other element of a destination."""
    full = tuple(reversed(shape)) + (2,)
    if src_t == "i32":
        base = rng.integers(-1000, 1000, full).astype(np.int32)
    else:
        base = random(rng, full, DTYPES[src_t], -1000, 1000)
    src = base[..., 1].transpose()[::-1] if shape else base[..., 1]
    dst_base = np.full(tuple(shape) + (2,), 77, DTYPES[dst_t])
    dst = dst_base[..., 0]
    (so, ss), (do, ds) = view_layout(src, base), view_layout(dst, dst_base)
    params = np.zeros(1, COPY_PARAMS)
    params[0] = (src.size, len(shape), so, do, list(shape) + [0] * (6 - len(shape)),
                 ss + [0] * (6 - len(ss)), ds + [0] * (6 - len(ds)))
    _, out, _ = run_orders(lib, f"copy_{src_t}_{dst_t}", [base, dst_base, params],
                           (src.size, 1, 1), (64, 1, 1), dispatch_threads=True)
    np.testing.assert_array_equal(out[..., 0], src.astype(DTYPES[dst_t]))
    assert (out[..., 1] == DTYPES[dst_t](77)).all()  # nothing written between the strides


@pytest.mark.parametrize("src_t", DTYPES)
@pytest.mark.parametrize("dst_t", DTYPES)
def test_copy_every_dtype_pair(libs, src_t, dst_t):
    strided_copy(libs["elementwise"], src_t, dst_t, (7, 33, 5), np.random.default_rng(8))


@pytest.mark.parametrize("shape", [(), (1,), (1000,), (2, 1, 3, 1, 2, 3)])
def test_copy_ranks(libs, shape):
    strided_copy(libs["elementwise"], "f32", "f16", shape, np.random.default_rng(9))


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16", "i32"])
@pytest.mark.parametrize("n", [1, 7, 33, 1000, 4099])
def test_fill(libs, dtype, n):
    t = DTYPES[dtype]
    value = t(np.random.default_rng(n).uniform(-100, 100))
    out = np.full(n + 5, 3, t)
    out, _, _ = run_orders(libs["elementwise"], f"fill_{dtype}",
                           [out, np.array(value), np.uint32(n)], (-(-n // 4), 1, 1), (32, 1, 1),
                           dispatch_threads=True)
    assert (out[:n] == value).all() and (out[n:] == t(3)).all()


# ---- metal/reduce.metal -------------------------------------------------------------------

REDUCE_CASES = [((1, 1), 32), ((7, 33), 100), ((3, 1000), 256), ((2, 4099), 1024)]


def reduce_input(shape, dtype, seed, offset=0.0):
    """Rows with a stride 3 elements longer than the row; values around `offset`."""
    rows, cols = shape
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, cols + 3)) * 3 + offset).astype(DTYPES[dtype])
    params = np.array([(rows, cols, cols + 3)], dtype=[(f, "<u4") for f in ("rows", "cols", "ld")])
    return x, params, x[:, :cols].astype(np.float64)


@pytest.mark.parametrize("dtype", ["f32", "f16"])
@pytest.mark.parametrize("shape,threads", REDUCE_CASES)
def test_sum_and_max_rows(libs, dtype, shape, threads):
    x, params, ref = reduce_input(shape, dtype, 10)
    for op in ("sum", "max"):
        out = np.zeros(shape[0], DTYPES[dtype])
        _, out, _ = run_orders(libs["reduce"], f"{op}_{dtype}", [x, out, params],
                               (shape[0], 1, 1), (threads, 1, 1))
        if op == "max":
            np.testing.assert_array_equal(out, ref.max(axis=1))
        else:
            # summing in float, then rounding to the dtype
            bound = np.abs(ref).sum(axis=1) + np.abs(ref.sum(axis=1))
            assert_close(out, ref.sum(axis=1), bound, 1e-6 if dtype == "f32" else 1e-3)


@pytest.mark.parametrize("dtype", ["f32", "f16"])
@pytest.mark.parametrize("shape,threads", REDUCE_CASES)
def test_softmax_rows(libs, dtype, shape, threads):
    x, params, ref = reduce_input(shape, dtype, 11, offset=40.0)  # exp(x) alone would overflow f16
    y = np.zeros(shape, DTYPES[dtype])
    _, y, _ = run_orders(libs["reduce"], f"softmax_{dtype}", [x, y, params], (shape[0], 1, 1),
                         (threads, 1, 1))
    e = np.exp(ref - ref.max(axis=1, keepdims=True))
    expected = e / e.sum(axis=1, keepdims=True)
    tol = {"rtol": 1e-5} if dtype == "f32" else {"rtol": 1e-3, "atol": 1e-7}  # f16 subnormals
    np.testing.assert_allclose(y, expected, **tol)


# ---- metal/matmul.metal, metal/gemv.metal (sharing metal/matmul_common.h) -----------------

MATMUL_PARAMS = np.dtype([*[(f, "<u4") for f in ("M", "N", "K", "lda", "ldb", "ldc", "ldc_col", "z0")],
                          ("sa", "<i8"), ("sb", "<i8"), ("sc", "<i8"), ("vec_flags", "<u4"), ("pad", "<u4")])
MATMUL_CONFIGS = {"32x32x16": (32, 32), "64x64x16": (64, 64), "64x32x32": (64, 32)}
MATMUL_RTOL = {"f32": 1e-6, "f16": 1e-3, "bf16": 8e-3}


def stored_operand(op, transposed, aligned=False):
    """op (batch, rows, cols) as stored (transposed or not) with NaN columns of padding that
    must never be read: 3, or (aligned) 1 to 4 so that each stored row starts on a
    4-element boundary, as the vector staging loads need."""
    s = op.transpose(0, 2, 1) if transposed else op
    pad = 4 - s.shape[2] % 4 if aligned else 3
    out = np.full((s.shape[0], s.shape[1], s.shape[2] + pad), np.nan, op.dtype)
    out[:, :, :s.shape[2]] = s
    return out


def matmul_operands(rng, dtype, layout, m, n, k, batch, aligned=False):
    """op(A), op(B) and their storage (transposed per `layout`)."""
    t = DTYPES[dtype]
    a, b = random(rng, (batch, m, k), t), random(rng, (batch, k, n), t)
    return (a, b, stored_operand(a, layout[0] == "t", aligned),
            stored_operand(b, layout[1] == "t", aligned))


def vec_flags(*stored):
    """MatmulParams::vec_flags as the host sets it (MatmulPlan::vec): bit i when buffer i's
    rows and matrices start on 4-element boundaries (the arrays are 16-byte aligned)."""
    flags = 0
    for i, x in enumerate(stored):
        assert x.ctypes.data % 16 == 0
        flags |= (x.shape[2] % 4 == 0 and x[0].size % 4 == 0) << i
    return flags


def check_product(c, a, b, dtype):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert_close(c, a64 @ b64, np.abs(a64) @ np.abs(b64), MATMUL_RTOL[dtype])


MATMUL_SHAPES = [(1, 1, 1, 1), (7, 129, 3, 1), (33, 70, 45, 1), (64, 64, 64, 1), (70, 127, 33, 1),
                 (9, 40, 17, 3)]


# float32 on every shape; the halves on the smallest, the odd-sized and the batched one.
MATMUL_CASES = [(d, s) for d in ("f32", "f16", "bf16") for s in MATMUL_SHAPES
                if d == "f32" or s in ((1, 1, 1, 1), (70, 127, 33, 1), (9, 40, 17, 3))]


def matmul_launch(lib, dtype, layout, config, a, b, sa, sb, vec):
    """Runs matmul_<dtype>_<layout>_<config> on stored operands (vec: MatmulParams::vec_flags);
    returns C (batch, M, N + 2), its last 2 columns NaN padding."""
    batch, m, k = a.shape
    n = b.shape[2]
    c = np.full((batch, m, n + 2), np.nan, DTYPES[dtype])
    params = np.array([(m, n, k, sa.shape[2], sb.shape[2], n + 2, 1, 0, sa[0].size, sb[0].size,
                        c[0].size, vec, 0)], dtype=MATMUL_PARAMS)
    bm, bn = MATMUL_CONFIGS[config]
    _, _, c, _ = run_orders(lib, f"matmul_{dtype}_{layout}_{config}", [sa, sb, c, params],
                            (-(-n // bn), -(-m // bm), batch), (128, 1, 1))
    return c


@pytest.mark.parametrize("layout", ["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("config", MATMUL_CONFIGS)
@pytest.mark.parametrize("dtype,shape", MATMUL_CASES)
def test_matmul(libs, dtype, layout, config, shape):
    """Stored rows 3 elements longer than the matrix: scalar staging, or 4-vectors where that
    happens to fall on a 4-element boundary."""
    m, n, k, batch = shape
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b, sa, sb = matmul_operands(rng, dtype, layout, m, n, k, batch)
    c = matmul_launch(libs["matmul"], dtype, layout, config, a, b, sa, sb, vec_flags(sa, sb))
    check_product(c[:, :, :n], a, b, dtype)
    assert np.isnan(c[:, :, n:].astype(np.float32)).all()  # nothing written past N


# Vector staging: odd K (the last vector of a row straddles the edge), K steps of both
# parities (double buffering), a batch; each operand vectorized alone and both.
MATMUL_VEC_SHAPES = [(70, 127, 33, 1), (33, 70, 100, 1), (9, 40, 17, 3)]
MATMUL_VEC_CASES = [(d, s) for d in ("f32", "f16", "bf16") for s in MATMUL_VEC_SHAPES
                    if d == "f32" or s == (9, 40, 17, 3)]


@pytest.mark.parametrize("layout", ["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("config", MATMUL_CONFIGS)
@pytest.mark.parametrize("dtype,shape", MATMUL_VEC_CASES)
def test_matmul_vector_staging(libs, dtype, layout, config, shape):
    m, n, k, batch = shape
    rng = np.random.default_rng(m * 10007 + n * 101 + k + 2)
    a, b, sa, sb = matmul_operands(rng, dtype, layout, m, n, k, batch, aligned=True)
    sa3, sb3 = stored_operand(a, layout[0] == "t"), stored_operand(b, layout[1] == "t")
    assert vec_flags(sa, sb) == 3
    for ops in ((sa, sb), (sa, sb3), (sa3, sb)) if dtype == "f32" else ((sa, sb),):
        c = matmul_launch(libs["matmul"], dtype, layout, config, a, b, *ops, vec_flags(*ops))
        check_product(c[:, :, :n], a, b, dtype)
        assert np.isnan(c[:, :, n:].astype(np.float32)).all()


def gemv_launch(lib, dtype, layout, a, b, sa, sb, swap):
    """Runs gemv_<dtype>_<layout'> as the host plans it (src/metal/matmul_plan.cpp): directly
    for M <= 16, or (swap) for N <= 16 as C^T = op(B)^T op(A)^T, the operands exchanged with
    their transposition flipped and C written through ldc_col. Returns C (batch, M, N)."""
    batch, m, k = a.shape
    n = b.shape[2]
    c = np.full((batch, m, n + 2), np.nan, DTYPES[dtype])
    if not swap:
        name, rows, cols = f"gemv_{dtype}_{layout}", m, n
        ops, lds = [sa, sb], (sa.shape[2], sb.shape[2])
        ldc, ldc_col, strides = n + 2, 1, (sa[0].size, sb[0].size)
        tb = layout[1] == "t"
    else:
        flipped = ("n" if layout[1] == "t" else "t") + ("n" if layout[0] == "t" else "t")
        name, rows, cols = f"gemv_{dtype}_{flipped}", n, m
        ops, lds = [sb, sa], (sb.shape[2], sa.shape[2])
        ldc, ldc_col, strides = 1, n + 2, (sb[0].size, sa[0].size)
        tb = flipped[1] == "t"
    params = np.array([(rows, cols, k, *lds, ldc, ldc_col, 0, *strides, c[0].size, 0, 0)], dtype=MATMUL_PARAMS)
    groups = -(-cols // 4) if tb else -(-cols // 128)
    _, _, c, _ = run_orders(lib, name, [*ops, c, params], (groups, 1, batch), (128, 1, 1))
    return c


GEMV_SHAPES = [(1, 1, 1, 1), (1, 70, 127, 1), (7, 33, 1000, 1), (16, 129, 33, 1), (5, 40, 17, 3),
               (127, 7, 45, 2)]
# float32 on every shape; the halves on a vector, the batched and the swapped shape.
GEMV_CASES = [(d, s) for d in ("f32", "f16", "bf16") for s in GEMV_SHAPES
              if d == "f32" or s in ((1, 70, 127, 1), (5, 40, 17, 3), (127, 7, 45, 2))]


@pytest.mark.parametrize("layout", ["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("dtype,shape", GEMV_CASES)
def test_gemv(libs, dtype, layout, shape):
    m, n, k, batch = shape
    rng = np.random.default_rng(m * 10007 + n * 101 + k + 1)
    a, b, sa, sb = matmul_operands(rng, dtype, layout, m, n, k, batch)
    c = gemv_launch(libs["gemv"], dtype, layout, a, b, sa, sb, swap=m > 16)
    check_product(c[:, :, :n], a, b, dtype)
    assert np.isnan(c[:, :, n:].astype(np.float32)).all()


# ---- AddressSanitizer ---------------------------------------------------------------------

@pytest.mark.parametrize("kernel,needle,report", [
    ("device_oob", "x[i + 1]", "heap-buffer-overflow"),
    ("threadgroup_oob", "a[i + 1]", "use-after-poison"),
])
def test_asan_reports_out_of_bounds_at_the_metal_line(kernel, needle, report):
    cxx = emu.compiler()
    libasan = subprocess.run([cxx, "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
    if not os.path.isabs(libasan):
        pytest.skip(f"{cxx} has no AddressSanitizer runtime")
    lib = emu.build(ASAN_PROBE, asan=True)
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(TESTS / "metal_emu")!r})
        import emu
        bufs = [np.ones(8, np.float32), np.zeros(8, np.float32)]
        emu.Library({str(lib)!r}).launch({kernel!r}, bufs, (1, 1, 1), (8, 1, 1))
    """)
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode != 0 and report in r.stderr, r.stderr[-2000:]
    assert metal_line(ASAN_PROBE, kernel, needle) in r.stderr, r.stderr[-2000:]
