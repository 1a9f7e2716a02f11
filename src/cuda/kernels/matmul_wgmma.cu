// Tensor-core matmul for float16, bfloat16 and float32 as tf32 on Hopper (sm_90a only):
// warpgroup wgmma (m64nNk16, tf32 m64nNk8; float32 accumulators) fed by TMA bulk tensor copies
// into a TL_STAGES-deep ring of 128-byte-swizzled shared-memory stages, each completed on an
// mbarrier. A stage holds 128 bytes of k a row: 64 k of a 16-bit type, 32 of float32.
//   - One producer warpgroup (one thread of it issues the copies; setmaxnreg gives its
//     registers away) and two consumer warpgroups, each computing 64 rows x TL_BN columns of
//     the 128 x TL_BN block tile, one K step of TL_BK per stage.
//   - Persistent: min(tiles, SMs) blocks walk the (batch, tile) sequence, so the producer
//     loads the next tile's stages while the consumers store the last one.
//   - a is read k-contiguous ([m][k] tiles, wgmma K-major); b either k-contiguous ([n][k],
//     K-major) or n-contiguous ([k][n] in 64-column slabs, wgmma MN-major, transposed; 16-bit
//     types only: tf32 wgmma reads both operands K-major, so the host packs such a b).
//   - Tensor maps (host: cuTensorMapEncodeTiled) are 3-d: (k or n, rows, batch); an operand
//     broadcast over the batch has a batch extent of 1 and is read at batch 0. Loads past
//     any edge are zero-filled by the copy engine; the store is predicated on M and N.
// Operands TMA cannot address (unaligned, strided, several batch dims) are packed first by
// tl_matmul_wgmma_pack (matmul_wgmma_pack.cu) into an aligned scratch copy (the host decides).
// The stores are in matmul_wgmma_store.cu.
// Configured by the host (after matmul_common.cu):
//   TL_S           tl_f16, tl_bf16 or float;  TL_WG_T  "f16", "bf16" or "tf32" (wgmma's type)
//   TL_TF32        1: float32 operands as tf32 (TL_S float)
//   TL_RS          1 (tf32): a's tile is MN-major ([k][m], m stride 1) and goes to wgmma from
//                  registers; the host passes c^T = b^T a^T so that an n-contiguous b is this a
//                  (tf32 wgmma reads shared memory K-major only), and c's store is transposed
//   TL_BN          128 or 256: the block tile's columns;  TL_STAGES  shared-memory stages
//   TL_B_KMAJOR    1: b's tile is [n][k] (k stride 1); 0: [k][n] (n stride 1)
//   TL_PINGPONG    1: each consumer takes every other tile whole;
//                  0: both consumers share each tile (cooperative)

#ifndef TL_PINGPONG
#define TL_PINGPONG 0
#endif
#ifndef TL_TF32
#define TL_TF32 0
#endif
#ifndef TL_RS
#define TL_RS 0
#endif
#if TL_EPILOGUE && TL_TF32
#error "a tf32 wgmma kernel takes no epilogue: the host runs it as a kernel of its own"
#endif
#if TL_RS && !TL_TF32
#error "a from registers is tf32's"
#endif
#if TL_TF32
#if !TL_B_KMAJOR || TL_PINGPONG
#error "tf32 wgmma reads b K-major, in the cooperative kernel"
#endif
#define TL_ES 4       // bytes an element
#define TL_WG_K "k8"  // k a wgmma
#else
#define TL_ES 2
#define TL_WG_K "k16"
#endif
#define TL_HALVES (TL_PINGPONG ? 2 : 1)  // 64-row accumulators a consumer holds
#define TL_WG_INFLIGHT (TL_RS ? 0 : 1)    // stages of wgmma a consumer leaves running
#define TL_BM 128
#define TL_BK (128 / TL_ES)  // k a stage: 128 bytes of each row
#define TL_A_BYTES (TL_BM * 128)
#define TL_B_BYTES (TL_BN * 128)
#define TL_STAGE_BYTES (TL_A_BYTES + TL_B_BYTES)
#define TL_OUT_COLS (128 / TL_ES)  // a consumer's output staging: 64 rows of 128 bytes
#define TL_OUT_BYTES (64 * 128)
#define TL_GROUP_M 16  // tile rows walked together (so blocks running at once share a and b in L2)
#define TL_ACC (TL_BN / 2)  // accumulators a consumer thread holds (64 x TL_BN over 128 threads)
#if TL_B_KMAJOR
#define TL_WG_TNSPB "0"
#else
#define TL_WG_TNSPB "1"
#endif

