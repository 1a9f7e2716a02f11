// SIMT matmul in float32 arithmetic: float32 operands (the default path: exact-ish, no tf32
// rounding), and float16 / bfloat16 on GPUs without the tensor-core kernel (before sm_80).
// A block of 256 threads computes a square TL_T x TL_T tile (TL_T = 16 * TL_TM), each thread
// TL_TM x TL_TM outputs in registers, as four-wide groups 64 apart so that its shared-memory
// reads are 16-byte vectors without bank conflicts. K advances TL_KB at a time through
// shared-memory stages: later steps' loads are in flight while this step's math runs.
// Two forms (TL_STAGES):
//   0   two stages, fed through registers: every thread loads one quad (4 elements along the
//       operand's unit-stride dim) of each operand per step, as one vector load when the host
//       says the operand allows it and the quad is inside the matrix, and stores it after the
//       step's math (its k-major quads transposed to the [k][mn] tile).
//   >0  (sm_80+, float32) a ring of TL_STAGES stages of TL_KB = 32 k (32 KiB of 128 x 128
//       tiles, 16 KiB of 64 x 64): a vector operand is copied by 16-byte cp.async (no staging
//       registers; TL_STAGES - 1 steps in flight), a k-major one kept [mn][k] (XOR-swizzled)
//       and read 4 k at a time; the others go through registers as in form 0, a k-major one
//       transposed to [k][mn]. One barrier a step.
// Edges are zero-filled. Configured by the host (after matmul_common.cu):
//   TL_S         storage type of a, b and c (float, tl_f16, tl_bf16; TL_STAGES > 0: float)
//   TL_TM        8 (128 x 128 tiles) or 4 (64 x 64, for problems with few tiles)
//   TL_STAGES    0, or the cp.async ring's depth (>= 2), in dynamic shared memory
//   TL_KB        (TL_STAGES > 0, optional) k a stage (default 32)
//   TL_MIN_BLOCKS  blocks an SM must fit (caps registers at 64K / (256 * blocks))
//   TL_SPLIT     1: k split over grid y, grid x a batch's tiles (TlSplitArgs, matmul_common.cu)
//   TL_A_KMAJOR  1: quads of a run along k; 0: along m (a's m stride is 1)
//   TL_B_KMAJOR  1: quads of b run along k; 0: along n (b's n stride is 1)
//   TL_A_VEC, TL_B_VEC, TL_C_VEC  1: quads of that operand along its unit-stride dim are
//                aligned vectors (leading and batch strides and offset multiples of 4)

#ifndef TL_STAGES
#define TL_STAGES 0
#endif
#ifndef TL_SPLIT
#define TL_SPLIT 0
#endif
#define TL_GS 64  // a thread's rows (columns): 4 t + GS g + i, i < 4
#define TL_T (16 * TL_TM)
#if TL_STAGES
#ifndef TL_KB  // (the host may set it)
// Against 16 k (stages of 16 KiB, H200, same call): 4096^2 0.88x cuBLAS (0.85x), 8192^2 0.90x
// (0.86x), 1024^3 1.02x (0.99x): a step's fixed cost (its barrier, the copies' addressing)
// over twice the multiply-adds.
#define TL_KB 32  // (the host's kSimtRingK)
#endif
static_assert(TL_T * TL_KB % 1024 == 0, "whole quads of each tile for every thread");
#else
#define TL_KB (1024 / TL_T)  // one quad of each operand per thread and step
#endif
#define TL_LD (TL_T + 4)     // padded rows: a k-major quad's four stores hit distinct banks

struct alignas(4 * sizeof(TL_S)) TlQuad {
  TL_S v[4];
};

// The quad this thread loads of an operand at each step (TlChunks, one quad of a (mn, k) view
// when k-major, else (k, mn)), fetched into registers.
template <int KMAJOR, int VEC>
struct TlQuadLoad : TlChunks<TL_S, KMAJOR, 1, KMAJOR ? TL_KB / 4 : TL_T / 4, 4, TL_KB, 256> {
  using Base = TlChunks<TL_S, KMAJOR, 1, KMAJOR ? TL_KB / 4 : TL_T / 4, 4, TL_KB, 256>;
  using Base::Base, Base::count, Base::sc, Base::src, Base::step;
  __device__ void fetch(int kt, float (&v)[4]) {
    const int n = count(0, kt);
    if (VEC && n == 4) {
      const TlQuad q = *reinterpret_cast<const TlQuad*>(src[0]);
#pragma unroll
      for (int e = 0; e < 4; ++e) v[e] = float(q.v[e]);
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) v[e] = e < n ? float(src[0][e * sc]) : 0.f;
    }
    src[0] += step;
  }
};

