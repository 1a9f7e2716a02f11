// Portable micro-kernels on 16-byte GCC/clang vector extensions (SSE2 on x86, NEON on arm64).
// Tile shapes fit the register file: 16 registers on x86 (used only without AVX2), 32 on arm64.
#include <cstring>

#include "cpu/gemm_kernels.h"

namespace tl::cpu::gemm_kernels {
namespace {

typedef float F32x4 __attribute__((vector_size(16)));
typedef double F64x2 __attribute__((vector_size(16)));

#if defined(__aarch64__)
constexpr int kRows = 8, kVecs = 3;  // 24 accumulators + 3 B vectors + 1 broadcast
#else
constexpr int kRows = 6, kVecs = 2;  // 12 accumulators + 2 B vectors + 1 broadcast
#endif

// memcpy keeps the loads free of alignment and aliasing assumptions; it compiles to one load.
template <class V, class T>
inline V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

template <class T, class V>
void kernel(int64_t kc, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool accumulate,
            Prefetch prefetch) {
  constexpr int kLanes = sizeof(V) / sizeof(T);
  constexpr int kCols = kVecs * kLanes;
  V acc[kRows][kVecs] = {};
  for (int64_t k = 0; k < kc; ++k) {
    if (k < prefetch.count) __builtin_prefetch(prefetch.lines[k]);
    V bv[kVecs];
    for (int j = 0; j < kVecs; ++j) bv[j] = load<V>(b + j * kLanes);
    for (int i = 0; i < kRows; ++i)
      for (int j = 0; j < kVecs; ++j) acc[i][j] += a[i * lda + k] * bv[j];
    b += kCols;
  }
  for (int i = 0; i < kRows; ++i) {
    T* row = c + i * ldc;
    for (int j = 0; j < kVecs; ++j) {
      V v = acc[i][j];
      if (accumulate) v += load<V>(row + j * kLanes);
      std::memcpy(row + j * kLanes, &v, sizeof(V));
    }
  }
}

const MicroKernel<float> f32_kernel{kernel<float, F32x4>, kRows, kVecs * 4};
const MicroKernel<double> f64_kernel{kernel<double, F64x2>, kRows, kVecs * 2};
}  // namespace

const KernelFamily<float> generic_f32{&f32_kernel, 1};
const KernelFamily<double> generic_f64{&f64_kernel, 1};

}  // namespace tl::cpu::gemm_kernels
