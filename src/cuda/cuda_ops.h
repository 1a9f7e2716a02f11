#pragma once
// The ops that are not fused kernels, on CUDA: the static kernels of src/cuda/kernels/
// configured per dtype and rank. Operands are materialized tensors on the target's device,
// checked by src/core (see core/backend.h for each op's contract).
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "cuda/cuda_module.h"

namespace tl::cuda {

// A static kernel's configuration: #define name value lines put before its body.
using Defines = std::vector<std::pair<std::string, std::string>>;

// common_source(), then `headers`, the defines and `body`: a static kernel's full source.
std::string configured(const Defines& defines, const char* body, const std::string& headers = "");

// Source put before a static kernel's defines (a matmul's epilogue), made only when the kernel
// is compiled: the lookup of a compiled one costs no code generation.
using Headers = std::function<std::string()>;

// The kernel `entry` of `body` configured by `defines`, looked up by the defines before the
// source is put together (so the defines must decide everything about the source).
// arch_specific: compiled for the architecture-specific target (kernel_function).
CUfunction static_kernel(const Target& t, const char* entry, const Defines& defines, const char* body,
                         const Headers& headers = {}, bool arch_specific = false);

void argreduce(const Target& t, ReduceOp op, const Tensor& in, int axis, const Tensor& out);
void scan(const Target& t, ScanOp op, const Tensor& in, int axis, const Tensor& out);
// Gather from `indexed` into `dense`, or with `scatter` the reverse.
void gather(const Target& t, const Tensor& indexed, int split, const Tensor& offsets,
            const Tensor& dense, bool scatter);
// Fills out (contiguous) from the Philox stream: the CPU backend's numbers.
void random(const Target& t, RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
            const Tensor& out);

// (name, source) of every static kernel in one configuration each (matmul: in the set
// matmul_kernel_sources() names): for a check with nvcc where it is installed.
std::vector<std::pair<std::string, std::string>> static_kernel_sources();

}  // namespace tl::cuda
