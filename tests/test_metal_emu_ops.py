"""The Metal kernels behind the backend's non-fused ops (metal/gather.metal, scan.metal,
argreduce.metal, random.metal) on the CPU emulation harness, against NumPy on random inputs
with odd sizes, strided and broadcast layouts, and every dtype the host dispatches to them.
Every launch runs under three thread orders that must agree bit for bit (run_orders)."""

import numpy as np
import pytest

from test_metal_emu import BF16, METAL, assert_close, emu, run_orders

pytestmark = pytest.mark.skipif(
    emu.compiler() is None, reason="no C++ compiler (g++ or clang++) to build the Metal emulator")

I64 = np.int64


@pytest.fixture(scope="module")
def libs():
    return {name: emu.load(METAL / f"{name}.metal")
            for name in ("gather", "scan", "argreduce", "random")}


def dims(shape, *strides):
    """A walk's `dims` buffer: the shape, then each operand's strides (elements)."""
    return np.array([*shape, *[s for st in strides for s in st]] or [1], I64)


# ---- metal/gather.metal -------------------------------------------------------------------

GATHER_PARAMS = np.dtype([("rank", "<u4"), ("serial_rank", "<u4"), ("scatter", "<u4"),
                          ("unused", "<u4"), ("parallel", "<u8"), ("serial", "<u8"),
                          ("offset", "<i8", 3)])


@pytest.mark.parametrize("dtype,name", [(np.uint8, "x8"), (np.float16, "x16"),
                                        (np.float32, "x32"), (np.int64, "x64")])
def test_gather_and_scatter(libs, dtype, name):
    rng = np.random.default_rng(20)
    src = rng.integers(-100, 100, (5, 7, 3)).astype(dtype)  # indexed along dim 1
    idx = np.array([6, 0, 3, 3, 5, 1, 6])                     # repeats: the last write wins
    p, q, ni = 5, 3, len(idx)
    offsets = (idx * 3).astype(I64)                           # element offsets along dim 1
    # gather: every dense dim parallel (P, I, Q), one serial step
    dense = np.zeros((p, ni, q), dtype)
    params = np.array([(3, 1, 0, 0, dense.size, 1, (2, 0, 0))], GATHER_PARAMS)
    flat = np.concatenate([np.zeros(2, dtype), src.ravel()])  # offset 2: the operand's start
    walk = dims((p, ni, q), (21, 0, 1), (0, 1, 0), (ni * q, q, 1))
    _, _, dense, *_ = run_orders(libs["gather"], f"gather_{name}",
                                 [flat, offsets, dense, params, walk, dims((1,), (0,), (0,), (0,))],
                                 (dense.size, 1, 1), (32, 1, 1), dispatch_threads=True)
    np.testing.assert_array_equal(dense, src[:, idx, :])
    # scatter: P and Q parallel, I serial and in order
    values = rng.integers(-100, 100, (p, ni, q)).astype(dtype)
    params = np.array([(2, 1, 1, 0, p * q, ni, (2, 0, 0))], GATHER_PARAMS)
    flat_out, *_ = run_orders(libs["gather"], f"gather_{name}",
                              [flat, offsets, values, params, dims((p, q), (21, 1), (0, 0), (ni * q, 1)),
                               dims((ni,), (0,), (1,), (q,))],
                              (p * q, 1, 1), (32, 1, 1), dispatch_threads=True)
    expected = src.copy()
    for i, j in enumerate(idx):
        expected[:, j, :] = values[:, i, :]
    np.testing.assert_array_equal(flat_out[2:].reshape(src.shape), expected)
    assert (flat_out[:2] == 0).all()


# ---- metal/scan.metal ---------------------------------------------------------------------

SCAN_PARAMS = np.dtype([("rank", "<u4"), ("prod", "<u4"), ("n", "<u8"), ("in_offset", "<i8"),
                        ("out_offset", "<i8"), ("in_stride", "<i8"), ("out_stride", "<i8")])
SCAN_TYPES = {"f32": np.float32, "f16": np.float16, "bf16": BF16, "i8": np.int8, "u8": np.uint8,
              "i32": np.int32, "i64": np.int64, "bool": np.bool_}


