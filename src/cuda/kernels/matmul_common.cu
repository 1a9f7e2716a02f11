// What every matmul kernel (matmul*.cu) starts with, after common_source():
// c[b, m, n] = sum_k a[b, m, k] * b[b, k, n] for b < batches, the batch offsets of each
// operand unravelled from TL_RANK merged batch dims (a broadcast operand has stride 0).
// Strides and offsets are in elements. The GEMV kernel gets the same struct with the roles
// of a and b (and m and n) swapped by the host when M is the small dimension.

struct MatmulArgs {
  const char* a;
  const char* b;
  char* c;
  int64_t off[3];
  int64_t st[3][TL_RANK];  // batch dims: a, b, c strides
  int64_t shape[TL_RANK];
  int64_t M, N, K;
  int64_t am, ak, bk, bn, cm, cn;
  int64_t batches;
};

// The element offsets of batch `batch` in a, b and c.
__device__ inline void tl_mm_offsets(const MatmulArgs& p, int64_t batch, int64_t (&off)[3]) {
  off[0] = p.off[0];
  off[1] = p.off[1];
  off[2] = p.off[2];
  tl_unravel<TL_RANK, 3>(batch, p.shape, p.st, off);
}

// Multiply-adds rounded once (fused kernels are compiled with --fmad=false, so ask for it).
__device__ inline float tl_madd(float acc, float a, float b) { return __fmaf_rn(a, b, acc); }
__device__ inline double tl_madd(double acc, double a, double b) { return __fma_rn(a, b, acc); }
