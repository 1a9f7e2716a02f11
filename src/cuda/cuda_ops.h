#pragma once
// The ops that are not fused kernels, on CUDA: the static kernels of src/cuda/kernels/
// configured per dtype and rank. Operands are materialized tensors on the target's device,
// checked by src/core (see core/backend.h for each op's contract).
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "cuda/cuda_module.h"

namespace tl::cuda {

void argreduce(const Target& t, ReduceOp op, const Tensor& in, int axis, const Tensor& out);
void scan(const Target& t, ScanOp op, const Tensor& in, int axis, const Tensor& out);
// Gather from `indexed` into `dense`, or with `scatter` the reverse.
void gather(const Target& t, const Tensor& indexed, int split, const Tensor& offsets,
            const Tensor& dense, bool scatter);
void matmul(const Target& t, const Tensor& a, const Tensor& b, const Tensor& out);
// Fills out (contiguous) from the Philox stream: the CPU backend's numbers.
void random(const Target& t, RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
            const Tensor& out);

// (name, source) of every static kernel in one configuration each: for a syntax check with
// nvcc where it is installed.
std::vector<std::pair<std::string, std::string>> static_kernel_sources();

}  // namespace tl::cuda
