"""The plan cache: a graph of a structure planned before reuses that plan with its own nodes,
buffers and constants. Each test builds graphs that share a structure, or differ from one
just where the plan must differ, and checks every result against NumPy in float64."""

import numpy as np
import pytest

import tensorlogic as tl
from helpers import random_array


def _pair(rng, shape, device):
    a = random_array(rng, shape, tl.float32, -3.0, 3.0)
    return tl.asarray(a, device=device), a.astype(np.float64)


def _check(t, expected, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(t).astype(np.float64), expected, rtol=rtol, atol=1e-5)


def test_constants_change_between_graphs_of_one_structure(device):
    rng = np.random.default_rng(1)
    x, xn = _pair(rng, (7, 33), device)
    for scale, shift in [(0.5, 1.0), (2.0, -3.0), (-1.25, 0.0), (3.0, 7.5)]:
        _check(tl.exp(x * scale + shift) * scale, np.exp(xn * scale + shift) * scale)


def test_inputs_change_between_graphs_of_one_structure(device):
    rng = np.random.default_rng(2)
    for _ in range(4):
        (x, xn), (y, yn) = _pair(rng, (33,), device), _pair(rng, (33,), device)
        _check(tl.maximum(x * y + 1.0, x), np.maximum(xn * yn + 1.0, xn))


def test_one_buffer_twice_against_two_buffers(device):
    rng = np.random.default_rng(3)
    (x, xn), (y, yn) = _pair(rng, (1000,), device), _pair(rng, (1000,), device)
    _check(x * 2.0 + y, xn * 2.0 + yn)
    _check(x * 2.0 + x, xn * 3.0)  # same structure, but one slot
    _check(y * 2.0 + x, yn * 2.0 + xn)


@pytest.mark.parametrize("view", ["T", "flip", "slice", "step"])
def test_views_of_one_buffer_are_told_apart(device, view):
    rng = np.random.default_rng(4)
    x, xn = _pair(rng, (8, 8), device)
    views = {
        "T": (x.T, xn.T),
        "flip": (x[::-1], xn[::-1]),
        "slice": (x[1:, :], xn[1:, :]),
        "step": (x[::2, 1::2], xn[::2, 1::2]),
    }
    v, vn = views[view]
    plain = xn[: vn.shape[0], : vn.shape[1]]
    _check(x[: vn.shape[0], : vn.shape[1]] + 1.0, plain + 1.0)
    _check(v + 1.0, vn + 1.0)  # the same ops over a different view of the same buffer
    _check(x[: vn.shape[0], : vn.shape[1]] + 1.0, plain + 1.0)


def test_live_intermediate_stored_only_where_held(device):
    rng = np.random.default_rng(5)
    x, xn = _pair(rng, (33, 7), device)
    y = x * 2.0
    z = (y + 1.0).sum(axis=1)
    _check(z, (xn * 2.0 + 1.0).sum(axis=1))
    _check(y, xn * 2.0)  # held: stored by the plan
    del y
    z = ((x * 2.0) + 1.0).sum(axis=1)
    _check(z, (xn * 2.0 + 1.0).sum(axis=1))


def test_reductions_and_softmax_over_changing_data(device):
    rng = np.random.default_rng(6)
    for rows in (1, 7, 7, 33):
        x, xn = _pair(rng, (rows, 129), device)
        e = np.exp(xn - xn.max(axis=1, keepdims=True))
        _check(tl.softmax(x, axis=1), e / e.sum(axis=1, keepdims=True))
        _check(x.sum(axis=0) * 0.5, xn.sum(axis=0) * 0.5, rtol=1e-4)


def test_dtypes_make_distinct_plans(device):
    rng = np.random.default_rng(7)
    a = random_array(rng, (33,), tl.float32, -3.0, 3.0)
    for dtype in ("float32", "float16", "int32", "float32"):
        t = tl.asarray(a.astype(dtype), device=device)
        r = np.asarray((t * 3 + 1).astype("float32")).astype(np.float64)
        ref = a.astype(dtype).astype(np.float64) * 3 + 1
        np.testing.assert_allclose(r, ref, rtol=2e-3 if dtype == "float16" else 1e-6)


def test_many_structures_do_not_break_later_plans(device):
    rng = np.random.default_rng(8)
    base = random_array(rng, (300,), tl.float32, -3.0, 3.0)
    x = tl.asarray(base, device=device)
    for n in range(1, 301):  # more shapes (so structures) than the cache keeps
        y, ref = x[:n], base[:n].astype(np.float64)
        for _ in range(n % 3 + 1):
            y, ref = y * 1.5 + float(n % 5), ref * 1.5 + float(n % 5)
        if n % 50 == 0 or n > 290:
            _check(y, ref, rtol=1e-4)
        else:
            tl.eval(y)
    _check(x[:7] * 1.5 + 2.0, base[:7] * 1.5 + 2.0)  # a structure planned long before
