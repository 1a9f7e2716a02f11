#pragma once
#include <cstdint>
#include <functional>
#include <utility>
#include "core/dtype.h"
namespace tl::cpu {
// One strided matrix operand: element (i, j) is at data + (offset + i*rs + j*cs) * itemsize.
// Strides are in elements and may be any value (including 0 for broadcast, or negative).
struct GemmMatrix { void* data; int64_t rs, cs; };
// For b in [0, batch): C_b = A_b @ B_b with A_b (M x K), B_b (K x N), C_b (M x N), where
// operand X_b starts at X.data + x_offsets[b] elements. dtype is one of Float32, Float64,
// Float16, BFloat16 for all three operands; f16/bf16 are accumulated in f32 and rounded once
// on store. C is overwritten (no beta). K == 0 writes zeros. Threaded over the pool.
// Rewrites C = A @ B as C^T = B^T @ A^T: swaps M and N, the operands (with their batch
// offsets) and every stride pair. Both sides describe the same memory.
inline void transpose_product(int64_t& M, int64_t& N, GemmMatrix& A, const int64_t*& a_offsets,
                              GemmMatrix& B, const int64_t*& b_offsets, GemmMatrix& C) {
  std::swap(M, N);
  std::swap(A, B);
  std::swap(a_offsets, b_offsets);
  std::swap(A.rs, A.cs);
  std::swap(B.rs, B.cs);
  std::swap(C.rs, C.cs);
}
// on_block, when given, is called (on the thread that computed it) with each finished block
// of C: batch index, first row, first column, rows, columns. C must then be row-major.
using GemmBlockFn = std::function<void(int64_t b, int64_t i0, int64_t j0, int64_t m, int64_t n)>;
void gemm(DType dtype, int64_t M, int64_t N, int64_t K, int64_t batch,
          GemmMatrix A, const int64_t* a_offsets, GemmMatrix B, const int64_t* b_offsets,
          GemmMatrix C, const int64_t* c_offsets, const GemmBlockFn* on_block = nullptr);
}
