#include "core/planner.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace tl {
namespace {

// A node read by more kernels than one is recomputed by each while it costs at most this
// many ops; a dearer one (or any reduction) is stored once instead.
constexpr int kRecomputeCost = 8;
constexpr int kReductionCost = 1 << 20;

// Index map from a kernel domain's multi-index i to a node's multi-index j:
// j[e] = start[e] + step[e] * i[src[e]]; src[e] = -1 holds j[e] at start[e].
struct Map {
  Dims src, step, start;
  bool operator==(const Map&) const = default;
};

Map identity(size_t rank) {
  Map m;
  m.src.resize(rank);
  std::iota(m.src.begin(), m.src.end(), 0);
  m.step.assign(rank, 1);
  m.start.assign(rank, 0);
  return m;
}

// Dims of size 1 are always at index 0, however a view reached them: one spelling, so that
// equal maps compare (and key values) equal.
Map normalized(Map m, const Shape& shape) {
  for (size_t e = 0; e < shape.size(); ++e)
    if (shape[e] == 1) m.src[e] = -1, m.step[e] = 0, m.start[e] = 0;
  return m;
}

// A reduction's output index over the domain: the kept dims, in order.
Map row_map(const Shape& domain, const std::vector<bool>& reduced) {
  Map m;
  Shape kept;
  for (size_t d = 0; d < reduced.size(); ++d)
    if (!reduced[d]) m.src.push_back(int(d)), kept.push_back(domain[d]);
  m.step.assign(m.src.size(), 1);
  m.start.assign(m.src.size(), 0);
  return normalized(std::move(m), kept);
}

// The map from a view's index to the index of the contiguous output it views, when every
// view dim walks one producer dim (slices, steps, flips, transposes, broadcasts, size-1 dims
// added or dropped); nullopt for views that merge or split dims.
std::optional<Map> derive(const Source& s, const Shape& producer) {
  const size_t q = producer.size();
  const int64_t total = numel(producer);
  if (total == 0 || s.offset < 0 || s.offset >= total) return std::nullopt;
  Map m;
  m.src.assign(q, -1);
  m.step.assign(q, 0);
  m.start.assign(q, 0);
  const Strides cs = contiguous_strides(producer);
  int64_t rest = s.offset;
  for (size_t e = 0; e < q; ++e) {
    m.start[e] = rest / cs[e];
    rest %= cs[e];
  }
  for (size_t d = 0; d < s.shape.size(); ++d) {
    const int64_t st = s.strides[d];
    if (s.shape[d] == 1 || st == 0) continue;
    const int64_t a = st < 0 ? -st : st;
    int e = -1;  // dims of size > 1 have decreasing strides: the first that divides is it
    for (size_t f = 0; f < q && e < 0; ++f)
      if (producer[f] > 1 && m.src[f] < 0 && cs[f] <= a && a % cs[f] == 0) e = int(f);
    if (e < 0) return std::nullopt;
    const int64_t k = st / cs[size_t(e)];
    const int64_t last = m.start[size_t(e)] + k * (s.shape[d] - 1);
    if (last < 0 || last >= producer[size_t(e)]) return std::nullopt;
    m.src[size_t(e)] = int(d);
    m.step[size_t(e)] = k;
  }
  return m;
}

// inner: view index -> producer index; outer: domain -> view index.
Map compose(const Map& inner, const Map& outer) {
  Map r = inner;
  for (size_t e = 0; e < inner.src.size(); ++e) {
    const int64_t d = inner.src[e];
    if (d < 0) continue;
    r.src[e] = outer.src[size_t(d)];
    r.start[e] = inner.start[e] + inner.step[e] * outer.start[size_t(d)];
    r.step[e] = r.src[e] < 0 ? 0 : inner.step[e] * outer.step[size_t(d)];
  }
  return r;
}

// Domain strides and offset of memory read through (strides, offset) at node index map(i).
void affine(const Strides& st, int64_t off, const Map& m, size_t rank, Strides& ks, int64_t& koff) {
  ks.assign(rank, 0);
  koff = off;
  for (size_t e = 0; e < m.src.size(); ++e) {
    koff += m.start[e] * st[e];
    if (m.src[e] >= 0) ks[size_t(m.src[e])] += m.step[e] * st[e];
  }
}

Shape kept_shape(const Shape& s, const std::vector<bool>& reduced) {
  Shape r;
  for (size_t d = 0; d < s.size(); ++d)
    if (!reduced[d]) r.push_back(s[d]);
  return r;
}

struct Restart {
  Node* node;  // to be stored by its own kernel
};

using Stored = std::unordered_set<Node*>;

bool inlinable(const Source& s, const Stored& stored) {
  return s.node && !s.node->result && !stored.count(s.node.get());
}

// Builds the kernel that computes one stored node, inlining what it reads.
class KernelBuilder {
 public:
  KernelBuilder(const Stored& stored, std::unordered_map<Node*, int>& inlined)
      : stored_(stored), inlined_(inlined) {}

