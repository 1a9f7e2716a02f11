#pragma once
// Elementwise ops and plain reductions of stored tensors as one-op kernels of the fusion IR,
// so that a GPU backend runs them through its fused-kernel generator (any dtype and strides,
// no hand-written kernel per op): CUDA and Metal do. Tests run these kernels on the CPU
// backend's fused executor and compare with its own elementwise and reduce kernels.
#include <span>
#include <vector>

#include "core/backend.h"
#include "core/fusion_ir.h"

namespace tl::ir {

struct BoundKernel {
  Kernel kernel;
  std::vector<BufferPtr> bindings;  // per slot
};

// out = op(inputs...) in `compute`, the contract of Backend::elementwise.
BoundKernel elementwise_kernel(OpCode op, DType compute, std::span<const Tensor> inputs,
                               const Tensor& out);
// Sum, Prod, Max, Min, Any, All of `in` over `axes` into out (not ArgMax/ArgMin).
BoundKernel reduce_kernel(ReduceOp op, const Tensor& in, std::span<const int> axes,
                          const Tensor& out);

}  // namespace tl::ir
