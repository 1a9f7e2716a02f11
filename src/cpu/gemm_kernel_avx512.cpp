// AVX-512 micro-kernels: 6 rows x (1 to 4 vectors), i.e. up to 6x64 floats or 6x32 doubles.
// In the widest, 24 accumulators + 4 B vectors + 1 broadcast A value fit the 32 zmm
// registers, and each k step is 10 loads for 24 FMAs. On Zen 4 that shape measured a few
// percent faster than 14x32, 12x32 and 8x48 (fewer loads per FMA, smaller A panel in L1).
#include "cpu/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TL_TARGET __attribute__((target("avx512f,fma"), always_inline)) inline

namespace tl::cpu::gemm_kernels {
namespace {

TL_TARGET __m512 load(const float* p) { return _mm512_loadu_ps(p); }
TL_TARGET __m512d load(const double* p) { return _mm512_loadu_pd(p); }
TL_TARGET void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
TL_TARGET void store(double* p, __m512d v) { _mm512_storeu_pd(p, v); }
TL_TARGET __m512 broadcast(const float* p) { return _mm512_set1_ps(*p); }
TL_TARGET __m512d broadcast(const double* p) { return _mm512_set1_pd(*p); }
TL_TARGET __m512 fma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
TL_TARGET __m512d fma(__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); }
TL_TARGET __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
TL_TARGET __m512d add(__m512d a, __m512d b) { return _mm512_add_pd(a, b); }

#define TL_GEMM_ISA "avx512f,fma"
#define TL_GEMM_VECTOR_BYTES 64
#include "cpu/gemm_kernel_body.h"
#undef TL_GEMM_ISA
#undef TL_GEMM_VECTOR_BYTES

const MicroKernel<float> f32_kernels[] = {{kernel<float, 6, 1>, 6, 16},
                                          {kernel<float, 6, 2>, 6, 32},
                                          {kernel<float, 6, 3>, 6, 48},
                                          {kernel<float, 6, 4>, 6, 64}};
const MicroKernel<double> f64_kernels[] = {{kernel<double, 6, 1>, 6, 8},
                                           {kernel<double, 6, 2>, 6, 16},
                                           {kernel<double, 6, 3>, 6, 24},
                                           {kernel<double, 6, 4>, 6, 32}};
}  // namespace

const KernelFamily<float> avx512_f32{f32_kernels, 4};
const KernelFamily<double> avx512_f64{f64_kernels, 4};

}  // namespace tl::cpu::gemm_kernels

#endif  // __x86_64__
