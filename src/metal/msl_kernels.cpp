#include "metal/msl_kernels.h"

#include <algorithm>
#include <cstdio>

#include "core/kernel_cache.h"

namespace tl::metal {
namespace {

std::vector<const Strides*> operand_strides(const ir::Kernel& k) {
  std::vector<const Strides*> st;
  for (const ir::Instr& i : k.instrs)
    if (i.op == ir::Op::Load || i.op == ir::Op::Store) st.push_back(&i.strides);
  return st;
}

// One past the farthest element an operand reaches over a (non-empty) domain.
int64_t reach(const ir::Kernel& k, const ir::Instr& in) {
  int64_t hi = in.offset;
  for (size_t d = 0; d < k.domain.size(); ++d) hi += std::max<int64_t>(0, (k.domain[d] - 1) * in.strides[d]);
  return hi + 1;
}

// 32-bit index math is exact when every offset and element count stays below 2^31 (with
// room for a grid-stride step past the end).
bool needs_wide(const ir::Kernel& k) {
  if (numel(k.domain) >= (int64_t(1) << 30)) return true;
  for (const ir::Instr& in : k.instrs)
    if ((in.op == ir::Op::Load || in.op == ir::Op::Store) && reach(k, in) >= (int64_t(1) << 31)) return true;
  return false;
}

// 4 when the one merged dim is contiguous or broadcast in every operand, some contiguous,
// each contiguous one starting on a whole vector; 1 otherwise.
int vector_width(const ir::Kernel& k, const MergedDims& m, std::span<const uint64_t> binding_offsets) {
  if (m.shape.size() != 1 || m.shape[0] < 4) return 1;
  bool any = false;
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Instr& in = k.instrs[i];
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    const int64_t st = m.strides[0][j++];
    if (st != 0 && st != 1) return 1;
    if (st == 0) continue;
    any = true;
    const uint64_t bytes = uint64_t(itemsize(in.dtype));
    const uint64_t base = binding_offsets.empty() ? 0 : binding_offsets[size_t(in.slot)];
    if ((base + uint64_t(in.offset) * bytes) % (4 * bytes) != 0) return 1;
  }
  return any ? 4 : 1;
}

// Whether a reduction's kept dims are the contiguous ones: its innermost kept dim has stride
// 1 in some load and its innermost reduced dim in none (then neighbouring threads of a
// threadgroup read neighbouring elements).
bool columns(const ir::Kernel& k, const MergedDims& kept, const MergedDims& reduced) {
  bool kept_unit = false, reduced_unit = false;
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Op op = k.instrs[i].op;
    if (op != ir::Op::Load && op != ir::Op::Store) continue;
    if (op == ir::Op::Load) {
      kept_unit |= kept.strides.back()[j] == 1;
      reduced_unit |= reduced.strides.back()[j] == 1;
    }
    ++j;
  }
  return kept_unit && !reduced_unit;
}

// Rows: 4 when the one merged reduced dim is contiguous or broadcast in every operand, some
// load contiguous, and each contiguous operand's rows start on a whole vector (offset and
// every kept stride a multiple of 4, its binding aligned); `unit` then says which operands
// are contiguous. 1 otherwise.
int row_vector_width(const ir::Kernel& k, const MergedDims& kept, const MergedDims& reduced,
                     std::span<const uint64_t> binding_offsets, std::vector<bool>& unit) {
  unit.clear();
  if (reduced.shape.size() != 1 || reduced.shape[0] < 8) return 1;
  bool any = false;
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Instr& in = k.instrs[i];
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    const int64_t st = reduced.strides[0][j];
    if (st != 0 && st != 1) return unit.clear(), 1;
    if (st == 1) {
      const uint64_t bytes = uint64_t(itemsize(in.dtype));
      const uint64_t base = binding_offsets.empty() ? 0 : binding_offsets[size_t(in.slot)];
      if ((base + uint64_t(in.offset) * bytes) % (4 * bytes) != 0) return unit.clear(), 1;
      for (const auto& d : kept.strides)
        if (d[j] % 4 != 0) return unit.clear(), 1;
      any |= in.op == ir::Op::Load;
    }
    unit.push_back(st == 1);
    ++j;
  }
  if (!any) unit.clear();
  return any ? 4 : 1;
}