@pytest.mark.parametrize("dtype", SCAN_TYPES)
@pytest.mark.parametrize("prod", [0, 1])
@pytest.mark.parametrize("lines,n,axis", [(3, 300, 1), (7, 33, 0), (1, 1, 1), (2, 513, 1)])
def test_scan(libs, dtype, prod, lines, n, axis):
    t = SCAN_TYPES[dtype]
    rng = np.random.default_rng(lines * 1000 + n)
    if np.issubdtype(t, np.integer) or t is np.bool_:
        x = rng.integers(0 if t in (np.uint8, np.bool_) else -3, 4, (lines, n) if axis else (n, lines))
        x = x.astype(t)
    else:  # cumprod of values near 1 stays finite over 513 steps
        x = (rng.uniform(0.9, 1.1, (lines, n) if axis else (n, lines)) if prod else
             rng.uniform(-2, 2, (lines, n) if axis else (n, lines))).astype(t)
    out_t = t if t in (np.float32, np.float16, BF16) else np.int64
    y = np.zeros(x.shape, out_t)
    # lines walk the kept dim; element strides of input and output along the axis
    line_st, axis_st = (x.shape[1], 1) if axis else (1, x.shape[1])
    params = np.array([(1, prod, n, 0, 0, axis_st, axis_st)], SCAN_PARAMS)
    _, y, *_ = run_orders(libs["scan"], f"scan_{dtype}",
                          [x, y, params, dims((lines,), (line_st,), (line_st,))],
                          (lines, 1, 1), (256, 1, 1))
    op = np.cumprod if prod else np.cumsum
    if out_t is np.int64:  # wrapping int64 arithmetic
        np.testing.assert_array_equal(y, op(x.astype(np.int64), axis=axis))
    else:
        x64 = x.astype(np.float64)
        expected = op(x64, axis=axis)
        scale = np.abs(expected) if prod else np.cumsum(np.abs(x64), axis=axis)
        rtol = {np.float32: 1e-5, np.float16: 2e-3, BF16: 1.6e-2}[t] * (8 if prod else 1)
        assert_close(y, expected, scale + 1e-30, rtol)


# ---- metal/argreduce.metal ----------------------------------------------------------------

ARG_PARAMS = np.dtype([("rank", "<u4"), ("argmin", "<u4"), ("n", "<u8"), ("axis_stride", "<i8"),
                       ("in_offset", "<i8"), ("out_offset", "<i8")])


@pytest.mark.parametrize("dtype", SCAN_TYPES)
@pytest.mark.parametrize("argmin", [0, 1])
@pytest.mark.parametrize("shape,axis,threads", [((7, 33), 1, 32), ((600, 5), 0, 256), ((4, 1), 1, 64)])
def test_argreduce(libs, dtype, argmin, shape, axis, threads):
    t = SCAN_TYPES[dtype]
    rng = np.random.default_rng(shape[0] + 7 * argmin)
    x = rng.integers(0 if t in (np.uint8, np.bool_) else -5, 5, shape).astype(t)  # many ties
    if t in (np.float32, np.float16, BF16) and shape[axis] > 20:
        x[(2, 9) if axis else (100, 2)] = np.nan
        x[(2, 20) if axis else (400, 2)] = np.nan  # the first NaN wins
    kept = shape[1 - axis]
    out = np.full(kept, -7, I64)
    kept_st, axis_st = (1, shape[1]) if axis == 0 else (shape[1], 1)
    params = np.array([(1, argmin, shape[axis], axis_st, 0, 0)], ARG_PARAMS)
    _, out, *_ = run_orders(libs["argreduce"], f"argreduce_{dtype}",
                            [x, out, params, dims((kept,), (kept_st,), (1,))],
                            (kept, 1, 1), (threads, 1, 1))
    ref = x.astype(np.float64) if t in (np.float16, BF16) else x
    np.testing.assert_array_equal(out, (np.argmin if argmin else np.argmax)(ref, axis=axis))


# ---- metal/random.metal -------------------------------------------------------------------

RANDOM_PARAMS = np.dtype([("n", "<u8"), ("seed", "<u8"), ("counter", "<u8"), ("scale", "<f4"),
                          ("shift", "<f4"), ("bound", "<f4"), ("normal", "<u4"), ("low", "<i8"),
                          ("range", "<u8")])
MASK = 0xFFFFFFFF


