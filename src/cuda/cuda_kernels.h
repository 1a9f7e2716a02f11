#pragma once
// Fused kernels on CUDA: the fusion IR printed as CUDA C++ (the block loop of
// core/codegen_c.h inside a grid-stride kernel), compiled by NVRTC for the device's exact
// architecture, cached in memory by source, and launched on the device's stream.
#include <functional>
#include <span>
#include <string>

#include "core/fusion_ir.h"
#include "cuda/cuda_api.h"

namespace tl::cuda {

struct Target {
  int cc_major, cc_minor, sms;
  CUcontext ctx;
  std::function<BufferPtr(size_t)> scratch;  // device memory from the pool, for partials
};

// Runs an elementwise kernel (no reductions; plain C dtypes) over its whole domain.
// NotImplementedError for kernels the generator does not cover yet.
void launch_fused(const Target& target, const ir::Kernel& kernel, std::span<const BufferPtr> bindings);

// The CUDA source of a kernel, for TENSORLOGIC_DEBUG=3 and tests.
std::string fused_source(const ir::Kernel& kernel, int rank);

}  // namespace tl::cuda
