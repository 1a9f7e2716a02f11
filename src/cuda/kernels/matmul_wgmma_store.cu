// The wgmma matmul's stores (after matmul_wgmma.cu, whose configuration and helpers they
// take): a consumer's accumulators through its shared-memory staging area to c, rounded to the
// storage type, or through the fused epilogue (ping-pong).

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
// The epilogue of staged rows r and r + 1: rows m0 + r.. and columns c0.. of the output, 4
// columns a lane of the calling warp (4 elements whose arithmetic interleaves: one warp's
// latency, more than its instruction count, bounds an epilogue; H200, gelu(x @ w + b)
// bfloat16 4096 with the epilogue in a cooperative kernel: 237.1 us a column pair a lane,
// 231.1 and 235.4 us so).
__device__ __forceinline__ void tl_wg_epilogue_rows(const MatmulArgs& p, const TlOut& o, const unsigned char* stg,
                                                    int r, int m0, int c0) {
  const int lane = int(threadIdx.x) % 32, c = c0 + 4 * (lane % 16);
  r += lane / 16;
  if (m0 + r >= int(p.M) || c >= int(p.N)) return;
  const uint2 four = *reinterpret_cast<const uint2*>(stg + tl_wg_at(r, lane % 16 / 2) + 8 * (lane % 2));
  TL_S e[4];
  e[0].bits = uint16_t(four.x), e[1].bits = uint16_t(four.x >> 16);
  e[2].bits = uint16_t(four.y), e[3].bits = uint16_t(four.y >> 16);
  tl_ep_run_cols<4>(p.ep, o.eo, m0 + r, c, min(4, int(p.N) - c), e);
}
#endif

// The store of one consumer warpgroup's 64 x TL_BN results, rows m0.. and columns n0.. of
// batch `batch`, TL_OUT_COLS columns at a time through its 8 KiB staging area `stg`: whole 16-byte row
// chunks a thread, coalesced 16-byte stores (2.3x faster than each thread storing its
// fragments' column pairs where the store dominates: 64 x (512 x 64 @ 64 x 512), H200); with
// a fused epilogue (ping-pong only), through tl_wg_epilogue_rows.
// (The cooperative kernel runs an epilogue as a kernel of its own: its 8 consumer warps an SM
// are too few to hide the epilogue's latency, in the store or spread over the next tile's
// stages. H200, gelu(x @ w + b) bfloat16 4096: 208.8 us with the epilogue's own kernel,
// 231.1 us with the epilogue run by each warp in slices while the next tile's products ran
// (eager 242); 352.4 us by the producer warpgroup's 3 idle warps from a staged tile (eager
// 241, an earlier call, before float16/bfloat16 rounding took one instruction).)
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
#else
  TL_S* const C = reinterpret_cast<TL_S*>(p.c) + off[2];
  const bool vec = p.cn == 1 && ((reinterpret_cast<uint64_t>(C) | uint64_t(p.cm) * TL_ES) & 15) == 0;
  const int M = int(p.M), N = int(p.N);
#endif
  const int t = int(threadIdx.x) % 128;
#pragma unroll
  for (int q = 0; q < TL_BN / TL_OUT_COLS; ++q) {
    tl_wg_sync(consumer);  // the last chunk's reads are done
    tl_wg_stage(d, q, stg);
    tl_wg_sync(consumer);
    const int c0 = n0 + TL_OUT_COLS * q;
#if TL_EPILOGUE
    // Warp w: rows 2w, 2w + 1, 2w + 8, ...
#pragma unroll 2
    for (int r = 2 * (t / 32); r < 64; r += 8) tl_wg_epilogue_rows(p, o, stg, r, m0, c0);
#else
    // Thread t: chunk t % 8 (16 bytes of columns) of rows t / 8, t / 8 + 16, ...
    constexpr int per = 16 / TL_ES;  // elements a chunk
    const int ch = t % 8, c = c0 + per * ch;
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