  PlanStep build(const NodePtr& root) {
    Map map = choose_domain(root.get());
    const int v = value(root.get(), map);
    ir::Instr st{ir::Op::Store, root->dtype, k_.instrs[size_t(v)].repr};
    st.args[0] = v;
    st.slot = slot(Source{nullptr, root, {}, {}, 0, root->dtype});
    affine(contiguous_strides(root->shape), 0, map, k_.domain.size(), st.strides, st.offset);
    st.level = k_.instrs[size_t(v)].level;
    st.row = k_.instrs[size_t(v)].row;
    k_.instrs.push_back(st);
    PlanStep step{PlanStep::Kind::Fused, root, std::move(k_), std::move(bindings_), {}};
    step.constants = std::move(constants_);
    return step;
  }

 private:
  // The domain is the root's shape, or the input shape of the first reduction it inlines;
  // returns the root's map into it.
  Map choose_domain(Node* root) {
    Node* r = root->kind == NodeKind::Reduce ? root : find_reduction(root);
    if (!r) {
      k_.domain = root->shape;
      k_.reduced.assign(root->shape.size(), false);
      return normalized(identity(root->shape.size()), root->shape);
    }
    k_.domain = r->inputs[0].shape;
    k_.reduced.assign(k_.domain.size(), false);
    for (int a : r->axes) k_.reduced[size_t(a)] = true;
    if (root == r || root->shape == kept_shape(k_.domain, k_.reduced)) return row_map(k_.domain, k_.reduced);
    if (root->shape == k_.domain) return normalized(identity(k_.domain.size()), k_.domain);
    throw Restart{r};
  }

  Node* find_reduction(Node* n) {
    if (n->kind != NodeKind::Elementwise) return nullptr;
    for (const Source& s : n->inputs) {
      if (!inlinable(s, stored_)) continue;
      if (s.node->kind == NodeKind::Reduce) return s.node.get();
      if (Node* r = find_reduction(s.node.get())) return r;
    }
    return nullptr;
  }

  int emit(ir::Instr in) {
    k_.instrs.push_back(std::move(in));
    return int(k_.instrs.size() - 1);
  }
  const ir::Instr& at(int v) const { return k_.instrs[size_t(v)]; }
  bool has_reduction() const {
    return std::find(k_.reduced.begin(), k_.reduced.end(), true) != k_.reduced.end();
  }

  int slot(const Source& s) {
    auto [it, fresh] = slots_.try_emplace(memory_of(s), int(bindings_.size()));
    if (fresh) {
      bindings_.push_back(Source{s.buffer, s.node, {}, {}, 0, s.dtype});
      k_.slots.push_back(s.dtype);
    }
    return it->second;
  }

  // Memory read through s's view at node index map(i).
  int load(const Source& s, const Map& map) {
    ir::Instr in{ir::Op::Load, s.dtype, compute_dtype(s.dtype)};
    in.slot = slot(s);
    affine(s.strides, s.offset, map, k_.domain.size(), in.strides, in.offset);
    auto key = std::make_tuple(in.slot, in.strides, in.offset);
    if (auto it = loads_.find(key); it != loads_.end()) return it->second;
    in.row = has_reduction();
    for (size_t d = 0; d < k_.domain.size(); ++d)
      if (k_.reduced[d] && in.strides[d] != 0 && k_.domain[d] > 1) in.row = false;
    return loads_[key] = emit(std::move(in));
  }

  // v as dtype `via` held in `repr` (a no-op when it already is).
  int cast(int v, DType via, DType repr) {
    if (at(v).dtype == via && at(v).repr == repr) return v;
    ir::Instr in{ir::Op::Cast, via, repr};
    in.args[0] = v;
    in.level = at(v).level;
    in.row = at(v).row;
    return emit(std::move(in));
  }

  int source_value(const Source& s, const Map& map) {
    if (!inlinable(s, stored_)) {
      if (s.buffer) return load(s, map);
      return load(Source{nullptr, s.node, s.shape, s.strides, s.offset, s.dtype}, map);
    }
    std::optional<Map> m = derive(s, s.node->shape);
    if (!m) throw Restart{s.node.get()};
    return value(s.node.get(), compose(*m, map));
  }