def philox(seed, counter, n):
    """Philox4x32-10 blocks of elements 0..n-1 (src/core/philox.h), as four uint64 arrays."""
    c = np.array([(counter + i) % 2**64 for i in range(n)], np.uint64)
    x = [c & np.uint64(MASK), c >> np.uint64(32),
         np.array([counter + i >= 2**64 for i in range(n)], np.uint64), np.zeros(n, np.uint64)]
    k0, k1 = seed & MASK, seed >> 32
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * x[0], np.uint64(0xCD9E8D57) * x[2]
        x = [(p1 >> np.uint64(32)) ^ x[1] ^ np.uint64(k0), p1 & np.uint64(MASK),
             (p0 >> np.uint64(32)) ^ x[3] ^ np.uint64(k1), p0 & np.uint64(MASK)]
        k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
    return x


def draw(lib, name, dtype, n, seed, counter, **fields):
    out = np.zeros(n + 3, dtype)
    params = np.zeros(1, RANDOM_PARAMS)
    params[0]["n"], params[0]["seed"], params[0]["counter"] = n, seed, counter
    for k, v in fields.items():
        params[0][k] = v
    out, _ = run_orders(lib, name, [out, params], (min(n, 200), 1, 1), (32, 1, 1),
                        dispatch_threads=True)  # fewer threads than elements: threads stride
    assert (out[n:] == 0).all()
    return out[:n]


@pytest.mark.parametrize("dtype,name", [(np.float32, "f32"), (np.float16, "f16"), (BF16, "bf16")])
@pytest.mark.parametrize("n", [1, 33, 1000])
def test_random_uniform_and_normal(libs, dtype, name, n):
    seed, counter = 0x1234_5678_9ABC_DEF0, 2**64 - 5  # the counter carries into word 2
    r = philox(seed, counter, n)
    lo, hi = -2.0, 3.0
    u = draw(libs["random"], f"random_{name}", dtype, n, seed, counter,
             scale=hi - lo, shift=lo, bound=hi, normal=0)
    v = (r[0] >> np.uint64(8)).astype(np.float64) * 2.0**-24
    expected = np.float32(v * (hi - lo) + lo).astype(dtype)  # exact in float64, rounded once
    expected = np.where(expected.astype(np.float64) >= hi, np.nextafter(dtype(hi), dtype(lo)), expected)
    np.testing.assert_array_equal(u, expected)
    assert (u.astype(np.float64) < hi).all()
    z = draw(libs["random"], f"random_{name}", dtype, n, seed, counter, scale=0.5, shift=1.0, normal=1)
    u1 = ((r[0] >> np.uint64(8)) + np.uint64(1)).astype(np.float64) * 2.0**-24
    u2 = (r[1] >> np.uint64(8)).astype(np.float64) * 2.0**-24
    ref = 1.0 + 0.5 * np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)
    tol = {np.float32: 1e-5, np.float16: 1e-3, BF16: 8e-3}[dtype]
    np.testing.assert_allclose(z.astype(np.float64), ref, rtol=tol, atol=tol)


def test_random_uniform_never_reaches_its_bound(libs):
    """Uniforms within 2^-12 of 1 round up to 1 in float16: next_down keeps [a, b)."""
    r = philox(7, 0, 30000)
    counter = int(np.argmax((r[0] >> np.uint64(8)) >= 2**24 - 2**12))  # the first such element
    u = draw(libs["random"], "random_f16", np.float16, 5, 7, counter, scale=1.0, shift=0.0,
             bound=1.0, normal=0)
    assert u[0] == np.nextafter(np.float16(1), np.float16(0))  # 0.9995, not 1


@pytest.mark.parametrize("dtype,name", [(np.int8, "i8"), (np.uint8, "u8"), (np.int32, "i32"),
                                        (np.int64, "i64")])
@pytest.mark.parametrize("low,high", [(-5, 7), (0, 2**40), (-2**63, 2**63 - 1)])
def test_random_integers(libs, dtype, name, low, high):
    n, seed, counter = 257, 99, 12345
    rng_range = (high - low) % 2**64
    got = draw(libs["random"], f"random_{name}", dtype, n, seed, counter, low=low, range=rng_range)
    r = philox(seed, counter, n)
    bits = [(int(a) << 32) | int(b) for a, b in zip(r[0], r[1])]
    values = [(low + ((b * rng_range) >> 64)) % 2**64 for b in bits]
    expected = np.array(values, np.uint64).view(np.int64).astype(dtype)  # wraps like a cast
    np.testing.assert_array_equal(got, expected)
