#include "cuda/cuda_kernels.h"

#include <cstdio>
#include <functional>
#include <algorithm>
#include <mutex>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "core/codegen_c.h"
#include "core/error.h"
#include "core/profiler.h"

namespace tl::cuda {
namespace {

// Reductions: each block reduces one output; its threads' partials meet through warp
// shuffles and shared memory. OP is the ReduceOp: 0 sum, 1 prod, 2 max, 3 min (NaN-
// propagating, as on the CPU), 4 any, 5 all.
constexpr const char* kBlockReduce = R"(
template <int OP, class T> __device__ inline T tl_combine(T a, T b) {
  return OP == 0 ? a + b : OP == 1 ? a * b : OP == 2 ? tl::sm::tl_max(a, b)
       : OP == 3 ? tl::sm::tl_min(a, b) : OP == 4 ? T(a != T(0) || b != T(0)) : T(a != T(0) && b != T(0));
}
// Threads tid < n of a block (in whole warps) combine their v: every one gets the total.
template <int OP, class T> __device__ T tl_block_reduce(T v, T identity, T* shared, int tid, int n) {
  for (int s = 16; s > 0; s >>= 1) v = tl_combine<OP>(v, __shfl_down_sync(0xffffffffu, v, s));
  const int lane = tid & 31, warp = tid >> 5, warps = (n + 31) >> 5;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? shared[lane] : identity;
    for (int s = 16; s > 0; s >>= 1) v = tl_combine<OP>(v, __shfl_down_sync(0xffffffffu, v, s));
    if (lane == 0) shared[32] = v;
  }
  __syncthreads();
  v = shared[32];
  __syncthreads();
  return v;
}
// Column layout: thread (x, y) of an X-wide block holds output x's partial of rows y, y + Y,
// ...; the Y partials of each x are folded in y order, and every thread gets its x's total.
template <int OP, int X, class T> __device__ T tl_column_reduce(T v, T* shared) {
  shared[threadIdx.y * X + threadIdx.x] = v;
  __syncthreads();
  v = shared[threadIdx.x];
  for (int y = 1; y < blockDim.y; ++y) v = tl_combine<OP>(v, shared[y * X + threadIdx.x]);
  __syncthreads();
  return v;
}
)";

// Source declaring int64_t out[m] = from[j] plus the offsets of linear index `index`
// unravelled over `shape` (rank dims, innermost last) with operand j's strides[j][d].
std::string unravel(const std::string& out, const std::string& from, const std::string& index,
                    const std::string& shape, const std::string& strides, int rank, const std::string& m,
                    const std::string& indent) {
  return indent + "int64_t " + out + "[" + m + "];\n" + indent + "for (int j = 0; j < " + m + "; ++j) " +
         out + "[j] = " + from + "[j];\n" + indent + "tl_unravel<" + std::to_string(rank) + ", " + m +
         ">(" + index + ", " + shape + ", " + strides + ", " + out + ");\n";
}

// Copies N bytes (the size of a whole vector of one operand) with one access.
constexpr const char* kVectorMove = R"(
template <int N> struct tl_word;
template <> struct tl_word<1> { typedef unsigned char type; };
template <> struct tl_word<2> { typedef unsigned short type; };
template <> struct tl_word<4> { typedef unsigned int type; };
template <> struct tl_word<8> { typedef uint2 type; };
template <> struct tl_word<16> { typedef uint4 type; };
template <int N> __device__ __forceinline__ void tl_move(void* dst, const void* src) {
  *(typename tl_word<N>::type*)dst = *(const typename tl_word<N>::type*)src;
}
)";

std::string elementwise_args(const ir::Kernel& k, int rank, int nmem) {
  const int nslots = std::max<int>(1, int(k.slots.size())), nparams = std::max<int>(1, int(k.params.size()));
  const std::string R = std::to_string(rank), M = std::to_string(std::max(1, nmem));
  return "struct Args {\n  char* base[" + std::to_string(nslots) + "];\n  int64_t off[" + M +
         "];\n  int64_t st[" + M + "][" + R + "];\n  int64_t shape[" + R + "];\n  double cf[" +
         std::to_string(nparams) + "];\n  int64_t ci[" + std::to_string(nparams) +
         "];\n  int64_t total;\n};\n";
}

