#pragma once
// Fused kernels on CUDA: the fusion IR printed as CUDA C++ (the block loop of
// core/codegen_c.h inside a grid-stride kernel), compiled by NVRTC for the device's exact
// architecture, cached in memory by source, and launched on the device's stream.
#include <span>
#include <string>

#include "core/fusion_ir.h"
#include "cuda/cuda_module.h"

namespace tl::cuda {

// Runs a fused kernel (elementwise, or with reductions) over its whole domain.
void launch_fused(const Target& target, const ir::Kernel& kernel, std::span<const BufferPtr> bindings);

// The CUDA source launch_fused would compile for a kernel on a GPU of `sms` SMs ("" when
// the kernel is not printable): for tests that compile it with nvcc, and debugging.
std::string fused_kernel_source(const ir::Kernel& kernel, int sms);

}  // namespace tl::cuda
