// Matrix times a few vectors: c (M x N) = a (M x K) b (K x N) for N <= 16, memory-bound on
// a. (The host hands M <= 16 over as the transposed problem: c^T = b^T a^T.) Two forms, by
// which stride of a is 1:
//   TL_DOT 1  a's k stride is 1 (or neither is): a warp per row of a, its lanes striding
//             along k with TL_V-element vector loads, then a shuffle sum per column of c.
//   TL_DOT 0  a's m stride is 1: a lane per TL_V consecutive rows (vector loads along m,
//             TL_V x TL_SN accumulators), b's rows staged in shared memory kKc k at a time
//             and read back as broadcast vectors; the 8 warps of a block interleave along k,
//             their partials summed in shared memory. Grid y splits k when the row tiles
//             alone leave SMs idle: each split writes partials, tl_matmul_gemv_fold adds them.
// Configured by the host (after matmul_common.cu):
//   TL_S    storage type;  TL_C  accumulator (float, double for float64)
//   TL_SN   columns of c accumulated (N rounded up to 1, 2, 4, 8 or 16)
//   TL_V    elements per vector load of a (1: scalar loads at a's own strides)
//   TL_YV   (TL_DOT 1) b's k stride is 1 and its columns are TL_V-aligned: vector loads of b too

struct alignas(TL_V * sizeof(TL_S)) TlVec {
  TL_S v[TL_V];
};

// The kernel's argument: the matmul, and for a k split (TL_DOT 0, gridDim.y > 1) the
// partial sums, [split][batch][row][TL_SN] in TL_C, and the k each split covers.
struct GemvArgs {
  MatmulArgs mm;
  TL_C* part;
  int64_t kslice;
};

// TL_DOT 0: k rows of the small operand staged in shared memory per step; a row padded by
// 16 bytes when its size is a multiple of 32 (the fill writes down a column: fewer conflicts).
constexpr int kKc = 128;
constexpr int kRow = TL_SN * sizeof(TL_C) % 32 ? TL_SN : TL_SN + 16 / int(sizeof(TL_C));

// At most 128 registers (two blocks an SM): left to itself, ptxas aims at 64 and spills.
extern "C" __global__ void __launch_bounds__(256, 2) tl_matmul_gemv(const GemvArgs g) {
#if TL_DOT
  const MatmulArgs& p = g.mm;
  const int lane = int(threadIdx.x) % 32;
  const int64_t l = int64_t(blockIdx.x) * 8 + threadIdx.x / 32;
  if (l >= p.M) return;  // no barriers below
  for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
    int64_t off[3];
    tl_mm_offsets(p, batch, off);
    const TL_S* X = reinterpret_cast<const TL_S*>(p.a) + off[0] + l * p.am;
    const TL_S* Y = reinterpret_cast<const TL_S*>(p.b) + off[1];
    TL_C acc[TL_SN];
#pragma unroll
    for (int s = 0; s < TL_SN; ++s) acc[s] = TL_C(0);
    const int64_t kv = TL_V > 1 ? p.K / TL_V * TL_V : 0;  // the part read as whole vectors
    for (int64_t k = int64_t(lane) * TL_V; k < kv; k += 32 * TL_V) {
      const TlVec x = *reinterpret_cast<const TlVec*>(X + k);
#pragma unroll
      for (int s = 0; s < TL_SN; ++s) {
        if (s >= p.N) break;
#if TL_YV
        const TlVec y = *reinterpret_cast<const TlVec*>(Y + s * p.bn + k);
#pragma unroll
        for (int e = 0; e < TL_V; ++e) acc[s] = tl_madd(acc[s], TL_C(x.v[e]), TL_C(y.v[e]));
#else
#pragma unroll
        for (int e = 0; e < TL_V; ++e) acc[s] = tl_madd(acc[s], TL_C(x.v[e]), TL_C(Y[(k + e) * p.bk + s * p.bn]));
#endif
      }
    }
    for (int64_t k = kv + lane; k < p.K; k += 32) {
      const TL_C x = TL_C(X[k * p.ak]);
#pragma unroll
      for (int s = 0; s < TL_SN; ++s)
        if (s < p.N) acc[s] = tl_madd(acc[s], x, TL_C(Y[k * p.bk + s * p.bn]));
    }
    const TlOut o = tl_out(p, batch, off);
#pragma unroll
    for (int s = 0; s < TL_SN; ++s) {
      TL_C v = acc[s];
#pragma unroll
      for (int sh = 16; sh > 0; sh /= 2) v += __shfl_xor_sync(0xffffffffu, v, sh);
      if (lane == 0 && s < p.N) TL_EPILOGUE_STORE(p, o, l, s, v);
    }
  }
