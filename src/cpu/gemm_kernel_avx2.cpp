// AVX2 micro-kernels: 6 rows x (1 or 2 vectors), i.e. up to 6x16 floats or 6x8 doubles.
// In the wider, 12 accumulators + 2 B vectors + 1 broadcast A value fit the 16 ymm registers.
#include "cpu/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TL_TARGET __attribute__((target("avx2,fma"), always_inline)) inline

namespace tl::cpu::gemm_kernels {
namespace {

TL_TARGET __m256 load(const float* p) { return _mm256_loadu_ps(p); }
TL_TARGET __m256d load(const double* p) { return _mm256_loadu_pd(p); }
TL_TARGET void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
TL_TARGET void store(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
TL_TARGET __m256 broadcast(const float* p) { return _mm256_set1_ps(*p); }
TL_TARGET __m256d broadcast(const double* p) { return _mm256_set1_pd(*p); }
TL_TARGET __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
TL_TARGET __m256d fma(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
TL_TARGET __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
TL_TARGET __m256d add(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }

template <class T, int MR, int NV>
__attribute__((target("avx2,fma"))) void kernel(int64_t kc, const T* a, int64_t lda, const T* b,
                                                T* c, int64_t ldc, bool accumulate,
                                                Prefetch prefetch) {
  using V = decltype(load(b));
  constexpr int kLanes = 32 / sizeof(T);
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    // The C tile is only touched after the k loop; fetch its cache lines meanwhile.
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + j * kLanes), _MM_HINT_T0);
      acc[i][j] = V{};
    }
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * kLanes - 1), _MM_HINT_T0);
  }

  for (int64_t k = 0; k < kc; ++k) {
    if (k < prefetch.count) _mm_prefetch(static_cast<const char*>(prefetch.lines[k]), _MM_HINT_T0);
    V bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = load(b + j * kLanes);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      V av = broadcast(a + i * lda + k);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = fma(av, bv[j], acc[i][j]);
    }
    b += NV * kLanes;
  }

#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    T* row = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      V v = acc[i][j];
      if (accumulate) v = add(v, load(row + j * kLanes));
      store(row + j * kLanes, v);
    }
  }
}

const MicroKernel<float> f32_kernels[] = {{kernel<float, 6, 1>, 6, 8},
                                          {kernel<float, 6, 2>, 6, 16}};
const MicroKernel<double> f64_kernels[] = {{kernel<double, 6, 1>, 6, 4},
                                           {kernel<double, 6, 2>, 6, 8}};
}  // namespace

const KernelFamily<float> avx2_f32{f32_kernels, 2};
const KernelFamily<double> avx2_f64{f64_kernels, 2};

}  // namespace tl::cpu::gemm_kernels

#endif  // __x86_64__
