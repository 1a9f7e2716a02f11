// The wgmma matmul's stores (after matmul_wgmma.cu, whose configuration and helpers they
// take): a consumer's accumulators through its shared-memory staging area to c, rounded to the
// storage type, or through the fused epilogue.

// Byte offset of 16-byte chunk ch of row r in a staging area of 128-byte rows, the chunks of
// row r XOR-swizzled by r % 8: neither the fragment writes nor the row reads conflict on banks.
__device__ __forceinline__ int tl_wg_at(int r, int ch) { return r * 128 + ((ch ^ (r & 7)) << 4); }

// Columns TL_OUT_COLS q.. of a consumer's accumulators, rounded once to the storage type,
// into the staging area `stg` (64 rows x TL_OUT_COLS columns). Accumulator layout (PTX ISA,
// wgmma f32 D fragments): warp w of the warpgroup holds rows 16w + lane/4 and that + 8; for
// each 8-column chunk j, d[4j + 2h + e] is row + 8h, column 8j + 2(lane%4) + e.
__device__ __forceinline__ void tl_wg_stage(const float (&d)[TL_ACC], int q, unsigned char* stg) {
  const int t = int(threadIdx.x) % 128, warp = t / 32, lane = t % 32;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = 16 * warp + lane / 4 + 8 * h;
#pragma unroll
    for (int j = 0; j < TL_OUT_COLS / 8; ++j) {
      const int i = 4 * (TL_OUT_COLS / 8 * q + j) + 2 * h, byte = (8 * j + 2 * (lane % 4)) * TL_ES;
      unsigned char* at = stg + tl_wg_at(r, byte / 16) + byte % 16;
#if TL_TF32
      *reinterpret_cast<float2*>(at) = make_float2(tl_wg_value(d[i]), tl_wg_value(d[i + 1]));
#else
      unsigned two;
      asm("cvt.rn." TL_WG_T "x2.f32 %0, %1, %2;\n" : "=r"(two) : "f"(tl_wg_value(d[i + 1])), "f"(tl_wg_value(d[i])));
      *reinterpret_cast<unsigned*>(at) = two;
#endif
    }
  }
}

#if TL_EPILOGUE
static_assert(TL_ES == 2, "an epilogue follows a float16 / bfloat16 product");
// The epilogue of the staged columns c0.. (TL_OUT_COLS of them) of output rows m0..: thread t
// takes 16-byte chunk t % 8 of staged rows t / 8, t / 8 + 16, ... All 4 chunks' products and
// other operands (16 bytes at once where the epilogue has vectors: `vec`, tl_ep_vec_ok) are
// read before any of them runs, so that the few consumer warps an SM has wait on their
// latencies once (H200, gelu(x @ w + b) bfloat16 4096 in the cooperative kernel: 231-237 us
// with 4 columns a lane read as the arithmetic needed them, 190.6 us so).
__device__ __forceinline__ void tl_wg_epilogue_chunks(const MatmulArgs& p, const TlOut& o, const unsigned char* stg,
                                                      int m0, int c0, bool vec) {
  constexpr int per = 8, G = 4;  // elements a chunk; chunks a thread
  const int t = int(threadIdx.x) % 128, ch = t % 8, c = c0 + per * ch, n = min(per, int(p.N) - c);
  const int rows = min(64, int(p.M) - m0);
  if (n <= 0) return;
  const auto unpack = [](const uint4& y, TL_S (&v)[per]) {
    const unsigned w4[4] = {y.x, y.y, y.z, y.w};
#pragma unroll
    for (int k = 0; k < per; ++k) v[k].bits = uint16_t(w4[k / 2] >> (16 * (k % 2)));
  };
  uint4 y[G];
#pragma unroll
  for (int g = 0; g < G; ++g) y[g] = *reinterpret_cast<const uint4*>(stg + tl_wg_at(t / 8 + 16 * g, ch));
#if TL_EP_VEC
  if (vec && n == per) {
    // G / H chunks' operands in flight (H vectors a chunk; wider operands, fewer chunks: 32
    // registers of them spill nothing at 232 a consumer thread).
    constexpr int H = per / TL_EP_VEC, F = G / H > 0 ? G / H : 1;
#pragma unroll
    for (int g0 = 0; g0 < G; g0 += F) {
      TlEpVec x[F][H];
#pragma unroll
      for (int g = 0; g < F; ++g)
#pragma unroll
        for (int h = 0; h < H; ++h)  // (rows past the end read the last: loads of one address merge)
          tl_ep_vec_load(p.ep, o.eo, m0 + min(t / 8 + 16 * (g0 + g), rows - 1), c + h * TL_EP_VEC, x[g][h]);
#pragma unroll
      for (int g = 0; g < F; ++g) {
        const int r = t / 8 + 16 * (g0 + g);
        if (r >= rows) break;
        TL_S v[per];
        unpack(y[g0 + g], v);
#pragma unroll
        for (int h = 0; h < H; ++h)
          tl_ep_vec_run(p.ep, o.eo, m0 + r, c + h * TL_EP_VEC,
                        *reinterpret_cast<const TL_S(*)[TL_EP_VEC]>(v + h * TL_EP_VEC), x[g][h]);
      }
    }
    return;
  }
#else
  (void)vec;
#endif
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (t / 8 + 16 * g >= rows) break;
    TL_S v[per];
    unpack(y[g], v);
    tl_ep_run_cols<per>(p.ep, o.eo, m0 + t / 8 + 16 * g, c, n, v);
  }
}
#endif

