#pragma once
// The fusion planner: cuts a pending graph into kernels. Every node a live Tensor holds (and
// every matmul) is stored; everything else is inlined into the kernels that read it:
// elementwise DAGs with broadcasts, views and casts; elementwise producers of a reduction and
// the consumers that broadcast its result back (softmax, layernorm) as one multi-pass kernel.
// A node that several kernels would recompute is stored instead when it is not cheap.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/fusion_ir.h"
#include "core/graph.h"

namespace tl {

struct PlanStep {
  enum class Kind : uint8_t { Fused, Reduce, Matmul } kind;
  NodePtr node;                  // the stored node this step computes
  ir::Kernel kernel;             // Fused
  std::vector<Source> bindings;  // Fused: per slot, a buffer or a node computed earlier
  std::string label;             // Matmul, Reduce: what it computes, for Plan::str
  // Matmul with an epilogue: `kernel` (over `bindings`) reads the product as binding
  // `acc_slot` and computes `out`; the backend applies it to each finished block.
  NodePtr out{};
  int acc_slot = -1;
  std::vector<const Node*> constants{};  // Fused: the Const node behind each of kernel.params
};

struct Plan {
  std::vector<PlanStep> steps;
  std::string str() const;
};

// epilogues: whether the device's matmul takes an elementwise epilogue.
Plan make_plan(std::span<const NodePtr> roots, bool epilogues);

}  // namespace tl
