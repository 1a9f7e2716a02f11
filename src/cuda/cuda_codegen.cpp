#include "cuda/cuda_codegen.h"

#include <algorithm>
#include <functional>

#include "core/codegen_c.h"
#include "cuda/cuda_module.h"

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
// Rows of a warp, X a block (X divides 32): thread (x, y) holds a partial of row x; the lanes
// of a row fold theirs by shuffles, then the warps' in warp order; every thread gets its row's.
template <int OP, int X, class T> __device__ T tl_rows_reduce(T v, T* shared) {
  for (int s = 16; s >= X; s >>= 1) v = tl_combine<OP>(v, __shfl_xor_sync(0xffffffffu, v, s));
  const int tid = threadIdx.y * X + threadIdx.x, warps = (blockDim.y * X + 31) >> 5;
  if ((tid & 31) < X) shared[(tid >> 5) * X + threadIdx.x] = v;
  __syncthreads();
  v = shared[threadIdx.x];
  for (int w = 1; w < warps; ++w) v = tl_combine<OP>(v, shared[w * X + threadIdx.x]);
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
         ", true>(" + index + ", " + shape + ", " + strides + ", " + out + ");\n";
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
// A load that is the data's last use: evict-first, so it leaves the cache lines that later
// passes of other rows still need.
template <int N> __device__ __forceinline__ void tl_move_last(void* dst, const void* src) {
  *(typename tl_word<N>::type*)dst = __ldcs((const typename tl_word<N>::type*)src);
}
)";

// A vector step over `instrs` of `flat` (the kernel over one dim, memory operand j on slot j):
// `at[j]` points at operand j's V elements, moved into registers with one access of up to 16
// bytes when contiguous (loads before the step, stores after), at memory when broadcast.
// offset(J, unit) is the element offset of operand J's vector, unit saying whether J is
// contiguous (stride 1) rather than broadcast (stride 0); `base` is the kernel's slot array.
// `reads` (per instruction; empty: all Plain) says how each load is read; the row cache's
// fills go to `fill`.
struct VectorMoves {
  std::string in, out, fill;
};
enum class Read {
  Plain,
  Last,   // the data's last read: evict-first
  Fill,   // the data's last read, kept in the row cache c<J>[u] for later passes
  Cached  // from the row cache
};
// Per instruction: its memory operand's index, -1 for the others.
std::vector<int> memory_index(const ir::Kernel& k) {
  std::vector<int> mem(k.instrs.size(), -1);
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op == ir::Op::Load || k.instrs[i].op == ir::Op::Store) mem[i] = int(j++);
  return mem;
}

template <class Offset>
VectorMoves vector_moves(const ir::Kernel& k, const ir::Kernel& flat, const std::vector<int>& instrs, int vector,
                         const std::string& base, Offset&& offset, const std::string& indent,
                         const std::vector<Read>& reads = {}) {
  const std::vector<int> mem = memory_index(k);
  VectorMoves m;
  const std::string V = std::to_string(vector);
  for (int i : instrs) {
    const ir::Instr& in = flat.instrs[size_t(i)];
    if (mem[size_t(i)] < 0) continue;
    const std::string J = std::to_string(mem[size_t(i)]), T = codegen::ctype(in.dtype);
    const std::string global = "((" + T + "*)" + base + "[" + std::to_string(k.instrs[size_t(i)].slot) + "] + " +
                               offset(J, in.strides[0] != 0) + ")";
    if (in.strides[0] == 0) {
      m.in += indent + "at[" + J + "] = (char*)" + global + ";\n";
      continue;
    }
    const Read read = size_t(i) < reads.size() ? reads[size_t(i)] : Read::Plain;
    const bool cache = read == Read::Fill || read == Read::Cached;
    const std::string regs = cache ? "c" + J + "[u]" : "r" + J;
    if (!cache) m.in += indent + T + " r" + J + "[" + V + "];\n";
    m.in += indent + "at[" + J + "] = (char*)" + regs + ";\n";
    if (in.op == ir::Op::Load && read != Read::Cached)
      (read == Read::Fill ? m.fill : m.in) += indent + (read == Read::Plain ? "tl_move<sizeof(" : "tl_move_last<sizeof(") +
                                               regs + ")>(" + regs + ", " + global + ");\n";
    else if (in.op == ir::Op::Store) m.out += indent + "tl_move<sizeof(r" + J + ")>(" + global + ", r" + J + ");\n";
  }
  return m;
}

