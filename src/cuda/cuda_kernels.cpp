#include "cuda/cuda_kernels.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/codegen_c.h"
#include "core/error.h"
#include "core/profiler.h"
#include "cuda/cuda_codegen.h"

namespace tl::cuda {
namespace {

// How a fused kernel is cut over the GPU.
struct Launch {
  std::vector<const Strides*> strides;  // per memory operand
  std::vector<int64_t> offsets;
  MergedDims outer, inner;  // elementwise: every dim outer; reduction: kept / reduced
  MergedDims along;         // the one dim vectors run along (with vector > 1)
  bool reduction;
  int vector = 1;    // elementwise: elements per thread step (16-byte accesses) when > 1
  int x = 1, y = 1;  // reductions: outputs per block side by side, threads per output
  int cache = 0;     // rows: vectors a thread keeps in registers across passes
  int tile_p = -1;          // elementwise: the dim whose `staged` loads go through 32 x 32 tiles
  std::vector<int> staged;  // (memory operands)
  int64_t outputs, inner_n, groups = 0, chunk = 0, chunks = 1;
};

// Whether a reduction's kept dims are the contiguous ones: its innermost kept dim has stride
// 1 in some load and its innermost reduced dim in none.
bool columns(const ir::Kernel& k, const Launch& l) {
  bool kept_unit = false, reduced_unit = false;
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Op op = k.instrs[i].op;
    if (op != ir::Op::Load && op != ir::Op::Store) continue;
    if (op == ir::Op::Load) {
      kept_unit |= l.outer.strides.back()[j] == 1;
      reduced_unit |= l.inner.strides.back()[j] == 1;
    }
    ++j;
  }
  return kept_unit && !reduced_unit;
}

// Elements per 16-byte access of the widest contiguous operand, when every operand of the one
// merged dim `along` is contiguous or broadcast there and each contiguous one is aligned to a
// whole vector at every start: its address (bindings empty: assumed aligned) and, for a
// reduction's rows, each of its strides over the kept dims `rows`. 1 otherwise.
int vector_width(const ir::Kernel& k, const MergedDims& along, const MergedDims* rows,
                 std::span<const BufferPtr> bindings) {
  if (along.shape.size() != 1) return 1;
  size_t widest = 0;
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Instr& in = k.instrs[i];
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    const int64_t st = along.strides[0][j++];
    if (st != 0 && st != 1) return 1;
    if (st == 1) widest = std::max(widest, size_t(itemsize(in.dtype)));
  }
  if (widest == 0) return 1;
  const int v = int(16 / widest);
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Instr& in = k.instrs[i];
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    if (along.strides[0][j++] != 1) continue;
    const size_t bytes = size_t(itemsize(in.dtype));
    const uintptr_t addr = bindings.empty() ? 0 : reinterpret_cast<uintptr_t>(bindings[size_t(in.slot)]->data());
    if ((addr + size_t(in.offset) * bytes) % (size_t(v) * bytes) != 0) return 1;
    if (rows)
      for (const auto& st : rows->strides)
        if (st[j - 1] % v != 0) return 1;
  }
  return along.shape[0] >= v ? v : 1;
}

// Rows that several passes read, of whole vectors: each thread keeps its vectors of the row in
// registers from the first pass, so later passes read no memory. As few threads a row as hold
// it at 128 bytes a thread (32 to 1024): softmax rows of 8192 float32 take 256 threads of 8
// vectors, rows of 1024 a warp.
void plan_row_cache(const ir::Kernel& k, Launch& l) {
  int bytes = 0;  // a vector of each load the cache keeps
  const ir::Schedule s = k.schedule();
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Instr& in = k.instrs[i];
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    if (row_cache_keeps(k, s, int(i), l.along.strides[0][j])) bytes += l.vector * int(itemsize(in.dtype));
    ++j;
  }
  if (bytes == 0) return;
  const int64_t most = std::max(1, 128 / bytes), vectors = l.inner_n / l.vector;
  const int64_t y = std::max<int64_t>(32, (vectors + most - 1) / most);
  if (y > 1024) return;
  l.y = int((y + 31) / 32 * 32);
  l.cache = int((vectors + l.y - 1) / l.y);
  // Rows of a warp holding at most 4 vectors a thread: four a block (an SM holds at most 32
  // blocks: one-warp blocks would leave it half its threads). (H200: softmax 262144 x 256
  // 230 -> 201 us; rows of 1024, 8 vectors a thread, ran slower, 160 -> 182 us.)
  if (l.y == 32 && l.cache <= 4 && l.outputs >= 4) l.x = 4, l.groups = (l.outputs + 3) / 4;
}

