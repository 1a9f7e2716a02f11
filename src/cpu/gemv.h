#pragma once
#include "cpu/gemm.h"

namespace tl::cpu {

// Matrix-vector products (N == 1 or M == 1) in float32/float64, with the gemm() contract.
// They are memory-bound, so streaming over the matrix beats packing it into GEMM tiles.
// Returns false (and does nothing) when the shape, dtype or layout needs the general GEMM.
bool gemv(DType dtype, int64_t M, int64_t N, int64_t K, int64_t batch, GemmMatrix A,
          const int64_t* a_offsets, GemmMatrix B, const int64_t* b_offsets, GemmMatrix C,
          const int64_t* c_offsets);

}  // namespace tl::cpu
