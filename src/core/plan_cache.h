#pragma once
// Plans of pending graphs seen before. A loop that builds the same graph every step (a
// training step, a benchmark) plans it once: later graphs of the same structure (ops, dtypes,
// shapes, views, which nodes live tensors hold) reuse the plan with their own nodes, buffers
// and constant values put in. Planning is most of an evaluation's host time.
#include <span>

#include "core/planner.h"

namespace tl {

// make_plan(roots, epilogues), from the cache when a graph of this structure was planned.
// Not thread-safe: the caller holds the graph mutex.
Plan cached_plan(std::span<const NodePtr> roots, bool epilogues);

}  // namespace tl
