// Tensor-core matmul for float16 and bfloat16 (sm_80 and later): mma.sync m16n8k16 with
// float32 accumulators, fed by ldmatrix from XOR-swizzled shared memory that a TL_STAGES-deep
// pipeline fills, one K step (TL_BK) per stage. Each operand's tile is kept in shared memory
// in the operand's own layout (so a transposed operand costs no copy): a k-contiguous tile is
// read with ldmatrix, an m- or n-contiguous one with ldmatrix.trans. Loads past any edge are
// zero-filled, so any M, N, K works. Results are rounded to the storage type once.
// Configured by the host (after matmul_common.cu):
//   TL_S           tl_f16 or tl_bf16;  TL_MMA_T  "f16" or "bf16" (the mma operand type)
//   TL_BM, TL_BN   block tile;  TL_WARPS_M x TL_WARPS_N warps, each a (BM/WARPS_M) x
//                  (BN/WARPS_N) tile;  TL_STAGES  shared-memory stages (>= 2)
//   TL_BK          k a stage (default 32)
//   TL_MIN_BLOCKS  blocks an SM must fit (caps registers at 64K / (threads * blocks))
//   TL_SPLIT       1: k split over grid y (MmaArgs), the splits' sums added by the last block
//   TL_A_KMAJOR    1: a's k stride is 1 (tile kept [m][k]); 0: a's m stride is 1 ([k][m])
//   TL_B_KMAJOR    1: b's k stride is 1 (tile kept [n][k]); 0: b's n stride is 1 ([k][n])
//                  (a tile of fewer 16-byte chunks than threads, as the 16-wide tiles of a
//                  skinny problem: the threads past its chunks idle in its loads)
//   TL_A_ASYNC, TL_B_ASYNC  1: 16-byte cp.async copies (the operand's unit-stride dim is
//                  contiguous, its other stride, batch strides and offset multiples of 8
//                  elements); 0: element loads through registers, any strides, issued before
//                  a stage's math and stored after it.

#ifndef TL_BK
#define TL_BK 32
#endif
#define TL_THREADS (TL_WARPS_M * TL_WARPS_N * 32)
#define TL_WM (TL_BM / TL_WARPS_M)
#define TL_WN (TL_BN / TL_WARPS_N)
#define TL_MI (TL_WM / 16)
#define TL_NI (TL_WN / 8)
#define TL_STAGE ((TL_BM + TL_BN) * TL_BK)  // elements of one stage (a's tile, then b's)

static_assert(TL_WM % 16 == 0 && TL_WN % 16 == 0, "warp tiles are whole m16 x n16 blocks");

// A tile of rows of RC 16-byte chunks: chunk c of row r is stored at chunk c ^ f(r), so that
// the 8 rows one ldmatrix phase reads (and the 8 chunks a quarter warp writes) fall in 8
// different 16-byte bank groups. f spreads rows that share a 128-byte line (RC < 8) too.
template <int RC>
__device__ __forceinline__ int tl_swz(int r, int c) {
  return RC >= 8 ? c ^ (r & 7) : c ^ ((r / (8 / RC)) & (RC - 1));
}
template <int RC>
__device__ __forceinline__ int tl_at(int r, int c) {  // element offset of chunk c of row r
  return (r * RC + tl_swz<RC>(r, c)) * 8;
}

