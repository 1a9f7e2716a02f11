"""The CPU JIT: fused kernels compiled to native code give the interpreter's results.

TENSORLOGIC_CPU_JIT is read once per process, so each case runs a child process with the JIT
forced on (=1) and compares with this process, where small kernels are interpreted."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tensorlogic as tl

PROGRAMS = r"""
import json, sys
import numpy as np
import tensorlogic as tl

rng = np.random.default_rng(7)
x = rng.uniform(-3, 3, (33, 70)).astype(np.float32)
w = rng.uniform(-3, 3, (70,)).astype(np.float32)
i = rng.integers(-50, 50, (33, 70)).astype(np.int32)
tx, tw, ti = tl.asarray(x), tl.asarray(w), tl.asarray(i)

def chain(x, w, b):
    y = x * w + b
    y = 0.5 * y * (1 + tl.tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
    y = y * 0.5 + 1
    return tl.tanh(y) * w - b

out = {
    "chain": chain(tx, tw, tx[::-1]),                        # broadcast, flipped view
    "chain_t": chain(tx.T[::2], tx.T[1::2, :1], 1.5),        # strided, stride-0 column
    "mixed": (ti * 3 + tx).astype(tl.float64) / 7,           # int -> float casts, f64
    "where": tl.where(tx > tw, tl.exp(tx), -tx * tx),        # compare, where, one value twice
    "ints": (ti // 3 + ti % 7) * (ti > 0),                   # int64 compute, bool operand
    "to_int8": (tx * 40).astype(tl.int8),                    # saturating float -> int
    "softmax": tl.softmax(tx, axis=1),                       # 3 passes, max and sum
    "layernorm": (tx - tx.mean(1, keepdims=True)) / tl.sqrt(tx.var(1, keepdims=True) + 1e-5),
    "rowsum": (tx * tx).sum(axis=1),
    "colmax": tl.exp(tx).max(axis=0),                        # kept inner axis: interpreted
    "rowprod": (tx * 0.5).prod(axis=1),
    "rowany": (tx > 2.9).any(axis=1),
    "rowall": (ti != 0).all(axis=1),
}
tl.eval(*out.values())
json.dump({k: [str(v.dtype), np.asarray(v).tolist()] for k, v in out.items()}, sys.stdout)
"""


def _run(env_extra, cache):
    env = dict(os.environ, TENSORLOGIC_CACHE_DIR=str(cache), **env_extra)
    r = subprocess.run([sys.executable, "-c", PROGRAMS], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


needs_compiler = pytest.mark.skipif(shutil.which(os.environ.get("TENSORLOGIC_CXX") or
                                                 os.environ.get("CXX") or "c++") is None,
                                    reason="no C++ compiler: the JIT falls back to the interpreter")


@needs_compiler
def test_compiled_kernels_match_the_interpreter(tmp_path):
    compiled = _run({"TENSORLOGIC_CPU_JIT": "1"}, tmp_path)
    objects = sorted(p.name for p in (tmp_path / "cpu").glob("*.so"))
    assert len(objects) >= 8, objects          # the JIT really ran
    interpreted = _run({"TENSORLOGIC_CPU_JIT": "0"}, tmp_path / "unused")
    for name, (dtype, values) in interpreted.items():
        got_dtype, got = compiled[name]
        assert got_dtype == dtype, name
        a, b = np.array(got, dtype=np.float64), np.array(values, dtype=np.float64)
        if name in ("ints", "to_int8", "mixed"):
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:   # transcendentals may round differently by an ulp (FMA inside them)
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6, err_msg=name)
    # A second process loads the cached objects instead of compiling again.
    again = _run({"TENSORLOGIC_CPU_JIT": "1"}, tmp_path)
    assert sorted(p.name for p in (tmp_path / "cpu").glob("*.so")) == objects
    assert again == compiled


@needs_compiler
def test_corrupt_cached_object_is_rebuilt(tmp_path):
    first = _run({"TENSORLOGIC_CPU_JIT": "1"}, tmp_path)
    for so in (tmp_path / "cpu").glob("*.so"):
        so.write_bytes(b"not an ELF file")
    assert _run({"TENSORLOGIC_CPU_JIT": "1"}, tmp_path) == first


def test_missing_compiler_falls_back(tmp_path):
    out = _run({"TENSORLOGIC_CPU_JIT": "1", "TENSORLOGIC_CXX": "/nonexistent/c++"}, tmp_path)
    assert not list(tmp_path.rglob("*.so"))
    x = np.random.default_rng(7).uniform(-3, 3, (33, 70)).astype(np.float32)
    np.testing.assert_allclose(np.array(out["rowsum"][1]), (x.astype(np.float64) ** 2).sum(1),
                               rtol=1e-5)
