"""The MSL that src/metal/msl_*.cpp generates for fused kernels, run on the CPU emulation
harness (tests/metal_emu) against the CPU backend. Each program below runs on the CPU, which
plans its kernels; each kernel's MSL is linted, built (every kernel of this file into one
or two libraries) and launched in the emulator on the same inputs under three thread
orders, which must agree bit for bit, and its output must match the CPU's result.

A kernel's buffer n is its IR slot n: the planner numbers input buffers in the order a
depth-first walk from the result first reads them, so each program lists its inputs (the
arrays handed to tl.asarray, views taken after) in that order."""

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import tensorlogic as tl

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "metal_emu"))
import emu  # noqa: E402
import lint  # noqa: E402

pytestmark = pytest.mark.skipif(
    emu.compiler() is None, reason="no C++ compiler (g++ or clang++) to build the Metal emulator")

BF16 = ml_dtypes.bfloat16
NUMPY = {"bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "int32": np.int32, "int64": np.int64,
         "float16": np.float16, "bfloat16": BF16, "float32": np.float32}
STORAGE = {"bool": np.uint8, "bfloat16": np.uint16}  # how the kernels hold them (msl_codegen.cpp)
RTOL = {"float32": 1e-6, "float16": 1e-3, "bfloat16": 8e-3}  # bf16: one unit in the last place
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 40, -40, 100, -100], np.float32)
rng = np.random.default_rng(7)


def rand(shape, dtype=np.float32, low=-2.0, high=2.0, special=False):
    """Random values (integers in [low, high], bools half true), with SPECIAL spread in."""
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(int(low), int(high), shape, endpoint=True).astype(dtype)
    a = rng.uniform(low, high, shape).astype(np.float32)
    if special:
        flat = a.reshape(-1)
        flat[rng.choice(flat.size, min(flat.size, SPECIAL.size), replace=False)] = SPECIAL[:flat.size]
    return a.astype(dtype)


PROGRAMS = {}  # name -> (inputs, fn, (rtol, atol, scaled), wide)


def program(name, inputs, fn, rtol=None, atol=0.0, scaled=False, wide=False):
    """rtol: for float results (None: the dtype's); atol: absolute, where a result cancels
    (x * 3 + 1 near 0); scaled: atol += rtol * the largest result (sums); wide: also a case
    with 64-bit index math."""
    PROGRAMS[name] = (inputs, fn, (rtol, atol, scaled), wide)


UNARY = ["negative", "abs", "sign", "square", "relu", "floor", "ceil", "round", "trunc", "exp",
         "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "erf", "sigmoid",
         "silu", "softplus", "gelu", "isnan", "isinf", "isfinite", "logical_not"]
for op in UNARY:
    # (gelu cancels: 1 + erf(x) near -1 keeps few bits of erf in float.)
    program(f"unary_{op}", [rand(1000, low=-4, high=4, special=True)], getattr(tl, op),
            atol=1e-6 if op == "gelu" else 0.0)
program("unary_gelu_tanh", [rand(1000, low=-4, high=4, special=True)], lambda x: tl.gelu(x, approximate="tanh"),
        atol=1e-6)
program("unary_erf_wide_range", [np.linspace(-5, 5, 4099, dtype=np.float32)], tl.erf)

BINARY = ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "pow", "maximum",
          "minimum", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
          "logical_and", "logical_or", "logical_xor"]
for op in BINARY:
    y = rand(33, low=-3, high=3)
    y[::2] = np.round(y[::2])  # integer exponents of negative bases; zero divisors
    program(f"binary_{op}", [rand((7, 33), special=True), y], getattr(tl, op))

