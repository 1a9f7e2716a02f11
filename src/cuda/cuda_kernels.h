#pragma once
// Fused kernels on CUDA: how a kernel of the fusion IR is cut over the GPU (merged dims,
// 16-byte vector widths from the operands' alignment, rows / columns / chunks for
// reductions), its source (cuda_codegen.h) compiled once per structure and cut, and its
// launch on the device's stream.
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
