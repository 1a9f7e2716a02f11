"""tl.profiler counts every kernel by kind and names it by kind and shape."""

import os
import subprocess
import sys

import numpy as np

import tensorlogic as tl


def test_counts_by_kind(device):
    x = tl.asarray(np.arange(12, dtype=np.float32).reshape(3, 4), device=device)
    w = tl.asarray(np.ones((4, 5), np.float32) * 0.5, device=device)
    epilogues = tl._core.fuses_matmul_epilogues(device)
    with tl.profiler.profile() as p:
        y = tl.relu(x @ w + 1.0)   # one matmul; add + relu are its epilogue where it takes one
        s = y.sum(axis=1)          # y is held, so stored: its sum is one reduction
    assert p.by_kind["matmul"] == 1
    assert p.by_kind["elementwise"] == (0 if epilogues else 1)
    assert p.by_kind["reduction"] == 1
    assert p.kernels == sum(p.by_kind.values())
    names = [e["name"] for e in p.events]
    # MM_<m>x<n>x<k>_b<batch>_<dtype>, then the kernel configuration where the device names it
    mm = [n for n in names if n.startswith("MM_3x5x4_b1_float32")]
    assert len(mm) == 1 and mm[0].endswith("_epilogue_add_relu") == epilogues, names
    assert any(n.startswith("R_sum_15_float32") for n in names)
    np.testing.assert_allclose(np.asarray(s), np.maximum(np.arange(12).reshape(3, 4) @ np.full((4, 5), 0.5) + 1, 0).sum(1))


def test_timing_and_nesting():
    x = tl.ones(1000)
    with tl.profiler.profile(timing=True) as outer:
        with tl.profiler.profile() as inner:
            x = x * 2
        x = tl.exp(x)
    assert inner.by_kind["elementwise"] == 1
    assert [e["name"] for e in inner.events] == ["E_multiply_1000_float32"]
    assert outer.by_kind["elementwise"] == 2
    assert outer.seconds_by_kind["elementwise"] > 0
    assert "E_exp_1000_float32" in outer.summary()
    before = tl.profiler.counters()["elementwise"]
    y = tl.negative(x)                 # recorded, not run
    assert tl.profiler.counters()["elementwise"] == before
    tl.eval(y)
    assert tl.profiler.counters()["elementwise"] == before + 1


def test_debug_env_prints_each_kernel():
    code = "import tensorlogic as tl; tl.eval(tl.exp(tl.ones(7)))"
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TENSORLOGIC_DEBUG="1"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "E_exp_7_float32 on cpu" in r.stderr
