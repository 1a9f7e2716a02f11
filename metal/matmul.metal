// Matrix multiplication C = op(A) * op(B): tiled kernels with simdgroup matrices. The
// GEMV-style kernel for skinny products (M or N <= 16) is gemv.metal; MatmulParams, the
// threadgroup size and the output policy both use are matmul_common.h.
//
// op(A) is M x K: A row-major with leading dimension lda, or (TA) A^T where A is stored
// K x M. op(B) is K x N: B row-major, or (TB) B^T where B is stored N x K. Transposed
// operands are read in place, never copied. Batched: threadgroup z multiplies the matrices
// batch_a/b/c elements further on. Every product accumulates in float, whatever T is (half
// and bfloat inputs are converted as they are staged: the same code on every GPU family).
//
// The results go through an output policy (matmul_common.h). A generated matmul-with-epilogue
// kernel of a tiled plan includes everything above the line that starts the kernels
// (src/metal/msl_matmul.cpp looks for it).
//
// matmul_<t>_<ab>_<BM>x<BN>x<BK>: a threadgroup of 128 threads (4 SIMD-groups as 2 x 2)
// computes a BM x BN block of C, stepping through K by BK: all threads stage the A and B
// blocks into threadgroup memory (zero outside the matrices, so any M, N, K works), reading
// along the rows of the stored matrix so consecutive threads read consecutive addresses
// (4-vectors where the host says the stored rows start on vectors: MatmulParams::vec_flags);
// then each SIMD-group multiplies its (BM/2) x (BN/2) part as simdgroup_float8x8
// accumulators. Staging is double-buffered: while the SIMD-groups multiply step s's blocks,
// the threads stage step s + 1's into the other buffer, one barrier per step. A transposed
// operand stays transposed in threadgroup memory and is loaded with simdgroup_load's
// transpose flag. The block of C goes out through the staging memory (reused). Launch:
// threadgroups (ceil(N / BN), ceil(M / BM), batches) of (128, 1, 1) threads.
// Configurations: 32x32x16, 64x64x16, 64x32x32.
#include <metal_stdlib>
using namespace metal;

#include "matmul_common.h"

constant constexpr uint kPad = 4;  // spreads tile rows over memory banks

// Floats of a staged rows x cols block, in either layout (plain or transposed).
constexpr uint staged_floats(uint rows, uint cols) {
  return rows * (cols + kPad) > cols * (rows + kPad) ? rows * (cols + kPad) : cols * (rows + kPad);
}

// Floats of a tiled kernel's threadgroup memory: two buffers of A and B blocks, reused for
// the BM x BN block of C at the end.
constexpr uint matmul_smem_floats(uint bm, uint bn, uint bk) {
  return 2 * (staged_floats(bm, bk) + staged_floats(bk, bn)) > bm * (bn + kPad)
             ? 2 * (staged_floats(bm, bk) + staged_floats(bk, bn))
             : bm * (bn + kPad);
}

// Copies the rows x cols block at (row0, col0) of a row-major matrix with leading dimension
// ld into `tile` (leading dimension cols + kPad), as float, with zeros outside
// row_end x col_end (row0 < row_end, col0 < col_end). With `vectors` (ld and src on a
// 4-element boundary; col0 is a multiple of 4) a thread moves 4 elements of a row: one
// vector load when all 4 are inside the matrix, else element by element.
template <typename T, uint rows, uint cols>
void stage(threadgroup float* tile, device const T* src, uint ld, uint row0, uint col0,
           uint row_end, uint col_end, bool vectors, uint lid) {
  if (vectors) {
    for (uint e = lid; e < rows * cols / 4; e += kMatmulThreads) {
      const uint r = e / (cols / 4);
      const uint c = (e % (cols / 4)) * 4;
      float4 v = float4(0.0f);
      if (row0 + r < row_end) {
        device const T* at = src + ulong(row0 + r) * ld + col0 + c;
        if (col_end - col0 >= c + 4) {
          v = float4(*reinterpret_cast<device const vec<T, 4>*>(at));
        } else {
          for (uint i = 0; i < 4; ++i) {
            if (col0 + c + i < col_end) {
              v[i] = float(at[i]);
            }
          }
        }
      }
      threadgroup float* dst = tile + r * (cols + kPad) + c;
      dst[0] = v.x;
      dst[1] = v.y;
      dst[2] = v.z;
      dst[3] = v.w;
    }
  } else {
    for (uint e = lid; e < rows * cols; e += kMatmulThreads) {
      const uint r = e / cols;
      const uint c = e % cols;
      const bool inside = row0 + r < row_end && col0 + c < col_end;
      tile[r * (cols + kPad) + c] = inside ? float(src[ulong(row0 + r) * ld + col0 + c]) : 0.0f;
    }
  }
}