// A CUtensorMap as the driver fills it (opaque, 128 bytes, 64-byte aligned).
struct __align__(64) TlTensorMap {
  uint64_t q[16];
};

// The kernel's one parameter: a's and b's tensor maps, whether a and b move with the batch
// (1) or are broadcast (0), then the common arguments (a and b unused there: the maps address
// them; the batch dims are c's).
struct WgmmaArgs {
  TlTensorMap ta, tb;
  int64_t za, zb;
  MatmulArgs p;
};

__device__ __forceinline__ unsigned tl_wg_smem(const void* p) {
  unsigned a;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
  return a;
}

// mbarriers (shared::cta addresses).
__device__ __forceinline__ void tl_bar_init(unsigned bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void tl_bar_expect(unsigned bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void tl_bar_arrive(unsigned bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Waits until the phase of parity `parity` has completed.
__device__ __forceinline__ void tl_bar_wait(unsigned bar, unsigned parity) {
  unsigned done;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// A box of tensor map `map` at coordinates (x, y, z) into shared memory at dst, completing
// its bytes on mbarrier bar.
__device__ __forceinline__ void tl_tma_load(unsigned dst, const TlTensorMap* map, unsigned bar, int x, int y, int z) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(x), "r"(y), "r"(z)
      : "memory");
}

// A wgmma shared-memory matrix descriptor: start address, leading and stride byte offsets
// (16-byte units), 128-byte swizzle. Tiles start on 1024-byte boundaries (the swizzle atom:
// 8 rows of 128 bytes), so the base offset field stays 0.
__device__ __forceinline__ uint64_t tl_wg_desc(unsigned addr, unsigned lbo, unsigned sbo) {
  return uint64_t((addr & 0x3FFFF) >> 4) | uint64_t(lbo >> 4) << 16 | uint64_t(sbo >> 4) << 32 | uint64_t(1) << 62;
}

// Keeps the compiler from moving accumulator reads or writes across the asynchronous wgmma.
__device__ __forceinline__ void tl_wg_fence_acc(float (&d)[TL_ACC]) {
#pragma unroll
  for (int i = 0; i < TL_ACC; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// The accumulator operands of a wgmma (%0 ... %TL_ACC-1), written out once: PTX names asm
// operands by number only.
#define TL_WG_REGS_LO                                                                                  \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                              \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "                    \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "                    \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define TL_WG_REGS_HI                                                                                  \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "                    \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "                    \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "        \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define TL_WG_D8(b)                                                                                    \
  "+f"(d[b]), "+f"(d[b + 1]), "+f"(d[b + 2]), "+f"(d[b + 3]), "+f"(d[b + 4]), "+f"(d[b + 5]),            \
      "+f"(d[b + 6]), "+f"(d[b + 7])
#define TL_WG_D64(b) TL_WG_D8(b), TL_WG_D8(b + 8), TL_WG_D8(b + 16), TL_WG_D8(b + 24), TL_WG_D8(b + 32),   \
      TL_WG_D8(b + 40), TL_WG_D8(b + 48), TL_WG_D8(b + 56)
#if TL_BN == 256
#define TL_WG_SHAPE "m64n256" TL_WG_K
#define TL_WG_REGS TL_WG_REGS_LO ", " TL_WG_REGS_HI
#define TL_WG_D TL_WG_D64(0), TL_WG_D64(64)
#define TL_WG_AB "%128, %129"
#define TL_WG_SCALE "%130"
#define TL_WG_RS_AB "{%128, %129, %130, %131}, %132"  // a's 4 registers, b's descriptor
#define TL_WG_RS_SCALE "%133"
#else
#define TL_WG_SHAPE "m64n128" TL_WG_K
#define TL_WG_REGS TL_WG_REGS_LO
#define TL_WG_D TL_WG_D64(0)
#define TL_WG_AB "%64, %65"
#define TL_WG_SCALE "%66"
#define TL_WG_RS_AB "{%64, %65, %66, %67}, %68"
#define TL_WG_RS_SCALE "%69"
#endif

// The operands after the descriptors: scale-d, scale-a, scale-b, then (16-bit types only)
// transpose-a, transpose-b.
#if TL_TF32
#define TL_WG_TAIL ", p, 1, 1"
#else
#define TL_WG_TAIL ", p, 1, 1, 0, " TL_WG_TNSPB
#endif

// d (+)= a (64 x k, descriptor da) b (k x TL_BN, descriptor db), k 16 (tf32: 8); scale_d 0:
// d = a b.
__device__ __forceinline__ void tl_wgmma(float (&d)[TL_ACC], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, " TL_WG_SCALE ", 0;\n"
      "wgmma.mma_async.sync.aligned." TL_WG_SHAPE ".f32." TL_WG_T "." TL_WG_T " "
      "{" TL_WG_REGS "}, " TL_WG_AB TL_WG_TAIL ";\n}\n"
      : TL_WG_D
      : "l"(da), "l"(db), "r"(scale_d));
}

#if TL_RS
// The same with a (64 x 8, tf32) from registers: fragment `a` as tl_wg_afrag loads it.
__device__ __forceinline__ void tl_wgmma_rs(float (&d)[TL_ACC], const unsigned (&a)[4], uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, " TL_WG_RS_SCALE ", 0;\n"
      "wgmma.mma_async.sync.aligned." TL_WG_SHAPE ".f32.tf32.tf32 {" TL_WG_REGS "}, " TL_WG_RS_AB ", p, 1, 1;\n}\n"
      : TL_WG_D
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d));
}

// Consumer c's fragment of a for k step kk (8 k) from a's MN-major stage `st`: 32-row slabs of
// 4 KiB, each 32 k-rows of 128 bytes, 16-byte chunks swizzled by k % 8 (as TMA's 128-byte
// swizzle stores them). Fragment layout (PTX ISA, wgmma tf32 A in registers): warp w of the
// warpgroup holds rows 16w + lane/4 (+8: a[1], a[3]) and k lane%4 (+4: a[2], a[3]).
__device__ __forceinline__ void tl_wg_afrag(const unsigned char* st, int c, int kk, unsigned (&a)[4]) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) % 128 / 32;
#pragma unroll
  for (int e = 0; e < 2; ++e)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int i = 64 * c + 16 * warp + lane / 4 + 8 * h, k = 8 * kk + lane % 4 + 4 * e;
      a[h + 2 * e] = *reinterpret_cast<const unsigned*>(st + (i / 32) * 4096 + k * 128 +
                                                         (((i % 32 / 4) ^ (k & 7)) << 4) + (i % 4) * 4);
    }
}
#endif