// One operand's tiles, as this thread loads them (TlChunks: chunks of 8 elements along c; a
// k-major tile spans TL_BK columns a step, the other kind TL_BK rows). MN is the tile's
// extent along m (or n). Loads are issued in step order.
template <int KMAJOR, int MN>
struct TlTile : TlChunks<uint16_t, KMAJOR, ((KMAJOR ? MN : TL_BK) * ((KMAJOR ? TL_BK : MN) / 8) + TL_THREADS - 1) / TL_THREADS,
                         (KMAJOR ? TL_BK : MN) / 8, 8, TL_BK, TL_THREADS> {
  static constexpr int ROWS = KMAJOR ? MN : TL_BK, RC = (KMAJOR ? TL_BK : MN) / 8;
  static constexpr int CH = (ROWS * RC + TL_THREADS - 1) / TL_THREADS;  // chunks per thread
  static_assert(CH * TL_THREADS == ROWS * RC || CH == 1, "the threads split a tile evenly (or some idle)");
  using Base = TlChunks<uint16_t, KMAJOR, CH, RC, 8, TL_BK, TL_THREADS>;
  using Base::count, Base::g, Base::sc, Base::src, Base::step;
  // Whether chunk i of this thread is in the tile (threads past a small tile's chunks idle).
  __device__ static bool owns(int i) { return CH * TL_THREADS == ROWS * RC || int(threadIdx.x) + i * TL_THREADS < ROWS * RC; }

  __device__ TlTile(const uint16_t* g_, int64_t ld, int64_t cs, int nrows, int ncols, int mn0)
      : Base(g_, ld, cs, nrows, ncols, mn0) {}
  // cp.async of each chunk, the bytes past the matrix's edge zero-filled (src-size < 16).
  __device__ void copy_async(uint16_t* s, int kt) {
#pragma unroll
    for (int i = 0; i < CH; ++i) {
      if (!owns(i)) continue;
      const int ci = int(threadIdx.x) + i * TL_THREADS, n = count(i, kt);
      tl_cp_async16(tl_smem_addr(s + tl_at<RC>(ci / RC, ci % RC)), n ? src[i] : g, n * 2);
      src[i] += step;
    }
  }
  __device__ void fetch(uint4 (&v)[CH], int kt) {
#pragma unroll
    for (int i = 0; i < CH; ++i) {
      const int n = owns(i) ? count(i, kt) : 0;
      unsigned w[4] = {0, 0, 0, 0};
#pragma unroll
      for (int j = 0; j < 8; ++j)
        if (j < n) w[j / 2] |= unsigned(src[i][j * sc]) << (16 * (j % 2));
      v[i] = make_uint4(w[0], w[1], w[2], w[3]);
      src[i] += step;
    }
  }
  __device__ void store(uint16_t* s, const uint4 (&v)[CH]) const {
#pragma unroll
    for (int i = 0; i < CH; ++i) {
      const int ci = int(threadIdx.x) + i * TL_THREADS;
      if (owns(i)) *reinterpret_cast<uint4*>(s + tl_at<RC>(ci / RC, ci % RC)) = v[i];
    }
  }
};

