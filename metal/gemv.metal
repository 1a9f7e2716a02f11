// GEMV-style matrix multiplication C = op(A) * op(B) for skinny products: at most 16 rows
// of C (kGemvRows; the host swaps the operands of a product with N <= 16, writing C
// transposed through ldc/ldc_col). Operands, batching and MatmulParams as in matmul.metal
// (op(A) is M x K: A row-major, or (TA) A^T where A is stored K x M; op(B) is K x N: B
// row-major, or (TB) B^T where B is stored N x K; read in place, never copied).
//
// gemv_<t>_<ab>: with TB (each column of op(B) contiguous) a SIMD-group computes a column:
// its lanes split K and meet in simd_sum; launch (ceil(N / 4), 1, batches) x 128. Without TB
// a thread computes a column, the threadgroup reading rows of B side by side; launch
// (ceil(N / 128), 1, batches) x 128.
//
// A generated matmul-with-epilogue kernel of a GEMV plan includes everything above the line
// that starts the kernels (src/metal/msl_matmul.cpp looks for it).
#include <metal_stdlib>
using namespace metal;

#include "matmul_common.h"

constant constexpr uint kGemvRows = 16;

template <typename T, bool TA>
float gemv_a(device const T* A, uint lda, uint m, uint k) {
  return float(TA ? A[ulong(k) * lda + m] : A[ulong(m) * lda + k]);
}

template <typename T, bool TA, bool TB, typename Out>
void gemv_rows(device const T* A, device const T* B, constant MatmulParams& p, Out out,
               uint3 group, uint lid, uint simd_group, uint lane) {
  A += long(group.z) * p.batch_a;
  B += long(group.z) * p.batch_b;
  out.begin(p.z0 + group.z);
  float acc[kGemvRows];
  for (uint m = 0; m < kGemvRows; ++m) {
    acc[m] = 0.0f;
  }
  if (TB) {
    const uint n = group.x * (kMatmulThreads / 32) + simd_group;
    if (n >= p.N) {
      return;  // the whole SIMD-group: no lane waits in simd_sum for it
    }
    device const T* col = B + ulong(n) * p.ldb;
    for (uint k = lane; k < p.K; k += 32) {
      const float b = float(col[k]);
      for (uint m = 0; m < kGemvRows; ++m) {
        if (m < p.M) {
          acc[m] = fma(gemv_a<T, TA>(A, p.lda, m, k), b, acc[m]);
        }
      }
    }
    for (uint m = 0; m < kGemvRows; ++m) {
      if (m < p.M) {
        const float total = simd_sum(acc[m]);
        if (lane == 0) {
          out.put(m, n, total);
        }
      }
    }
  } else {
    const uint n = group.x * kMatmulThreads + lid;
    if (n >= p.N) {
      return;
    }
    for (uint k = 0; k < p.K; ++k) {
      const float b = float(B[ulong(k) * p.ldb + n]);
      for (uint m = 0; m < kGemvRows; ++m) {
        if (m < p.M) {
          acc[m] = fma(gemv_a<T, TA>(A, p.lda, m, k), b, acc[m]);
        }
      }
    }
    for (uint m = 0; m < kGemvRows; ++m) {
      if (m < p.M) {
        out.put(m, n, acc[m]);
      }
    }
  }
}

// ---- kernels ----

template <typename T, bool TA, bool TB>
kernel void gemv(device const T* A [[buffer(0)]], device const T* B [[buffer(1)]],
                 device T* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
                 uint3 group [[threadgroup_position_in_grid]],
                 uint lid [[thread_index_in_threadgroup]],
                 uint simd_group [[simdgroup_index_in_threadgroup]],
                 uint lane [[thread_index_in_simdgroup]]) {
  PlainOut<T> out = {C + long(group.z) * p.batch_c, p.ldc, p.ldc_col};
  gemv_rows<T, TA, TB>(A, B, p, out, group, lid, simd_group, lane);
}

// Instantiations (written out: the emulator's parser runs before the C preprocessor).
template [[host_name("gemv_f32_nn")]] kernel void gemv<float, false, false>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_f32_nt")]] kernel void gemv<float, false, true>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_f32_tn")]] kernel void gemv<float, true, false>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_f32_tt")]] kernel void gemv<float, true, true>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_f16_nn")]] kernel void gemv<half, false, false>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_f16_nt")]] kernel void gemv<half, false, true>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_f16_tn")]] kernel void gemv<half, true, false>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_f16_tt")]] kernel void gemv<half, true, true>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_bf16_nn")]] kernel void gemv<bfloat, false, false>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_bf16_nt")]] kernel void gemv<bfloat, false, true>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_bf16_tn")]] kernel void gemv<bfloat, true, false>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_bf16_tt")]] kernel void gemv<bfloat, true, true>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]);
