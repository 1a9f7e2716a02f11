"""The static CUDA kernels compile with nvcc where it is installed, so that a syntax error in
src/cuda/kernels/*.cu (or the common source they start with) cannot land unnoticed on a
machine without a GPU."""

import re
import shutil
import subprocess

import numpy as np
import pytest

import tensorlogic as tl

NVCC = shutil.which("nvcc")
SOURCES = tl._core.cuda_kernel_sources()


def test_every_static_kernel_is_listed():
    names = [name for name, _ in SOURCES]
    assert names[:4] == ["argreduce", "scan", "scatter", "random"]
    # matmul: a set of configurations reaching every branch of each kernel
    matmuls = names[4:]
    for kind in ("mma_128x128", "mma_64x64", "simt_128", "simt_64", "gemv_dot", "gemv_lane", "plain", "wgmma_128x256",
                 "wgmma_128x128"):
        assert any(n.startswith("matmul_" + kind) for n in matmuls), kind
    for name, src in SOURCES:
        assert "extern \"C\" __global__" in src and "struct tl_f16" in src, name


def _ptxas_spills(stderr):
    return [int(x) for x in re.findall(r"(\d+) bytes spill (?:stores|loads)", stderr)]


def _arch(name, arch="sm_90"):
    """nvcc's target flags for a kernel: the wgmma matmul is sm_90a code (wgmma, setmaxnreg),
    which only the architecture-specific target accepts."""
    if "wgmma" in name:
        return ["-gencode=arch=compute_90a,code=sm_90a"]
    return [f"-arch={arch}"]


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("name,source", SOURCES, ids=[n for n, _ in SOURCES])
def test_static_kernel_compiles_with_nvcc(tmp_path, name, source):
    cu = tmp_path / f"{name}.cu"
    cu.write_text(source)
    r = subprocess.run([NVCC, "--cubin", *_arch(name), "-std=c++17", "-o", str(tmp_path / f"{name}.cubin"),
                        str(cu)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


MATMULS = [(n, s) for n, s in SOURCES if n.startswith("matmul_")]


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("name,source", MATMULS, ids=[n for n, _ in MATMULS])
def test_matmul_kernel_compiles_for_sm80_without_spills(tmp_path, name, source):
    """The tensor-core kernel's oldest target, and no register spills (local memory in the
    inner loop) in any matmul configuration on sm_80 or sm_90."""
    cu = tmp_path / f"{name}.cu"
    cu.write_text(source)
    # (wgmma is sm_90a code; the 64-k skinny mma tiles are chosen from sm_90 on)
    for arch in ("sm_90",) if "wgmma" in name or "_k64" in name else ("sm_80", "sm_90"):
        r = subprocess.run([NVCC, "--cubin", *_arch(name, arch), "-std=c++17", "-Xptxas", "-v", "-o",
                            str(tmp_path / f"{name}_{arch}.cubin"), str(cu)], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        spills = _ptxas_spills(r.stderr)
        assert spills and not any(spills), f"{arch}: {r.stderr}"
        # wgmma: ptxas neither serializes the wgmma pipeline (C7514, C7517: accumulators
        # touched while in flight) nor ignores setmaxnreg (C7508).
        assert not re.search(r"C75(?:08|14|17)", r.stderr), f"{arch}: {r.stderr}"


def _layernorm(x):
    return (x - x.mean(1, keepdims=True)) / tl.sqrt(x.var(1, keepdims=True) + 1e-5)


def _programs():
    """Graphs covering the CUDA generator's paths, planned on the CPU: elementwise over every
    dtype, casts, each reduction over inner and outer axes, multi-pass rows (softmax,
    layernorm), split reductions (few outputs, long rows) and per-thread ones (many outputs,
    innermost axis kept)."""
    rng = np.random.default_rng(5)
    x = tl.asarray(rng.uniform(-2, 2, (33, 70)).astype(np.float32))
    progs = {
        "chain_f32": lambda: tl.tanh(x * 2 + 1) * x - tl.exp(-x),
        "softmax": lambda: tl.softmax(x, axis=1),
        "layernorm": lambda: _layernorm(x),
        "int_ops": lambda: (x.astype(tl.int32) // 3 + x.astype(tl.int8) % 5) * (x > 0),
        "split_sum": lambda: (tl.asarray(rng.uniform(size=70001).astype(np.float32)) * 2).sum(),
        "per_thread_max": lambda: (tl.asarray(rng.uniform(size=(3, 140000)).astype(np.float32)) + 1).max(axis=0),
        "transposed": lambda: (x.T[::2] * 3).sum(axis=0),
        # loads along another dim than the store: through shared-memory tiles
        "transpose_tiles": lambda: x.T * 2 + tl.asarray(rng.uniform(-2, 2, (70, 33)).astype(np.float32)),
        "transpose_tiles_batched_f16": lambda: x.astype(tl.float16).reshape(3, 22, 35).transpose(0, 2, 1).copy(),
        # rows of whole vectors, kept in registers across passes (256 and 1024 threads a row)
        "softmax_cached": lambda: tl.softmax(tl.asarray(rng.uniform(-2, 2, (9, 8192)).astype(np.float32)), axis=1),
        "softmax_cached_long": lambda: tl.softmax(tl.asarray(rng.uniform(-2, 2, (3, 32768)).astype(np.float32)), axis=1),
        "layernorm_cached_f16": lambda: _layernorm(tl.asarray(rng.uniform(-2, 2, (7, 1000)).astype(np.float16))),
    }
    for dt in (tl.float16, tl.bfloat16, tl.float64, tl.uint8, tl.bool):
        progs[f"cast_{dt}"] = lambda dt=dt: (x * 3).astype(dt).astype(tl.float32) + 1
    for name in ("sum", "prod", "max", "min", "any", "all"):
        progs[f"{name}_rows"] = lambda name=name: getattr(x * 0.5, name)(axis=1)
        progs[f"{name}_cols_f16"] = lambda name=name: getattr(x.astype(tl.float16), name)(axis=0)
    return progs


PROGRAMS = _programs()


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_generated_kernels_compile_with_nvcc(tmp_path, name):
    tl.eval(PROGRAMS[name]())
    sources = tl._core.cuda_sources_of_last_plan()
    assert sources and all(sources), sources  # every kernel printable
    for i, src in enumerate(sources):
        cu = tmp_path / f"k{i}.cu"
        cu.write_text(src)
        r = subprocess.run([NVCC, "--cubin", "-arch=sm_90", "-std=c++17", "-o", str(tmp_path / f"k{i}.cubin"),
                            str(cu)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr + src


def _epilogue_programs():
    """Matmuls whose elementwise consumers the planner folds into them (planned on the CPU,
    which takes epilogues too): each product dtype, bias row and column, activations, a
    residual (transposed), a scale, an output cast, batch dims."""
    rng = np.random.default_rng(6)
    u = lambda *s: rng.uniform(-1, 1, s).astype(np.float32)  # noqa: E731
    x, w, b, r = tl.asarray(u(33, 40)), tl.asarray(u(40, 20)), tl.asarray(u(20)), tl.asarray(u(20, 33))
    xb, wb, bb = tl.asarray(u(2, 3, 33, 40)), tl.asarray(u(3, 40, 20)), tl.asarray(u(2, 1, 1, 20))
    bf, f16 = tl.bfloat16, tl.float16
    return {
        "gelu_bias_bf16": lambda: tl.gelu(x.astype(bf) @ w.astype(bf) + b.astype(bf)),
        "chain_cast_f16": lambda: (tl.silu(x.astype(f16) @ w.astype(f16) * 0.5 + r.astype(f16).T)).astype(tl.float32),
        "relu_col_f32": lambda: tl.relu(x @ w + x[:, :1]),
        "scale_f64": lambda: (x.astype(tl.float64) @ w.astype(tl.float64)) * 3,
        "batched_bias_f32": lambda: tl.tanh(xb @ wb + bb),
    }


EPILOGUE_PROGRAMS = _epilogue_programs()


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("name", list(EPILOGUE_PROGRAMS))
def test_matmul_kernels_with_epilogue_compile_with_nvcc(tmp_path, name):
    """Each matmul kernel kind with a fused epilogue compiles, with no spills and no stack
    frame (the product handed to the epilogue stays in a register)."""
    tl.eval(EPILOGUE_PROGRAMS[name]())
    assert "matmul with epilogue" in tl.profiler.last_plan()
    sources = tl._core.cuda_matmul_sources_of_last_plan()
    assert sources, "no epilogue in the plan"
    for kname, src in sources:
        assert "#define TL_EPILOGUE 1" in src, kname
        cu = tmp_path / f"{kname}.cu"
        cu.write_text(src)
        r = subprocess.run([NVCC, "--cubin", *_arch(kname), "-std=c++17", "-Xptxas", "-v", "-o",
                            str(tmp_path / f"{kname}.cubin"), str(cu)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, kname + "\n" + r.stderr
        spills = _ptxas_spills(r.stderr)
        frames = [int(x) for x in re.findall(r"(\d+) bytes stack frame", r.stderr)]
        assert spills and not any(spills) and not any(frames), f"{kname}: {r.stderr}"
