#pragma once
// Micro-kernels of the blocked GEMM in gemm.cpp. Each computes one mr x nr tile of C from
// a packed A panel and a packed B panel:
//   a: mr rows of kc values, row i at a + i * lda (a packed panel has lda = kc; a row-major
//      f32/f64 A needs no packing and is read in place);
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
  void (*run)(int64_t kc, const T* a, int64_t lda, const T* b, T* c, int64_t ldc,
              bool accumulate, Prefetch prefetch);
  int mr, nr;
};

// Kernels of one instruction set, by growing nr. Products with few columns take the
// narrowest that covers them, so that less of each tile is padding.
template <class T>
struct KernelFamily {
  const MicroKernel<T>* kernels;
  int count;
  const MicroKernel<T>& for_columns(int64_t n) const {
    for (int i = 0; i + 1 < count; ++i)
      if (kernels[i].nr >= n) return kernels[i];
    return kernels[count - 1];
  }
};

// Upper bound of mr * nr over all kernels, for edge-tile scratch space.
constexpr int kMaxTile = 6 * 64;

extern const KernelFamily<float> generic_f32;
extern const KernelFamily<double> generic_f64;

#if defined(__x86_64__)
extern const KernelFamily<float> avx512_f32;
extern const KernelFamily<double> avx512_f64;
extern const KernelFamily<float> avx2_f32;
extern const KernelFamily<double> avx2_f64;
#endif

}  // namespace tl::cpu::gemm_kernels
