#pragma once
// Compiles fused kernels to native code at run time: the kernel's block loop printed as C++
// (core/codegen_c.h) is built with the system compiler into a shared object, cached on disk
// (TENSORLOGIC_CACHE_DIR, else ~/.cache/tensorlogic/cpu) and loaded with dlopen. A whole
// chain then runs in registers instead of one pass over an L1 block per op. Where no compiler
// works, or for kernels the printer does not cover, the interpreter runs them.
// TENSORLOGIC_CPU_JIT=0 turns it off, =1 compiles every printable kernel (tests); by default
// only kernels of at least 2^20 elements are compiled (a compile costs about a second once).
#include <cstdint>
#include <vector>

#include "core/fusion_ir.h"

namespace tl::cpu {

using BlockFn = void (*)(char* const* base, const int64_t* off, const int64_t* inc, int64_t n,
                         const double* cf, const int64_t* ci, double* rf, int64_t* ri,
                         double* af, int64_t* ai);

// The compiled loop of `instrs` of `kernel` along domain dim `inner` (see
// codegen::block_function), or nullptr: interpret them.
BlockFn jit_block(const ir::Kernel& kernel, const std::vector<int>& instrs, int inner);

}  // namespace tl::cpu