// Where a fetched quad goes in the [k][mn] shared-memory tile.
template <int KMAJOR>
__device__ __forceinline__ void tl_simt_store(float (*s)[TL_LD], const float (&v)[4]) {
  const int q = int(threadIdx.x);
  if (KMAJOR) {
    const int mn = q / (TL_KB / 4), k = q % (TL_KB / 4) * 4;
#pragma unroll
    for (int e = 0; e < 4; ++e) s[k + e][mn] = v[e];
  } else {
    *reinterpret_cast<float4*>(&s[q / (TL_T / 4)][q % (TL_T / 4) * 4]) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

#if TL_STAGES
static_assert(sizeof(TL_S) == 4, "cp.async stages hold float32 operands");
#define TL_TILE (TL_T * TL_KB)  // floats of one operand's tile in a stage
#define TL_RQ (TL_KB / 4)       // quads of k a row of a [mn][k] tile

// Float offset of element (r, c) of a stage's tile. Kept [mn][k] (TRANS: a k-major vector
// operand, as cp.async lands it): 16-byte chunk q = RQ r + c / 4 sits at q ^ (r / 4 % 8), so
// that the rows one 16-byte read of a warp takes, 2, 4, 8 or 16 rows 4 apart, spread over the
// 16-byte bank groups (16 rows: 2 passes, the least; fewer: 1). Kept [k][mn]: a register-staged k-major operand (SWZ)
// XORs the column with (r / 4) 32 / RQ, so that a warp's 32 transposed stores hit 32 banks.
template <int TRANS, int SWZ>
__device__ __forceinline__ int tl_simt_at(int r, int c) {
  if (TRANS) return ((TL_RQ * r + c / 4) ^ ((r >> 2) & 7)) * 4 + c % 4;
  return r * TL_T + (SWZ ? c ^ (r >> 2) * (32 / TL_RQ) : c);
}

// One operand's tiles as this thread moves them (TlChunks: quads of 4 elements along c, of a
// (mn, k) view when k-major, else (k, mn)): quads tid + 256 j, j < QN, of each tile.
template <int KMAJOR, int VEC>
struct TlSimtTile : TlChunks<TL_S, KMAJOR, TL_TILE / 1024, KMAJOR ? TL_RQ : TL_T / 4, 4, TL_KB, 256> {
  static constexpr int QN = TL_TILE / 1024, RQ = KMAJOR ? TL_RQ : TL_T / 4;  // (RQ: quads a row)
  static constexpr int TRANS = KMAJOR && VEC, SWZ = KMAJOR && !VEC;
  using Base = TlChunks<TL_S, KMAJOR, QN, RQ, 4, TL_KB, 256>;
  using Base::count, Base::g, Base::sc, Base::src, Base::step;
  bool inner;  // the tile is inside the matrix along mn: whole quads at every step but the last

  __device__ TlSimtTile(const TL_S* g_, int64_t sr, int64_t sc_, int nr, int nc, int mn0)
      : Base(g_, sr, sc_, nr, nc, mn0), inner(mn0 + TL_T <= (KMAJOR ? nr : nc)) {}
  // Step kt (the last one: `last`) into stage tile s: copies in flight (VEC; the bytes past
  // an edge zero-filled), or loads into v that land() stores after the step's math.
  __device__ void issue(float* s, int kt, bool last, float (&v)[QN][4]) {
    if (VEC && inner && !last) {  // (whole quads: no byte counts to work out)
#pragma unroll
      for (int j = 0; j < QN; ++j) {
        const int q = int(threadIdx.x) + 256 * j;
        tl_cp_async16(tl_smem_addr(s + tl_simt_at<TRANS, 0>(q / RQ, q % RQ * 4)), src[j], 16);
        src[j] += step;
      }
      return;
    }
#pragma unroll
    for (int j = 0; j < QN; ++j) {
      const int n = count(j, kt), q = int(threadIdx.x) + 256 * j;
      if (VEC) {
        tl_cp_async16(tl_smem_addr(s + tl_simt_at<TRANS, 0>(q / RQ, q % RQ * 4)), n ? src[j] : g, 4 * n);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) v[j][e] = e < n ? float(src[j][e * sc]) : 0.f;
      }
      src[j] += step;
    }
  }
  __device__ void land(float* s, const float (&v)[QN][4]) const {
#pragma unroll
    for (int j = 0; j < (VEC ? 0 : QN); ++j) {
      const int q = int(threadIdx.x) + 256 * j, r = q / RQ, c = q % RQ * 4;
      if (KMAJOR) {  // transposed: [k][mn]
#pragma unroll
        for (int e = 0; e < 4; ++e) s[tl_simt_at<0, SWZ>(c + e, r)] = v[j][e];
      } else {
        *reinterpret_cast<float4*>(s + tl_simt_at<0, 0>(r, c)) = make_float4(v[j][0], v[j][1], v[j][2], v[j][3]);
      }
    }
  }
};

// This thread's reads of one operand's stage tile: values x[e][4 g + i] at k = 4 kq + e of its
// rows (a) or columns (b) t * 4 + GS g + i. A [mn][k] tile gives a row's 4 k in one 16-byte
// read, a [k][mn] one 4 rows or columns at one k. The parts of the offsets that depend on t
// are kept (o), so that each read is one of them plus a constant.
template <int TRANS, int SWZ>
struct TlSimtFrag {
  static constexpr int NO = TRANS ? 8 : SWZ ? TL_RQ : 1;
  int o[NO];  // bytes
  // TRANS: row t * 4 + GS g + i's quad kq is chunk 4 RQ t + GS RQ g + (y ^ t % 8), y = RQ i + kq
  // (GS / 4 a multiple of 8), and the XOR changes only y % 8 (= x). SWZ: column 4 t ^ kq 32 / RQ
  // (+ GS g: above the XOR's bits).
  __device__ explicit TlSimtFrag(int t) {
#pragma unroll
    for (int x = 0; x < NO; ++x)
      o[x] = 4 * (TRANS ? 4 * (4 * TL_RQ * t + (x ^ (t & 7))) : SWZ ? (4 * t) ^ (x * (32 / TL_RQ)) : 4 * t);
  }
  __device__ __forceinline__ void load(const float* s, int kq, float (&x)[4][TL_TM]) const {
#pragma unroll
    for (int g = 0; g < TL_TM / 4; ++g)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int y = TL_RQ * i + kq;
        const char* q = reinterpret_cast<const char*>(s) + (TRANS ? o[y % 8] : o[SWZ ? kq : 0]);
        const float4 v = *reinterpret_cast<const float4*>(
            q + 4 * (TRANS ? 4 * (TL_GS * TL_RQ * g + y / 8 * 8) : (4 * kq + i) * TL_T + TL_GS * g));
        const float w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if (TRANS) x[e][4 * g + i] = w[e];
          else x[i][4 * g + e] = w[e];
        }
      }
  }
};