// Per-thread element loop: the domain (merged to `rank` dims) unravelled per element. With
// `vector` > 1 (every operand contiguous or broadcast along the innermost merged dim, the
// contiguous ones aligned to whole vectors), each thread first takes whole vectors (tl_vector
// runs `flat`, the kernel along that dim, on them), then the tail goes element by element.
// Over several dims (rows of a length that whole vectors divide, e.g. a bias add) a vector's
// offsets are unravelled once for its V elements.
std::string kernel_wrapper(const ir::Kernel& k, int rank, int nmem, int vector, const ir::Kernel& flat) {
  const std::string M = std::to_string(std::max(1, nmem)), V = std::to_string(vector);
  std::string body = "extern \"C\" __global__ void tl_kernel(const Args a) {\n"
                     "  const int64_t step = int64_t(gridDim.x) * blockDim.x;\n"
                     "  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;\n";
  std::string tail_start = "first";
  if (vector > 1) {
    const VectorMoves m = vector_moves(k, flat, printed_instrs(k), vector, "a.base", [&](const std::string& J, bool unit) {
      return rank > 1 ? "off[" + J + "]" : "a.off[" + J + "]" + (unit ? " + q * " + V : "");
    }, "    ");
    body += "  const int64_t vectors = a.total / " + V + ";\n"
            "  const int64_t zero[" + M + "] = {};\n"
            "  for (int64_t q = first; q < vectors; q += step) {\n" +
            (rank > 1 ? unravel("off", "a.off", "q * " + V, "a.shape", "a.st", rank, M, "    ") : "") +
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

// The passes of `s` that make instruction i.
std::vector<size_t> passes_of(const ir::Schedule& s, int i) {
  std::vector<size_t> out;
  for (size_t p = 0; p < s.passes.size(); ++p)
    if (std::find(s.passes[p].begin(), s.passes[p].end(), i) != s.passes[p].end()) out.push_back(p);
  return out;
}

// row_cache_keeps, in a kernel with the cache (flat: the kernel along the row).
bool row_cached(const ir::Kernel& k, const ir::Kernel& flat, const ir::Schedule& s, int i, int cache) {
  return cache > 0 && row_cache_keeps(k, s, i, flat.instrs[size_t(i)].strides[0]);
}

// How pass p reads its loads: the first of several passes fills the row cache and later ones
// read it; without the cache, a load an earlier pass made too is the row's last read when no
// later pass makes it.
std::vector<Read> pass_reads(const ir::Kernel& k, const ir::Kernel& flat, const ir::Schedule& s, size_t p, int cache) {
  std::vector<Read> reads(k.instrs.size(), Read::Plain);
  for (int i : s.passes[p]) {
    if (k.instrs[size_t(i)].op != ir::Op::Load) continue;
    const std::vector<size_t> in = passes_of(s, i);
    if (row_cached(k, flat, s, i, cache)) reads[size_t(i)] = in.front() == p ? Read::Fill : Read::Cached;
    else if (in.front() < p && in.back() == p) reads[size_t(i)] = Read::Last;
  }
  return reads;
}

// The row cache's registers: c<J>[cache][vector] for each load it keeps.
std::string row_cache_declarations(const ir::Kernel& k, const ir::Kernel& flat, const ir::Schedule& s, int cache,
                                   int vector) {
  const std::vector<int> mem = memory_index(k);
  std::string out;
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (row_cached(k, flat, s, int(i), cache))
      out += std::string("    ") + codegen::ctype(flat.instrs[i].dtype) + " c" + std::to_string(mem[i]) + "[" + std::to_string(cache) +
             "][" + std::to_string(vector) + "];\n";
  return out;
}

// tl_combine's OP for a reduction.
std::string combine_op(const ir::Instr& r) { return std::to_string(int(r.rop)); }

std::string identity_of(const ir::Instr& r) { return codegen::identity(r.rop, r.repr); }

}  // namespace

bool row_cache_keeps(const ir::Kernel& k, const ir::Schedule& s, int i, int64_t along) {
  return k.instrs[size_t(i)].op == ir::Op::Load && along != 0 && passes_of(s, i).size() > 1;
}

std::string elementwise_args(const ir::Kernel& k, int rank, int nmem) {
  const int nslots = std::max<int>(1, int(k.slots.size())), nparams = std::max<int>(1, int(k.params.size()));
  const std::string R = std::to_string(rank), M = std::to_string(std::max(1, nmem));
  return "struct Args {\n  char* base[" + std::to_string(nslots) + "];\n  int64_t off[" + M +
         "];\n  int64_t st[" + M + "][" + R + "];\n  int64_t shape[" + R + "];\n  double cf[" +
         std::to_string(nparams) + "];\n  int64_t ci[" + std::to_string(nparams) +
         "];\n  int64_t total;\n};\n";
}

int memory_operands(const ir::Kernel& k) {
  int nmem = 0;
  for (const ir::Instr& i : k.instrs) nmem += i.op == ir::Op::Load || i.op == ir::Op::Store;
  return nmem;
}

// A thread's partials accumulate in float when no reduction computes in double: a thread
// folds few elements (the block reduce, in double, takes the rest), as the CPU's float lanes
// do, and converting each element to double cost softmax 6% on an H200.
static bool float_accumulation(const ir::Kernel& k) {
  for (const ir::Instr& in : k.instrs)
    if (in.op == ir::Op::Reduce && in.repr == DType::Float64) return false;
  return true;
}

std::vector<int> printed_instrs(const ir::Kernel& k) {
  std::vector<int> v;
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op != ir::Op::Const) v.push_back(int(i));
  return v;
}

