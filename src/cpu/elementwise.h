#pragma once
#include <span>

#include "core/op_table.h"
#include "core/tensor.h"

namespace tl::cpu {

// out = op(inputs...) over any strides, computed in `compute` and converted on load/store.
void elementwise(OpCode op, DType compute, std::span<const Tensor> inputs, const Tensor& out);
// out[i] = start + i * step, out contiguous.
void arange(double start, double step, const Tensor& out);

}  // namespace tl::cpu
