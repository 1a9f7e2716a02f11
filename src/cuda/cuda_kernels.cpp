#include "cuda/cuda_kernels.h"

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <mutex>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "core/codegen_c.h"
#include "core/embedded_sources.h"
#include "core/error.h"
#include "core/profiler.h"

namespace tl::cuda {
namespace {

// NVRTC has no standard library: fixed-width types and the math scalar_math.h calls (as
// std::f, renamed tl_math::f) map onto CUDA's device math functions.
constexpr const char* kPrelude = R"(
typedef signed char int8_t; typedef unsigned char uint8_t; typedef int int32_t;
typedef long long int64_t; typedef unsigned long long uint64_t;
#define TL_HD __device__
#define TL_RESTRICT __restrict__
namespace tl_math {
#define TL_F1(name) __device__ inline float name(float x) { return ::name##f(x); } \
                    __device__ inline double name(double x) { return ::name(x); }
TL_F1(ceil) TL_F1(cos) TL_F1(erf) TL_F1(exp) TL_F1(expm1) TL_F1(floor) TL_F1(log)
TL_F1(log1p) TL_F1(sin) TL_F1(sqrt) TL_F1(tan) TL_F1(tanh) TL_F1(trunc)
#undef TL_F1
__device__ inline float nearbyint(float x) { return ::rintf(x); }
__device__ inline double nearbyint(double x) { return ::rint(x); }
__device__ inline float fmod(float a, float b) { return ::fmodf(a, b); }
__device__ inline double fmod(double a, double b) { return ::fmod(a, b); }
__device__ inline float pow(float a, float b) { return ::powf(a, b); }
__device__ inline double pow(double a, double b) { return ::pow(a, b); }
template <class T> __device__ inline bool isfinite(T x) { return x - x == T(0); }
template <class T> __device__ inline bool isinf(T x) { return x == x && !isfinite(x); }
}  // namespace tl_math
#define INFINITY __int_as_float(0x7f800000)
#define INT64_MIN (-9223372036854775807LL - 1)
#define INT64_MAX 9223372036854775807LL
)";

// Reductions: each block reduces one output; its threads' partials meet through warp
// shuffles and shared memory. OP: 0 sum, 1 max, 2 min (NaN-propagating, as on the CPU).
constexpr const char* kBlockReduce = R"(
template <int OP, class T> __device__ inline T tl_combine(T a, T b) {
  return OP == 0 ? a + b : OP == 1 ? tl::sm::tl_max(a, b) : tl::sm::tl_min(a, b);
}
template <int OP, class T> __device__ T tl_block_reduce(T v, T identity, T* shared) {
  for (int s = 16; s > 0; s >>= 1) v = tl_combine<OP>(v, __shfl_down_sync(0xffffffffu, v, s));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
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
)";

std::string scalar_math_for_nvrtc() {
  std::string s = embedded::kScalarMath;
  for (const char* line : {"#pragma once", "#include <cmath>", "#include <cstdint>"})
    if (auto at = s.find(line); at != std::string::npos) s.erase(at, std::strlen(line));
  for (size_t at = 0; (at = s.find("std::", at)) != std::string::npos;) s.replace(at, 5, "tl_math::");
  return s;
}

// Source declaring int64_t out[m] = from[j] plus the offsets of linear index `index`
// unravelled over `shape` (rank dims, innermost last) with operand j's strides[j][d].
std::string unravel(const std::string& out, const std::string& from, const std::string& index,
                    const std::string& shape, const std::string& strides, int rank, const std::string& m,
                    const std::string& indent) {
  return indent + "int64_t " + out + "[" + m + "];\n" +
         indent + "for (int j = 0; j < " + m + "; ++j) " + out + "[j] = " + from + "[j];\n" +
         indent + "for (int64_t rest = " + index + ", d = " + std::to_string(rank) + " - 1; d >= 0; --d) {\n" +
         indent + "  const int64_t i = rest % " + shape + "[d];\n" +
         indent + "  rest /= " + shape + "[d];\n" +
         indent + "  for (int j = 0; j < " + m + "; ++j) " + out + "[j] += i * " + strides + "[j][d];\n" +
         indent + "}\n";
}

// Per-thread element loop: the domain (merged to `rank` dims) unravelled per element.
std::string kernel_wrapper(const ir::Kernel& k, int rank, int nmem) {
  const int nslots = std::max<int>(1, int(k.slots.size())), nparams = std::max<int>(1, int(k.params.size()));
  const std::string R = std::to_string(rank), M = std::to_string(std::max(1, nmem));
  return "struct Args {\n  char* base[" + std::to_string(nslots) + "];\n  int64_t off[" + M +
         "];\n  int64_t st[" + M + "][" + R + "];\n  int64_t shape[" + R + "];\n  double cf[" +
         std::to_string(nparams) + "];\n  int64_t ci[" + std::to_string(nparams) +
         "];\n  int64_t total;\n};\n"
         "extern \"C\" __global__ void tl_kernel(const Args a) {\n"
         "  const int64_t step = int64_t(gridDim.x) * blockDim.x;\n"
         "  for (int64_t lin = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; lin < a.total; lin += step) {\n" +
         (rank == 1  // one merged dim (any contiguous kernel): no division per element
              ? "    int64_t off[" + M + "];\n"
                "    for (int j = 0; j < " + M + "; ++j) off[j] = a.off[j] + lin * a.st[j][0];\n"
              : unravel("off", "a.off", "lin", "a.shape", "a.st", rank, M, "    ")) +
         "    tl_block(a.base, off, nullptr, 1, a.cf, a.ci, nullptr, nullptr, nullptr, nullptr);\n"
         "  }\n}\n";
}

std::vector<int> all_instrs(const ir::Kernel& k) {
  std::vector<int> v;
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op != ir::Op::Const) v.push_back(int(i));
  return v;
}

