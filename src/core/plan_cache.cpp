#include "core/plan_cache.h"

#include <optional>
#include <string>
#include <unordered_map>

namespace tl {
namespace {

constexpr size_t kMaxPlans = 256;  // distinct graph structures kept (then all are dropped)

// A graph's part in a plan: node `node` of the walk, or its external `external` (a buffer, or
// a node computed before).
struct Ref {
  int node = -1, external = -1;
};

struct SourceTemplate {
  Ref ref;
  Shape shape;
  Strides strides;
  int64_t offset;
  DType dtype;
};

struct StepTemplate {
  PlanStep::Kind kind;
  int node, out;  // out: -1 when none
  ir::Kernel kernel;
  std::vector<SourceTemplate> bindings;
  std::string label;
  int acc_slot;
  std::vector<int> constants;  // nodes
};

struct Entry {
  std::vector<int64_t> signature;
  std::vector<StepTemplate> steps;
};

// The pending graph below some roots, producers first: its nodes, the memory it reads, and
// everything the planner looks at, as a signature. Constant values are left out: they become
// kernel parameters.
struct Walk {
  std::vector<NodePtr> order;
  std::unordered_map<const Node*, int> index;
  std::vector<Source> externals;
  std::unordered_map<const void*, int> external_index;
  std::vector<int64_t> sig;

  explicit Walk(std::span<const NodePtr> roots, bool epilogues) {
    index.reserve(64);
    sig.reserve(512);
    for (const NodePtr& r : roots) visit(r);
    sig.push_back(epilogues);
    for (const NodePtr& r : roots) sig.push_back(r->result ? -1 : index.at(r.get()));
  }

  static bool pending(const Source& s) { return s.node && !s.node->result; }

  int external(const Source& s) {
    auto [it, fresh] = external_index.try_emplace(memory_of(s), int(externals.size()));
    if (fresh) externals.push_back(Source{s.buffer, s.buffer ? nullptr : s.node, {}, {}, 0, s.dtype});
    return it->second;
  }

  void dims(const Dims& d) {
    sig.push_back(int64_t(d.size()));
    sig.insert(sig.end(), d.begin(), d.end());
  }

  void visit(const NodePtr& n) {
    if (n->result || index.count(n.get())) return;
    for (const Source& s : n->inputs)
      if (pending(s)) visit(s.node);
    index.emplace(n.get(), int(order.size()));
    order.push_back(n);
    sig.push_back(int64_t(n->kind) | int64_t(n->dtype) << 8 | int64_t(n->op) << 16 | int64_t(n->compute) << 32 |
                  int64_t(n->rop) << 40 | int64_t(n->handles.load() > 0) << 48);
    sig.push_back(n->consumers.load());
    sig.push_back(int64_t(n->device.type) << 32 | n->device.index);
    dims(n->shape);
    sig.push_back(int64_t(n->axes.size()));
    sig.insert(sig.end(), n->axes.begin(), n->axes.end());
    sig.push_back(int64_t(n->inputs.size()));
    for (const Source& s : n->inputs) {
      sig.push_back(pending(s) ? index.at(s.node.get()) : -1 - external(s));
      dims(s.shape);
      dims(s.strides);
      sig.push_back(s.offset);
      sig.push_back(int64_t(s.dtype));
    }
  }

  // Where a plan's binding is in this graph; nullopt if it is not (then the plan is not kept).
  std::optional<Ref> ref(const Source& s) const {
    if (pending(s)) {
      auto it = index.find(s.node.get());
      return it == index.end() ? std::nullopt : std::optional<Ref>(Ref{it->second, -1});
    }
    auto it = external_index.find(memory_of(s));
    return it == external_index.end() ? std::nullopt : std::optional<Ref>(Ref{-1, it->second});
  }
  std::optional<int> node(const Node* n) const {
    auto it = index.find(n);
    return it == index.end() ? std::nullopt : std::optional<int>(it->second);
  }

  Source source(const SourceTemplate& t) const {
    const Source& at = t.ref.node >= 0 ? Source{nullptr, order[size_t(t.ref.node)], {}, {}, 0, t.dtype}
                                       : externals[size_t(t.ref.external)];
    return Source{at.buffer, at.node, t.shape, t.strides, t.offset, t.dtype};
  }
};

std::optional<Entry> template_of(const Plan& plan, const Walk& w) {
  Entry e;
  for (const PlanStep& st : plan.steps) {
    const std::optional<int> node = w.node(st.node.get());
    const std::optional<int> out = st.out ? w.node(st.out.get()) : std::optional<int>(-1);
    if (!node || !out) return std::nullopt;
    StepTemplate t{st.kind, *node, *out, st.kernel, {}, st.label, st.acc_slot, {}};
    for (const Source& b : st.bindings) {
      const std::optional<Ref> r = w.ref(b);
      if (!r) return std::nullopt;
      t.bindings.push_back(SourceTemplate{*r, b.shape, b.strides, b.offset, b.dtype});
    }
    for (const Node* c : st.constants) {
      const std::optional<int> i = w.node(c);
      if (!i) return std::nullopt;
      t.constants.push_back(*i);
    }
    e.steps.push_back(std::move(t));
  }
  return e;
}

Plan instantiate(const Entry& e, const Walk& w) {
  Plan plan;
  plan.steps.reserve(e.steps.size());
  for (const StepTemplate& t : e.steps) {
    PlanStep st{t.kind, w.order[size_t(t.node)], t.kernel, {}, t.label};
    if (t.out >= 0) st.out = w.order[size_t(t.out)];
    st.acc_slot = t.acc_slot;
    st.bindings.reserve(t.bindings.size());
    for (const SourceTemplate& b : t.bindings) st.bindings.push_back(w.source(b));
    for (size_t p = 0; p < t.constants.size(); ++p) {
      const Node* c = w.order[size_t(t.constants[p])].get();
      st.kernel.params[p] = c->value;
      st.constants.push_back(c);
    }
    plan.steps.push_back(std::move(st));
  }
  return plan;
}

uint64_t hash_of(const std::vector<int64_t>& sig) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int64_t v : sig) h = (h ^ uint64_t(v)) * 0x100000001b3ull;
  return h;
}

}  // namespace

Plan cached_plan(std::span<const NodePtr> roots, bool epilogues) {
  static auto* plans = new std::unordered_map<uint64_t, Entry>();  // lives as long as the graph state
  const Walk w(roots, epilogues);
  const uint64_t h = hash_of(w.sig);
  if (auto it = plans->find(h); it != plans->end() && it->second.signature == w.sig) return instantiate(it->second, w);
  Plan plan = make_plan(roots, epilogues);
  if (std::optional<Entry> e = template_of(plan, w)) {
    if (plans->size() >= kMaxPlans) plans->clear();
    e->signature = w.sig;
    (*plans)[h] = std::move(*e);
  }
  return plan;
}

}  // namespace tl
