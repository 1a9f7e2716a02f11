"""Builds a .metal file into a shared library of emulated kernels and launches them from
Python (ctypes, NumPy buffers). Builds are cached under the temp dir by a hash of every input.

    lib = emu.load("metal/reduce.metal")
    lib.launch("sum_f32", [x, out, params], grid=(rows, 1, 1), threadgroup=(256, 1, 1))

With TL_EMU_ASAN=1 the library is built with AddressSanitizer; the Python process must then
be started with libasan preloaded (see README.md).
"""

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np

from preprocess import local_includes, translate  # this folder is on sys.path (script or test)

HERE = Path(__file__).resolve().parent
HARNESS = ["launcher.cpp", "fiber.cpp", "launcher.h", "fiber.h", "metal_compat.h",
           "compat_vec.h", "compat_math.h", "compat_simd.h", "compat_simdgroup_matrix.h",
           "preprocess.py"]
ORDERS = {"forward": 0, "reverse": 1, "random": 2}


class BuildError(Exception):
    """The compiler rejected a file; the message holds its diagnostics."""


class LaunchError(Exception):
    """The emulator stopped a kernel (a divergent barrier, threadgroup memory limit, ...)."""


def compiler():
    """The C++ compiler to use, or None."""
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def asan_enabled():
    return os.environ.get("TL_EMU_ASAN") == "1"


def flags(asan=None, ucontext=False):
    """Compiler flags; ucontext selects the portable context switch instead of x86-64's."""
    asan = asan_enabled() if asan is None else asan
    f = ["-DTL_EMU_UCONTEXT"] if ucontext else []
    f += ["-std=c++20", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wno-unused-variable",
         f"-I{HERE}"]
    if platform.machine() in ("x86_64", "AMD64"):
        cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        f += [x for x, flag in (("-mfma", " fma"), ("-mf16c", " f16c")) if flag in cpu]
    if asan:
        return f + ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"]
    return f + ["-O2"]


def _key(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def _cache_dir():
    d = Path(tempfile.gettempdir()) / f"tl_metal_emu-{os.getuid()}"
    d.mkdir(exist_ok=True)
    return d


def _run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"{' '.join(map(str, cmd))}\n{r.stderr}")


def _compile(cxx, source, out, extra):
    tmp = out.with_name(f"{out.name}.{uuid.uuid4().hex}.tmp")
    _run([cxx, *extra, "-c", str(source), "-o", str(tmp)])
    tmp.replace(out)  # atomic: a concurrent build never sees half a file


def build(metal_path, asan=None, ucontext=False):
    """Path of the shared library for `metal_path`, building it if not cached."""
    cxx = compiler()
    if cxx is None:
        raise BuildError("no C++ compiler found")
    metal_path = Path(metal_path).resolve()
    f = flags(asan, ucontext)
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    harness = [(HERE / n).read_bytes() for n in HARNESS]
    root = _cache_dir()
    src = metal_path.read_text()
    headers = [h.read_bytes() for h in local_includes(src, metal_path)]
    key = _key(metal_path, src, *headers, *harness, f, version)
    lib = root / f"{metal_path.stem}-{key}.so"
    if lib.exists():
        return lib
    objs = []
    for name in ("launcher.cpp", "fiber.cpp"):
        obj = root / f"{Path(name).stem}-{_key(*harness, f, version)}.o"
        if not obj.exists():
            _compile(cxx, HERE / name, obj, f)
        objs.append(obj)
    cpp = root / f"{lib.stem}.cpp"  # kept for reading when a build fails
    tmp = cpp.with_name(f"{cpp.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(translate(src, str(metal_path)))
    tmp.replace(cpp)
    obj = root / f"{lib.stem}.o"
    _compile(cxx, cpp, obj, f)
    tmp = lib.with_name(f"{lib.name}.{uuid.uuid4().hex}.tmp")
    _run([cxx, *f, "-shared", str(obj), *map(str, objs), "-o", str(tmp)])
    tmp.replace(lib)
    return lib


PAGE = 4096


def _page_aligned(a):
    """A copy of array `a` starting on a page boundary, as an MTLBuffer's contents do: kernels
    may move 32-byte vectors (vec<long, 4>) that the compiler aligns to their size, and NumPy
    guarantees only 16-byte alignment."""
    raw = np.empty(a.nbytes + PAGE, np.uint8)
    start = (-raw.ctypes.data) % PAGE
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _ptr(buf):
    """(address, size, page-aligned copy) of a NumPy array or scalar or a bytes-like argument."""
    if isinstance(buf, np.generic):
        buf = np.array(buf)
    if isinstance(buf, np.ndarray):
        if not buf.flags.c_contiguous:
            raise ValueError("device buffers must be C-contiguous")
    else:
        buf = np.frombuffer(bytearray(buf), dtype=np.uint8)
    copy = _page_aligned(buf)
    return copy.ctypes.data, copy.nbytes, copy


class Library:
    """The kernels of one built .metal file."""

    def __init__(self, path):
        self._dll = ctypes.CDLL(str(path))
        self._dll.tl_emu_kernels.restype = ctypes.c_size_t
        self._dll.tl_emu_launch.restype = ctypes.c_int

    def kernels(self):
        """{name: (buffer slots, threadgroup slots)}."""
        n = self._dll.tl_emu_kernels(None, 0)
        buf = ctypes.create_string_buffer(n)
        self._dll.tl_emu_kernels(buf, n)
        rows = [line.split() for line in buf.value.decode().splitlines()]
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def launch(self, name, buffers, grid, threadgroup, dispatch_threads=False,
               threadgroup_lengths=(), order="forward", seed=0):
        """Runs kernel `name` over `grid` (threadgroups, or threads with dispatch_threads);
        writes into the NumPy arrays in `buffers`. Raises LaunchError on a kernel error."""
        held = [_ptr(b) for b in buffers]
        n = len(held)
        ptrs = (ctypes.c_void_p * max(n, 1))(*[h[0] for h in held])
        sizes = (ctypes.c_uint64 * max(n, 1))(*[h[1] for h in held])
        u3 = ctypes.c_uint32 * 3
        tgl = (ctypes.c_uint32 * max(len(threadgroup_lengths), 1))(*threadgroup_lengths)
        err = ctypes.create_string_buffer(2048)
        rc = self._dll.tl_emu_launch(
            name.encode(), ptrs, sizes, n, u3(*grid), u3(*threadgroup), int(dispatch_threads),
            tgl, len(threadgroup_lengths), ORDERS[order], ctypes.c_uint64(seed), err,
            ctypes.c_size_t(len(err)))
        for b, (_, _, copy) in zip(buffers, held):
            if isinstance(b, np.ndarray) and b.flags.writeable:
                b[...] = copy  # what the kernel wrote, also after an error
        if rc != 0:
            raise LaunchError(err.value.decode())


def load(metal_path, asan=None, ucontext=False):
    return Library(build(metal_path, asan, ucontext))
