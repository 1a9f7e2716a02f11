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

#define TL_GEMM_ISA "avx2,fma"
#define TL_GEMM_VECTOR_BYTES 32
#include "cpu/gemm_kernel_body.h"
#undef TL_GEMM_ISA
#undef TL_GEMM_VECTOR_BYTES

const MicroKernel<float> f32_kernels[] = {{kernel<float, 6, 1>, 6, 8},
                                          {kernel<float, 6, 2>, 6, 16}};
const MicroKernel<double> f64_kernels[] = {{kernel<double, 6, 1>, 6, 4},
                                           {kernel<double, 6, 2>, 6, 8}};
}  // namespace

const KernelFamily<float> avx2_f32{f32_kernels, 2};
const KernelFamily<double> avx2_f64{f64_kernels, 2};

}  // namespace tl::cpu::gemm_kernels

#endif  // __x86_64__