  int value(Node* n, const Map& raw) {
    const Map map = normalized(raw, n->shape);
    auto key = std::make_pair(n, Dims{});
    for (size_t e = 0; e < map.src.size(); ++e)
      key.second.insert(key.second.end(), {map.src[e], map.step[e], map.start[e]});
    if (auto it = values_.find(key); it != values_.end()) return it->second;
    ++inlined_[n];
    int v = -1;
    switch (n->kind) {
      case NodeKind::Const: {
        ir::Instr in{ir::Op::Const, n->dtype, compute_dtype(n->dtype)};
        in.slot = int(k_.params.size());
        in.row = has_reduction();
        k_.params.push_back(n->value);
        constants_.push_back(n);
        v = emit(std::move(in));
        break;
      }
      case NodeKind::Elementwise: v = elementwise(n, map); break;
      case NodeKind::Reduce: v = reduction(n, map); break;
      case NodeKind::Matmul: throw Restart{n};
    }
    return values_[key] = v;
  }

  int elementwise(Node* n, const Map& map) {
    ir::Instr in{ir::Op::Alu, n->compute, n->compute};
    in.alu = n->op;
    in.row = true;
    for (size_t k = 0; k < n->inputs.size(); ++k) {
      int a = source_value(n->inputs[k], map);
      a = cast(a, at(a).dtype, n->compute);
      in.args[k] = a;
      in.level = std::max(in.level, at(a).level);
      in.row = in.row && at(a).row;
    }
    const OpRule rule = op_info(n->op).rule;
    const bool boolean = rule == OpRule::Compare || rule == OpRule::Predicate || rule == OpRule::Logical;
    if (boolean) in.dtype = DType::Bool;  // computes 0 or 1 already
    return cast(emit(std::move(in)), n->dtype, n->compute);
  }

  int reduction(Node* n, const Map& map) {
    const Shape& in_shape = n->inputs[0].shape;
    std::vector<bool> mask(in_shape.size(), false);
    for (int a : n->axes) mask[size_t(a)] = true;
    if (in_shape != k_.domain || mask != k_.reduced || !(map == row_map(k_.domain, k_.reduced)))
      throw Restart{n};
    int a = source_value(n->inputs[0], normalized(identity(k_.domain.size()), k_.domain));
    const bool logical = n->rop == ReduceOp::Any || n->rop == ReduceOp::All;
    const DType repr = logical ? at(a).repr : compute_dtype(n->dtype);
    a = cast(a, at(a).dtype, repr);
    ir::Instr in{ir::Op::Reduce, logical ? DType::Bool : repr, repr};
    in.rop = n->rop;
    in.args[0] = a;
    in.level = at(a).level + 1;
    in.row = true;
    return cast(emit(std::move(in)), n->dtype, repr);
  }

  const Stored& stored_;
  std::unordered_map<Node*, int>& inlined_;
  ir::Kernel k_;
  std::vector<Source> bindings_;
  std::vector<const Node*> constants_;
  std::map<const void*, int> slots_;
  std::map<std::tuple<int, Strides, int64_t>, int> loads_;
  std::map<std::pair<Node*, Dims>, int> values_;
};

void collect(const NodePtr& n, std::unordered_set<Node*>& seen, std::vector<NodePtr>& order) {
  if (n->result || !seen.insert(n.get()).second) return;
  for (const Source& s : n->inputs)
    if (s.node) collect(s.node, seen, order);
  order.push_back(n);
}

int cost(Node* n, const Stored& stored, std::unordered_map<Node*, int>& memo) {
  if (auto it = memo.find(n); it != memo.end()) return it->second;
  int c = 0;
  if (n->kind == NodeKind::Reduce || n->kind == NodeKind::Matmul) {
    c = kReductionCost;
  } else if (n->kind == NodeKind::Elementwise) {
    c = 1;
    for (const Source& s : n->inputs)
      if (inlinable(s, stored)) c = std::min(kReductionCost, c + cost(s.node.get(), stored, memo));
  }
  return memo[n] = c;
}

std::string label(const Node& n) { return shape_str(n.shape) + " " + dtype_name(n.dtype); }

bool reads_materialized(const Node& n, const Stored& stored) {
  return !inlinable(n.inputs[0], stored);
}

// The slot of `node` in a step's bindings, or -1.
int slot_of(const PlanStep& st, const Node* node) {
  for (size_t i = 0; i < st.bindings.size(); ++i)
    if (st.bindings[i].node.get() == node) return int(i);
  return -1;
}

// Moves into each matmul step the elementwise kernel that is the only reader of its product
// and reads it element for element (bias, activation, residual, scale, cast); the folded
// step takes the reader's place in the plan.
void fold_epilogues(Plan& plan, const std::unordered_set<Node*>& roots) {
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    PlanStep& mm = plan.steps[i];
    Node* m = mm.node.get();
    if (mm.kind != PlanStep::Kind::Matmul || m->handles.load() > 0 || roots.count(m) ||
        m->consumers.load() != 1)
      continue;
    size_t reader = 0;
    int readers = 0;
    for (size_t j = i + 1; j < plan.steps.size(); ++j)
      if (slot_of(plan.steps[j], m) >= 0 || plan.steps[j].node.get() == m) ++readers, reader = j;
    if (readers != 1 || plan.steps[reader].kind != PlanStep::Kind::Fused) continue;
    PlanStep& ep = plan.steps[reader];
    const int slot = slot_of(ep, m);
    if (ep.kernel.has_reduction() || ep.kernel.domain != m->shape) continue;
    const Strides cs = contiguous_strides(m->shape);
    int loads = 0;
    bool elementwise = true;
    for (const ir::Instr& in : ep.kernel.instrs) {
      if (in.op != ir::Op::Load || in.slot != slot) continue;
      ++loads;
      elementwise = elementwise && in.offset == 0;
      for (size_t d = 0; d < cs.size(); ++d)
        elementwise = elementwise && (m->shape[d] == 1 || in.strides[d] == cs[d]);
    }
    if (loads != 1 || !elementwise) continue;
    mm.kernel = std::move(ep.kernel);
    mm.bindings = std::move(ep.bindings);
    mm.constants = std::move(ep.constants);
    mm.out = std::move(ep.node);
    mm.acc_slot = slot;
    mm.label = label(*mm.out);
    // The folded step runs in the reader's place, not the matmul's: its epilogue may read
    // nodes that the steps in between store (a held lazy cast as bias or residual).
    ep = std::move(mm);
  }
  std::erase_if(plan.steps, [](const PlanStep& st) { return !st.node; });  // moved-from matmuls
}

}  // namespace