uint32_t clamp_groups(int64_t groups, int64_t most) { return uint32_t(std::min(groups, most)); }


// Whether a reduction of l's outputs (rows or columns, one pass or several) is split (few long
// outputs): if so sets the cut's chunks per output and the scratch buffer's size.
bool splits(const ir::Kernel& k, Launch& l) {
  const size_t passes = k.schedule().passes.size();
  if (l.inner_n < kSplitMinInner || l.total > kSplitMaxOutputs || l.total <= 0) return false;
  int64_t reductions = 0;
  for (const ir::Instr& in : k.instrs) reductions += in.op == ir::Op::Reduce;
  const int64_t chunks = std::clamp<int64_t>((l.inner_n + kSplitChunk - 1) / kSplitChunk, 2, kSplitMaxChunks);
  l.cut.split = int(chunks);
  // Several passes: after the partials, each reduction's totals.
  l.scratch_bytes = std::max<int64_t>(1, reductions) * l.total * (chunks + (passes > 1 ? 1 : 0)) * 8;
  return true;
}

}  // namespace

Launch plan_launch(const ir::Kernel& k, std::span<const uint64_t> binding_offsets, bool wide) {
  Launch l;
  const std::vector<const Strides*> st = operand_strides(k);
  std::vector<int> kept, reduced, all;
  for (size_t d = 0; d < k.domain.size(); ++d) {
    (k.reduced[d] ? reduced : kept).push_back(int(d));
    all.push_back(int(d));
  }
  const bool reduction = k.has_reduction();
  l.outer = merge_dims(k.domain, reduction ? kept : all, st);
  l.inner = merge_dims(k.domain, reduced, st);
  l.total = numel(l.outer.shape);
  l.inner_n = reduction ? numel(l.inner.shape) : 0;
  l.cut.rank_outer = int(l.outer.shape.size());
  l.cut.rank_inner = reduction ? int(l.inner.shape.size()) : 0;
  l.cut.wide = wide || needs_wide(k);
  if (!reduction) {
    // 256 threads per threadgroup, a thread per element or 4-vector (grid-stride past 4M).
    l.cut.vector = vector_width(k, l.outer, binding_offsets);
    if (l.cut.vector > 1)
      for (int64_t st : l.outer.strides[0]) l.cut.unit.push_back(st == 1);
    const int64_t work = l.total / l.cut.vector + l.total % l.cut.vector;
    l.threadgroup = {256, 1, 1};
    l.grid[0] = clamp_groups((work + 255) / 256, 16384);
    return l;
  }
  // Columns: kColumnsX outputs side by side. Rows: a threadgroup per output, a thread per
  // element up to 256. Threadgroups grid-stride past 65535 groups of outputs.
  if (columns(k, l.outer, l.inner)) {
    l.cut.layout = Layout::Columns;
    l.threadgroup = {uint32_t(kColumnsX * kColumnsY), 1, 1};
    l.grid[0] = clamp_groups((l.total + kColumnsX - 1) / kColumnsX, 65535);
    // Few long columns (a sum, or a softmax, over axis 0 of a tall, narrow array): chunks of
    // rows of each group of kColumnsX columns over many threadgroups, then the kernel above
    // combines them (several passes: per pass, as rows do; see msl_codegen.cpp).
    if (splits(k, l)) {
      l.part_threadgroup = l.threadgroup;
      l.part_grid = {clamp_groups((l.total + kColumnsX - 1) / kColumnsX * l.cut.split, 65535), 1, 1};
    }
  } else {
    l.cut.layout = Layout::Rows;
    l.threadgroup = {uint32_t(std::clamp<int64_t>((l.inner_n + 31) / 32 * 32, 32, 256)), 1, 1};
    l.grid[0] = clamp_groups(l.total, 65535);
    l.cut.vector = row_vector_width(k, l.outer, l.inner, binding_offsets, l.cut.unit);
    // Few long outputs (a full reduction): chunks of each over many threadgroups, then a
    // threadgroup per output combines their partials.
    if (splits(k, l)) {
      l.part_threadgroup = {256, 1, 1};
      l.part_grid = {clamp_groups(l.total * l.cut.split, 65535), 1, 1};
      l.threadgroup = {32, 1, 1};  // each output folds its chunks' partials
    }
  }
  return l;
}

