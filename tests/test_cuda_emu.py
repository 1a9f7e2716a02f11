"""The CUDA float32 SIMT matmul kernel (src/cuda/kernels/matmul_simt.cu) on a CPU emulator
(tests/cuda_emu), so that its indexing, edge handling, cp.async ring and k split are checked
on machines without a GPU: the real kernel source compiled as host C++ under AddressSanitizer
and UndefinedBehaviorSanitizer, 256 threads a block, against a float64 reference on odd
shapes (simt_emu.cpp lists what it checks). A representative set of configurations: every
operand form of the ring at least once, the k split with and without an epilogue, both tile
sizes, and the register-staged form. Needs g++ with C++20's <barrier>."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EMU = Path(__file__).resolve().parent / "cuda_emu"
sys.path.insert(0, str(EMU))
import simt_headers  # noqa: E402

CXX = shutil.which("g++")
FLAGS = ["-std=c++20", "-O1", "-g", "-pthread", "-w", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all"]


def _usable():
    """g++ compiles and links a <barrier> program under the sanitizers."""
    if CXX is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "probe.cpp"
        src.write_text("#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n")
        r = subprocess.run([CXX, *FLAGS, str(src), "-o", str(Path(d) / "probe")], capture_output=True)
        return r.returncode == 0


pytestmark = pytest.mark.skipif(not _usable(), reason="no g++ with <barrier> and ASan/UBSan for the CUDA emulator")

# name: (TL_TM, TL_STAGES, TL_SPLIT, epilogue, a "k|m" + "v|s", b "k|n" + "v|s", TL_C_VEC).
# In the ring (TL_STAGES 3) a vector operand is copied by cp.async, a scalar one goes through
# registers; k-major ones are kept [mn][k] (swizzled) or transposed.
CONFIGS = {
    "ring_128_akv_bnv": (8, 3, 0, False, "kv", "nv", 1),
    "ring_128_split_ep_amv_bks": (8, 3, 1, True, "mv", "ks", 0),
    "ring_128_split_aks_bkv": (8, 3, 1, False, "ks", "kv", 1),
    "ring_64_ams_bns": (4, 3, 0, False, "ms", "ns", 0),
    "regs_128_akv_bns": (8, 0, 0, False, "kv", "ns", 1),
    "regs_64_ams_bkv": (4, 0, 0, False, "ms", "kv", 0),
}


def _defines(tm, stages, split, ep, a, b, c_vec):
    d = {"TL_TM": tm, "TL_STAGES": stages, "TL_SPLIT": split, "TL_A_KMAJOR": int(a[0] == "k"),
         "TL_A_VEC": int(a[1] == "v"), "TL_B_KMAJOR": int(b[0] == "k"), "TL_B_VEC": int(b[1] == "v"),
         "TL_C_VEC": c_vec}
    return [f"-D{k}={v}" for k, v in d.items()] + (["-DEMU_EP"] if ep else [])


def _build_and_run(out, name):
    exe = out / name
    cc = subprocess.run([CXX, *FLAGS, f"-I{out}", *_defines(*CONFIGS[name]), str(EMU / "simt_emu.cpp"), "-o", str(exe)],
                        capture_output=True, text=True)
    if cc.returncode:
        return cc.returncode, "", "compile failed:\n" + cc.stderr[-4000:]
    # LeakSanitizer off: the emulator's own allocations are not under test, and its exit-time
    # tracer fails where ptrace is restricted.
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1"}
    try:  # a barrier some threads miss deadlocks: bounded
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        return -1, "", "timed out (a deadlock at a barrier?)"
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("cuda_emu")
    simt_headers.write(out)
    with ThreadPoolExecutor(min(len(CONFIGS), os.cpu_count() or 2)) as pool:
        done = pool.map(lambda n: _build_and_run(out, n), CONFIGS)
        return dict(zip(CONFIGS, done))


@pytest.mark.parametrize("name", CONFIGS)
def test_simt_kernel(results, name):
    rc, stdout, stderr = results[name]
    msg = f"{name}: exit {rc}\n{stdout}\n{stderr[-4000:]}"
    m = re.search(r"(\d+) runs, (\d+) bad, (\d+) cp\.async errors; wavefronts a read: a ([\d.]+) b ([\d.]+) "
                  r"\((\d+), (\d+) reads\)", stdout)
    assert m, msg
    runs, bad, errors = int(m[1]), int(m[2]), int(m[3])
    assert (runs, bad, errors, rc) == (28, 0, 0, 0), msg
    if CONFIGS[name][1]:  # the ring: its shared reads were logged, and no bank holds more than
        # two distinct words a warp read (16 distinct 16-byte addresses fill each bank twice)
        assert int(m[6]) > 0 and int(m[7]) > 0, msg
        assert float(m[4]) <= 2 and float(m[5]) <= 2, msg