for dt in (np.int8, np.uint8, np.int32, np.int64):
    low = 0 if dt == np.uint8 else -9
    program(f"int_divmod_{dt.__name__}", [rand((7, 33), dt, low, 120), rand(33, dt, low, 9)],
            lambda x, y: x // y + (x % y) * 3)
    program(f"int_misc_{dt.__name__}", [rand((7, 33), dt, low, 100), rand((7, 33), dt, low, 100)],
            lambda x, y: tl.where(x > y, tl.abs(x) - tl.maximum(x, y), tl.minimum(x, y) * tl.sign(y)))
    program(f"int_bits_{dt.__name__}", [rand(1000, dt, low, 100), rand(1000, dt, low, 100)],
            lambda x, y: (x & y) | (x ^ ~y))
program("int_shifts_int64", [rand(1000, np.int64, -1000, 1000), rand(1000, np.int64, -3, 70)],
        lambda x, y: (x << y) + (x >> y))
program("int_pow_int32", [rand(1000, np.int32, -5, 5), rand(1000, np.int32, -2, 7)], lambda x, y: x ** y)
program("bool_logic", [rand(1000, np.bool_), rand(1000, np.bool_), rand(1000, np.bool_)],
        lambda a, b, c: (a & ~b) ^ (c | b))
program("where_bool_f32", [rand((33, 70), np.bool_), rand((33, 70)), rand(70)], tl.where)

for dt in (tl.int8, tl.uint8, tl.int32, tl.int64, tl.bool, tl.float16, tl.bfloat16):
    program(f"cast_f32_to_{dt}", [rand(1000, low=-300, high=300, special=True)],
            lambda x, dt=dt: (x * 1.5).astype(dt))
    program(f"cast_{dt}_to_f32", [rand(1000, NUMPY[str(dt)], -100, 100)],
            lambda x: x.astype(tl.float32) * 0.5)
program("cast_int64_wraps_to_int8", [rand(1000, np.int64, -100000, 100000)], lambda x: (x * 3).astype(tl.int8))
program("cast_int64_to_f16", [rand(1000, np.int64, -100000, 100000)], lambda x: (x * 3).astype(tl.float16))
for dt in (np.float16, BF16):
    program(f"halves_math_{np.dtype(dt).name}", [rand((33, 70), dt), rand(70, dt)],
            lambda x, y: x * y + tl.exp(x) - tl.sqrt(tl.abs(y)))

program("broadcast_3d", [rand((7, 1, 33)), rand((1, 5, 1))], lambda x, y: x + y * 2)
program("transposed", [rand((33, 70))], lambda x: x.T * 3 + 1, atol=1e-6)
program("sliced_reversed", [rand((33, 70))], lambda x: x[1:-1:2, ::-1] * 2 - x[17:][::-1])
program("reversed_rows", [rand(4099)], lambda x: x[::-1] + x)
# (A broadcast operand at an offset next to 4-vectors, a size-1 dim merged away.)
program("broadcast_view_of_size_1", [rand((1, 1000)), rand((3, 5))], lambda x, b: x + b[1:2, 2:3])
program("offset_view_unaligned", [rand(1001)], lambda x: x[1:] * 2)
program("scalar_consts_int", [rand(1000, np.int32, -1000, 1000)], lambda x: x * 3 + 7)
program("scalar_consts_f16", [rand(1000, np.float16)], lambda x: tl.where(x > 0.5, x, -1.25) * 2.5)
program("zero_d_input", [rand((33, 70)), np.float32(3.0)], lambda x, s: x * tl.asarray(s))
for n in (1, 7, 33, 1000, 4099):
    program(f"size_{n}", [rand(n)], lambda x: tl.exp(x) * 2 - x, wide=n == 4099)
program("empty", [np.zeros((0, 5), np.float32)], lambda x: x + 1)

for op in ("sum", "prod", "max", "min", "any", "all"):
    low, high = (0.8, 1.25) if op == "prod" else (-2, 2)
    pre = {"any": lambda x: x > 1.9, "all": lambda x: x > -1.9}.get(op, lambda x: x * 1.5)
    for axis, shape in ((1, (33, 70)), (0, (70, 33)), (1, (33, 1000)), (0, (7, 1000))):
        program(f"reduce_{op}_axis{axis}_{shape[0]}x{shape[1]}", [rand(shape, low=low, high=high)],
                lambda x, op=op, axis=axis, pre=pre: getattr(pre(x), op)(axis=axis), rtol=1e-5, scaled=True)
    program(f"reduce_{op}_keepdims", [rand((33, 7), low=low, high=high)],
            lambda x, op=op, pre=pre: getattr(pre(x), op)(axis=0, keepdims=True), rtol=1e-5, scaled=True)
# All below / above 0: an identity of 0 for max / min would show.
program("reduce_max_negative_rows", [rand((33, 70))], lambda x: (x - 3).max(axis=1))
program("reduce_min_positive_columns", [rand((70, 33))], lambda x: (x + 3).min(axis=0))
program("reduce_max_nan", [rand((33, 70), special=True)], lambda x: (x * 2).max(axis=1))
program("reduce_min_nan_columns", [rand((70, 33), special=True)], lambda x: (x * 2).min(axis=0))
program("reduce_sum_all_4099", [rand(4099)], lambda x: (x * 2).sum(), rtol=1e-5, scaled=True, wide=True)
program("reduce_sum_axis1_of_1", [rand((33, 1))], lambda x: (x * 2).sum(axis=1), rtol=1e-5, scaled=True)
program("reduce_sum_3d_outer_inner", [rand((4, 5, 6))], lambda x: (x * 2).sum(axis=(0, 2)), rtol=1e-5, scaled=True)
program("reduce_sum_3d_middle", [rand((5, 7, 33))], lambda x: (x * 2).sum(axis=1), rtol=1e-5, scaled=True, wide=True)
program("reduce_sum_transposed", [rand((33, 70))], lambda x: (x.T[::2] * 3).sum(axis=0), rtol=1e-5, scaled=True)
program("reduce_sum_int32", [rand((33, 70), np.int32, -1000, 1000)], lambda x: (x * 3).sum(axis=1))
program("reduce_prod_int64_columns", [rand((7, 33), np.int64, -9, 9)], lambda x: (x + 1).prod(axis=0))
program("reduce_max_int8", [rand((33, 70), np.int8, -100, 100)], lambda x: (x - 1).max(axis=1))
program("reduce_min_uint8_columns", [rand((70, 33), np.uint8, 0, 200)], lambda x: (x + 1).min(axis=0))
program("reduce_sum_f16", [rand((33, 70), np.float16)], lambda x: (x * 2).sum(axis=1), rtol=2e-3)
program("reduce_max_bf16_columns", [rand((70, 33), BF16)], lambda x: (x * 2).max(axis=0))

# Split reductions (few long outputs: a partials kernel, then one that folds them), rows and
# columns, odd sizes; SPLIT_REFERENCE also checks them against NumPy in float64.
SPLIT_REFERENCE = {}


def split_program(name, inputs, fn, reference, rtol=None):
    program(name, inputs, fn, rtol=rtol, scaled=True)
    SPLIT_REFERENCE[name] = reference


split_program("split_sum_all_100003", [rand(100003)], lambda x: (x * 2).sum(),
              lambda x: (x * 2).sum(), rtol=1e-5)
split_program("split_sum_rows_3x70001", [rand((3, 70001))], lambda x: tl.exp(x).sum(axis=1),
              lambda x: np.exp(x).sum(axis=1), rtol=1e-5)
split_program("split_sum_columns_100003x3", [rand((100003, 3))], lambda x: (x * 3).sum(axis=0),
              lambda x: (x * 3).sum(axis=0), rtol=1e-5)
split_program("split_mean_columns_65537x33", [rand((65537, 33))], lambda x: (x + 1).mean(axis=0),
              lambda x: (x + 1).mean(axis=0), rtol=1e-5)
split_program("split_max_columns_f16_70001x5", [rand((70001, 5), np.float16)], lambda x: tl.abs(x).max(axis=0),
              lambda x: np.abs(x).max(axis=0))

program("softmax_rows", [rand((33, 70))], lambda x: tl.softmax(x, axis=1), rtol=1e-5, scaled=True, wide=True)
program("softmax_columns", [rand((70, 33))], lambda x: tl.softmax(x, axis=0), rtol=1e-5, scaled=True)
# Few long columns of several passes: split pass by pass (chunks of rows, then folds).
program("split_softmax_columns_65537x3", [rand((65537, 3))], lambda x: tl.softmax(x, axis=0), rtol=1e-5,
        scaled=True)
program("softmax_f16", [rand((33, 1000), np.float16)], lambda x: tl.softmax(x, axis=1))
program("layernorm", [rand((33, 70))],
        lambda x: (x - x.mean(1, keepdims=True)) / tl.sqrt(x.var(1, keepdims=True) + 1e-5), rtol=1e-5, scaled=True)


def _collect():
    """{case: (inputs, expected, kernel description, tolerances)}, a case per program (and
    one with 64-bit index math where asked), each planned and run on the CPU."""
    cases = {}
    marker = tl.asarray(np.arange(3, dtype=np.int8), device="cpu")
    for name, (inputs, fn, tols, wide) in PROGRAMS.items():
        tl.eval(marker ^ 5)  # a plan of its own: a program that plans nothing shows as one
        before = tl._core.last_plan()
        result = fn(*[tl.asarray(a, device="cpu") for a in inputs])
        tl.eval(result)
        assert tl._core.last_plan() != before, f"{name}: nothing planned"
        for w in (False, True) if wide else (False,):
            kernels = tl._core.metal_sources_of_last_plan(wide=w)
            assert len(kernels) == 1, f"{name}: {len(kernels)} fused kernels planned"
            cases[name + ("[wide]" if w else "")] = (inputs, np.asarray(result), kernels[0], tols)
    return cases


CASES = _collect()


def _split(desc):
    """(prelude, kernel) of a generated source: the kernel starts at its params struct."""
    at = desc["source"].index(f"struct {desc['entry']}_params")
    return desc["source"][:at], desc["source"][at:]


@pytest.fixture(scope="module")
def libraries():
    """{entry: emu.Library}: every distinct kernel, in two libraries built in parallel."""
    kernels = {}
    for _, _, desc, _ in CASES.values():
        prelude, body = _split(desc)
        kernels[desc["entry"]] = body
    entries = sorted(kernels)
    chunks = [entries[i::2] for i in range(2)]
    paths = []
    for chunk in chunks:
        text = prelude + "".join(kernels[e] for e in chunk)
        path = emu._cache_dir() / f"msl_codegen-{hashlib.sha256(text.encode()).hexdigest()[:16]}.metal"
        if not path.exists():
            path.write_text(text)
        paths.append(path)
    emu.build(paths[0])  # the shared launcher objects once, then the rest in parallel
    with ThreadPoolExecutor(2) as pool:
        libs = list(pool.map(emu.Library, pool.map(emu.build, paths)))
    return {e: lib for lib, chunk in zip(libs, chunks) for e in chunk}


def test_sources_are_lint_clean():
    prelude = _split(next(iter(CASES.values()))[2])[0]
    assert lint.lint_source(prelude, "prelude") == []
    for name, (_, _, desc, _) in CASES.items():
        assert lint.lint_source(_split(desc)[1], name) == [], name


def test_float64_is_reported_not_printable():
    x = tl.asarray(rand(10).astype(np.float64))
    tl.eval(x * 2)
    assert "float64" in tl._core.metal_sources_of_last_plan()[0]


def test_launch_keys_name_one_source_each():
    # The host finds a pipeline by launch key before printing MSL: one key, one source.
    by_key = {}
    for _, _, desc, _ in CASES.values():
        by_key.setdefault(desc["key"], set()).add(desc["source"])
    assert all(len(sources) == 1 for sources in by_key.values())
    assert len(by_key) > 10


def test_launch_key_ignores_sizes_and_constants():
    def key(n, c):
        tl.eval(tl.asarray(rand(n), device="cpu") * c + 1.5)
        (desc,) = tl._core.metal_sources_of_last_plan()
        return desc["key"]

    assert key(1000, 2.0) == key(4096, -3.0)
    assert key(1000, 2.0) != key(3, 2.0)  # too short for 4-vectors: another cut


def run(lib, desc, inputs):
    """The written buffer after launching under three thread orders (bitwise identical)."""
    queue = [np.ascontiguousarray(a).reshape(-1) for a in inputs]
    bufs, out = [], None
    for slot, (dtype, written, elements) in enumerate(desc["buffers"]):
        store = STORAGE.get(dtype, NUMPY[dtype])
        if written:
            out = slot
            bufs.append(np.full(elements * np.dtype(store).itemsize, 0xA5, np.uint8).view(store))
            continue
        a = queue.pop(0)
        assert a.dtype == NUMPY[dtype] and a.size >= elements, f"slot {slot} is not the next input"
        bufs.append(a.view(store).copy())
    assert not queue, "inputs left over"
    if desc["scratch_bytes"]:  # a split reduction's scratch buffer (NaN: every partial is written first)
        bufs.append(np.full(desc["scratch_bytes"], 0xFF, np.uint8))
    bufs.append(np.frombuffer(desc["params"], np.uint8).copy())
    runs = []
    for order in ("forward", "reverse", "random"):
        b = [x.copy() for x in bufs]
        for entry, grid, threadgroup in desc["steps"]:
            if grid[0] > 0:
                lib.launch(entry, b, tuple(grid), tuple(threadgroup), order=order, seed=3)
        runs.append(b[out])
    assert runs[0].tobytes() == runs[1].tobytes() == runs[2].tobytes(), "result depends on thread order"
    return runs[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_kernel_matches_cpu(libraries, case):
    inputs, expected, desc, (rtol, atol, scaled) = CASES[case]
    actual = run(libraries[desc["entry"]], desc, inputs).view(expected.dtype)[:expected.size]
    actual = actual.reshape(expected.shape)
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected)
        return
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
    finite = np.isfinite(e)
    np.testing.assert_array_equal(a[~finite & ~np.isnan(e)], e[~finite & ~np.isnan(e)])
    rtol = rtol or RTOL[str(expected.dtype)]
    atol += rtol * np.abs(e[finite]).max(initial=0.0) if scaled else 0.0
    np.testing.assert_allclose(a[finite], e[finite], rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", sorted(SPLIT_REFERENCE))
def test_split_reduction_matches_numpy_float64(libraries, case):
    inputs, expected, desc, (rtol, _, _) = CASES[case]
    (part, part_grid, _), (entry, grid, _) = desc["steps"]
    assert part == desc["entry"] + "_part" and entry == desc["entry"] and desc["scratch_bytes"] > 0
    assert part_grid[0] > grid[0]  # the partials kernel spreads each output
    actual = run(libraries[desc["entry"]], desc, inputs).view(expected.dtype)[:expected.size]
    ref = SPLIT_REFERENCE[case](*[a.astype(np.float64) for a in inputs])
    # |error| within rtol of the sum of the magnitudes summed (or of the value: max).
    scale = SPLIT_REFERENCE[case](*[np.abs(a.astype(np.float64)) for a in inputs])
    rtol = rtol or RTOL[str(expected.dtype)]
    err = np.abs(actual.astype(np.float64) - ref)
    assert (err <= rtol * np.abs(scale)).all(), f"error {err.max()}"


def test_unsplit_programs_have_no_partials_kernel():
    inputs, _, desc, _ = CASES["reduce_sum_axis1_33x70"]
    assert [s[0] for s in desc["steps"]] == [desc["entry"]] and desc["scratch_bytes"] == 0
