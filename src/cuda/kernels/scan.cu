// cumsum / cumprod along one axis: a block per line (grid-stride over lines), the line
// walked in tiles of blockDim elements: a warp-shuffle scan per warp, the warp totals scanned
// by warp 0, and the tiles chained by a running carry. Configured by the host:
//   TL_RANK  merged dims of the lines;  TL_S / TL_O  input / output storage types;
//   TL_C  accumulator (float, double or int64_t);  TL_PROD  1 for cumprod.

struct ScanArgs {
  const char* in;
  char* out;
  int64_t off[2];            // in, out (elements)
  int64_t st[2][TL_RANK];    // line dims: in, out strides
  int64_t shape[TL_RANK];
  int64_t n, in_stride, out_stride, lines;
};

__device__ inline TL_C tl_step(TL_C a, TL_C b) {
#if TL_INTEGER  // unsigned arithmetic wraps instead of overflowing, as on the CPU
  return TL_PROD ? TL_C(uint64_t(a) * uint64_t(b)) : TL_C(uint64_t(a) + uint64_t(b));
#else
  return TL_PROD ? a * b : a + b;
#endif
}

extern "C" __global__ void tl_scan(const ScanArgs a) {
  __shared__ TL_C totals[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  const TL_C identity = TL_C(TL_PROD ? 1 : 0);
  for (int64_t line = blockIdx.x; line < a.lines; line += gridDim.x) {
    int64_t off[2] = {a.off[0], a.off[1]};
    tl_unravel<TL_RANK, 2>(line, a.shape, a.st, off);
    const TL_S* in = (const TL_S*)a.in + off[0];
    TL_O* out = (TL_O*)a.out + off[1];
    TL_C carry = identity;
    for (int64_t base = 0; base < a.n; base += blockDim.x) {
      const int64_t i = base + threadIdx.x;
      TL_C x = i < a.n ? TL_C(in[i * a.in_stride]) : identity;
      for (int s = 1; s < 32; s <<= 1) {
        const TL_C y = __shfl_up_sync(0xffffffffu, x, s);
        if (lane >= s) x = tl_step(y, x);
      }
      if (lane == 31) totals[warp] = x;
      __syncthreads();
      if (warp == 0) {
        TL_C t = lane < warps ? totals[lane] : identity;
        for (int s = 1; s < 32; s <<= 1) {
          const TL_C y = __shfl_up_sync(0xffffffffu, t, s);
          if (lane >= s) t = tl_step(y, t);
        }
        totals[lane] = t;
      }
      __syncthreads();
      if (warp > 0) x = tl_step(totals[warp - 1], x);
      if (i < a.n) out[i * a.out_stride] = tl_from<TL_O, TL_C>(tl_step(carry, x));
      carry = tl_step(carry, totals[warps - 1]);
      __syncthreads();
    }
  }
}