__device__ __forceinline__ void tl_ldsm(unsigned addr, unsigned (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void tl_ldsm_t(unsigned addr, unsigned (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void tl_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." TL_MMA_T "." TL_MMA_T ".f32 "
               "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The warp's MI x NI mma tiles over one stage. Fragment layouts (PTX ISA, m16n8k16): lane l
// holds rows l/4 and l/4 + 8 of A, column l/4 of B; ldmatrix x4 gives lane l the row address
// of matrix l/8, row l%8.
__device__ __forceinline__ void tl_stage_math(const uint16_t* sa, const uint16_t* sb, int wm, int wn, int lane,
                                              float (&acc)[TL_MI][TL_NI][4]) {
  constexpr int RCA = (TL_A_KMAJOR ? TL_BK : TL_BM) / 8, RCB = (TL_B_KMAJOR ? TL_BK : TL_BN) / 8;
#pragma unroll
  for (int kk = 0; kk < TL_BK; kk += 16) {
    unsigned af[TL_MI][4];
#pragma unroll
    for (int i = 0; i < TL_MI; ++i) {
      // matrices: rows 0-7 / 8-15 of the m16 block x k 0-7 / 8-15 of the step, in a0..a3 order
#if TL_A_KMAJOR
      tl_ldsm(tl_smem_addr(sa + tl_at<RCA>(wm + i * 16 + (lane & 15), kk / 8 + (lane >> 4))), af[i]);
#else
      tl_ldsm_t(tl_smem_addr(sa + tl_at<RCA>(kk + (lane & 7) + (lane >> 4) * 8, (wm + i * 16) / 8 + ((lane >> 3) & 1))),
                af[i]);
#endif
    }
    // B a pair of n8 tiles at a time, used as soon as loaded: fewer fragments live.
#pragma unroll
    for (int j = 0; j < TL_NI / 2; ++j) {
      // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
      unsigned b[4];
#if TL_B_KMAJOR
      tl_ldsm(tl_smem_addr(sb + tl_at<RCB>(wn + j * 16 + (lane & 7) + (lane >> 4) * 8, kk / 8 + ((lane >> 3) & 1))), b);
#else
      tl_ldsm_t(tl_smem_addr(sb + tl_at<RCB>(kk + (lane & 15), (wn + j * 16) / 8 + (lane >> 4))), b);
#endif
#pragma unroll
      for (int i = 0; i < TL_MI; ++i) {
        tl_mma(acc[i][2 * j], af[i], b[0], b[1]);
        tl_mma(acc[i][2 * j + 1], af[i], b[2], b[3]);
      }
    }
  }
}

// The kernel's argument: the matmul and its split along k (TlSplitArgs, matmul_common.cu).
using MmaArgs = TlSplitArgs;

extern "C" __global__ void __launch_bounds__(TL_THREADS, TL_MIN_BLOCKS) tl_matmul_mma(const MmaArgs g) {
  __shared__ __align__(128) uint16_t smem[TL_STAGES * TL_STAGE];
  const MatmulArgs& p = g.mm;
  // Blocks walk the output in groups of 8 tile rows, column by column, so that blocks
  // running together share a and b tiles in L2.
  // (The host keeps M, N and K below 2^31.)
#if TL_SPLIT
  const int kb = int(blockIdx.y) * int(g.kslice);  // this split's k: kb .. kb + K
  const int M = int(p.M), N = int(p.N), K = min(int(p.K) - kb, int(g.kslice));
#else
  constexpr int kb = 0;
  const int M = int(p.M), N = int(p.N), K = int(p.K);
#endif
  const int tiles_m = (M + TL_BM - 1) / TL_BM, tiles_n = (N + TL_BN - 1) / TL_BN;
  const int group = int(blockIdx.x) / (8 * tiles_n), first = group * 8;
  const int rows_in_group = min(tiles_m - first, 8), in_group = int(blockIdx.x) % (8 * tiles_n);
  const int m0 = (first + in_group % rows_in_group) * TL_BM, n0 = in_group / rows_in_group * TL_BN;
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int wm = warp / TL_WARPS_N * TL_WM, wn = warp % TL_WARPS_N * TL_WN;
  const int kts = (K + TL_BK - 1) / TL_BK;

  for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
    int64_t off[3];
    tl_mm_offsets(p, batch, off);
    const uint16_t* A = reinterpret_cast<const uint16_t*>(p.a) + off[0] + kb * p.ak;
    const uint16_t* B = reinterpret_cast<const uint16_t*>(p.b) + off[1] + kb * p.bk;
    TlTile<TL_A_KMAJOR, TL_BM> ta(A, TL_A_KMAJOR ? p.am : p.ak, TL_A_KMAJOR ? p.ak : p.am, TL_A_KMAJOR ? M : K,
                                  TL_A_KMAJOR ? K : M, m0);
    TlTile<TL_B_KMAJOR, TL_BN> tb(B, TL_B_KMAJOR ? p.bn : p.bk, TL_B_KMAJOR ? p.bk : p.bn, TL_B_KMAJOR ? N : K,
                                  TL_B_KMAJOR ? K : N, n0);
#if !TL_A_ASYNC
    uint4 ra[ta.CH];
#endif
#if !TL_B_ASYNC
    uint4 rb[tb.CH];
#endif
    float acc[TL_MI][TL_NI][4];
#pragma unroll
    for (int i = 0; i < TL_MI; ++i)
#pragma unroll
      for (int n = 0; n < TL_NI; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][n][e] = 0.f;

    // Stages 0 .. STAGES-2 in flight before the first math; one commit group per stage
    // (empty past the last K step) keeps the wait count below uniform.
#pragma unroll
    for (int s = 0; s < TL_STAGES - 1; ++s) {
      if (s < kts) {
        uint16_t* sa = smem + s * TL_STAGE;
#if TL_A_ASYNC
        ta.copy_async(sa, s);
#else
        ta.fetch(ra, s);
        ta.store(sa, ra);
#endif
#if TL_B_ASYNC
        tb.copy_async(sa + TL_BM * TL_BK, s);
#else
        tb.fetch(rb, s);
        tb.store(sa + TL_BM * TL_BK, rb);
#endif
      }
      tl_cp_async_commit();
    }
    for (int kt = 0; kt < kts; ++kt) {
      tl_cp_async_wait<TL_STAGES - 2>();
      // Stage kt has landed for every thread, and every warp is done with stage kt - 1,
      // whose slot the loads below refill.
      __syncthreads();
      const int next = kt + TL_STAGES - 1;
      uint16_t* sn = smem + next % TL_STAGES * TL_STAGE;
      if (next < kts) {
#if TL_A_ASYNC
        ta.copy_async(sn, next);
#else
        ta.fetch(ra, next);
#endif
#if TL_B_ASYNC
        tb.copy_async(sn + TL_BM * TL_BK, next);
#else
        tb.fetch(rb, next);
#endif
      }
      tl_cp_async_commit();
      const uint16_t* sa = smem + kt % TL_STAGES * TL_STAGE;
      tl_stage_math(sa, sa + TL_BM * TL_BK, wm, wn, lane, acc);
#if !TL_A_ASYNC || !TL_B_ASYNC
      if (next < kts) {
#if !TL_A_ASYNC
        ta.store(sn, ra);
#endif
#if !TL_B_ASYNC
        tb.store(sn + TL_BM * TL_BK, rb);
#endif
      }
#endif
    }
    __syncthreads();  // the next batch's first stages overwrite slots still being read

#if TL_SPLIT
    // A k split: this split's sums out; the tile's last block goes on, with their total.
    // (The flag in the stages' first word: free until the next batch's loads, past a barrier.)
    if (!tl_split_last<TL_MI * TL_NI * 4, TL_THREADS>(
            g, batch, smem, [&](int f) -> float& { return acc[f / (TL_NI * 4)][f / 4 % TL_NI][f % 4]; }))
      continue;
#endif

    // Lane l holds rows l/4 (+8) and columns 2(l%4), +1 of each m16 x n8 tile.
    tl_mm_offsets(p, batch, off);  // again: cheaper than keeping them live through the loop
    // Without an epilogue, column pairs as one 4-byte store where aligned (the hook, with
    // its separate addresses, cost the 64 x 64 tiles 12 registers and spills on sm_80).
#if TL_EPILOGUE
    const TlOut o = tl_out(p, batch, off);
#else
    uint16_t* C = reinterpret_cast<uint16_t*>(p.c) + off[2];
    const bool pairs = p.cn == 1 && ((p.cm | off[2]) & 1) == 0;  // 4-byte aligned column pairs
#endif
#pragma unroll
    for (int i = 0; i < TL_MI; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = m0 + wm + i * 16 + lane / 4 + h * 8;
        if (r >= M) continue;
#pragma unroll
        for (int n = 0; n < TL_NI; ++n) {
          const int c = n0 + wn + n * 8 + 2 * (lane % 4);
#if TL_EPILOGUE
          if (c < N) TL_EPILOGUE_STORE(p, o, r, c, acc[i][n][2 * h]);
          if (c + 1 < N) TL_EPILOGUE_STORE(p, o, r, c + 1, acc[i][n][2 * h + 1]);
#else
          const unsigned short lo = TL_S(acc[i][n][2 * h]).bits, hi = TL_S(acc[i][n][2 * h + 1]).bits;
          uint16_t* at = C + r * p.cm + int64_t(c) * p.cn;
          if (pairs && c + 1 < N) {
            *reinterpret_cast<unsigned*>(at) = unsigned(lo) | unsigned(hi) << 16;
          } else {
            if (c < N) at[0] = lo;
            if (c + 1 < N) at[p.cn] = hi;
          }
#endif
        }
      }
  }
}
