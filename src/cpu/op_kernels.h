#pragma once
// One loop per (elementwise op, compute type), generated from the op table: out[i] =
// op(in[0][i], in[1][i], ...) over n contiguous elements. The eager elementwise path and the
// fused executor both run these.
#include <cstdint>

#include "core/op_table.h"

// Hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time
// (GCC function multi-versioning); elsewhere they are compiled once.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define TL_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TL_CPU_CLONES
#endif

namespace tl::cpu {

template <class C>
using KernelFn = void (*)(const C* const* in, C* out, int64_t n);

template <class C>
KernelFn<C> kernel_for(OpCode op);

extern template KernelFn<float> kernel_for<float>(OpCode);
extern template KernelFn<double> kernel_for<double>(OpCode);
extern template KernelFn<int64_t> kernel_for<int64_t>(OpCode);

}  // namespace tl::cpu
