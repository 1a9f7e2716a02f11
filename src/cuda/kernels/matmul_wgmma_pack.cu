// The wgmma matmul's operand pack, after matmul_wgmma.cu (whose TL_ES it takes: bytes an
// element). An operand TMA cannot address, copied to scratch: dst[b][r][c] (row pitch ld
// elements, a multiple of 8; batch pitch rows * ld) = src[off + batch offset of b + r * sr +
// c * sc] for b < batches (c past cols left unset, never read: the tensor map's extent is cols).
struct WgmmaPackArgs {
  const char* src;
  char* dst;
  int64_t off;
  int64_t st[1][TL_RANK];
  int64_t shape[TL_RANK];
  int64_t rows, cols, sr, sc, ld, batches;
};

#if TL_ES == 4
typedef unsigned TlPackWord;
#else
typedef uint16_t TlPackWord;
#endif
#define TL_PACK_PER (16 / TL_ES)  // elements in 16 bytes
#define TL_PACK_TILE 64

__device__ __forceinline__ int64_t tl_pack_base(const WgmmaPackArgs& a, int64_t b) {
  int64_t off[1] = {a.off};
  tl_unravel<TL_RANK, 1>(b, a.shape, a.st, off);
  return off[0];
}

// Along c: each thread 16 bytes of a dst row (one 16-byte store; its element loads coalesce
// across the warp where sc is 1).
__device__ __forceinline__ void tl_pack_rows(const WgmmaPackArgs& a, const TlPackWord* src, TlPackWord* dst) {
  const int64_t chunks = (a.cols + TL_PACK_PER - 1) / TL_PACK_PER, per = a.rows * chunks, total = per * a.batches;
  for (int64_t i = int64_t(blockIdx.x) * 256 + threadIdx.x; i < total; i += int64_t(gridDim.x) * 256) {
    const int64_t b = i / per, rem = i - b * per, r = rem / chunks, c0 = (rem - r * chunks) * TL_PACK_PER;
    const TlPackWord* s = src + tl_pack_base(a, b) + r * a.sr + c0 * a.sc;
    TlPackWord v[TL_PACK_PER];
#pragma unroll
    for (int j = 0; j < TL_PACK_PER; ++j) v[j] = c0 + j < a.cols ? s[j * a.sc] : TlPackWord(0);
    *reinterpret_cast<uint4*>(dst + (b * a.rows + r) * a.ld + c0) = *reinterpret_cast<const uint4*>(v);
  }
}

// Transposing (src contiguous along r: tf32's b from [k][n] to [n][k], a stored transposed):
// 64 x 64 tiles through shared memory, read along r, written along c; 16 loads in flight a
// thread.
__device__ __forceinline__ void tl_pack_transposing(const WgmmaPackArgs& a, const TlPackWord* src, TlPackWord* dst) {
  __shared__ TlPackWord tile[TL_PACK_TILE][TL_PACK_TILE + 1];  // (+1: the column reads spread over the banks)
  const int64_t tr = (a.rows + TL_PACK_TILE - 1) / TL_PACK_TILE, tc = (a.cols + TL_PACK_TILE - 1) / TL_PACK_TILE;
  const int64_t per = tr * tc;
  const int x = int(threadIdx.x) % TL_PACK_TILE, y = int(threadIdx.x) / TL_PACK_TILE;
  for (int64_t t = blockIdx.x; t < per * a.batches; t += gridDim.x) {
    const int64_t b = t / per, r0 = (t - b * per) / tc * TL_PACK_TILE, c0 = (t - b * per) % tc * TL_PACK_TILE;
    const TlPackWord* s = src + tl_pack_base(a, b);
#pragma unroll
    for (int i = y; i < TL_PACK_TILE; i += 256 / TL_PACK_TILE)
      if (r0 + x < a.rows && c0 + i < a.cols) tile[x][i] = s[(r0 + x) + (c0 + i) * a.sc];
    __syncthreads();
#pragma unroll
    for (int i = y; i < TL_PACK_TILE; i += 256 / TL_PACK_TILE)
      if (r0 + i < a.rows && c0 + x < a.cols) dst[(b * a.rows + r0 + i) * a.ld + c0 + x] = tile[i][x];
    __syncthreads();
  }
}

extern "C" __global__ void __launch_bounds__(256) tl_matmul_wgmma_pack(const WgmmaPackArgs a) {
  const TlPackWord* src = reinterpret_cast<const TlPackWord*>(a.src);
  TlPackWord* dst = reinterpret_cast<TlPackWord*>(a.dst);
  if (a.sr == 1 && a.sc != 1) tl_pack_transposing(a, src, dst);
  else tl_pack_rows(a, src, dst);
}
