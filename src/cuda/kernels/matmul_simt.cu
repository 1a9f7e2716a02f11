// SIMT matmul in float32 arithmetic: float32 operands (the default path: exact-ish, no tf32
// rounding), and float16 / bfloat16 on GPUs without the tensor-core kernel (before sm_80).
// A block of 256 threads computes a square TL_T x TL_T tile (TL_T = 16 * TL_TM), each thread
// TL_TM x TL_TM outputs in registers, as four-wide groups 64 apart so that its shared-memory
// reads are 16-byte vectors without bank conflicts. K advances TL_KB at a time through two
// shared-memory buffers: the next step's loads are in flight while this step's math runs.
// Every thread loads one quad (4 elements along the operand's unit-stride dim) of each
// operand per step, as one vector load when the host says the operand allows it and the quad
// is inside the matrix; edges are zero-filled. Configured by the host (after matmul_common.cu):
//   TL_S         storage type of a, b and c (float, tl_f16, tl_bf16)
//   TL_TM        8 (128 x 128 tiles) or 4 (64 x 64, for problems with few tiles)
//   TL_MIN_BLOCKS  blocks an SM must fit (caps registers at 64K / (256 * blocks))
//   TL_A_KMAJOR  1: quads of a run along k; 0: along m (a's m stride is 1)
//   TL_B_KMAJOR  1: quads of b run along k; 0: along n (b's n stride is 1)
//   TL_A_VEC, TL_B_VEC, TL_C_VEC  1: quads of that operand along its unit-stride dim are
//                aligned vectors (leading and batch strides and offset multiples of 4)

#define TL_T (16 * TL_TM)
#define TL_KB (1024 / TL_T)  // one quad of each operand per thread and step
#define TL_LD (TL_T + 4)     // padded rows: a k-major quad's four stores hit distinct banks

struct alignas(4 * sizeof(TL_S)) TlQuad {
  TL_S v[4];
};

// The quad this thread loads of an operand at each step: element (r, c) of the operand's
// matrix view is g[r * sr + c * sc], r < nr, c < nc; a k-major operand is viewed as (mn, k),
// the other as (k, mn), quads running along c. Its source advances a step per fetch.
template <int KMAJOR, int VEC>
struct TlQuadLoad {
  const TL_S* src;
  int64_t step, sc;
  int lim;  // k-major: columns left at step 0 (0 past the last row); else: columns in range
  int kr, nk;  // else: the quad's row at step 0, and the rows in all

  __device__ TlQuadLoad(const TL_S* g, int64_t sr, int64_t sc_, int nr, int nc, int mn0) : sc(sc_), nk(nr) {
    const int q = int(threadIdx.x);
    if (KMAJOR) {  // quad q: row q / (KB/4), columns 4 (q % (KB/4)) ...
      const int r = mn0 + q / (TL_KB / 4), c = q % (TL_KB / 4) * 4;
      src = g + (r < nr ? r : 0) * sr + c * sc;
      lim = r < nr ? nc - c : 0;
      step = TL_KB * sc;
    } else {  // quad q: row q / (T/4), columns mn0 + 4 (q % (T/4)) ...
      const int c = mn0 + q % (TL_T / 4) * 4;
      kr = q / (TL_T / 4);
      src = g + kr * sr + c * sc;
      lim = min(max(nc - c, 0), 4);
      step = TL_KB * sr;
    }
  }
  __device__ void fetch(int kt, float (&v)[4]) {
    const int n = KMAJOR ? min(max(lim - kt * TL_KB, 0), 4) : kr < nk - kt * TL_KB ? lim : 0;
    if (VEC && n == 4) {
      const TlQuad q = *reinterpret_cast<const TlQuad*>(src);
#pragma unroll
      for (int e = 0; e < 4; ++e) v[e] = float(q.v[e]);
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) v[e] = e < n ? float(src[e * sc]) : 0.f;
    }
    src += step;
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

extern "C" __global__ void __launch_bounds__(256, TL_MIN_BLOCKS) tl_matmul_simt(const MatmulArgs p) {
  __shared__ __align__(16) float as[2][TL_KB][TL_LD];
  __shared__ __align__(16) float bs[2][TL_KB][TL_LD];
  // (The host keeps M, N and K below 2^31.)
  const int M = int(p.M), N = int(p.N), K = int(p.K);
  const int m0 = int(blockIdx.y) * TL_T, n0 = int(blockIdx.x) * TL_T;
  const int tx = int(threadIdx.x) % 16, ty = int(threadIdx.x) / 16;
  const int kts = (K + TL_KB - 1) / TL_KB;

  for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
    int64_t off[3];
    tl_mm_offsets(p, batch, off);
    const TL_S* A = reinterpret_cast<const TL_S*>(p.a) + off[0];
    const TL_S* B = reinterpret_cast<const TL_S*>(p.b) + off[1];
    TlQuadLoad<TL_A_KMAJOR, TL_A_VEC> xa(A, TL_A_KMAJOR ? p.am : p.ak, TL_A_KMAJOR ? p.ak : p.am, TL_A_KMAJOR ? M : K,
                                         TL_A_KMAJOR ? K : M, m0);
    TlQuadLoad<TL_B_KMAJOR, TL_B_VEC> xb(B, TL_B_KMAJOR ? p.bn : p.bk, TL_B_KMAJOR ? p.bk : p.bn, TL_B_KMAJOR ? N : K,
                                         TL_B_KMAJOR ? K : N, n0);
    float acc[TL_TM][TL_TM];
#pragma unroll
    for (int i = 0; i < TL_TM; ++i)
#pragma unroll
      for (int j = 0; j < TL_TM; ++j) acc[i][j] = 0.f;

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
          const float4 x = *reinterpret_cast<const float4*>(&as[cur][k][ty * 4 + 64 * g]);
          const float4 y = *reinterpret_cast<const float4*>(&bs[cur][k][tx * 4 + 64 * g]);
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

    tl_mm_offsets(p, batch, off);  // again: cheaper than keeping them live through the loop
    const TlOut o = tl_out(p, batch, off);
#pragma unroll
    for (int i = 0; i < TL_TM; ++i) {
      const int r = m0 + ty * 4 + 64 * (i / 4) + i % 4;
      if (r >= M) continue;
#pragma unroll
      for (int g = 0; g < TL_TM / 4; ++g) {
        const int c = n0 + tx * 4 + 64 * g;
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
