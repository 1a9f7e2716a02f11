#pragma once
#include <span>

#include "core/fusion_ir.h"

namespace tl::cpu {

// Runs a fused kernel: each IR instruction is a tight loop over a block of up to 1024
// elements held in L1, so memory is touched once. Kernels with reduced axes run pass after
// pass over each output's reduced elements (or, when the innermost axis is kept, over
// 1024 outputs at once, one reduced index at a time).
void run_fused(const ir::Kernel& kernel, std::span<const BufferPtr> bindings);

}  // namespace tl::cpu
