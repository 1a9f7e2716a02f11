// What every matmul kernel (matmul*.cu) starts with, after common_source():
// c[b, m, n] = sum_k a[b, m, k] * b[b, k, n] for b < batches, the batch offsets of each
// operand unravelled from TL_RANK merged batch dims (a broadcast operand has stride 0).
// Strides and offsets are in elements. The GEMV kernel gets the same struct with the roles
// of a and b (and m and n) swapped by the host when M is the small dimension.
// With a fused epilogue, the host puts its source (cuda_codegen.h, matmul_epilogue_source:
// TL_EPILOGUE 1, TlEpArgs, tl_ep_run) before this file, and MatmulArgs carries its arguments.

#ifndef TL_EPILOGUE
#define TL_EPILOGUE 0
#endif

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
#if TL_EPILOGUE
  TlEpArgs ep;  // (the host swaps its sm and sn with m and n)
#endif
};

// The element offsets of batch `batch` in a, b and c.
__device__ inline void tl_mm_offsets(const MatmulArgs& p, int64_t batch, int64_t (&off)[3]) {
  off[0] = p.off[0];
  off[1] = p.off[1];
  off[2] = p.off[2];
  tl_unravel<TL_RANK, 3>(batch, p.shape, p.st, off);
}

// cp.async (sm_80+; mma, simt): a shared-memory address for asm, a 16-byte copy of which the
// first `bytes` (0..16) are read from src and the rest zero-filled, and the group fence/wait.
__device__ __forceinline__ unsigned tl_smem_addr(const void* p) {
  unsigned a;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
  return a;
}
__device__ __forceinline__ void tl_cp_async16(unsigned dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void tl_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>  // all but the newest N groups of this thread have landed
__device__ __forceinline__ void tl_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// The chunks of W elements (along c) that this thread moves of one operand's tiles (mma,
// simt): chunk tid + THREADS j, j < N, of a tile of RC chunks a row. Element (r, c) of the
// operand's matrix view is g[r * sr + c * sc], r < nr, c < nc; a k-major tile spans rows mn0..
// and KB columns a step, the other kind KB rows a step and columns mn0... Sources advance a
// step per chunk moved.
template <class T, int KMAJOR, int N, int RC, int W, int KB, int THREADS>
struct TlChunks {
  const T* g;
  const T* src[N];  // chunk j of the next step
  int64_t step, sc;
  // k-major: columns left from chunk j's first at step 0 (0 for a row past the edge);
  // otherwise: chunk j's columns in range, and nk rows in all.
  int lim[N], nk;

  __device__ TlChunks(const T* g_, int64_t sr, int64_t sc_, int nr, int nc, int mn0) : g(g_), sc(sc_), nk(nr) {
    step = KMAJOR ? KB * sc : KB * sr;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int q = int(threadIdx.x) + THREADS * j, r = q / RC, c = q % RC * W;
      if (KMAJOR) {
        const bool in = mn0 + r < nr;
        src[j] = g + (in ? mn0 + r : 0) * sr + c * sc;
        lim[j] = in ? nc - c : 0;
      } else {
        src[j] = g + r * sr + (mn0 + c) * sc;
        lim[j] = min(max(nc - mn0 - c, 0), W);
      }
    }
  }
  __device__ int count(int j, int kt) const {  // elements of chunk j in range at step kt
    if (KMAJOR) return min(max(lim[j] - kt * KB, 0), W);
    return (int(threadIdx.x) + THREADS * j) / RC < nk - kt * KB ? lim[j] : 0;
  }
};

// A k split over grid y (mma, simt: TL_SPLIT), grid x walking a batch's tiles: each split
// covers kslice of k (all of it when gridDim.y is 1). A split block adds its tile's sums into
// part ([tile][split][sum][thread] floats) and counts itself in counters[tile] (left zero);
// the tile's last block adds the splits' sums in split order (the same bits every run) and
// stores the tile.
struct TlSplitArgs {
  MatmulArgs mm;
  float* part;
  unsigned* counters;
  int64_t kslice;
};

// A split block's end at batch `batch`: this thread's F sums acc(f) out; true in the tile's
// last block, its acc(f) then the splits' totals. flag: a shared word of the block's, unused
// until its next barrier.
template <int F, int THREADS, class Flag, class Acc>
__device__ __forceinline__ bool tl_split_last(const TlSplitArgs& g, int64_t batch, Flag* flag, Acc acc) {
  const int64_t tile = batch * gridDim.x + blockIdx.x;
  float* part = g.part + (tile * gridDim.y * F) * THREADS + threadIdx.x;
#pragma unroll
  for (int f = 0; f < F; ++f) part[(blockIdx.y * F + f) * THREADS] = acc(f);
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) *flag = atomicAdd(&g.counters[tile], 1u) == gridDim.y - 1;
  __syncthreads();
  const bool last = *flag != 0;
  __syncthreads();
  if (!last) return false;
  __threadfence();
  // Split by split, all F sums of a split loaded at once (F loads in flight, not one).
#pragma unroll
  for (int f = 0; f < F; ++f) acc(f) = __ldcg(part + f * THREADS);
  for (unsigned sp = 1; sp < gridDim.y; ++sp) {
    const float* at = part + sp * F * THREADS;
#pragma unroll
    for (int f = 0; f < F; ++f) acc(f) += __ldcg(at + f * THREADS);
  }
  if (threadIdx.x == 0) g.counters[tile] = 0;
  return true;
}

// Multiply-adds rounded once (fused kernels are compiled with --fmad=false, so ask for it).
__device__ inline float tl_madd(float acc, float a, float b) { return __fmaf_rn(a, b, acc); }
__device__ inline double tl_madd(double acc, double a, double b) { return __fma_rn(a, b, acc); }

// The store every matmul kernel ends with: c[batch, r, c] = v (the float / double
// accumulator), through the fused epilogue when one is compiled in (TL_EPILOGUE; then the
// epilogue's stores write the final output, in its dtype, and c itself is not written).
// A kernel calls, once per batch after tl_mm_offsets(p, batch, off):
//   const TlOut o = tl_out(p, batch, off);
// and for each element of c it holds, r < M, c < N (its own, possibly swapped, m and n):
//   TL_EPILOGUE_STORE(p, o, r, c, v);
// Vector stores of c are for !TL_EPILOGUE only.
struct TlOut {
  TL_S* c;  // this batch's c
#if TL_EPILOGUE
  int64_t eo[TL_EP_MEM];  // the epilogue's memory operands at this batch
#endif
};

__device__ inline TlOut tl_out(const MatmulArgs& p, int64_t batch, const int64_t (&off)[3]) {
  TlOut o;
  o.c = reinterpret_cast<TL_S*>(p.c) + off[2];
#if TL_EPILOGUE
#pragma unroll
  for (int j = 0; j < TL_EP_MEM; ++j) o.eo[j] = p.ep.off[j];
  tl_unravel<TL_EP_RANK, TL_EP_MEM>(batch, p.ep.shape, p.ep.st, o.eo);
#else
  (void)batch;
#endif
  return o;
}

template <class V>
__device__ __forceinline__ void tl_store(const MatmulArgs& p, const TlOut& o, int64_t r, int64_t c, V v) {
#if TL_EPILOGUE
  tl_ep_run(p.ep, o.eo, r, c, v);
#else
  o.c[r * p.cm + c * p.cn] = tl_from<TL_S, V>(v);
#endif
}

#define TL_EPILOGUE_STORE(p, o, r, c, v) tl_store(p, o, r, c, v)