using TlSimtFragA = TlSimtFrag<TL_A_KMAJOR && TL_A_VEC, TL_A_KMAJOR && !TL_A_VEC>;
using TlSimtFragB = TlSimtFrag<TL_B_KMAJOR && TL_B_VEC, TL_B_KMAJOR && !TL_B_VEC>;

__device__ __forceinline__ void tl_simt_step(const float* sa, const float* sb, const TlSimtFragA& ra,
                                             const TlSimtFragB& rb, float (&acc)[TL_TM][TL_TM]) {
#pragma unroll
  for (int kq = 0; kq < TL_KB / 4; ++kq) {
    float fa[4][TL_TM], fb[4][TL_TM];
    ra.load(sa, kq, fa);
    rb.load(sb, kq, fb);
    // Serpentine: odd rows walk the columns backwards (H200, 4096^2: 0.85x cuBLAS against
    // 0.83x row by row; fewer registers, 238 against 253).
#pragma unroll
    for (int e = 0; e < 4; ++e)
#pragma unroll
      for (int i = 0; i < TL_TM; ++i)
#pragma unroll
        for (int v = 0; v < TL_TM; ++v) {
          const int j = i % 2 ? TL_TM - 1 - v : v;
          acc[i][j] = tl_madd(acc[i][j], fa[e][i], fb[e][j]);
        }
  }
}
#endif