#else
  // Y's rows of this block's k chunk, in the accumulator type and padded with zeros to TL_SN
  // columns: read back as whole vectors, the same address across the block (a broadcast).
  __shared__ __align__(16) TL_C ys[kKc][kRow];
  __shared__ TL_C red[TL_SN][32 * TL_V];
  const MatmulArgs& p = g.mm;
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  const int64_t l0 = int64_t(blockIdx.x) * 32 * TL_V, l = l0 + lane * TL_V;
  const int64_t kb = int64_t(blockIdx.y) * g.kslice, ke = min(p.K, kb + g.kslice);  // this block's k
  for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
    int64_t off[3];
    tl_mm_offsets(p, batch, off);
    const TL_S* X = reinterpret_cast<const TL_S*>(p.a) + off[0];
    const TL_S* Y = reinterpret_cast<const TL_S*>(p.b) + off[1];
    TL_C acc[TL_V][TL_SN];
#pragma unroll
    for (int e = 0; e < TL_V; ++e)
#pragma unroll
      for (int s = 0; s < TL_SN; ++s) acc[e][s] = TL_C(0);
    for (int64_t k0 = kb; k0 < ke; k0 += kKc) {
      const int kn = int(min(int64_t(kKc), ke - k0));
      // Consecutive threads take consecutive k of one column of Y: coalesced when its k
      // stride is 1 (a row-major a of the caller's problem).
      for (int i = int(threadIdx.x); i < kKc * TL_SN; i += 256) {
        const int s = i / kKc, kk = i % kKc;
        ys[kk][s] = kk < kn && s < p.N ? TL_C(Y[(k0 + kk) * p.bk + s * p.bn]) : TL_C(0);
      }
      __syncthreads();
      // Warps interleave along k, so each k row of X is read by one warp as 32 * TL_V
      // consecutive elements; unrolled for two loads in flight per warp (4 spills the 64
      // accumulators of sn16 and sn8 x v8 under the 128-register cap).
#pragma unroll 2
      for (int kk = warp; kk < kn; kk += 8) {
        const int64_t k = k0 + kk;
        TL_C x[TL_V];
        if (TL_V > 1 && l + TL_V <= p.M) {
          const TlVec q = *reinterpret_cast<const TlVec*>(X + k * p.ak + l);
#pragma unroll
          for (int e = 0; e < TL_V; ++e) x[e] = TL_C(q.v[e]);
        } else {
#pragma unroll
          for (int e = 0; e < TL_V; ++e) x[e] = l + e < p.M ? TL_C(X[k * p.ak + (l + e) * p.am]) : TL_C(0);
        }
#pragma unroll
        for (int s = 0; s < TL_SN; ++s) {
          const TL_C y = ys[kk][s];
#pragma unroll
          for (int e = 0; e < TL_V; ++e) acc[e][s] = tl_madd(acc[e][s], x[e], y);
        }
      }
      __syncthreads();  // ys is refilled by the next chunk
    }
    // Warp 0's partials, then each other warp's added in turn: the same order every run.
    for (int w = 0; w < 8; ++w) {
      if (warp == w)
#pragma unroll
        for (int s = 0; s < TL_SN; ++s)
#pragma unroll
          for (int e = 0; e < TL_V; ++e) red[s][lane * TL_V + e] = w ? red[s][lane * TL_V + e] + acc[e][s] : acc[e][s];
      __syncthreads();
    }
    if (gridDim.y == 1) {
      const TlOut o = tl_out(p, batch, off);
      for (int i = int(threadIdx.x); i < TL_SN * 32 * TL_V; i += 256) {
        const int s = i / (32 * TL_V), li = i % (32 * TL_V);
        if (s < p.N && l0 + li < p.M) TL_EPILOGUE_STORE(p, o, l0 + li, s, red[s][li]);
      }
    } else {
      // This k slice's sums (rows l, TL_SN columns each), for tl_matmul_gemv_fold.
      TL_C* part = g.part + ((int64_t(blockIdx.y) * p.batches + batch) * p.M + l0) * TL_SN;
      for (int i = int(threadIdx.x); i < TL_SN * 32 * TL_V; i += 256) {
        const int li = i / TL_SN, s = i % TL_SN;
        if (l0 + li < p.M) part[i] = red[s][li];
      }
    }
    __syncthreads();  // red is refilled by the next batch
  }
#endif
}

// c = the sum of the k splits' partials, added in split order (run-to-run identical): a
// thread per element of c.
extern "C" __global__ void __launch_bounds__(256) tl_matmul_gemv_fold(const GemvArgs g) {
  const MatmulArgs& p = g.mm;
  const int64_t splits = (p.K + g.kslice - 1) / g.kslice, per_batch = p.M * p.N;
  for (int64_t i = int64_t(blockIdx.x) * 256 + threadIdx.x; i < p.batches * per_batch; i += int64_t(gridDim.x) * 256) {
    const int64_t batch = i / per_batch, l = i % per_batch / p.N, s = i % p.N;
    const TL_C* part = g.part + (batch * p.M + l) * TL_SN + s;
    TL_C v = part[0];
    for (int64_t j = 1; j < splits; ++j) v += part[j * p.batches * p.M * TL_SN];
    int64_t off[3];
    tl_mm_offsets(p, batch, off);
    const TlOut o = tl_out(p, batch, off);
    TL_EPILOGUE_STORE(p, o, l, s, v);
  }
}