// The store of one consumer warpgroup's 64 x TL_BN results, rows m0.. and columns n0.. of
// batch `batch`, TL_OUT_COLS columns at a time through its 8 KiB staging area `stg`: whole 16-byte row
// chunks a thread, coalesced 16-byte stores (2.3x faster than each thread storing its
// fragments' column pairs where the store dominates: 64 x (512 x 64 @ 64 x 512), H200); with
// a fused epilogue, through tl_wg_epilogue_chunks. (An epilogue here holds up the tensor cores
// of a cooperative kernel while it runs, yet cost less than any form that overlapped them:
// H200, gelu(x @ w + b) bfloat16 4096 with the epilogue as a kernel of its own 208.8 us; run
// by each warp in slices while the next tile's products ran, 231.1; by the producer
// warpgroup's idle warps from c in L2, 208.7 (branch wgmma-deferred-epilogue); here, 190.6
// against eager 244.9. The card is at its power limit through a matmul, so what an epilogue
// costs is its instructions, wherever they run.)
#if TL_RS
// The store where c's rows are contiguous (its m stride 1: the host's c^T): columns 32q.. of
// the accumulators staged transposed, stg[j][i] (32 rows of 64 floats, 256 bytes, 16-byte
// chunk ch at ch ^ (j % 8): the fragment writes spread over the banks), then each thread 16
// bytes along i, coalesced.
__device__ __forceinline__ void tl_wg_store_tile(const MatmulArgs& p, int64_t batch, int m0, int n0,
                                                 const float (&d)[TL_ACC], unsigned char* stg, int consumer) {
  int64_t off[3];
  tl_mm_offsets(p, batch, off);
  float* const C = reinterpret_cast<float*>(p.c) + off[2];
  const bool vec = p.cm == 1 && ((reinterpret_cast<uint64_t>(C) | uint64_t(p.cn) * 4) & 15) == 0;
  const int M = int(p.M), N = int(p.N), t = int(threadIdx.x) % 128, warp = t / 32, lane = t % 32;
  const auto at = [](int j, int ch) { return j * 256 + ((ch ^ (j & 7)) << 4); };
#pragma unroll
  for (int q = 0; q < TL_BN / 32; ++q) {
    tl_wg_sync(consumer);  // the last chunk's reads are done
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int jj = 0; jj < 4; ++jj)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int i = 16 * warp + lane / 4 + 8 * h, j = 8 * jj + 2 * (lane % 4) + e;
          *reinterpret_cast<float*>(stg + at(j, i / 4) + (i % 4) * 4) = tl_wg_value(d[4 * (4 * q + jj) + 2 * h + e]);
        }
    tl_wg_sync(consumer);
    const int ch = t % 16, i = m0 + 4 * ch;
#pragma unroll
    for (int j = t / 16; j < 32; j += 8) {
      const int col = n0 + 32 * q + j;
      if (col >= N || i >= M) continue;
      const float4 v = *reinterpret_cast<const float4*>(stg + at(j, ch));
      float* const dst = C + int64_t(col) * p.cn + i;
      if (vec && i + 4 <= M) {
        *reinterpret_cast<float4*>(dst) = v;
        continue;
      }
      const float f[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (i + k < M) C[int64_t(col) * p.cn + int64_t(i + k) * p.cm] = f[k];
    }
  }
}
#else
__device__ __forceinline__ void tl_wg_store_tile(const MatmulArgs& p, int64_t batch, int m0, int n0,
                                                 const float (&d)[TL_ACC], unsigned char* stg, int consumer) {
  int64_t off[3];
  tl_mm_offsets(p, batch, off);
#if TL_EPILOGUE
  const TlOut o = tl_out(p, batch, off);
#if TL_EP_VEC
  const bool vec = tl_ep_vec_ok(p.ep, o.eo);
#else
  const bool vec = false;
#endif
#else
  TL_S* const C = reinterpret_cast<TL_S*>(p.c) + off[2];
  const bool vec = p.cn == 1 && ((reinterpret_cast<uint64_t>(C) | uint64_t(p.cm) * TL_ES) & 15) == 0;
  const int M = int(p.M), N = int(p.N);
#endif
#pragma unroll
  for (int q = 0; q < TL_BN / TL_OUT_COLS; ++q) {
    tl_wg_sync(consumer);  // the last chunk's reads are done
    tl_wg_stage(d, q, stg);
    tl_wg_sync(consumer);
    const int c0 = n0 + TL_OUT_COLS * q;
#if TL_EPILOGUE
    tl_wg_epilogue_chunks(p, o, stg, m0, c0, vec);
#else
    // Thread t: chunk t % 8 (16 bytes of columns) of rows t / 8, t / 8 + 16, ...
    constexpr int per = 16 / TL_ES;  // elements a chunk
    const int t = int(threadIdx.x) % 128, ch = t % 8, c = c0 + per * ch;
#pragma unroll
    for (int r = t / 8; r < 64; r += 16) {
      if (m0 + r >= M || c >= N) continue;
      const uint4 v = *reinterpret_cast<const uint4*>(stg + tl_wg_at(r, ch));
      TL_S* row = C + int64_t(m0 + r) * p.cm;
      if (vec && c + per <= N) {
        *reinterpret_cast<uint4*>(row + c) = v;
        continue;
      }
      const unsigned w4[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int k = 0; k < per; ++k) {  // (unrolled: w4 stays in registers)
#if TL_TF32
        if (c + k < N) row[int64_t(c + k) * p.cn] = __uint_as_float(w4[k]);
#else
        TL_S e;
        e.bits = uint16_t(w4[k / 2] >> (16 * (k % 2)));
        if (c + k < N) row[int64_t(c + k) * p.cn] = e;
#endif
      }
    }
#endif
  }
}
#endif