// A kernel with reductions. Block (x, y) threads: X outputs side by side (x), Y threads per
// output striding over its reduced elements (y). X = 1 (rows: each block reduces one output,
// its threads meeting through warp shuffles), X = 32 / 256 (columns: the innermost kept
// dim is the contiguous one, so neighbouring threads read neighbouring elements at every
// reduced index) or, with `cache`, X rows of a warp each. Blocks grid-stride over groups of
// X outputs; row values are computed by every thread of their output. With `split` (one
// pass, few outputs), block t reduces chunk t % chunks of group t / chunks into partials; the last block of a group to finish (counted
// with an atomic) folds them in chunk order, so the result does not depend on timing.
// With `vector` > 1 (rows; one merged reduced dim along which every operand is contiguous or
// broadcast, rows aligned to whole vectors), each thread takes whole vectors of its row first
// (tl_vpass runs `flat`, the kernel over the reduced dim), then the rest element by element.
// With `cache` > 0 (rows of at most blockDim.y * vector * cache elements, blocks of
// `threads`), thread y's vectors y, y + blockDim.y, ... of each load that several passes make
// stay in registers (c<J>[u], u < cache) from the first pass that reads them: later passes
// read no memory for them. Without it, later passes re-read their rows, mostly from L2.
std::string reduction_kernel_source(const ir::Kernel& k, int rank_kept, int rank_red, int X, bool split,
                                    int vector, int cache, int threads, const ir::Kernel& flat) {
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
  const std::string q = "static __device__ __forceinline__", acc_type = float_accumulation(k) ? "float" : "double";
  for (size_t l = 0; l < sched.rows.size(); ++l)
    src += codegen::block_function(k, sched.rows[l], -1, "tl_row" + std::to_string(l), q, true);
  for (size_t p = 0; p < sched.passes.size(); ++p)
    src += codegen::block_function(k, sched.passes[p], -1, "tl_pass" + std::to_string(p), q, false, acc_type);
  if (vector > 1) {
    src += kVectorMove;
    for (size_t p = 0; p < sched.passes.size(); ++p)
      src += codegen::block_function(flat, sched.passes[p], 0, "tl_vpass" + std::to_string(p), q, false, acc_type);
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
                  : std::string(cache > 0 ? "tl_rows_reduce<" : "tl_column_reduce<") + op + ", " + XS + ">(" + partial +
                        ", " + sh + ")";
  };
  auto row = [](size_t l) {
    return "tl_row" + std::to_string(l) + "(a.base, base, nullptr, 1, a.cf, a.ci, rf, ri, nullptr, nullptr);\n";
  };
  // The cache's kernels at 64 registers a thread: blocks of up to 1024 threads fit, and 256
  // threads a row keep four rows an SM in flight.
  const std::string bounds = "__launch_bounds__(" + std::to_string(threads) + ", " + std::to_string(1024 / threads) + ") ";
  src += "extern \"C\" __global__ void " + (cache > 0 ? bounds : "") +
         "tl_kernel(const Args a) {\n"
         "  __shared__ double shf[256];\n  __shared__ int64_t shi[256];\n  __shared__ bool last;\n"
         "  const int64_t zero[" + M + "] = {};\n"
         "  const int64_t groups = (a.outputs + " + XS + " - 1) / " + XS + ";\n"
         "  for (int64_t t = blockIdx.x; t < groups * a.chunks; t += gridDim.x) {\n"
         // (Unsplit: no 64-bit division by a.chunks, a slow call per row.)
         + std::string(split ? "    const int64_t g = t / a.chunks, c = t % a.chunks, "
                             : "    const int64_t g = t, c = 0, ") +
         "o = g * " + XS + " + threadIdx.x;\n"
         "    const bool live = o < a.outputs;\n"
         "    const int64_t r_end = c * a.chunk + a.chunk < a.inner ? c * a.chunk + a.chunk : a.inner;\n"
         + unravel("base", "a.off", "live ? o : 0", "a.kshape", "a.kst", rank_kept, M, "    ") +
         "    double rf[" + std::to_string(ni) + "];\n    int64_t ri[" + std::to_string(ni) + "];\n" +
         row_cache_declarations(k, flat, sched, cache, vector) + "    if (live) " + row(0);
  for (size_t p = 0; p < sched.passes.size(); ++p) {
    const std::string P = std::to_string(p);
    src += "    {\n      " + acc_type + " af[" + N + "];\n      int64_t ai[" + N + "];\n";
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      src += std::string("      ") + (in.repr == DType::Int64 ? "ai[" : "af[") +
             std::to_string(acc[size_t(r)]) + "] = " + identity_of(in) + ";\n";
    }
    // Scalar steps: each thread walks its elements in groups of 4 with no exit test between
    // the steps of a group, so their loads are in flight together.
    auto unrolled = [&](const std::string& begin, const std::string& end, const std::string& stride,
                        const std::function<std::string(const std::string&)>& step) {
      std::string group;
      for (int u = 0; u < 4; ++u) group += step(u ? "r + " + std::to_string(u) + " * " + stride : "r");
      return "        int64_t r = " + begin + ";\n        for (; r + 3 * " + stride + " < " + end + "; r += 4 * " +
             stride + ") {\n" + group + "        }\n        for (; r < " + end + "; r += " + stride + ") {\n" +
             step("r") + "        }\n";
    };
    src += "      if (live) {\n";
    std::string first = "c * a.chunk";
    if (vector > 1) {  // (chunks are whole vectors)
      const std::string V = std::to_string(vector);
      src += "        const int64_t vec_end = c * a.chunk + (r_end - c * a.chunk) / " + V + " * " + V + ";\n";
      const VectorMoves m = vector_moves(k, flat, sched.passes[p], vector, "a.base", [&](const std::string& J, bool unit) {
        return "base[" + J + "]" + (unit ? " + r" : "");
      }, "          ", pass_reads(k, flat, sched, p, cache));
      // (Vector steps in pairs through the compiler's unroll: written out by hand, the pairs
      // made the full sum 25% slower on an H200.)
      const std::string step = "          char* at[" + M + "];\n" + m.in + "          tl_vpass" + P +
                               "(at, zero, nullptr, " + V + ", a.cf, a.ci, rf, ri, af, ai);\n" + m.out;
      // Cached: the fills all go out before any step waits on one (unsplit: the row starts at 0).
      const auto each_vector = [&](const std::string& body) {
        return "#pragma unroll\n        for (int u = 0; u < " + std::to_string(cache) + "; ++u) {\n"
               "          const int64_t r = (threadIdx.y + int64_t(u) * blockDim.y) * " + V + ";\n"
               "          if (r < vec_end) {\n" + body + "          }\n        }\n";
      };
      if (cache > 0) src += (m.fill.empty() ? "" : each_vector(m.fill)) + each_vector(step);
      else
        src += "#pragma unroll 2\n        for (int64_t r = c * a.chunk + threadIdx.y * " + V + "; r < vec_end; r += int64_t(blockDim.y) * " +
               V + ") {\n" + step + "        }\n";
      first = "vec_end";
    }
    src += "        {\n" + unrolled(first + " + threadIdx.y", "r_end", "int64_t(blockDim.y)", [&](const std::string& at) {
      return "          {\n" + unravel("off", "base", at, "a.rshape", "a.rst", rank_red, M, "          ") +
             "          tl_pass" + P + "(a.base, off, nullptr, 1, a.cf, a.ci, rf, ri, af, ai);\n          }\n";
    }) + "        }\n      }\n";
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      const std::string A = in.repr == DType::Int64 ? "ai[" : "double(af[";
      src += "      " + value_of(r) + " = " + across(in, A + std::to_string(acc[size_t(r)]) + (in.repr == DType::Int64 ? "]" : "])")) + ";\n";
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

std::string elementwise_source(const ir::Kernel& k, int rank, int vector, const ir::Kernel& flat) {
  const std::string q = "static __device__ __forceinline__";
  std::string src = common_source() + codegen::block_function(k, printed_instrs(k), -1, "tl_block", q);
  if (vector > 1) src += kVectorMove + codegen::block_function(flat, printed_instrs(flat), 0, "tl_vector", q);
  return src + kernel_wrapper(k, rank, memory_operands(k), vector, flat);
}

const char* vector_move_source() { return kVectorMove; }

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

}  // namespace tl::cuda
