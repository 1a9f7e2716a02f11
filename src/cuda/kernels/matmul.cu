// A plain tiled matmul, correct for any shape and strides, for float64 (which GPUs run at a
// fraction of float32's rate; the fast kernels are matmul_mma.cu, matmul_simt.cu and
// matmul_gemv.cu). A block computes a 64x64 tile of c with 256 threads, 4x4 outputs each,
// stepping K by 16 through shared memory; edges are predicated. blockIdx.z (and a
// grid-stride loop) walks the batch. Configured by the host (after matmul_common.cu):
//   TL_S  storage type of a, b and c;  TL_C  accumulator.

#define TL_BM 64
#define TL_BN 64
#define TL_BK 16

extern "C" __global__ void __launch_bounds__(256) tl_matmul(const MatmulArgs p) {
  __shared__ TL_C as[TL_BK][TL_BM + 1];
  __shared__ TL_C bs[TL_BK][TL_BN + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t row0 = int64_t(blockIdx.y) * TL_BM, col0 = int64_t(blockIdx.x) * TL_BN;
  for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
    int64_t off[3];
    tl_mm_offsets(p, batch, off);
    const TL_S* A = (const TL_S*)p.a + off[0];
    const TL_S* B = (const TL_S*)p.b + off[1];
    TL_C acc[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) acc[i][j] = TL_C(0);
    for (int64_t k0 = 0; k0 < p.K; k0 += TL_BK) {
      for (int e = threadIdx.x; e < TL_BM * TL_BK; e += 256) {
        const int r = e / TL_BK, k = e % TL_BK;
        const int64_t gr = row0 + r, gk = k0 + k;
        as[k][r] = gr < p.M && gk < p.K ? TL_C(A[gr * p.am + gk * p.ak]) : TL_C(0);
      }
      for (int e = threadIdx.x; e < TL_BK * TL_BN; e += 256) {
        const int k = e / TL_BN, c = e % TL_BN;
        const int64_t gk = k0 + k, gc = col0 + c;
        bs[k][c] = gk < p.K && gc < p.N ? TL_C(B[gk * p.bk + gc * p.bn]) : TL_C(0);
      }
      __syncthreads();
      for (int k = 0; k < TL_BK; ++k) {
        TL_C av[4], bv[4];
        for (int i = 0; i < 4; ++i) av[i] = as[k][ty + 16 * i];
        for (int j = 0; j < 4; ++j) bv[j] = bs[k][tx + 16 * j];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) acc[i][j] = tl_madd(acc[i][j], av[i], bv[j]);
      }
      __syncthreads();
    }
    const TlOut o = tl_out(p, batch, off);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const int64_t r = row0 + ty + 16 * i, c = col0 + tx + 16 * j;
        if (r < p.M && c < p.N) TL_EPILOGUE_STORE(p, o, r, c, acc[i][j]);
      }
  }
}