struct Compiled {
  CUmodule module = nullptr;
  CUfunction fn = nullptr;
};

struct Cache {
  std::mutex mu;
  std::unordered_map<std::string, Compiled> kernels;  // by arch + source
};

Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

void check_rtc(nvrtcResult r, const char* what) {
  if (r != 0) throw_device(std::string(what) + " failed (NVRTC error " + std::to_string(r) + ")");
}

Compiled compile(const Target& t, const std::string& src) {
  const Api& a = api();
  nvrtcProgram prog = nullptr;
  check_rtc(a.nvrtcCreateProgram(&prog, src.c_str(), "tl_kernel.cu", 0, nullptr, nullptr), "nvrtcCreateProgram");
  const std::string arch = "--gpu-architecture=sm_" + std::to_string(t.cc_major) + std::to_string(t.cc_minor);
  const char* opts[] = {arch.c_str(), "--std=c++17", "-default-device"};
  const nvrtcResult r = a.nvrtcCompileProgram(prog, 3, opts);
  size_t log_size = 0;
  a.nvrtcGetProgramLogSize(prog, &log_size);
  std::string log(log_size, '\0');
  if (log_size) a.nvrtcGetProgramLog(prog, log.data());
  if (r != 0) {
    a.nvrtcDestroyProgram(&prog);
    std::fprintf(stderr, "[tensorlogic] CUDA kernel failed to compile:\n%s\n--- source ---\n%s\n", log.c_str(), src.c_str());
    throw_device("NVRTC could not compile a fused kernel (source and log printed above): " + log.substr(0, 400));
  }
  size_t size = 0;
  check_rtc(a.nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
  std::vector<char> cubin(size);
  check_rtc(a.nvrtcGetCUBIN(prog, cubin.data()), "nvrtcGetCUBIN");
  a.nvrtcDestroyProgram(&prog);
  Compiled c;
  check(a.cuCtxSetCurrent(t.ctx), "cuCtxSetCurrent");
  check(a.cuModuleLoadData(&c.module, cubin.data()), "cuModuleLoadData");
  check(a.cuModuleGetFunction(&c.fn, c.module, "tl_kernel"), "cuModuleGetFunction");
  return c;
}


std::string common_source() {
  return std::string(kPrelude) + scalar_math_for_nvrtc() + "using namespace tl::sm;\n" +
         codegen::cast_prelude();
}

int memory_operands(const ir::Kernel& k) {
  int nmem = 0;
  for (const ir::Instr& i : k.instrs) nmem += i.op == ir::Op::Load || i.op == ir::Op::Store;
  return nmem;
}

// tl_combine's OP for a reduction: 0 sum, 1 max, 2 min.
const char* combine_op(const ir::Instr& r) {
  return r.rop == ReduceOp::Sum ? "0" : r.rop == ReduceOp::Max ? "1" : "2";
}

std::string identity_of(const ir::Instr& r) {
  const bool i64 = r.repr == DType::Int64;
  if (r.rop == ReduceOp::Sum) return "0";
  if (r.rop == ReduceOp::Max) return i64 ? "INT64_MIN" : "-INFINITY";
  return i64 ? "INT64_MAX" : "INFINITY";
}

// A kernel with reductions: one block per output (grid-stride over outputs), its threads
// striding over the reduced elements; row values computed by every thread of the block.
// With `split` (one pass, few outputs), block t reduces chunk t % chunks of output
// t / chunks into partials; the last block of an output to finish (counted with an atomic)
// folds its partials in chunk order, so the result does not depend on timing.
// With `per_thread` (the innermost axis is kept and outputs are many), each thread reduces
// one output alone: neighbouring threads read neighbouring elements at every reduced index.
std::string reduction_source(const ir::Kernel& k, int rank_kept, int rank_red, bool split,
                             bool per_thread) {
  const ir::Schedule sched = k.schedule();
  const int nmem = std::max(1, memory_operands(k)), ni = std::max<int>(1, int(k.instrs.size()));
  const int nslots = std::max<int>(1, int(k.slots.size())), nparams = std::max<int>(1, int(k.params.size()));
  std::vector<int> acc(k.instrs.size(), -1);
  int nacc = 0;
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op == ir::Op::Reduce) acc[i] = nacc++;
  const std::string M = std::to_string(nmem), RK = std::to_string(rank_kept), RR = std::to_string(rank_red);
  std::string src = common_source() + kBlockReduce;
  const std::string q = "static __device__ __forceinline__";
  for (size_t l = 0; l < sched.rows.size(); ++l)
    src += codegen::block_function(k, sched.rows[l], -1, "tl_row" + std::to_string(l), q, true);
  for (size_t p = 0; p < sched.passes.size(); ++p)
    src += codegen::block_function(k, sched.passes[p], -1, "tl_pass" + std::to_string(p), q);
  src += "struct Args {\n  char* base[" + std::to_string(nslots) + "];\n  int64_t off[" + M +
         "];\n  int64_t kst[" + M + "][" + RK + "];\n  int64_t kshape[" + RK + "];\n  int64_t rst[" + M +
         "][" + RR + "];\n  int64_t rshape[" + RR + "];\n  double cf[" + std::to_string(nparams) +
         "];\n  int64_t ci[" + std::to_string(nparams) + "];\n  int64_t outputs, inner;\n"
         "  double* pf;\n  int64_t* pi;\n  unsigned int* count;\n  int64_t chunks, chunk;\n};\n";
  src += "extern \"C\" __global__ void tl_kernel(const Args a) {\n"
         "  __shared__ double shf[33];\n  __shared__ int64_t shi[33];\n  __shared__ bool last;\n"
         + std::string(per_thread
             ? "  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < a.outputs; t += int64_t(gridDim.x) * blockDim.x) {\n"
             : "  for (int64_t t = blockIdx.x; t < a.outputs * a.chunks; t += gridDim.x) {\n") +
         "    const int64_t o = t / a.chunks, c = t % a.chunks;\n"
         "    const int64_t r_end = c * a.chunk + a.chunk < a.inner ? c * a.chunk + a.chunk : a.inner;\n"
         + unravel("base", "a.off", "o", "a.kshape", "a.kst", rank_kept, M, "    ") +
         "    double rf[" + std::to_string(ni) + "];\n    int64_t ri[" + std::to_string(ni) + "];\n"
         "    tl_row0(a.base, base, nullptr, 1, a.cf, a.ci, rf, ri, nullptr, nullptr);\n";
  for (size_t p = 0; p < sched.passes.size(); ++p) {
    const std::string P = std::to_string(p);
    src += "    {\n      double af[" + std::to_string(std::max(1, nacc)) + "];\n      int64_t ai[" +
           std::to_string(std::max(1, nacc)) + "];\n";
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      src += std::string("      ") + (in.repr == DType::Int64 ? "ai[" : "af[") +
             std::to_string(acc[size_t(r)]) + "] = " + identity_of(in) + ";\n";
    }
    src += std::string(per_thread ? "      for (int64_t r = 0; r < r_end; ++r) {\n"
                                  : "      for (int64_t r = c * a.chunk + threadIdx.x; r < r_end; r += blockDim.x) {\n") +
           unravel("off", "base", "r", "a.rshape", "a.rst", rank_red, M, "        ") +
           "        tl_pass" + P + "(a.base, off, nullptr, 1, a.cf, a.ci, rf, ri, af, ai);\n      }\n";
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      const bool i64 = in.repr == DType::Int64;
      const std::string op = combine_op(in);
      const std::string a = std::to_string(acc[size_t(r)]), id = std::to_string(r);
      const std::string ident = identity_of(in);
      if (per_thread)
        src += i64 ? "      ri[" + id + "] = ai[" + a + "];\n" : "      rf[" + id + "] = af[" + a + "];\n";
      else
        src += i64 ? "      ri[" + id + "] = tl_block_reduce<" + op + ">(ai[" + a + "], int64_t(" + ident + "), shi);\n"
                   : "      rf[" + id + "] = tl_block_reduce<" + op + ">(af[" + a + "], double(" + ident + "), shf);\n";
    }
    src += "    }\n";
    const std::string next = "tl_row" + std::to_string(p + 1) + "(a.base, base, nullptr, 1, a.cf, a.ci, rf, ri, nullptr, nullptr);\n";
    if (!split) {
      src += "    " + next;
      continue;
    }
    // Partials out; the output's last block folds them and finishes the row.
    const std::string N = std::to_string(std::max(1, nacc));
    std::string publish, fold;
    for (int r : sched.passes[p]) {
      const ir::Instr& in = k.instrs[size_t(r)];
      if (in.op != ir::Op::Reduce) continue;
      const bool i64 = in.repr == DType::Int64;
      const std::string op = combine_op(in);
      const std::string a = std::to_string(acc[size_t(r)]), id = std::to_string(r);
      const std::string arr = i64 ? "a.pi" : "a.pf", T = i64 ? "int64_t" : "double", V = i64 ? "ri" : "rf";
      publish += "      " + arr + "[(o * a.chunks + c) * " + N + " + " + a + "] = " + V + "[" + id + "];\n";
      fold += "      { " + T + " v = " + T + "(" + identity_of(in) + ");\n"
              "        for (int64_t q = 0; q < a.chunks; ++q) v = tl_combine<" + op + ">(v, ((volatile " + T +
              "*)" + arr + ")[(o * a.chunks + q) * " + N + " + " + a + "]);\n"
              "        " + V + "[" + id + "] = v; }\n";
    }
    src += "    if (threadIdx.x == 0) {\n" + publish +
           "      __threadfence();\n      last = atomicAdd(&a.count[o], 1u) == a.chunks - 1;\n    }\n"
           "    __syncthreads();\n    if (last && threadIdx.x == 0) {\n      __threadfence();\n" + fold +
           "      a.count[o] = 0;\n      " + next + "    }\n    __syncthreads();\n";
  }
  return src + "  }\n}\n";
}

}  // namespace

