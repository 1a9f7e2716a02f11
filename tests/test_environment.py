"""Environment variables: TENSORLOGIC_DEVICE picks the default device, TENSORLOGIC_NUM_THREADS
sizes the CPU pool without changing results."""

import os
import subprocess
import sys

import tensorlogic as tl

SCRIPT = """
import numpy as np, tensorlogic as tl
x = tl.asarray(np.arange(1 << 18, dtype=np.float32) % 97 - 48)
w = tl.asarray((np.arange(64 * 48, dtype=np.float32) % 13 - 6).reshape(64, 48))
print(tl.default_device(), float(tl.sum(tl.tanh(x * 0.01))), float(tl.sum(w.T @ w)))
"""


def run(env):
    e = dict(os.environ, **env)
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=e, capture_output=True, text=True, timeout=120)
    return r


def test_thread_count_does_not_change_results():
    outs = {n: run({"TENSORLOGIC_NUM_THREADS": n}) for n in ("1", "2", "3")}
    for r in outs.values():
        assert r.returncode == 0, r.stderr
    assert outs["1"].stdout == outs["2"].stdout == outs["3"].stdout


def test_default_device_from_environment():
    r = run({"TENSORLOGIC_DEVICE": "cpu"})
    assert r.returncode == 0 and r.stdout.startswith("cpu "), r.stderr
    if tl._core.backend_status("cuda").startswith("unavailable"):
        r = run({"TENSORLOGIC_DEVICE": "cuda"})
        assert r.returncode != 0 and "DeviceError" in r.stderr
