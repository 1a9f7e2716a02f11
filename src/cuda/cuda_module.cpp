#include "cuda/cuda_module.h"

#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "core/codegen_c.h"
#include "core/embedded_sources.h"
#include "core/error.h"
#include "core/kernel_cache.h"
#include "cuda/cuda_stream.h"

namespace tl::cuda {
namespace {

// NVRTC has no standard library: fixed-width types and the math scalar_math.h calls (as
// std::f, renamed tl_math::f) map onto CUDA's device math functions.
// (nvcc, which checks these sources in the tests, has the standard headers.)
constexpr const char* kPrelude = R"(
#ifdef __CUDACC_RTC__
typedef signed char int8_t; typedef unsigned char uint8_t; typedef unsigned short uint16_t;
typedef int int32_t; typedef unsigned uint32_t;
typedef long long int64_t; typedef unsigned long long uint64_t;
#define INFINITY __int_as_float(0x7f800000)
#define INT64_MIN (-9223372036854775807LL - 1)
#define INT64_MAX 9223372036854775807LL
#else
#include <cstdint>
#include <cmath>
#endif
#define TL_HD __device__
#define TL_RESTRICT __restrict__
namespace tl_math {
#define TL_F1(name) __device__ inline float name(float x) { return ::name##f(x); } \
                    __device__ inline double name(double x) { return ::name(x); }
TL_F1(ceil) TL_F1(cos) TL_F1(erf) TL_F1(erfc) TL_F1(exp) TL_F1(expm1) TL_F1(floor) TL_F1(log)
TL_F1(log1p) TL_F1(sin) TL_F1(sqrt) TL_F1(tan) TL_F1(tanh) TL_F1(trunc)
#undef TL_F1
__device__ inline float nearbyint(float x) { return ::rintf(x); }
__device__ inline double nearbyint(double x) { return ::rint(x); }
__device__ inline float fmod(float a, float b) { return ::fmodf(a, b); }
__device__ inline double fmod(double a, double b) { return ::fmod(a, b); }
__device__ inline float pow(float a, float b) { return ::powf(a, b); }
__device__ inline float fma(float a, float b, float c) { return ::fmaf(a, b, c); }
__device__ inline double fma(double a, double b, double c) { return ::fma(a, b, c); }
__device__ inline double pow(double a, double b) { return ::pow(a, b); }
template <class T> __device__ inline bool isfinite(T x) { return x - x == T(0); }
template <class T> __device__ inline bool isinf(T x) { return x == x && !isfinite(x); }
}  // namespace tl_math
// Storage types of float16 / bfloat16: converted to float on load, rounded to nearest even
// on store in one instruction (bfloat16 before sm_80: by hand). A NaN stays a quiet NaN, the
// canonical one (as PyTorch's CUDA conversions give; the CPU keeps the payload's top bits):
// keeping the bits would take 4 more instructions a rounding, a third of a fused bias + gelu.
struct tl_f16 {
  unsigned short bits;
  tl_f16() = default;
  __device__ explicit tl_f16(float f) { asm("cvt.rn.f16.f32 %0, %1;" : "=h"(bits) : "f"(f)); }
  __device__ operator float() const {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(bits));
    return f;
  }
};
struct tl_bf16 {
  unsigned short bits;
  tl_bf16() = default;
  __device__ explicit tl_bf16(float f) {
#if __CUDA_ARCH__ >= 800
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(bits) : "f"(f));
#else
    const unsigned u = __float_as_uint(f);
    bits = (u & 0x7fffffffu) > 0x7f800000u ? (unsigned short)((u >> 16) | 0x40u)
                                           : (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
#endif
  }
  __device__ operator float() const { return __uint_as_float(unsigned(bits) << 16); }
};
)";