std::vector<int> all_instrs(const ir::Kernel& k) {
  std::vector<int> v;
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op != ir::Op::Const) v.push_back(int(i));
  return v;
}

int memory_operands(const ir::Kernel& k) {
  int nmem = 0;
  for (const ir::Instr& i : k.instrs) nmem += i.op == ir::Op::Load || i.op == ir::Op::Store;
  return nmem;
}

// A vector step over `instrs` of `flat` (the kernel over one dim, memory operand j on slot j):
// `at[j]` points at operand j's V elements, moved into registers with one access of up to 16
// bytes when contiguous (loads before the step, stores after), at memory when broadcast.
// offset(J) is the element offset of operand J's vector; `base` is the kernel's slot array.
struct VectorMoves {
  std::string in, out;
};
template <class Offset>
VectorMoves vector_moves(const ir::Kernel& k, const ir::Kernel& flat, const std::vector<int>& instrs, int vector,
                         const std::string& base, Offset&& offset, const std::string& indent) {
  std::vector<int> mem(k.instrs.size(), -1);
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op == ir::Op::Load || k.instrs[i].op == ir::Op::Store) mem[i] = int(j++);
  VectorMoves m;
  const std::string V = std::to_string(vector);
  for (int i : instrs) {
    const ir::Instr& in = flat.instrs[size_t(i)];
    if (mem[size_t(i)] < 0) continue;
    const std::string J = std::to_string(mem[size_t(i)]), T = codegen::ctype(in.dtype);
    const std::string global = "((" + T + "*)" + base + "[" + std::to_string(k.instrs[size_t(i)].slot) + "] + " +
                               offset(J) + ")";
    if (in.strides[0] == 0) {
      m.in += indent + "at[" + J + "] = (char*)" + global + ";\n";
      continue;
    }
    m.in += indent + T + " r" + J + "[" + V + "];\n" + indent + "at[" + J + "] = (char*)r" + J + ";\n";
    if (in.op == ir::Op::Load) m.in += indent + "tl_move<sizeof(r" + J + ")>(r" + J + ", " + global + ");\n";
    else m.out += indent + "tl_move<sizeof(r" + J + ")>(" + global + ", r" + J + ");\n";
  }
  return m;
}

// Per-thread element loop: the domain (merged to `rank` dims) unravelled per element. With
// `vector` > 1 (one merged dim, every operand contiguous or broadcast, the contiguous ones
// aligned to whole vectors), each thread first takes whole vectors (tl_vector runs `flat` on
// them), then the tail goes element by element.
std::string kernel_wrapper(const ir::Kernel& k, int rank, int nmem, int vector, const ir::Kernel& flat) {
  const std::string M = std::to_string(std::max(1, nmem)), V = std::to_string(vector);
  std::string body = "extern \"C\" __global__ void tl_kernel(const Args a) {\n"
                     "  const int64_t step = int64_t(gridDim.x) * blockDim.x;\n"
                     "  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;\n";
  std::string tail_start = "first";
  if (vector > 1) {
    const VectorMoves m = vector_moves(k, flat, all_instrs(k), vector, "a.base", [&](const std::string& J) {
      return "a.off[" + J + "] + q * " + V + " * a.st[" + J + "][0]";
    }, "    ");
    body += "  const int64_t vectors = a.total / " + V + ";\n"
            "  const int64_t zero[" + M + "] = {};\n"
            "  for (int64_t q = first; q < vectors; q += step) {\n"
            "    char* at[" + M + "];\n" + m.in +
            "    tl_vector(at, zero, nullptr, " + V + ", a.cf, a.ci, nullptr, nullptr, nullptr, nullptr);\n" +
            m.out + "  }\n";
    tail_start = "vectors * " + V + " + first";
  }
  return elementwise_args(k, rank, nmem) + body + "  for (int64_t lin = " + tail_start +
         "; lin < a.total; lin += step) {\n" + unravel("off", "a.off", "lin", "a.shape", "a.st", rank, M, "    ") +
         "    tl_block(a.base, off, nullptr, 1, a.cf, a.ci, nullptr, nullptr, nullptr, nullptr);\n"
         "  }\n}\n";
}

