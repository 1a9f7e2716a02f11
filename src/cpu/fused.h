#pragma once
#include <memory>
#include <span>

#include "core/fusion_ir.h"

namespace tl::cpu {

// Runs a fused kernel: each IR instruction is a tight loop over a block of up to 1024
// elements held in L1, so memory is touched once. Kernels with reduced axes run pass after
// pass over each output's reduced elements (or, when the innermost axis is kept, over
// 1024 outputs at once, one reduced index at a time).
void run_fused(const ir::Kernel& kernel, std::span<const BufferPtr> bindings);

// An elementwise kernel prepared once and run over boxes of its domain on the calling thread:
// a matmul epilogue applied to each block of the product as soon as it is finished.
class BoxRunner {
 public:
  BoxRunner(const ir::Kernel& kernel, std::span<const BufferPtr> bindings);
  ~BoxRunner();
  // The elements start[d] <= i[d] < start[d] + extent[d].
  void run(std::span<const int64_t> start, std::span<const int64_t> extent) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tl::cpu