// Tile t of the (batch, tile) sequence as its batch and first row and column: batch-major,
// then groups of TL_GROUP_M tile rows walked column by column.
__device__ __forceinline__ void tl_wg_tile(int64_t t, int tiles_m, int tiles_n, int64_t& batch, int& m0, int& n0) {
  const int64_t per = int64_t(tiles_m) * tiles_n;
  batch = t / per;
  const int r = int(t - batch * per);
  const int group = r / (TL_GROUP_M * tiles_n), first = group * TL_GROUP_M;
  const int rows = min(tiles_m - first, TL_GROUP_M), in = r - group * TL_GROUP_M * tiles_n;
  m0 = (first + in % rows) * TL_BM;
  n0 = in / rows * TL_BN;
}

// An accumulator as a value of its own: the compiler sees no bit casts of the accumulators
// (which would have it carry them through the k loop in integer registers, copied between
// wgmma and its wait: ptxas then serializes the wgmma pipeline).
__device__ __forceinline__ float tl_wg_value(float x) {
  float v;
  asm("mov.b32 %0, %1;\n" : "=f"(v) : "f"(x));
  return v;
}

// A consumer warpgroup's barrier (ids 1 and 2: __syncthreads takes 0), its 128 threads only.
__device__ __forceinline__ void tl_wg_sync(int consumer) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(consumer + 1) : "memory");
}

