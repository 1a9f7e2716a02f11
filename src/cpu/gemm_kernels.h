#pragma once
// Micro-kernels of the blocked GEMM in gemm.cpp. Each computes one mr x nr tile of C from
// a packed A panel and a packed B panel:
//   a: mr rows of kc values (row-major, so packing a row-major A is a plain copy);
//   b: kc rows of nr values (row k of the B panel, loaded as whole vectors);
//   c: row stride ldc, unit column stride; accumulate == false overwrites the tile;
//   prefetch: cache lines to prefetch while the kernel runs, one per k step (the source of
//   the panel the driver packs next, so that packing reads cache instead of memory).
// The x86 kernels are compiled with per-function target attributes, so callers must check
// the CPU (gemm.cpp does, once) before using them.
#include <cstdint>

namespace tl::cpu::gemm_kernels {

struct Prefetch {
  const void* const* lines;
  int64_t count;  // lines past kc are not fetched
};

template <class T>
struct MicroKernel {
  void (*run)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, bool accumulate,
              Prefetch prefetch);
  int mr, nr;
};

// Upper bound of mr * nr over all kernels, for edge-tile scratch space.
constexpr int kMaxTile = 6 * 64;

extern const MicroKernel<float> generic_f32;
extern const MicroKernel<double> generic_f64;

#if defined(__x86_64__)
extern const MicroKernel<float> avx512_f32;
extern const MicroKernel<double> avx512_f64;
extern const MicroKernel<float> avx2_f32;
extern const MicroKernel<double> avx2_f64;
#endif

}  // namespace tl::cpu::gemm_kernels