// Stages op(A)'s BM x BK block at (m0, k0), stored [m][k] or (TA) [k][m], into As and op(B)'s
// BK x BN block at (k0, n0), stored [k][n] or (TB) [n][k], into Bs.
template <typename T, bool TA, bool TB, uint BM, uint BN, uint BK>
void stage_step(threadgroup float* As, threadgroup float* Bs, device const T* A, device const T* B,
                constant MatmulParams& p, uint m0, uint n0, uint k0, uint lid) {
  const bool va = (p.vec_flags & 1u) != 0;
  const bool vb = (p.vec_flags & 2u) != 0;
  if (TA) {
    stage<T, BK, BM>(As, A, p.lda, k0, m0, p.K, p.M, va, lid);
  } else {
    stage<T, BM, BK>(As, A, p.lda, m0, k0, p.M, p.K, va, lid);
  }
  if (TB) {
    stage<T, BN, BK>(Bs, B, p.ldb, n0, k0, p.N, p.K, vb, lid);
  } else {
    stage<T, BK, BN>(Bs, B, p.ldb, k0, n0, p.K, p.N, vb, lid);
  }
}

template <typename T, bool TA, bool TB, uint BM, uint BN, uint BK, typename Out>
void matmul_tiles(device const T* A, device const T* B, constant MatmulParams& p, Out out,
                  threadgroup float* smem, uint3 group, uint lid, uint simd_group) {
  constexpr uint SM = BM / 2;  // this SIMD-group's rows and columns of the block
  constexpr uint SN = BN / 2;
  constexpr uint FM = SM / 8;  // its 8 x 8 accumulators
  constexpr uint FN = SN / 8;
  // Staging buffer i (0, 1): A's block at smem + i * STEP, B's after it.
  constexpr uint SA = staged_floats(BM, BK);
  constexpr uint STEP = SA + staged_floats(BK, BN);
  A += long(group.z) * p.batch_a;
  B += long(group.z) * p.batch_b;
  out.begin(p.z0 + group.z);
  const uint m0 = group.y * BM;
  const uint n0 = group.x * BN;
  const uint sm = (simd_group / 2) * SM;
  const uint sn = (simd_group % 2) * SN;
  const uint a_ld = TA ? BM + kPad : BK + kPad;
  const uint b_ld = TB ? BK + kPad : BN + kPad;

  simdgroup_float8x8 acc[FM][FN];
  for (uint i = 0; i < FM; ++i) {
    for (uint j = 0; j < FN; ++j) {
      acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }

  const uint steps = (p.K + BK - 1) / BK;
  if (steps > 0) {
    stage_step<T, TA, TB, BM, BN, BK>(smem, smem + SA, A, B, p, m0, n0, 0, lid);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint s = 0; s < steps; ++s) {
    threadgroup float* As = smem + (s % 2) * STEP;
    threadgroup float* Bs = As + SA;
    if (s + 1 < steps) {  // the other buffer: its reads (step s - 1) ended at the last barrier
      threadgroup float* next = smem + ((s + 1) % 2) * STEP;
      stage_step<T, TA, TB, BM, BN, BK>(next, next + SA, A, B, p, m0, n0, (s + 1) * BK, lid);
    }
    for (uint kk = 0; kk < BK; kk += 8) {
      simdgroup_float8x8 a[FM];
      simdgroup_float8x8 b[FN];
      for (uint i = 0; i < FM; ++i) {
        uint m = sm + 8 * i;
        simdgroup_load(a[i], TA ? &As[kk * a_ld + m] : &As[m * a_ld + kk], a_ld, ulong2(0, 0), TA);
      }
      for (uint j = 0; j < FN; ++j) {
        uint n = sn + 8 * j;
        simdgroup_load(b[j], TB ? &Bs[n * b_ld + kk] : &Bs[kk * b_ld + n], b_ld, ulong2(0, 0), TB);
      }
      for (uint i = 0; i < FM; ++i) {
        for (uint j = 0; j < FN; ++j) {
          simdgroup_multiply_accumulate(acc[i][j], a[i], b[j], acc[i][j]);
        }
      }
    }
    // Step s + 1's blocks are staged, and step s's reads are done before step s + 2 (or the
    // block of C below) overwrites them.
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }

  // Through threadgroup memory, to hand each element to `out` only inside C.
  threadgroup float* Cs = smem;
  for (uint i = 0; i < FM; ++i) {
    for (uint j = 0; j < FN; ++j) {
      simdgroup_store(acc[i][j], &Cs[(sm + 8 * i) * (BN + kPad) + sn + 8 * j], BN + kPad);
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint e = lid; e < BM * BN; e += kMatmulThreads) {
    uint r = e / BN;
    uint c = e % BN;
    if (m0 + r < p.M && n0 + c < p.N) {
      out.put(m0 + r, n0 + c, Cs[r * (BN + kPad) + c]);
    }
  }
}

// ---- kernels ----

template <typename T, bool TA, bool TB, uint BM, uint BN, uint BK>
kernel void matmul(device const T* A [[buffer(0)]], device const T* B [[buffer(1)]],
                   device T* C [[buffer(2)]], constant MatmulParams& p [[buffer(3)]],
                   uint3 group [[threadgroup_position_in_grid]],
                   uint lid [[thread_index_in_threadgroup]],
                   uint simd_group [[simdgroup_index_in_threadgroup]]) {
  threadgroup float smem[matmul_smem_floats(BM, BN, BK)];
  PlainOut<T> out = {C + long(group.z) * p.batch_c, p.ldc, p.ldc_col};
  matmul_tiles<T, TA, TB, BM, BN, BK>(A, B, p, out, smem, group, lid, simd_group);
}

// Instantiations (written out: the emulator's parser runs before the C preprocessor).
template [[host_name("matmul_f32_nn_32x32x16")]] kernel void matmul<float, false, false, 32, 32, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_nn_64x64x16")]] kernel void matmul<float, false, false, 64, 64, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_nn_64x32x32")]] kernel void matmul<float, false, false, 64, 32, 32>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_nt_32x32x16")]] kernel void matmul<float, false, true, 32, 32, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_nt_64x64x16")]] kernel void matmul<float, false, true, 64, 64, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_nt_64x32x32")]] kernel void matmul<float, false, true, 64, 32, 32>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tn_32x32x16")]] kernel void matmul<float, true, false, 32, 32, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tn_64x64x16")]] kernel void matmul<float, true, false, 64, 64, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tn_64x32x32")]] kernel void matmul<float, true, false, 64, 32, 32>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tt_32x32x16")]] kernel void matmul<float, true, true, 32, 32, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tt_64x64x16")]] kernel void matmul<float, true, true, 64, 64, 16>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f32_tt_64x32x32")]] kernel void matmul<float, true, true, 64, 32, 32>(
    device const float* A [[buffer(0)]], device const float* B [[buffer(1)]], device float* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nn_32x32x16")]] kernel void matmul<half, false, false, 32, 32, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nn_64x64x16")]] kernel void matmul<half, false, false, 64, 64, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nn_64x32x32")]] kernel void matmul<half, false, false, 64, 32, 32>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nt_32x32x16")]] kernel void matmul<half, false, true, 32, 32, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nt_64x64x16")]] kernel void matmul<half, false, true, 64, 64, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_nt_64x32x32")]] kernel void matmul<half, false, true, 64, 32, 32>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tn_32x32x16")]] kernel void matmul<half, true, false, 32, 32, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tn_64x64x16")]] kernel void matmul<half, true, false, 64, 64, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tn_64x32x32")]] kernel void matmul<half, true, false, 64, 32, 32>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tt_32x32x16")]] kernel void matmul<half, true, true, 32, 32, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tt_64x64x16")]] kernel void matmul<half, true, true, 64, 64, 16>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_f16_tt_64x32x32")]] kernel void matmul<half, true, true, 64, 32, 32>(
    device const half* A [[buffer(0)]], device const half* B [[buffer(1)]], device half* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nn_32x32x16")]] kernel void matmul<bfloat, false, false, 32, 32, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nn_64x64x16")]] kernel void matmul<bfloat, false, false, 64, 64, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nn_64x32x32")]] kernel void matmul<bfloat, false, false, 64, 32, 32>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nt_32x32x16")]] kernel void matmul<bfloat, false, true, 32, 32, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nt_64x64x16")]] kernel void matmul<bfloat, false, true, 64, 64, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_nt_64x32x32")]] kernel void matmul<bfloat, false, true, 64, 32, 32>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tn_32x32x16")]] kernel void matmul<bfloat, true, false, 32, 32, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tn_64x64x16")]] kernel void matmul<bfloat, true, false, 64, 64, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tn_64x32x32")]] kernel void matmul<bfloat, true, false, 64, 32, 32>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tt_32x32x16")]] kernel void matmul<bfloat, true, true, 32, 32, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tt_64x64x16")]] kernel void matmul<bfloat, true, true, 64, 64, 16>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
template [[host_name("matmul_bf16_tt_64x32x32")]] kernel void matmul<bfloat, true, true, 64, 32, 32>(
    device const bfloat* A [[buffer(0)]], device const bfloat* B [[buffer(1)]], device bfloat* C [[buffer(2)]],
    constant MatmulParams& p [[buffer(3)]], uint3 group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint simd_group [[simdgroup_index_in_threadgroup]]);