// tl_combine's OP for a reduction.
std::string combine_op(const ir::Instr& r) { return std::to_string(int(r.rop)); }

std::string identity_of(const ir::Instr& r) { return codegen::identity(r.rop, r.repr); }

// A kernel with reductions. Block (x, y) threads: X outputs side by side (x), Y threads per
// output striding over its reduced elements (y). X = 1 (rows: each block reduces one output,
// its threads meeting through warp shuffles) or X = 32 / 256 (columns: the innermost kept
// dim is the contiguous one, so neighbouring threads read neighbouring elements at every
// reduced index). Blocks grid-stride over groups of X outputs; row values are computed by
// every thread of their output. With `split` (one pass, few outputs), block t reduces chunk
// t % chunks of group t / chunks into partials; the last block of a group to finish (counted
// with an atomic) folds them in chunk order, so the result does not depend on timing.
// With `vector` > 1 (rows; one merged reduced dim along which every operand is contiguous or
// broadcast, rows aligned to whole vectors), each thread takes whole vectors of its row first
// (tl_vpass runs `flat`, the kernel over the reduced dim), then the rest element by element.
// (Later passes re-read their rows, mostly from L2: keeping rows in registers or shared memory
// across passes measured slower on an H200, its lower occupancy costing more than the reads.)
std::string reduction_source(const ir::Kernel& k, int rank_kept, int rank_red, int X, bool split,
                             int vector, const ir::Kernel& flat) {
  const ir::Schedule sched = k.schedule();
  const int nmem = std::max(1, memory_operands(k)), ni = std::max<int>(1, int(k.instrs.size()));
  const int nslots = std::max<int>(1, int(k.slots.size())), nparams = std::max<int>(1, int(k.params.size()));
  std::vector<int> acc(k.instrs.size(), -1);
  int nacc = 0;
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op == ir::Op::Reduce) acc[i] = nacc++;
  const std::string M = std::to_string(nmem), RK = std::to_string(rank_kept), RR = std::to_string(rank_red);
  const std::string XS = std::to_string(X), N = std::to_string(std::max(1, nacc));
  std::string src = common_source() + kBlockReduce;
  const std::string q = "static __device__ __forceinline__";
  for (size_t l = 0; l < sched.rows.size(); ++l)
    src += codegen::block_function(k, sched.rows[l], -1, "tl_row" + std::to_string(l), q, true);
  for (size_t p = 0; p < sched.passes.size(); ++p)
    src += codegen::block_function(k, sched.passes[p], -1, "tl_pass" + std::to_string(p), q);
  if (vector > 1) {
    src += kVectorMove;
    for (size_t p = 0; p < sched.passes.size(); ++p)
      src += codegen::block_function(flat, sched.passes[p], 0, "tl_vpass" + std::to_string(p), q);
  }
  src += "struct Args {\n  char* base[" + std::to_string(nslots) + "];\n  int64_t off[" + M +
         "];\n  int64_t kst[" + M + "][" + RK + "];\n  int64_t kshape[" + RK + "];\n  int64_t rst[" + M +
         "][" + RR + "];\n  int64_t rshape[" + RR + "];\n  double cf[" + std::to_string(nparams) +
         "];\n  int64_t ci[" + std::to_string(nparams) + "];\n  int64_t outputs, inner;\n"
         "  double* pf;\n  int64_t* pi;\n  unsigned int* count;\n  int64_t chunks, chunk;\n};\n";
  // v[r], reduction r's value; `across` combines the partials of the threads of an output
  // (every thread of the block takes part; each gets its output's total).
  auto value_of = [&](int r) {
    return std::string(k.instrs[size_t(r)].repr == DType::Int64 ? "ri[" : "rf[") + std::to_string(r) + "]";
  };
  auto across = [&](const ir::Instr& in, const std::string& partial) {
    const bool i64 = in.repr == DType::Int64;
    const std::string op = combine_op(in), sh = i64 ? "shi" : "shf";
    return X == 1 ? "tl_block_reduce<" + op + ">(" + partial + ", " + std::string(i64 ? "int64_t(" : "double(") +
                        identity_of(in) + "), " + sh + ", threadIdx.y, blockDim.y)"
                  : "tl_column_reduce<" + op + ", " + XS + ">(" + partial + ", " + sh + ")";
  };
  auto row = [](size_t l) {
    return "tl_row" + std::to_string(l) + "(a.base, base, nullptr, 1, a.cf, a.ci, rf, ri, nullptr, nullptr);\n";
  };
  src += "extern \"C\" __global__ void tl_kernel(const Args a) {\n"
         "  __shared__ double shf[256];\n  __shared__ int64_t shi[256];\n  __shared__ bool last;\n"
         "  const int64_t zero[" + M + "] = {};\n"
         "  const int64_t groups = (a.outputs + " + XS + " - 1) / " + XS + ";\n"
         "  for (int64_t t = blockIdx.x; t < groups * a.chunks; t += gridDim.x) {\n"
         "    const int64_t g = t / a.chunks, c = t % a.chunks, o = g * " + XS + " + threadIdx.x;\n"
         "    const bool live = o < a.outputs;\n"
         "    const int64_t r_end = c * a.chunk + a.chunk < a.inner ? c * a.chunk + a.chunk : a.inner;\n"
         + unravel("base", "a.off", "live ? o : 0", "a.kshape", "a.kst", rank_kept, M, "    ") +
         "    double rf[" + std::to_string(ni) + "];\n    int64_t ri[" + std::to_string(ni) + "];\n"
         "    if (live) " + row(0);
  for (size_t p = 0; p < sched.passes.size(); ++p) {
    const std::string P = std::to_string(p);
    src += "    {\n      double af[" + N + "];\n      int64_t ai[" + N + "];\n";
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      src += std::string("      ") + (in.repr == DType::Int64 ? "ai[" : "af[") +
             std::to_string(acc[size_t(r)]) + "] = " + identity_of(in) + ";\n";
    }
    // Each thread walks its elements unrolled, with no exit test between the steps of a group:
    // their loads are independent and can all be in flight at once.
    auto unrolled = [&](const std::string& begin, const std::string& end, const std::string& stride,
                        int times, const std::function<std::string(const std::string&)>& step) {
      std::string group;
      for (int u = 0; u < times; ++u) group += step(u ? "r + " + std::to_string(u) + " * " + stride : "r");
      return "        int64_t r = " + begin + ";\n        for (; r + " + std::to_string(times - 1) + " * " +
             stride + " < " + end + "; r += " + std::to_string(times) + " * " + stride + ") {\n" + group +
             "        }\n        for (; r < " + end + "; r += " + stride + ") {\n" + step("r") + "        }\n";
    };
    src += "      if (live) {\n";
    std::string first = "c * a.chunk";
    if (vector > 1) {  // (chunks are whole vectors)
      const std::string V = std::to_string(vector);
      src += "        const int64_t vec_end = c * a.chunk + (r_end - c * a.chunk) / " + V + " * " + V + ";\n";
      src += "        {\n" + unrolled("c * a.chunk + threadIdx.y * " + V, "vec_end", "int64_t(blockDim.y) * " + V, 2,
                                     [&](const std::string& at) {
        const VectorMoves m = vector_moves(k, flat, sched.passes[p], vector, "a.base", [&](const std::string& J) {
          return "base[" + J + "] + (" + at + ") * a.rst[" + J + "][0]";
        }, "          ");
        return "          {\n          char* at[" + M + "];\n" + m.in + "          tl_vpass" + P +
               "(at, zero, nullptr, " + V + ", a.cf, a.ci, rf, ri, af, ai);\n" + m.out + "          }\n";
      }) + "        }\n";
      first = "vec_end";
    }
    src += "        {\n" + unrolled(first + " + threadIdx.y", "r_end", "int64_t(blockDim.y)", 4, [&](const std::string& at) {
      return "          {\n" + unravel("off", "base", at, "a.rshape", "a.rst", rank_red, M, "          ") +
             "          tl_pass" + P + "(a.base, off, nullptr, 1, a.cf, a.ci, rf, ri, af, ai);\n          }\n";
    }) + "        }\n      }\n";
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      const std::string A = in.repr == DType::Int64 ? "ai[" : "af[";
      src += "      " + value_of(r) + " = " + across(in, A + std::to_string(acc[size_t(r)]) + "]") + ";\n";
    }
    src += "    }\n";
    if (!split) {
      src += "    if (live) " + row(p + 1);
      continue;
    }
    // Partials out; the group's last block folds them (its threads striding over the chunks,
    // then combining as in a pass: a fixed order) and finishes the row.
    std::string publish, fold;
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      const bool i64 = in.repr == DType::Int64;
      const std::string op = combine_op(in), a = std::to_string(acc[size_t(r)]);
      const std::string arr = i64 ? "a.pi" : "a.pf", T = i64 ? "int64_t" : "double";
      publish += "      " + arr + "[(o * a.chunks + c) * " + N + " + " + a + "] = " + value_of(r) + ";\n";
      fold += "      {\n        " + T + " v = " + T + "(" + identity_of(in) + ");\n"
              "        for (int64_t q = threadIdx.y; live && q < a.chunks; q += blockDim.y)\n"
              "          v = tl_combine<" + op + ">(v, __ldcg(" + arr + " + (o * a.chunks + q) * " + N + " + " + a + "));\n"
              "        " + value_of(r) + " = " + across(in, "v") + ";\n      }\n";
    }
    src += "    if (threadIdx.y == 0 && live) {\n" + publish + "      __threadfence();\n    }\n"
           "    __syncthreads();\n"
           "    if (threadIdx.x == 0 && threadIdx.y == 0) last = atomicAdd(&a.count[g], 1u) == a.chunks - 1;\n"
           "    __syncthreads();\n    if (last) {\n      __threadfence();\n" + fold +
           "      if (threadIdx.y == 0 && live) " + row(p + 1) +
           "      if (threadIdx.x == 0 && threadIdx.y == 0) a.count[g] = 0;\n    }\n    __syncthreads();\n";
  }
  return src + "  }\n}\n";
}

