"""Writes the headers simt_emu.cpp includes: the real CUDA sources made host C++.

cuda_prelude.h  the common source every kernel starts with (common_source() in
                src/cuda/cuda_module.cpp, assembled there from several pieces), taken from
                the built module's own kernel sources; its f16/bf16 conversions are stubbed
                (inline PTX, and the SIMT float32 kernel never converts).
matmul_common.h src/cuda/kernels/matmul_common.cu without its cp.async helpers (inline PTX),
                which simt_emu.cpp emulates.
matmul_simt.h   src/cuda/kernels/matmul_simt.cu with the ring's 16-byte shared reads going
                through tl_lds (which logs them) and the stage array's address recorded.

Each substitution asserts that the text it expects is there, so that a change to the
kernels breaks this loudly instead of silently testing something else."""

import re
from pathlib import Path

import tensorlogic as tl

KERNELS = Path(__file__).resolve().parents[2] / "src" / "cuda" / "kernels"


def replace_once(text, old, new, what):
    assert text.count(old) == 1, f"{what}: expected one {old!r}, found {text.count(old)}"
    return text.replace(old, new)


def prelude():
    """The common source: a SIMT configuration's full source up to its #defines."""
    src = next(s for name, s in tl._core.cuda_kernel_sources() if name.startswith("matmul_simt_"))
    end = src.find("#define TL_RANK ")
    assert end > 0, "a SIMT kernel's source no longer starts its #defines with TL_RANK"
    pre = src[:end]
    pre, n = re.subn(r'asm\("cvt[^;]*;[^;]*;', ";", pre)  # the f16 / bf16 conversions
    assert n == 4, (f"prelude: expected 4 cvt asm statements (f16 in and out, bf16 in, bf16 and back "
                    f"in float), found {n}")
    pre = replace_once(pre, "__float_as_uint(f)", "0u", "prelude (bf16 rounding before sm_80)")
    return replace_once(pre, "__uint_as_float(unsigned(bits) << 16)", "0.f", "prelude (bf16 to float)")


def common():
    text = (KERNELS / "matmul_common.cu").read_text()
    a = text.find("__device__ __forceinline__ unsigned tl_smem_addr")
    b = text.find("template <int N>  // all but the newest N groups")
    assert 0 < a < b, "matmul_common.cu: the cp.async helpers moved"
    wait = text.find('asm volatile("cp.async.wait_group', b)
    assert wait > 0, "matmul_common.cu: tl_cp_async_wait changed"
    b = text.index("}\n", wait) + 2
    cut = text[a:b]
    for name in ("tl_smem_addr", "tl_cp_async16", "tl_cp_async_commit", "tl_cp_async_wait"):
        assert name in cut, f"matmul_common.cu: {name} is no longer among the cp.async helpers"
    assert "asm" not in text[b:], "matmul_common.cu: inline PTX outside the cp.async helpers"
    return text[:a] + "// (cp.async helpers: emulated in simt_emu.cpp)\n" + text[b:]


def simt():
    text = (KERNELS / "matmul_simt.cu").read_text()
    text = replace_once(text, "const float4 v = *reinterpret_cast<const float4*>(", "const float4 v = tl_lds(",
                        "matmul_simt.cu (the ring's shared read)")
    decl = "extern __shared__ __align__(16) float smem[];"
    return replace_once(text, decl, "__shared__ __align__(16) float smem[TL_STAGES * 2 * TL_TILE]; tl_smem_base = smem;",
                        "matmul_simt.cu (the ring's stages)")


def write(out_dir):
    out = Path(out_dir)
    (out / "cuda_prelude.h").write_text(prelude())
    (out / "matmul_common.h").write_text(common())
    (out / "matmul_simt.h").write_text(simt())
