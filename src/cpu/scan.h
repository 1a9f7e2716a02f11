#pragma once
// CPU cumulative sum / product along one axis, for inputs and outputs of any strides.
#include "core/backend.h"
#include "core/tensor.h"

namespace tl::cpu {

// out (in's shape) = running op along `axis`, accumulated in f32 (f16/bf16/f32), f64 or int64
// (integers and bool, wrapping on overflow) and cast to out's dtype on store.
void scan(ScanOp op, const Tensor& in, int axis, const Tensor& out);

}  // namespace tl::cpu