// gelu over float (codegen_c.h's formula) with the approximate reciprocal and 2^x, one
// instruction each: the matmul epilogue gelu(x @ w + b) spends its time in gelu.
constexpr const char* kGeluPrims = R"(
#define TL_GELU_QUAL __device__ inline
__device__ inline float tl_rcp_approx(float x) { float y; asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
__device__ inline float tl_exp2_approx(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
#define TL_RCP(x) tl_rcp_approx(x)
#define TL_EXP2(x) tl_exp2_approx(x)
namespace tl::sm {  // (the float overloads gelu calls: never double)
__device__ inline float fma(float a, float b, float c) { return ::fmaf(a, b, c); }
__device__ inline float fabs(float x) { return ::fabsf(x); }
}  // namespace tl::sm
)";

// float rounded to bfloat16 and read back as float (a bias add before an activation, as
// PyTorch's separate kernels round it): one cvt packing it into the upper half of a zero word.
constexpr const char* kCastBf16 = R"(
#if __CUDA_ARCH__ >= 800
template <> __device__ inline float tl_cast<tl_bf16, float, float>(float a) {
  unsigned w;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(w) : "f"(a), "f"(0.0f));
  return __uint_as_float(w);
}
#endif
)";

// off[j] += the offsets of linear index `lin` over shape[R] (innermost last) with operand
// j's strides st[j][d]; the outermost index needs no division. With Narrow (the per-element
// unravels of elementwise, reduction and gather kernels), indices below 2^32 take 32-bit
// division: 64-bit division is a software routine of tens of instructions. Elsewhere (once
// per batch or row) the second path would cost registers for nothing (a GEMV spilled).
constexpr const char* kUnravel = R"(
template <int R, int M, bool Narrow = false>
__device__ inline void tl_unravel(int64_t lin, const int64_t (&shape)[R], const int64_t (&st)[M][R], int64_t (&off)[M]) {
  for (int d = R - 1; d >= 0; --d) {
    int64_t i = lin;
    if (d > 0) {
      if (Narrow && uint64_t(lin) <= 0xffffffffu && uint64_t(shape[d]) <= 0xffffffffu) {
        const unsigned l = unsigned(lin), s = unsigned(shape[d]);
        i = l % s;
        lin = l / s;
      } else {
        i = lin % shape[d];
        lin /= shape[d];
      }
    }
    for (int j = 0; j < M; ++j) off[j] += i * st[j][d];
  }
}
)";

struct Cache {
  std::mutex mu;
  std::unordered_map<std::string, CUfunction> functions;  // by arch, entry and source
};

Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

// --fmad=false: no multiply-add fused across two ops, so fused kernels give the values of
// the ops run one by one (matmul asks for fma explicitly).
constexpr const char* kOptions[] = {"--std=c++17", "-default-device", "--fmad=false"};

void check_rtc(nvrtcResult r, const char* what) {
  if (r != 0) throw_device(std::string(what) + " failed (NVRTC error " + std::to_string(r) + ")");
}

