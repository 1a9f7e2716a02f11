#include "core/graph.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "core/plan_cache.h"
#include "core/profiler.h"

namespace tl {
namespace graph {
namespace {

struct State {
  std::recursive_mutex mu;
  std::atomic<bool> fusion{!(std::getenv("TENSORLOGIC_NO_FUSION") &&
                             std::getenv("TENSORLOGIC_NO_FUSION")[0] == '1')};
  std::vector<std::weak_ptr<Node>> live;  // every recorded node, pruned now and then
  size_t prune_at = 1024;
  Plan last;  // with its buffers and nodes dropped
};

State& state() {
  static State* s = new State();  // never destroyed: tensors may die during static teardown
  return *s;
}

Tensor tensor_of(const Source& s) {
  return Tensor(s.buffer ? s.buffer : s.node->result, s.shape, s.strides, s.offset, s.dtype);
}

void run_step(PlanStep& st) {
  Node& n = *st.node;
  Backend& be = backend_for(n.device);
  Tensor out(n.result, n.shape, contiguous_strides(n.shape), 0, n.dtype);
  switch (st.kind) {
    case PlanStep::Kind::Matmul: {
      if (out.numel() == 0) break;
      if (!st.out) {
        be.matmul(tensor_of(n.inputs[0]), tensor_of(n.inputs[1]), out, nullptr, n.precision);
        break;
      }
      std::vector<BufferPtr> buffers;
      for (const Source& b : st.bindings) buffers.push_back(b.buffer ? b.buffer : b.node->result);
      const Epilogue ep{st.kernel, buffers, st.acc_slot};
      be.matmul(tensor_of(n.inputs[0]), tensor_of(n.inputs[1]), out, &ep, n.precision);
      break;
    }
    case PlanStep::Kind::Reduce:
      if (out.numel() > 0) be.reduce(n.rop, tensor_of(n.inputs[0]), n.axes, out);
      break;
    case PlanStep::Kind::Fused: {
      std::vector<BufferPtr> buffers;
      for (const Source& b : st.bindings) buffers.push_back(b.buffer ? b.buffer : b.node->result);
      be.fused(st.kernel, buffers);
      break;
    }
  }
}

void execute(Plan& plan) {
  size_t done = 0;
  try {
    for (; done < plan.steps.size(); ++done) {
      for (Node* n : {plan.steps[done].node.get(), plan.steps[done].out.get()})
        if (n) n->result = backend_for(n->device).allocate(n->device.index, size_t(numel(n->shape) * itemsize(n->dtype)));
      run_step(plan.steps[done]);
    }
  } catch (...) {
    for (size_t i = 0; i <= done && i < plan.steps.size(); ++i)
      for (Node* n : {plan.steps[i].node.get(), plan.steps[i].out.get()})
        if (n) n->result.reset();
    throw;
  }
  for (PlanStep& st : plan.steps)
    for (Node* n : {st.node.get(), st.out.get()}) {  // the product's readers, then its reader
      if (!n) continue;
      n->result->pending_readers.fetch_add(n->consumers.load());
      n->release_inputs();
    }
}

void run_plan(std::span<const NodePtr> roots) {
  if (roots.empty()) return;
  Plan plan = cached_plan(roots, backend_for(roots[0]->device).matmul_takes_epilogue());
  execute(plan);
  if (profiler::debug_level() >= 2) std::fprintf(stderr, "[tensorlogic] plan:\n%s", plan.str().c_str());
  for (PlanStep& st : plan.steps) {
    st.node.reset();
    st.out.reset();
    st.bindings.clear();
  }
  state().last = std::move(plan);
}

}  // namespace

namespace {
thread_local int lock_depth = 0;                           // Locks this thread holds
thread_local std::vector<std::function<void()>> deferred;  // after_unlock's, in order
}  // namespace

Lock::Lock() {
  state().mu.lock();
  ++lock_depth;
}

Lock::~Lock() {
  state().mu.unlock();
  if (--lock_depth > 0) return;
  while (!deferred.empty()) {
    std::vector<std::function<void()>> run;
    run.swap(deferred);
    for (auto& f : run) f();
  }
}

void after_unlock(std::function<void()> f) {
  if (lock_depth == 0) return f();
  deferred.push_back(std::move(f));
}

bool fusion_enabled() { return state().fusion.load(std::memory_order_relaxed); }
void set_fusion(bool on) { state().fusion = on; }

Tensor record(NodePtr node) {
  State& s = state();
  Lock lock;
  int64_t pending = 1;
  for (Source& in : node->inputs) {
    if (in.node && in.node->result) {  // computed since: read its buffer
      in.buffer = in.node->result;
      in.node.reset();
    }
    if (in.buffer) {
      in.buffer->pending_readers.fetch_add(1);
    } else {
      in.node->consumers.fetch_add(1);
      pending += in.node->pending;
    }
  }
  node->pending = std::min(pending, kMaxPending + 1);
  if (s.live.size() >= s.prune_at) {
    std::erase_if(s.live, [](const std::weak_ptr<Node>& w) {
      NodePtr n = w.lock();
      return !n || n->result;
    });
    s.prune_at = std::max<size_t>(1024, 2 * s.live.size());
  }
  s.live.push_back(node);
  Tensor t(node, node->shape, contiguous_strides(node->shape), 0, node->dtype, node->device);
  if (!fusion_enabled() || node->pending > kMaxPending) compute(node);
  return t;
}

Tensor constant(const Scalar& value, DType dtype, Device device) {
  auto n = std::make_shared<Node>();
  n->kind = NodeKind::Const;
  n->dtype = dtype;
  n->device = device;
  n->value = value;
  return Tensor(std::move(n), {}, {}, 0, dtype, device);
}

void compute(const NodePtr& node) {
  Lock lock;
  if (node->result) return;
  const NodePtr roots[1] = {node};
  run_plan(roots);
}

void evaluate(std::span<const Tensor> tensors) {
  Lock lock;
  std::vector<NodePtr> roots;
  for (const Tensor& t : tensors) {
    Source s = t.source();
    if (s.node && !s.node->result) roots.push_back(std::move(s.node));
  }
  run_plan(roots);
  for (const Tensor& t : tensors) (void)t.buffer();  // drop the handles' node references
}

void flush() {
  State& s = state();
  Lock lock;
  std::vector<NodePtr> roots;
  for (const std::weak_ptr<Node>& w : s.live)
    if (NodePtr n = w.lock(); n && !n->result && n->handles.load() > 0) roots.push_back(std::move(n));
  s.live.clear();
  run_plan(roots);
}

void before_write(const Buffer& buffer) {
  if (buffer.pending_readers.load() > 0) flush();
}

std::string last_plan() {
  Lock lock;
  return state().last.str();
}

std::vector<ir::Kernel> last_kernels() {
  Lock lock;
  std::vector<ir::Kernel> out;
  for (const PlanStep& st : state().last.steps)
    if (!st.kernel.instrs.empty()) out.push_back(st.kernel);
  return out;
}

std::vector<std::pair<ir::Kernel, int>> last_epilogues() {
  Lock lock;
  std::vector<std::pair<ir::Kernel, int>> out;
  for (const PlanStep& st : state().last.steps)
    if (st.kind == PlanStep::Kind::Matmul && st.acc_slot >= 0) out.emplace_back(st.kernel, st.acc_slot);
  return out;
}

}  // namespace graph

void Node::release_inputs() {
  graph::Lock lock;
  for (Source& s : inputs) {
    if (s.buffer) s.buffer->pending_readers.fetch_sub(1);
    if (s.node) {
      s.node->consumers.fetch_sub(1);
      if (s.node->result) s.node->result->pending_readers.fetch_sub(1);
    }
  }
  inputs.clear();
}

// (A computed node has no inputs left: its last handle, often dropped by Python with the GIL
// held, need not wait for the graph's lock.)
Node::~Node() {
  if (!inputs.empty()) release_inputs();
}

}  // namespace tl
