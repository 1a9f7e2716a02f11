#pragma once
// One loop per (elementwise op, compute type), generated from the op table: out[i] =
// op(in[0][i], in[1][i], ...) over n contiguous elements. The eager elementwise path and the
// fused executor both run these.
#include <cstdint>

#include "core/op_table.h"

namespace tl::cpu {

template <class C>
using KernelFn = void (*)(const C* const* in, C* out, int64_t n);

template <class C>
KernelFn<C> kernel_for(OpCode op);

extern template KernelFn<float> kernel_for<float>(OpCode);
extern template KernelFn<double> kernel_for<double>(OpCode);
extern template KernelFn<int64_t> kernel_for<int64_t>(OpCode);

}  // namespace tl::cpu