extern "C" __global__ void __launch_bounds__(256, TL_MIN_BLOCKS) tl_matmul_simt(const TlSplitArgs args) {
  const MatmulArgs& p = args.mm;
#if TL_STAGES
  extern __shared__ __align__(16) float smem[];  // TL_STAGES stages of 2 TL_TILE: a's tile, then b's
#else
  __shared__ __align__(16) float as[2][TL_KB][TL_LD];
  __shared__ __align__(16) float bs[2][TL_KB][TL_LD];
#endif
  // (The host keeps M, N and K below 2^31.)
#if TL_SPLIT
  const int kb = int(blockIdx.y) * int(args.kslice);  // this split's k: kb .. kb + K
  const int M = int(p.M), N = int(p.N), K = min(int(p.K) - kb, int(args.kslice));
  const int tn = (N + TL_T - 1) / TL_T, m0 = int(blockIdx.x) / tn * TL_T, n0 = int(blockIdx.x) % tn * TL_T;
#else
  constexpr int kb = 0;
  const int M = int(p.M), N = int(p.N), K = int(p.K);
  const int m0 = int(blockIdx.y) * TL_T, n0 = int(blockIdx.x) * TL_T;
#endif
  // This thread's rows 4 tr + GS g + i and columns 4 tc + GS g + i (i < 4).
  const int tc = int(threadIdx.x) % 16, tr = int(threadIdx.x) / 16;
  const int kts = (K + TL_KB - 1) / TL_KB;

  for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
    int64_t off[3];
    tl_mm_offsets(p, batch, off);
    const TL_S* A = reinterpret_cast<const TL_S*>(p.a) + off[0] + kb * p.ak;
    const TL_S* B = reinterpret_cast<const TL_S*>(p.b) + off[1] + kb * p.bk;
    float acc[TL_TM][TL_TM];
#pragma unroll
    for (int i = 0; i < TL_TM; ++i)
#pragma unroll
      for (int j = 0; j < TL_TM; ++j) acc[i][j] = 0.f;
#if TL_STAGES
    TlSimtTile<TL_A_KMAJOR, TL_A_VEC> xa(A, TL_A_KMAJOR ? p.am : p.ak, TL_A_KMAJOR ? p.ak : p.am, TL_A_KMAJOR ? M : K,
                                         TL_A_KMAJOR ? K : M, m0);
    TlSimtTile<TL_B_KMAJOR, TL_B_VEC> xb(B, TL_B_KMAJOR ? p.bn : p.bk, TL_B_KMAJOR ? p.bk : p.bn, TL_B_KMAJOR ? N : K,
                                         TL_B_KMAJOR ? K : N, n0);
    float va[TL_TILE / 1024][4], vb[TL_TILE / 1024][4];  // register-staged operands' quads
    const TlSimtFragA fra(tr);
    const TlSimtFragB frb(tc);
    // Steps 0 .. STAGES-2 before the first math; one commit group a step (empty past the
    // last) keeps the wait count below uniform.
#pragma unroll
    for (int s = 0; s < TL_STAGES - 1; ++s) {
      if (s < kts) {
        float* st = smem + s * 2 * TL_TILE;
        xa.issue(st, s, s == kts - 1, va);
        xb.issue(st + TL_TILE, s, s == kts - 1, vb);
        xa.land(st, va);
        xb.land(st + TL_TILE, vb);
      }
      tl_cp_async_commit();
    }
    for (int kt = 0, cur = 0; kt < kts; ++kt) {
      tl_cp_async_wait<TL_STAGES - 2>();
      // Step kt's stage has landed for every thread, and every warp is done with step
      // kt - 1's, which the loads below refill (step kt + STAGES - 1).
      __syncthreads();
      const int next = kt + TL_STAGES - 1;
      float* sn = smem + (cur == 0 ? TL_STAGES - 1 : cur - 1) * 2 * TL_TILE;
      if (next < kts) {
        xa.issue(sn, next, next == kts - 1, va);
        xb.issue(sn + TL_TILE, next, next == kts - 1, vb);
      }
      tl_cp_async_commit();
      const float* sc = smem + cur * 2 * TL_TILE;
      tl_simt_step(sc, sc + TL_TILE, fra, frb, acc);
      if (next < kts) {
        xa.land(sn, va);
        xb.land(sn + TL_TILE, vb);
      }
      cur = cur == TL_STAGES - 1 ? 0 : cur + 1;
    }
    __syncthreads();  // the next batch's first stages overwrite ones still being read
#else
    TlQuadLoad<TL_A_KMAJOR, TL_A_VEC> xa(A, TL_A_KMAJOR ? p.am : p.ak, TL_A_KMAJOR ? p.ak : p.am, TL_A_KMAJOR ? M : K,
                                         TL_A_KMAJOR ? K : M, m0);
    TlQuadLoad<TL_B_KMAJOR, TL_B_VEC> xb(B, TL_B_KMAJOR ? p.bn : p.bk, TL_B_KMAJOR ? p.bk : p.bn, TL_B_KMAJOR ? N : K,
                                         TL_B_KMAJOR ? K : N, n0);

    float va[4], vb[4];
    if (kts > 0) {
      xa.fetch(0, va);
      xb.fetch(0, vb);
      tl_simt_store<TL_A_KMAJOR>(as[0], va);
      tl_simt_store<TL_B_KMAJOR>(bs[0], vb);
    }
    __syncthreads();
    for (int kt = 0; kt < kts; ++kt) {
      const int cur = kt & 1;
      if (kt + 1 < kts) {
        xa.fetch(kt + 1, va);
        xb.fetch(kt + 1, vb);
      }
#pragma unroll
      for (int k = 0; k < TL_KB; ++k) {
        float ra[TL_TM], rb[TL_TM];
#pragma unroll
        for (int g = 0; g < TL_TM / 4; ++g) {
          const float4 x = *reinterpret_cast<const float4*>(&as[cur][k][tr * 4 + TL_GS * g]);
          const float4 y = *reinterpret_cast<const float4*>(&bs[cur][k][tc * 4 + TL_GS * g]);
          ra[4 * g] = x.x, ra[4 * g + 1] = x.y, ra[4 * g + 2] = x.z, ra[4 * g + 3] = x.w;
          rb[4 * g] = y.x, rb[4 * g + 1] = y.y, rb[4 * g + 2] = y.z, rb[4 * g + 3] = y.w;
        }
#pragma unroll
        for (int i = 0; i < TL_TM; ++i)
#pragma unroll
          for (int j = 0; j < TL_TM; ++j) acc[i][j] = tl_madd(acc[i][j], ra[i], rb[j]);
      }
      // The other buffer was last read before the barrier that ended step kt - 1.
      if (kt + 1 < kts) {
        tl_simt_store<TL_A_KMAJOR>(as[cur ^ 1], va);
        tl_simt_store<TL_B_KMAJOR>(bs[cur ^ 1], vb);
      }
      __syncthreads();
    }
#endif

#if TL_SPLIT
    // A k split: this split's sums out; the tile's last block goes on, with their total.
    // (The flag in the stages' first word: free until the next batch's loads, past a barrier.)
#if TL_STAGES
    float* flag = smem;
#else
    float* flag = &as[0][0][0];
#endif
    if (!tl_split_last<TL_TM * TL_TM, 256>(args, batch, flag, [&](int f) -> float& { return acc[f / TL_TM][f % TL_TM]; }))
      continue;
#endif
    tl_mm_offsets(p, batch, off);  // again: cheaper than keeping them live through the loop
    const TlOut o = tl_out(p, batch, off);
#pragma unroll
    for (int i = 0; i < TL_TM; ++i) {
      const int r = m0 + tr * 4 + TL_GS * (i / 4) + i % 4;
      if (r >= M) continue;
#pragma unroll
      for (int g = 0; g < TL_TM / 4; ++g) {
        const int c = n0 + tc * 4 + TL_GS * g;
#if !TL_EPILOGUE
        if (TL_C_VEC && c + 3 < N) {  // a quad at once
          TlQuad q;
#pragma unroll
          for (int e = 0; e < 4; ++e) q.v[e] = TL_S(acc[i][4 * g + e]);
          *reinterpret_cast<TlQuad*>(o.c + r * p.cm + c) = q;
          continue;
        }
#endif
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (c + e < N) TL_EPILOGUE_STORE(p, o, r, c + e, acc[i][4 * g + e]);
      }
    }
  }
}