std::string nvrtc_version() {
  int major = 0, minor = 0;
  api().nvrtcVersion(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string compile(const std::string& arch, const std::string& src) {
  const Api& a = api();
  nvrtcProgram prog = nullptr;
  check_rtc(a.nvrtcCreateProgram(&prog, src.c_str(), "tl_kernel.cu", 0, nullptr, nullptr), "nvrtcCreateProgram");
  const std::string arch_opt = "--gpu-architecture=" + arch;
  const char* opts[] = {arch_opt.c_str(), kOptions[0], kOptions[1], kOptions[2]};
  const nvrtcResult r = a.nvrtcCompileProgram(prog, 4, opts);
  size_t log_size = 0;
  a.nvrtcGetProgramLogSize(prog, &log_size);
  std::string log(log_size, '\0');
  if (log_size) a.nvrtcGetProgramLog(prog, log.data());
  if (r != 0) {
    a.nvrtcDestroyProgram(&prog);
    std::fprintf(stderr, "[tensorlogic] CUDA kernel failed to compile:\n%s\n--- source ---\n%s\n", log.c_str(), src.c_str());
    throw_device("NVRTC could not compile a kernel (source and log printed above): " + log.substr(0, 400));
  }
  size_t size = 0;
  check_rtc(a.nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
  std::string cubin(size, '\0');
  check_rtc(a.nvrtcGetCUBIN(prog, cubin.data()), "nvrtcGetCUBIN");
  a.nvrtcDestroyProgram(&prog);
  return cubin;
}

CUfunction load(const Target& t, const std::string& cubin, const char* entry) {
  CUmodule module = nullptr;  // kept loaded for the process
  CUfunction fn = nullptr;
  check(api().cuCtxSetCurrent(t.ctx), "cuCtxSetCurrent");
  if (api().cuModuleLoadData(&module, cubin.data()) != CUDA_SUCCESS) return nullptr;
  if (api().cuModuleGetFunction(&fn, module, entry) != CUDA_SUCCESS) return nullptr;
  return fn;
}

}  // namespace

std::string header_for_nvrtc(const char* header) {
  std::string s = header;
  for (const char* line : {"#pragma once", "#include <cmath>", "#include <cstdint>"})
    if (auto at = s.find(line); at != std::string::npos) s.erase(at, std::strlen(line));
  for (size_t at = 0; (at = s.find("std::", at)) != std::string::npos;) s.replace(at, 5, "tl_math::");
  return s;
}

const std::string& common_source() {
  static const std::string s = std::string(kPrelude) + header_for_nvrtc(embedded::kScalarMath) + kGeluPrims +
                               "namespace tl::sm {\n" + codegen::gelu_float_source() + "}  // namespace tl::sm\n" +
                               "using namespace tl::sm;\n" +
                               codegen::cast_prelude() + kCastBf16 + kUnravel;
  return s;
}

CUfunction kernel_function(const Target& t, const std::string& source, const char* entry, bool arch_specific) {
  const std::string arch =
      "sm_" + std::to_string(t.cc_major) + std::to_string(t.cc_minor) + (arch_specific ? "a" : "");
  const std::string key = arch + "\n" + entry + "\n" + source;
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  if (auto it = c.functions.find(key); it != c.functions.end()) return it->second;
  // On disk: named by the source, arch, NVRTC version and options; a file that does not
  // load (corrupt, truncated) is rebuilt.
  const auto path = kernel_cache::file_for("cuda", key + "\nnvrtc " + nvrtc_version() + kOptions[0] + kOptions[1] + kOptions[2], ".cubin");
  CUfunction fn = nullptr;
  if (auto cubin = kernel_cache::read(path)) fn = load(t, *cubin, entry);
  if (!fn) {
    const std::string cubin = compile(arch, source);
    kernel_cache::write(path, cubin);
    fn = load(t, cubin, entry);
    if (!fn) throw_device(std::string("could not load the compiled CUDA kernel ") + entry);
  }
  c.functions.emplace(key, fn);
  return fn;
}

CUfunction kernel_function_by_key(const Target& t, const std::string& key,
                                  const std::function<std::string()>& source, const char* entry,
                                  bool arch_specific) {
  static std::mutex mu;  // (kernel_function takes the cache's lock, never this one)
  static auto* known = new std::unordered_map<std::string, CUfunction>();
  const std::string full =
      std::to_string(t.cc_major * 10 + t.cc_minor) + (arch_specific ? "a:" : ":") + entry + ":" + key;
  std::lock_guard lock(mu);
  if (auto it = known->find(full); it != known->end()) return it->second;
  return known->emplace(full, kernel_function(t, source(), entry, arch_specific)).first->second;
}

CUstream Target::stream() const { return current_stream(device).handle(); }
unsigned* Target::counters() const { return current_stream(device).counters(); }

void ArgPack::tensors(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) put(t->buffer()->data());
  for (const Tensor* t : ts) put(t->offset());
}

void ArgPack::dims(const MergedDims& m, size_t operands) {
  for (size_t j = 0; j < operands; ++j)
    for (size_t d = 0; d < m.shape.size(); ++d) put(j < m.strides[d].size() ? m.strides[d][j] : int64_t(0));
  for (int64_t e : m.shape) put(e);
}

void ArgPack::launch(const Target& t, CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned threads,
                     unsigned threads_y, unsigned smem) const {
  void* params[] = {const_cast<uint64_t*>(words_.data())};
  check(api().cuCtxSetCurrent(t.ctx), "cuCtxSetCurrent");
  check(api().cuLaunchKernel(fn, gx, gy, gz, threads, threads_y, 1, smem, t.stream(), params, nullptr), "cuLaunchKernel");
}

}  // namespace tl::cuda
