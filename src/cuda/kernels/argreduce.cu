// ArgMax / ArgMin along one axis: a block per output (grid-stride over outputs), its threads
// striding over the axis; the first NaN wins, then the best value, ties to the lower index
// (NumPy's rules). Configured by the host:
//   TL_RANK  merged kept dims;  TL_S  storage type;  TL_C  compare type (double / int64_t);
//   TL_BETTER(a, b)  a > b for argmax, a < b for argmin.

struct ArgReduceArgs {
  const char* in;
  int64_t* out;
  int64_t off[2];                // in, out (elements)
  int64_t st[2][TL_RANK];        // kept dims: in, out strides
  int64_t shape[TL_RANK];
  int64_t n, axis_stride, outputs;
};

// Whether candidate (v, i) beats (w, j).
__device__ inline bool tl_arg_wins(TL_C v, int64_t i, TL_C w, int64_t j) {
  const bool vn = v != v, wn = w != w;
  if (vn || wn) return vn && (!wn || i < j);
  return TL_BETTER(v, w) || (v == w && i < j);
}

extern "C" __global__ void tl_argreduce(const ArgReduceArgs a) {
  __shared__ TL_C best_v[32];
  __shared__ int64_t best_i[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  for (int64_t o = blockIdx.x; o < a.outputs; o += gridDim.x) {
    int64_t off[2] = {a.off[0], a.off[1]};
    tl_unravel<TL_RANK, 2>(o, a.shape, a.st, off);
    const TL_S* p = (const TL_S*)a.in + off[0];
    TL_C v = TL_C(0);
    int64_t i = -1;  // none yet
    for (int64_t r = threadIdx.x; r < a.n; r += blockDim.x) {
      const TL_C x = TL_C(p[r * a.axis_stride]);
      if (i < 0 || tl_arg_wins(x, r, v, i)) v = x, i = r;
    }
    for (int round = 0; round < 2; ++round) {
      for (int s = 16; s > 0; s >>= 1) {
        const TL_C w = __shfl_down_sync(0xffffffffu, v, s);
        const int64_t j = __shfl_down_sync(0xffffffffu, i, s);
        if (j >= 0 && (i < 0 || tl_arg_wins(w, j, v, i))) v = w, i = j;
      }
      if (round == 1) break;
      if (lane == 0) best_v[warp] = v, best_i[warp] = i;
      __syncthreads();
      v = lane < warps ? best_v[lane] : TL_C(0);
      i = lane < warps ? best_i[lane] : -1;
      __syncthreads();
    }
    if (threadIdx.x == 0) a.out[off[1]] = i;
  }
}