// The elementwise kernel's source; with `vector` > 1 (one merged dim), `flat` is the kernel
// over that dim, whose strides say which operands are contiguous.
std::string fused_source(const ir::Kernel& k, int rank, int vector, const ir::Kernel& flat) {
  const std::string q = "static __device__ __forceinline__";
  std::string src = common_source() + codegen::block_function(k, all_instrs(k), -1, "tl_block", q);
  if (vector > 1) src += kVectorMove + codegen::block_function(flat, all_instrs(flat), 0, "tl_vector", q);
  return src + kernel_wrapper(k, rank, memory_operands(k), vector, flat);
}

// How a fused kernel is cut over the GPU.
struct Launch {
  std::vector<const Strides*> strides;  // per memory operand
  std::vector<int64_t> offsets;
  MergedDims outer, inner;  // elementwise: every dim outer; reduction: kept / reduced
  bool reduction;
  int vector = 1;    // elementwise: elements per thread step (16-byte accesses) when > 1
  int x = 1, y = 1;  // reductions: outputs per block side by side, threads per output
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

// The kernel over the one merged dim of m, memory operand j reading or writing slot j.
ir::Kernel flattened(const ir::Kernel& k, const MergedDims& m) {
  ir::Kernel f = k;
  f.domain = m.shape;
  f.reduced = {false};
  f.slots.clear();
  for (ir::Instr& in : f.instrs) {
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    in.strides = {m.strides[0][f.slots.size()]};
    in.slot = int(f.slots.size());
    f.slots.push_back(in.dtype);
  }
  return f;
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
    l.vector = vector_width(k, l.outer, nullptr, bindings);
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
  // kernels into chunks of at least 8192 elements per block.
  l.chunk = std::max<int64_t>(1, l.inner_n);
  const int64_t want = int64_t(sms) * 8;
  if (k.passes() == 1 && l.groups < want && l.inner_n > 0) {
    const int64_t least = std::max<int64_t>(1, 8192 / l.x);
    const int64_t per_group = (want + l.groups - 1) / l.groups;
    l.chunk = std::max(least, (l.inner_n + per_group - 1) / per_group);
    l.chunks = (l.inner_n + l.chunk - 1) / l.chunk;
  }
  if (l.x == 1) {
    l.vector = vector_width(k, l.inner, &l.outer, bindings);
    if (l.chunks > 1) {  // whole vectors per chunk
      l.chunk = (l.chunk + l.vector - 1) / l.vector * l.vector;
      l.chunks = (l.inner_n + l.chunk - 1) / l.chunk;
    }
    l.y = int(std::clamp<int64_t>((std::min(l.inner_n, l.chunk) / l.vector + 31) / 32 * 32, 32, 256));
  }
  return l;
}

std::string launch_source(const ir::Kernel& k, const Launch& l) {
  const int rank = int(l.outer.shape.size());
  if (!l.reduction) return fused_source(k, rank, l.vector, l.vector > 1 ? flattened(k, l.outer) : k);
  return reduction_source(k, rank, int(l.inner.shape.size()), l.x, l.chunks > 1, l.vector,
                          l.vector > 1 ? flattened(k, l.inner) : k);
}

// What decides a launch's source: the kernel's structure (its hash covers ops, dtypes,
// slots, levels and stride classes) and the launch's cut. Looked up before any source is
// printed, so a kernel seen before costs no code generation.
std::string launch_key(const ir::Kernel& k, const Launch& l) {
  std::string key = std::to_string(k.hash()) + ":" + std::to_string(l.outer.shape.size()) + ":" +
                    std::to_string(l.inner.shape.size()) + ":" + std::to_string(l.x) + ":" +
                    std::to_string(l.chunks > 1) + ":" + std::to_string(l.vector) + ":";
  const MergedDims& along = l.reduction ? l.inner : l.outer;
  if (l.vector > 1)
    for (int64_t st : along.strides[0]) key += st ? '1' : '0';
  return key;
}

}  // namespace

