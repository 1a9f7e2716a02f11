// Tiled matrix multiplication C = op(A) * op(B) with simdgroup matrices.
//
// op(A) is M x K: A row-major with leading dimension lda, or (TA) A^T where A is stored
// K x M. op(B) is K x N: B row-major, or (TB) B^T where B is stored N x K. Transposed
// operands are read in place, never copied.
//
// A threadgroup of 128 threads (4 SIMD-groups as 2 x 2) computes a 32 x 32 block of C,
// stepping through K 16 at a time: all threads stage the A and B blocks into threadgroup
// memory (zero outside the matrices, so any M, N, K works), reading along the rows of the
// stored matrix so consecutive threads read consecutive addresses; then each SIMD-group
// multiplies its 16 x 16 quarter as 2 x 2 simdgroup_float8x8 accumulators. A transposed
// operand stays transposed in threadgroup memory and is loaded with simdgroup_load's
// transpose flag. Tiles hold float whatever T is, so half and bfloat inputs accumulate in
// float. Batched: threadgroup z multiplies the matrices batch_a/b/c elements further on.
// Launch: threadgroups (ceil(N / 32), ceil(M / 32), batches) of (128, 1, 1) threads.
#include <metal_stdlib>
using namespace metal;

struct MatmulParams {
  uint M;
  uint N;
  uint K;
  uint lda;
  uint ldb;
  uint ldc;
  long batch_a;  // elements between consecutive matrices along grid z
  long batch_b;
  long batch_c;
};

constant constexpr uint kTile = 32;     // rows and columns of C per threadgroup
constant constexpr uint kStep = 16;     // K per stage
constant constexpr uint kPad = 4;       // spreads tile rows over memory banks
constant constexpr uint kThreads = 128;
constant constexpr uint kStageFloats = kTile * (kStep + kPad);  // a staged A or B block
static_assert(kStageFloats >= kStep * (kTile + kPad), "room for the transposed layout too");

// Copies the rows x cols block at (row0, col0) of a row-major matrix with leading dimension
// ld into `tile` (leading dimension rows_ld), as float, with zeros outside row_end x col_end.
template <typename T, uint rows, uint cols>
void stage(threadgroup float* tile, device const T* src, uint ld, uint row0, uint col0,
           uint row_end, uint col_end, uint lid) {
  for (uint e = lid; e < rows * cols; e += kThreads) {
    uint r = e / cols;
    uint c = e % cols;
    bool inside = row0 + r < row_end && col0 + c < col_end;
    tile[r * (cols + kPad) + c] = inside ? float(src[ulong(row0 + r) * ld + col0 + c]) : 0.0f;
  }
}

template <typename T, bool TA, bool TB>
kernel void matmul(device const T* A [[buffer(0)]], device const T* B [[buffer(1)]],
                   device T* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
                   uint3 group [[threadgroup_position_in_grid]],
                   uint lid [[thread_index_in_threadgroup]],
                   uint simd_group [[simdgroup_index_in_threadgroup]]) {
  A += long(group.z) * p.batch_a;
  B += long(group.z) * p.batch_b;
  C += long(group.z) * p.batch_c;
  // op(A)'s 32 x 16 block, stored [m][k] or (TA) [k][m]; op(B)'s 16 x 32 block, stored
  // [k][n] or (TB) [n][k].
  threadgroup float As[kStageFloats];
  threadgroup float Bs[kStageFloats];
  threadgroup float Cs[kTile * (kTile + kPad)];

  const uint m0 = group.y * kTile;
  const uint n0 = group.x * kTile;
  const uint sm = (simd_group / 2) * 16;  // this SIMD-group's quarter of the block
  const uint sn = (simd_group % 2) * 16;
  const uint a_ld = TA ? kTile + kPad : kStep + kPad;
  const uint b_ld = TB ? kStep + kPad : kTile + kPad;

  simdgroup_float8x8 acc[2][2];
  for (uint i = 0; i < 2; ++i) {
    for (uint j = 0; j < 2; ++j) {
      acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }

  for (uint k0 = 0; k0 < p.K; k0 += kStep) {
    threadgroup_barrier(mem_flags::mem_threadgroup);  // the previous step's reads are done
    if (TA) {
      stage<T, kStep, kTile>(As, A, p.lda, k0, m0, p.K, p.M, lid);
    } else {
      stage<T, kTile, kStep>(As, A, p.lda, m0, k0, p.M, p.K, lid);
    }
    if (TB) {
      stage<T, kTile, kStep>(Bs, B, p.ldb, n0, k0, p.N, p.K, lid);
    } else {
      stage<T, kStep, kTile>(Bs, B, p.ldb, k0, n0, p.K, p.N, lid);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);

    for (uint kk = 0; kk < kStep; kk += 8) {
      simdgroup_float8x8 a[2];
      simdgroup_float8x8 b[2];
      for (uint i = 0; i < 2; ++i) {
        uint m = sm + 8 * i;
        simdgroup_load(a[i], TA ? &As[kk * a_ld + m] : &As[m * a_ld + kk], a_ld, ulong2(0, 0), TA);
      }
      for (uint j = 0; j < 2; ++j) {
        uint n = sn + 8 * j;
        simdgroup_load(b[j], TB ? &Bs[n * b_ld + kk] : &Bs[kk * b_ld + n], b_ld, ulong2(0, 0), TB);
      }
      for (uint i = 0; i < 2; ++i) {
        for (uint j = 0; j < 2; ++j) {
          simdgroup_multiply_accumulate(acc[i][j], a[i], b[j], acc[i][j]);
        }
      }
    }
  }

  // Through threadgroup memory, to convert to T and to write only inside C.
  for (uint i = 0; i < 2; ++i) {
    for (uint j = 0; j < 2; ++j) {
      simdgroup_store(acc[i][j], &Cs[(sm + 8 * i) * (kTile + kPad) + sn + 8 * j], kTile + kPad);
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint e = lid; e < kTile * kTile; e += kThreads) {
    uint r = e / kTile;
    uint c = e % kTile;
    if (m0 + r < p.M && n0 + c < p.N) {
      C[ulong(m0 + r) * p.ldc + n0 + c] = T(Cs[r * (kTile + kPad) + c]);
    }
  }
}

template [[host_name("matmul_f32_nn")]] kernel void matmul<float, false, false>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]],
    device float* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_nt")]] kernel void matmul<float, false, true>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]],
    device float* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tn")]] kernel void matmul<float, true, false>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]],
    device float* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tt")]] kernel void matmul<float, true, true>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]],
    device float* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nn")]] kernel void matmul<half, false, false>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]],
    device half* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nt")]] kernel void matmul<half, false, true>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]],
    device half* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tn")]] kernel void matmul<half, true, false>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]],
    device half* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tt")]] kernel void matmul<half, true, true>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]],
    device half* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nn")]] kernel void matmul<bfloat, false, false>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]],
    device bfloat* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nt")]] kernel void matmul<bfloat, false, true>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]],
    device bfloat* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tn")]] kernel void matmul<bfloat, true, false>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]],
    device bfloat* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tt")]] kernel void matmul<bfloat, true, true>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]],
    device bfloat* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]);
