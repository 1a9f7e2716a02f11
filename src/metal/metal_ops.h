#pragma once
// The backend's ops that run static kernels of metal/*.metal (Objective-C++ callers only):
// argmax/argmin, cumsum/cumprod, gather/scatter, random fills and the matmul of a plan.
// Operands are materialized tensors on the device; the backend has routed float64 (which
// Metal lacks) to the CPU over unified memory before calling these.
#include "core/backend.h"
#include "metal/matmul_plan.h"
#include "metal/msl_matmul.h"

namespace tl::metal {

class MetalDevice;

void argreduce(MetalDevice& d, ReduceOp op, const Tensor& in, int axis, const Tensor& out);
void scan(MetalDevice& d, ScanOp op, const Tensor& in, int axis, const Tensor& out);
// Gather from `indexed` into `dense`, or with `scatter` the reverse.
void gather(MetalDevice& d, const Tensor& indexed, int split, const Tensor& offsets,
            const Tensor& dense, bool scatter);
void random(MetalDevice& d, RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
            const Tensor& out);
// c = a @ b as planned (every operand addressable in place). With `ep` (an EpilogueProgram
// of `epilogue` without error), the epilogue runs in the matmul's kernel instead: the product
// stays in registers and the epilogue's outputs are written.
void matmul(MetalDevice& d, const MatmulPlan& plan, const Tensor& a, const Tensor& b,
            const Tensor& c, const EpilogueProgram* ep = nullptr, const Epilogue* epilogue = nullptr);

}  // namespace tl::metal
