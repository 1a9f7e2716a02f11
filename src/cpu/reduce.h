#pragma once
// CPU reductions (sum, prod, max, min, any, all, argmax, argmin) over any set of axes, for
// inputs and outputs of any strides.
#include <span>

#include "core/backend.h"
#include "core/tensor.h"

namespace tl::cpu {

// Reduces `in` over `axes` (sorted, unique) into `out` (in's shape without those axes).
// Floats accumulate in f32 (f16/bf16/f32) or f64, integers and bool in int64; the result is
// cast to out's dtype on store. An empty reduction writes the op's identity. ArgMax/ArgMin
// take exactly one non-empty axis and write int64 indices (first occurrence; NaN counts as
// the extreme, as in NumPy).
void reduce(ReduceOp op, const Tensor& in, std::span<const int> axes, const Tensor& out);

}  // namespace tl::cpu