// An elementwise kernel that stores along the innermost merged dim q and loads some operand
// along another dim p (a transposing copy, x.T + y): those loads go through 32 x 32 tiles in
// shared memory, so that neither side strides across rows (8192^2 float32 x.T.copy(), H100:
// the strided form ran at 4x its memory floor).
void plan_tiles(const ir::Kernel& k, Launch& l) {
  const MergedDims& m = l.outer;
  const int q = int(m.shape.size()) - 1;
  if (q < 1 || m.shape[size_t(q)] < 16) return;
  bool stores_along_q = false;
  std::vector<int> loads;
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Op op = k.instrs[i].op;
    if (op != ir::Op::Load && op != ir::Op::Store) continue;
    if (op == ir::Op::Store) stores_along_q |= m.strides[size_t(q)][j] == 1;
    else loads.push_back(int(j));
    ++j;
  }
  if (!stores_along_q) return;
  for (int j : loads) {
    if (m.strides[size_t(q)][size_t(j)] == 0 || m.strides[size_t(q)][size_t(j)] == 1) continue;
    for (int p = 0; p < q; ++p) {
      if (m.strides[size_t(p)][size_t(j)] != 1 || m.shape[size_t(p)] < 16 || (l.tile_p >= 0 && p != l.tile_p)) continue;
      l.tile_p = p;
      l.staged.push_back(j);
      break;
    }
  }
}

Launch plan_launch(const ir::Kernel& k, int sms, std::span<const BufferPtr> bindings) {
  Launch l;
  for (const ir::Instr& i : k.instrs)
    if (i.op == ir::Op::Load || i.op == ir::Op::Store) l.strides.push_back(&i.strides), l.offsets.push_back(i.offset);
  std::vector<int> kept, reduced, all;
  for (size_t d = 0; d < k.domain.size(); ++d) {
    (k.reduced[d] ? reduced : kept).push_back(int(d));
    all.push_back(int(d));
  }
  l.reduction = k.has_reduction();
  l.outer = merge_dims(k.domain, l.reduction ? kept : all, l.strides);
  l.inner = merge_dims(k.domain, reduced, l.strides);
  l.outputs = numel(l.outer.shape);
  l.inner_n = numel(l.inner.shape);
  if (!l.reduction) {
    if (l.outer.shape.empty()) return l;
    // Vectors along the innermost merged dim; over several dims, only where they divide its
    // rows (no tail a row) and every row starts aligned.
    l.along.shape = {l.outer.shape.back()};
    l.along.strides = {l.outer.strides.back()};
    MergedDims rows = l.outer;
    rows.shape.pop_back();
    rows.strides.pop_back();
    l.vector = vector_width(k, l.along, rows.shape.empty() ? nullptr : &rows, bindings);
    if (!rows.shape.empty() && l.along.shape[0] % l.vector != 0) l.vector = 1;
    if (l.vector == 1) plan_tiles(k, l);
    return l;
  }
  // Columns: 32 outputs per block, 8 threads each (256 per thread once there are outputs
  // enough to fill the GPU). Rows: one output per block, up to 256 threads.
  if (columns(k, l)) {
    l.x = l.outputs >= int64_t(sms) * 1024 ? 256 : 32;
    l.y = 256 / l.x;
  }
  l.groups = (l.outputs + l.x - 1) / l.x;
  // Too few groups to fill the GPU (8 blocks per SM): split the reduced range of one-pass
  // kernels into chunks of at least 8192 elements per block, no more blocks than fit at once
  // (a second, partial wave of blocks would leave most SMs idle while it runs).
  l.chunk = std::max<int64_t>(1, l.inner_n);
  const int64_t want = int64_t(sms) * 8;
  if (k.passes() == 1 && l.groups < want && l.inner_n > 0) {
    const int64_t least = std::max<int64_t>(1, 8192 / l.x);
    const int64_t per_group = want / l.groups;
    l.chunk = std::max(least, (l.inner_n + per_group - 1) / per_group);
    l.chunks = (l.inner_n + l.chunk - 1) / l.chunk;
  }
  if (l.x == 1) {
    l.along = l.inner;
    l.vector = vector_width(k, l.inner, &l.outer, bindings);
    if (l.chunks > 1) {  // whole vectors per chunk
      l.chunk = (l.chunk + l.vector - 1) / l.vector * l.vector;
      l.chunks = (l.inner_n + l.chunk - 1) / l.chunk;
    }
    l.y = int(std::clamp<int64_t>((std::min(l.inner_n, l.chunk) / l.vector + 31) / 32 * 32, 32, 256));
    if (l.vector > 1 && l.chunks == 1 && k.passes() > 1) plan_row_cache(k, l);
  }
  return l;
}

std::string launch_source(const ir::Kernel& k, const Launch& l) {
  const int rank = int(l.outer.shape.size());
  if (l.tile_p >= 0) {  // the kernel on one element whose operands' addresses it is given
    const MergedDims one{{1}, {std::vector<int64_t>(l.strides.size(), 1)}};
    return transpose_source(k, rank, l.tile_p, l.staged, flattened(k, one));
  }
  const ir::Kernel flat = l.vector > 1 ? flattened(k, l.along) : k;
  if (!l.reduction) return elementwise_source(k, rank, l.vector, flat);
  return reduction_kernel_source(k, rank, int(l.inner.shape.size()), l.x, l.chunks > 1, l.vector, l.cache, l.x * l.y, flat);
}