// The store of a consumer warpgroup's 64 x TL_BN results, rows m0.. and columns n0.. of batch
// `batch` (matmul_wgmma_store.cu, compiled after this file).
__device__ __forceinline__ void tl_wg_store_tile(const MatmulArgs& p, int64_t batch, int m0, int n0,
                                                 const float (&d)[TL_ACC], unsigned char* stg, int consumer);

extern "C" __global__ void __launch_bounds__(384, 1) tl_matmul_wgmma(const __grid_constant__ WgmmaArgs w) {
  // TL_STAGES stages (a's 128 x 64 tile, then b's), on 1024-byte boundaries (the swizzle
  // atom), the full and empty mbarrier of each stage, then each consumer's 8 KiB output
  // staging area (on a 128-byte boundary). The host asks for 1 KiB more for the alignment.
  extern __shared__ __align__(1024) unsigned char tl_wg_dyn[];
  const unsigned base = (tl_wg_smem(tl_wg_dyn) + 1023u) & ~1023u;
  const unsigned full = base + TL_STAGES * TL_STAGE_BYTES, empty = full + 8 * TL_STAGES;
  // Ping-pong: turn + 8c completes when the other consumer has finished a tile's products.
  const unsigned turn = empty + 8 * TL_STAGES, staging = (turn + 16 + 127u) & ~127u;
  const MatmulArgs& p = w.p;
  // (The host keeps M, N and K below 2^31.)
  const int M = int(p.M), N = int(p.N), K = int(p.K);
  const int tiles_m = (M + TL_BM - 1) / TL_BM, tiles_n = (N + TL_BN - 1) / TL_BN;
  const int64_t tiles = int64_t(tiles_m) * tiles_n * p.batches;
  const int kts = (K + TL_BK - 1) / TL_BK;
  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < TL_STAGES; ++s) {
      tl_bar_init(full + 8 * s, 1);   // the producer's arrive (and the copies' bytes)
      tl_bar_init(empty + 8 * s, TL_PINGPONG ? 4 : 8);  // each warp reading the stage, done
    }
    tl_bar_init(turn, 4);  // the other consumer's warps
    tl_bar_init(turn + 8, 4);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (threadIdx.x < 128) {
    // Producer warpgroup: one thread issues every copy.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (threadIdx.x == 0) {
      asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(&w.ta)) : "memory");
      asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(&w.tb)) : "memory");
      int it = 0;  // stages filled so far: slot it % TL_STAGES, round it / TL_STAGES
      for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
        int64_t batch;
        int m0, n0;
        tl_wg_tile(t, tiles_m, tiles_n, batch, m0, n0);
        const int za = w.za ? int(batch) : 0, zb = w.zb ? int(batch) : 0;
        for (int kt = 0; kt < kts; ++kt, ++it) {
          const int s = it % TL_STAGES;
          tl_bar_wait(empty + 8 * s, ((it / TL_STAGES) & 1) ^ 1);  // round 0 passes at once
          tl_bar_expect(full + 8 * s, TL_STAGE_BYTES);
          const unsigned sa = base + s * TL_STAGE_BYTES, sb = sa + TL_A_BYTES;
#if TL_RS
#pragma unroll
          for (int j = 0; j < TL_BM / 32; ++j) tl_tma_load(sa + j * 4096, &w.ta, full + 8 * s, m0 + 32 * j, kt * TL_BK, za);
#else
          tl_tma_load(sa, &w.ta, full + 8 * s, kt * TL_BK, m0, za);
#endif
#if TL_B_KMAJOR
          tl_tma_load(sb, &w.tb, full + 8 * s, kt * TL_BK, n0, zb);
#else
#pragma unroll
          for (int j = 0; j < TL_BN / 64; ++j) tl_tma_load(sb + j * 8192, &w.tb, full + 8 * s, n0 + 64 * j, kt * TL_BK, zb);
#endif
        }
      }
    }
  } else {
    // Consumer warpgroups 0 and 1. Cooperative: rows 64c.. of each tile (TL_HALVES 1).
    // Ping-pong: every other tile of the block's sequence, all its 128 rows (two
    // accumulators): one consumer's store and epilogue overlap the other's products.
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int c = int(threadIdx.x) / 128 - 1, lane = int(threadIdx.x) % 32;
    unsigned char* const stg = tl_wg_dyn + (staging - tl_wg_smem(tl_wg_dyn)) + c * TL_OUT_BYTES;
    float d[TL_HALVES][TL_ACC];
#pragma unroll
    for (int h = 0; h < TL_HALVES; ++h)
#pragma unroll
      for (int i = 0; i < TL_ACC; ++i) d[h][i] = 0.f;
    const int step = TL_PINGPONG ? 2 : 1;  // tiles of the block's sequence a consumer advances
    for (int64_t j = TL_PINGPONG ? c : 0, t = blockIdx.x + j * gridDim.x; t < tiles; j += step, t += step * gridDim.x) {
      int64_t batch;
      int m0, n0;
      tl_wg_tile(t, tiles_m, tiles_n, batch, m0, n0);
      int it = int(j) * kts;  // the ring position of this tile's first stage
#if TL_PINGPONG
      // The consumers' products take turns, tile by tile: a consumer waits on the full
      // barriers of a tile only once the other has consumed every stage before it, so no
      // barrier is waited on more than one phase ahead (a wait tells phases by parity only).
      // Consumer 1's n-th tile follows consumer 0's n-th; consumer 0's n-th, consumer 1's
      // (n - 1)-th.
      const int n = int(j / 2);
      if (c == 1 || n > 0) tl_bar_wait(turn + 8 * c, (c == 1 ? n : n - 1) & 1);
#endif
      for (int kt = 0; kt < kts; ++kt, ++it) {
        const int s = it % TL_STAGES;
        tl_bar_wait(full + 8 * s, (it / TL_STAGES) & 1);
        const unsigned sa = base + s * TL_STAGE_BYTES, sb = sa + TL_A_BYTES;
#if TL_RS
        unsigned af[4][4];  // (written before the fence below, as wgmma asks of its registers)
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) tl_wg_afrag(tl_wg_dyn + (sa - tl_wg_smem(tl_wg_dyn)), c, kk, af[kk]);
#endif
#pragma unroll
        for (int h = 0; h < TL_HALVES; ++h) tl_wg_fence_acc(d[h]);
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {  // 32 bytes of k a wgmma
#if TL_B_KMAJOR
          const uint64_t db = tl_wg_desc(sb + kk * 32, 16, 1024);
#else
          // b: MN-major, 64-column slabs 8192 bytes apart (leading), 8-row k groups 1024 bytes
          // apart (stride); a k16 step is 16 rows of 128 bytes.
          const uint64_t db = tl_wg_desc(sb + kk * 2048, 8192, 1024);
#endif
#if TL_RS
          tl_wgmma_rs(d[0], af[kk], db, (kt | kk) != 0);
#else
#pragma unroll
          for (int h = 0; h < TL_HALVES; ++h) {
            // a: K-major, rows of 128 bytes, 8-row groups 1024 bytes apart; a wgmma's k step is
            // 32 bytes; rows 64 x (this consumer's half) on.
            const uint64_t da = tl_wg_desc(sa + (TL_PINGPONG ? h : c) * (64 * 128) + kk * 32, 16, 1024);
            tl_wgmma(d[h], da, db, (kt | kk) != 0);
          }
#endif
        }
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        // The previous stage's products are done: its slot goes back to the producer. (a
        // from registers: this stage's too, before the next stage's fragments overwrite them.)
        asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(TL_WG_INFLIGHT) : "memory");
#pragma unroll
        for (int h = 0; h < TL_HALVES; ++h) tl_wg_fence_acc(d[h]);
        if (kt >= TL_WG_INFLIGHT && lane == 0) tl_bar_arrive(empty + 8 * ((it - TL_WG_INFLIGHT) % TL_STAGES));
      }
      asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
      for (int h = 0; h < TL_HALVES; ++h) tl_wg_fence_acc(d[h]);
      if (TL_WG_INFLIGHT && kts > 0 && lane == 0) tl_bar_arrive(empty + 8 * ((it - 1) % TL_STAGES));
#if TL_PINGPONG
      if (lane == 0) tl_bar_arrive(turn + 8 * (1 - c));  // the other consumer's turn
#endif
#pragma unroll
      for (int h = 0; h < TL_HALVES; ++h)
        tl_wg_store_tile(p, batch, m0 + 64 * (TL_PINGPONG ? h : c), n0, d[h], stg, c);
    }
  }
}