std::string launch_key(const ir::Kernel& k, const Cut& c) {
  std::string key = std::to_string(k.hash()) + ":" + std::to_string(int(c.layout)) + ":" +
                    std::to_string(c.rank_outer) + ":" + std::to_string(c.rank_inner) + ":" +
                    std::to_string(c.vector) + ":" + (c.wide ? "w" : "n") + ":" + (c.split ? "s" : "") + ":";
  for (bool u : c.unit) key += u ? '1' : '0';
  return key;
}

Program fused_program(const ir::Kernel& k, std::span<const uint64_t> binding_offsets, bool wide) {
  Program p;
  p.error = unprintable_reason(k);
  if (!p.error.empty()) return p;
  p.launch = plan_launch(k, binding_offsets, wide);
  p.key = launch_key(k, p.launch.cut);
  p.entry = entry_name("tl_", p.key);
  const Launch& l = p.launch;
  const std::vector<std::vector<int>> passes = k.schedule().passes;
  if (!l.cut.split) {
    p.steps.push_back({p.entry, l.grid, l.threadgroup});
  } else if (passes.size() == 1) {
    p.part_entry = p.entry + "_part";
    p.steps.push_back({p.part_entry, l.part_grid, l.part_threadgroup});
    p.steps.push_back({p.entry, l.grid, l.threadgroup});
  } else {  // pass by pass: the chunks, then (where the pass reduces) the fold into totals
    for (int t = 0; t < int(passes.size()); ++t) {
      p.steps.push_back({split_entry(p.entry, t, false), l.part_grid, l.part_threadgroup});
      if (std::any_of(passes[size_t(t)].begin(), passes[size_t(t)].end(),
                      [&](int n) { return k.instrs[size_t(n)].op == ir::Op::Reduce; }))
        p.steps.push_back({split_entry(p.entry, t, true), l.grid, l.threadgroup});
    }
  }
  p.params = pack_params(k, p.launch.cut, p.launch.outer, p.launch.inner, p.launch.total, p.launch.inner_n);
  // A row operand is touched once per output, even where the reduced range is empty.
  p.buffers = bindings_of(k, [&](const ir::Instr& in) { return in.row ? p.launch.total > 0 : numel(k.domain) > 0; });
  return p;
}

std::string entry_name(const std::string& prefix, const std::string& key) {
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(kernel_cache::stable_hash(key)));
  return prefix + hex;
}

std::vector<Binding> bindings_of(const ir::Kernel& k, const std::function<bool(const ir::Instr&)>& touches) {
  std::vector<Binding> out(k.slots.size());
  for (size_t s = 0; s < k.slots.size(); ++s) out[s] = {k.slots[s], false, 0};
  for (const ir::Instr& in : k.instrs) {
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    Binding& b = out[size_t(in.slot)];
    b.written |= in.op == ir::Op::Store;
    if (touches(in)) b.elements = std::max(b.elements, reach(k, in));
  }
  return out;
}

std::string program_source(const ir::Kernel& k, const Program& p) {
  return std::string(prelude()) + kernel_source(k, p.launch.cut, p.entry);
}

}  // namespace tl::metal