// What decides a launch's source: the kernel's structure (its hash covers ops, dtypes,
// slots, levels and stride classes) and the launch's cut. Looked up before any source is
// printed, so a kernel seen before costs no code generation.
std::string launch_key(const ir::Kernel& k, const Launch& l) {
  std::string key = std::to_string(k.hash()) + ":" + std::to_string(l.outer.shape.size()) + ":" +
                    std::to_string(l.inner.shape.size()) + ":" + std::to_string(l.x) + ":" +
                    std::to_string(l.chunks > 1) + ":" + std::to_string(l.vector) + ":" +
                    (l.cache ? std::to_string(l.cache) + "x" + std::to_string(l.y) : "0") + ":";
  if (l.vector > 1)
    for (int64_t st : l.along.strides[0]) key += st ? '1' : '0';
  if (l.tile_p >= 0) {
    key += "t" + std::to_string(l.tile_p);
    for (int j : l.staged) key += "," + std::to_string(j);
  }
  return key;
}

}  // namespace

std::string fused_kernel_source(const ir::Kernel& k, int sms) {
  if (!codegen::printable(k, printed_instrs(k), true)) return "";
  return launch_source(k, plan_launch(k, sms, {}));
}

void launch_fused(const Target& t, const ir::Kernel& k, std::span<const BufferPtr> bindings) {
  if (!codegen::printable(k, printed_instrs(k), true))
    throw_not_implemented("a fused kernel the CUDA code generator cannot print: " + k.name());
  const Launch l = plan_launch(k, t.sms, bindings);
  if (l.outputs == 0) return;
  const auto& st = l.strides;
  const CUfunction fn = kernel_function_by_key(t, launch_key(k, l), [&] {
    std::string src = launch_source(k, l);
    if (profiler::debug_level() >= 3) std::fprintf(stderr, "[tensorlogic] CUDA source:\n%s\n", src.c_str());
    return src;
  }, "tl_kernel");
  // Args, as the kernel declares it.
  const size_t nmem = std::max<size_t>(1, st.size()), nparams = std::max<size_t>(1, k.params.size());
  ArgPack args;
  for (size_t s = 0; s < std::max<size_t>(1, bindings.size()); ++s)
    args.put(s < bindings.size() ? bindings[s]->data() : nullptr);
  for (size_t j = 0; j < nmem; ++j) args.put(j < l.offsets.size() ? l.offsets[j] : int64_t(0));
  args.dims(l.outer, nmem);
  if (l.reduction) args.dims(l.inner, nmem);
  std::vector<double> cf(nparams, 0.0);
  std::vector<int64_t> ci(nparams, 0);
  for (const ir::Instr& i : k.instrs) {
    if (i.op != ir::Op::Const) continue;
    const Scalar s = scalar_as(k.params[size_t(i.slot)], i.dtype);  // as a stored 0-d tensor holds it
    cf[size_t(i.slot)] = s.f;
    ci[size_t(i.slot)] = s.i;
  }
  for (double v : cf) args.put(v);
  for (int64_t v : ci) args.put(v);
  args.put(l.outputs);
  if (l.tile_p >= 0) {
    const int64_t np = l.outer.shape[size_t(l.tile_p)], nq = l.outer.shape.back();
    const int64_t tiles = l.outputs / (np * nq) * ((np + 31) / 32) * ((nq + 31) / 32);
    return args.launch(t, fn, unsigned(std::clamp<int64_t>(tiles, 1, int64_t(t.sms) * 16)), 1, 1, 256);
  }
  if (!l.reduction) {
    const int64_t per_thread = l.outputs / l.vector;
    const int64_t blocks = std::clamp<int64_t>((per_thread + 255) / 256, 1, int64_t(t.sms) * 32);
    return args.launch(t, fn, unsigned(blocks), 1, 1, 256);
  }
  BufferPtr partials, counts;  // kept alive until the kernel is queued (the pool is stream-ordered)
  args.put(l.inner_n);
  if (l.chunks > 1) {
    int nacc = 0;
    for (const ir::Instr& i : k.instrs) nacc += i.op == ir::Op::Reduce;
    partials = t.scratch(size_t(l.outputs * l.chunks * std::max(1, nacc)) * 8);
    if (size_t(l.groups) > kCounters) {
      counts = t.scratch(size_t(l.groups) * 4);
      check(api().cuCtxSetCurrent(t.ctx), "cuCtxSetCurrent");
      check(api().cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(counts->data()), 0, size_t(l.groups) * 4, t.stream()),
            "cuMemsetD8Async");
    }
  }
  args.put(partials ? partials->data() : nullptr);  // pf and pi share the partials (8 bytes each)
  args.put(partials ? partials->data() : nullptr);
  args.put(counts ? counts->data() : static_cast<void*>(t.counters()));
  args.put(l.chunks);
  args.put(l.chunk);
  // A block per group (and chunk) up to 64 per SM: the GPU hands blocks to SMs as earlier
  // ones finish, so the work stays balanced to the end (a fixed grid striding over 8192 rows
  // left a last, partial wave); past that, blocks stride.
  const int64_t blocks = std::min<int64_t>(l.groups * l.chunks, int64_t(t.sms) * 64);
  args.launch(t, fn, unsigned(blocks), 1, 1, unsigned(l.x), unsigned(l.y));
}

}  // namespace tl::cuda