Plan make_plan(std::span<const NodePtr> roots, bool epilogues) {
  std::unordered_set<Node*> seen;
  std::vector<NodePtr> order;  // producers first
  for (const NodePtr& r : roots) collect(r, seen, order);

  Stored stored;
  for (const NodePtr& r : roots)
    if (!r->result) stored.insert(r.get());
  for (const NodePtr& n : order) {
    if (n->handles.load() > 0 && n->kind != NodeKind::Const) stored.insert(n.get());
    if (n->kind == NodeKind::Matmul) {
      stored.insert(n.get());
      for (const Source& s : n->inputs)
        if (s.node && !s.node->result) stored.insert(s.node.get());
    }
  }
  for (;;) {
    Plan plan;
    std::unordered_map<Node*, int> inlined;
    try {
      for (const NodePtr& n : order) {
        if (!stored.count(n.get())) continue;
        if (n->kind == NodeKind::Matmul) {
          plan.steps.push_back({PlanStep::Kind::Matmul, n, {}, {}, label(*n)});
        } else if (n->kind == NodeKind::Reduce && reads_materialized(*n, stored)) {
          plan.steps.push_back({PlanStep::Kind::Reduce, n, {}, {}, label(*n)});
        } else {
          plan.steps.push_back(KernelBuilder(stored, inlined).build(n));
        }
      }
    } catch (const Restart& r) {
      if (!stored.insert(r.node).second) throw_value("internal error: the fusion planner made no progress");
      continue;
    }
    // The most downstream dear node recomputed by several kernels is stored first (it
    // covers the nodes above it); topological order keeps the plan deterministic.
    std::unordered_map<Node*, int> costs;
    Node* dear = nullptr;
    for (const NodePtr& n : order) {
      auto it = inlined.find(n.get());
      if (it != inlined.end() && it->second > 1 && !stored.count(n.get()) &&
          cost(n.get(), stored, costs) > kRecomputeCost)
        dear = n.get();
    }
    if (dear) {
      stored.insert(dear);
      continue;
    }
    if (epilogues) {
      std::unordered_set<Node*> root_set;
      for (const NodePtr& r : roots) root_set.insert(r.get());
      fold_epilogues(plan, root_set);
    }
    return plan;
  }
}

std::string Plan::str() const {
  std::string s;
  for (size_t i = 0; i < steps.size(); ++i) {
    const PlanStep& st = steps[i];
    s += "[" + std::to_string(i) + "] ";
    switch (st.kind) {
      case PlanStep::Kind::Matmul:
        if (st.acc_slot >= 0) s += "matmul with epilogue -> " + st.label + ", epilogue " + st.kernel.str();
        else s += "matmul (a backend kernel) -> " + st.label + "\n";
        break;
      case PlanStep::Kind::Reduce: s += "reduction of a stored tensor (a backend kernel) -> " + st.label + "\n"; break;
      case PlanStep::Kind::Fused: s += st.kernel.str(); break;
    }
  }
  return s;
}

}  // namespace tl