std::string fused_source(const ir::Kernel& k, int rank) {
  return common_source() +
         codegen::block_function(k, all_instrs(k), -1, "tl_block", "static __device__ __forceinline__") +
         kernel_wrapper(k, rank, memory_operands(k));
}

void launch_fused(const Target& t, const ir::Kernel& k, std::span<const BufferPtr> bindings) {
  if (!codegen::printable(k, all_instrs(k)))
    throw_not_implemented("float16/bfloat16 kernels, and reductions other than sum, max and min, "
                          "do not run on CUDA yet (the CUDA backend is a preview)");
  std::vector<const Strides*> st;
  std::vector<int64_t> offsets;
  for (const ir::Instr& i : k.instrs)
    if (i.op == ir::Op::Load || i.op == ir::Op::Store) st.push_back(&i.strides), offsets.push_back(i.offset);
  std::vector<int> kept, reduced;
  for (size_t d = 0; d < k.domain.size(); ++d) (k.reduced[d] ? reduced : kept).push_back(int(d));
  const bool reduction = k.has_reduction();
  // Elementwise: every dim walked per element. Reduction: kept dims per block, reduced dims
  // per thread.
  const MergedDims outer = merge_dims(k.domain, reduction ? kept : [&] {
    std::vector<int> all(k.domain.size());
    std::iota(all.begin(), all.end(), 0);
    return all;
  }(), st);
  const MergedDims inner = merge_dims(k.domain, reduced, st);
  const int64_t outputs = numel(outer.shape), inner_n = numel(inner.shape);
  if (outputs == 0) return;
  // Few outputs of one pass: split each output's reduced range over several blocks.
  const bool split = reduction && k.passes() == 1 && outputs < t.sms && inner_n >= (1 << 16);
  const int64_t chunk = !reduction ? 0 : split ? std::max<int64_t>(1 << 14, (inner_n * outputs + t.sms * 4 - 1) / (t.sms * 4))
                                               : std::max<int64_t>(1, inner_n);
  const int64_t chunks = reduction ? std::max<int64_t>(1, (inner_n + chunk - 1) / chunk) : 1;
  // (Only with enough outputs to fill the GPU: each thread walks its whole reduced range.)
  const bool per_thread = reduction && !split && !k.reduced.back() && outputs >= int64_t(t.sms) * 1024;
  const std::string src = reduction ? reduction_source(k, int(outer.shape.size()), int(inner.shape.size()),
                                                       split, per_thread)
                                    : fused_source(k, int(outer.shape.size()));
  if (profiler::debug_level() >= 3) std::fprintf(stderr, "[tensorlogic] CUDA source:\n%s\n", src.c_str());

  Compiled fn;
  {
    Cache& c = cache();
    std::lock_guard lock(c.mu);
    const std::string key = std::to_string(t.cc_major * 10 + t.cc_minor) + "\n" + src;
    auto it = c.kernels.find(key);
    if (it == c.kernels.end()) it = c.kernels.emplace(key, compile(t, src)).first;
    fn = it->second;
  }
  // Args, as the kernel declares it: every field is 8 bytes wide.
  const size_t nmem = std::max<size_t>(1, st.size()), nparams = std::max<size_t>(1, k.params.size());
  std::vector<uint64_t> args;
  auto put = [&](auto v) { uint64_t w; std::memcpy(&w, &v, 8); args.push_back(w); };
  auto put_dims = [&](const MergedDims& m) {
    for (size_t j = 0; j < nmem; ++j)
      for (size_t d = 0; d < m.shape.size(); ++d) put(j < st.size() ? m.strides[d][j] : int64_t(0));
    for (int64_t e : m.shape) put(e);
  };
  for (size_t s = 0; s < std::max<size_t>(1, bindings.size()); ++s)
    put(s < bindings.size() ? bindings[s]->data() : nullptr);
  for (size_t j = 0; j < nmem; ++j) put(j < offsets.size() ? offsets[j] : int64_t(0));
  put_dims(outer);
  if (reduction) put_dims(inner);
  std::vector<double> cf(nparams, 0.0);
  std::vector<int64_t> ci(nparams, 0);
  for (const ir::Instr& i : k.instrs) {
    if (i.op != ir::Op::Const) continue;
    const Scalar s = scalar_as(k.params[size_t(i.slot)], i.dtype);  // as a stored 0-d tensor holds it
    cf[size_t(i.slot)] = s.f;
    ci[size_t(i.slot)] = s.i;
  }
  for (double v : cf) put(v);
  for (int64_t v : ci) put(v);
  put(outputs);
  BufferPtr partials, counts;  // kept alive until the kernel is queued (the pool is stream-ordered)
  if (reduction) {
    put(inner_n);
    int nacc = 0;
    for (const ir::Instr& i : k.instrs) nacc += i.op == ir::Op::Reduce;
    if (split) {
      partials = t.scratch(size_t(outputs * chunks * std::max(1, nacc)) * 8);
      counts = t.scratch(size_t(outputs) * 4);
      check(api().cuCtxSetCurrent(t.ctx), "cuCtxSetCurrent");
      check(api().cuMemsetD8(reinterpret_cast<CUdeviceptr>(counts->data()), 0, size_t(outputs) * 4), "cuMemsetD8");
    }
    put(partials ? partials->data() : nullptr);  // pf and pi share the partials (8 bytes each)
    put(partials ? partials->data() : nullptr);
    put(counts ? counts->data() : nullptr);
    put(chunks);
    put(chunk);
  }

  unsigned threads = 256;
  int64_t blocks = std::min<int64_t>((outputs + threads - 1) / threads, int64_t(t.sms) * 32);
  if (reduction && !per_thread) {  // a block per output (or chunk); threads as elements (in warps)
    threads = unsigned(std::clamp<int64_t>((std::min(inner_n, chunk) + 31) / 32 * 32, 32, 256));
    blocks = std::min<int64_t>(outputs * chunks, int64_t(t.sms) * 16);
  }
  void* params[] = {args.data()};
  check(api().cuCtxSetCurrent(t.ctx), "cuCtxSetCurrent");
  check(api().cuLaunchKernel(fn.fn, unsigned(blocks), 1, 1, threads, 1, 1, 0, nullptr, params, nullptr),
        "cuLaunchKernel");
}

}  // namespace tl::cuda