std::string fused_kernel_source(const ir::Kernel& k, int sms) {
  if (!codegen::printable(k, all_instrs(k), true)) return "";
  return launch_source(k, plan_launch(k, sms, {}));
}

void launch_fused(const Target& t, const ir::Kernel& k, std::span<const BufferPtr> bindings) {
  if (!codegen::printable(k, all_instrs(k), true))
    throw_not_implemented("a fused kernel the CUDA code generator cannot print: " + k.name());
  const Launch l = plan_launch(k, t.sms, bindings);
  if (l.outputs == 0) return;
  const auto& st = l.strides;
  CUfunction fn = nullptr;
  {
    static std::mutex mu;
    static auto* by_key = new std::unordered_map<std::string, CUfunction>();
    const std::string key = std::to_string(t.cc_major * 10 + t.cc_minor) + ":" + launch_key(k, l);
    std::lock_guard lock(mu);
    if (auto it = by_key->find(key); it != by_key->end()) {
      fn = it->second;
    } else {
      const std::string src = launch_source(k, l);
      if (profiler::debug_level() >= 3) std::fprintf(stderr, "[tensorlogic] CUDA source:\n%s\n", src.c_str());
      fn = by_key->emplace(key, kernel_function(t, src, "tl_kernel")).first->second;
    }
  }
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
      check(api().cuMemsetD8(reinterpret_cast<CUdeviceptr>(counts->data()), 0, size_t(l.groups) * 4), "cuMemsetD8");
    }
  }
  args.put(partials ? partials->data() : nullptr);  // pf and pi share the partials (8 bytes each)
  args.put(partials ? partials->data() : nullptr);
  args.put(counts ? counts->data() : static_cast<void*>(t.counters));
  args.put(l.chunks);
  args.put(l.chunk);
  const int64_t blocks = std::min<int64_t>(l.groups * l.chunks, int64_t(t.sms) * 16);
  args.launch(t, fn, unsigned(blocks), 1, 1, unsigned(l.x), unsigned(l.y));
}

}  // namespace tl::cuda
