"""Host access to a tensor's memory in place (CPU, Metal's unified memory): the device must
finish its queued work on the memory first (Backend::before_host_access in src/core/backend.h).
On the CPU the hook does nothing, so a missing call cannot show as a wrong value here: the
source check below catches it instead, and the value checks catch it on Metal."""

import re
from pathlib import Path

import numpy as np

import tensorlogic as tl

ROOT = Path(__file__).resolve().parent.parent


def test_numpy_reads_results_still_queued(device, rng):
    a = rng.standard_normal((257, 33)).astype(np.float32)
    t = tl.asarray(a, device=device)
    want = a.copy()
    for _ in range(40):  # many kernels, none waited for before the read
        t = t * 1.5 - 0.25
        tl.eval(t)
        want = want * np.float32(1.5) - np.float32(0.25)
    np.testing.assert_allclose(np.asarray(t[1:, ::3]), want[1:, ::3], rtol=1e-5)
    np.testing.assert_allclose(t.to("cpu").numpy(), want, rtol=1e-5)


def test_numpy_array_of_a_cpu_tensor_is_a_view():
    t = tl.arange(12, dtype=tl.float32, device="cpu").reshape(3, 4)
    v = np.asarray(t[1:, ::2])
    t[1, 0] = 100  # a write through the tensor shows in the array: the same memory
    assert v[0, 0] == 100
    assert np.shares_memory(np.asarray(t), v)


def _functions(text):
    """Top-level function bodies of a C++ file, split at lines opening a definition."""
    return re.split(r"\n(?=[A-Za-z][^\n;]*\)\s*(?:const\s*)?\{\n)", text)


def test_every_direct_access_calls_the_hook():
    # A raw read of a buffer's memory in src/core or the bindings must sit in a function that
    # first calls before_host_access (or goes through host_data(), which does).
    raw = re.compile(r"data_ptr\(\)|->data\(\)")
    found = []
    for path in sorted((ROOT / "src" / "core").glob("*.cpp")) + sorted((ROOT / "src" / "python").glob("*.cpp")):
        for body in _functions(path.read_text()):
            for m in raw.finditer(body):
                found.append(path.name)
                assert "before_host_access" in body[: m.start()], (
                    f"{path.name}: direct access to a buffer's memory without waiting for its "
                    f"device:\n{body[:300]}")
    assert found, "the check found no access at all: its pattern no longer matches the code"
