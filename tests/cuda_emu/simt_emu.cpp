// Host emulation of the CUDA float32 SIMT matmul (src/cuda/kernels/matmul_simt.cu), so that
// its indexing, edges, cp.async ring and k split are checked on CI machines without a GPU:
// the real kernel source, compiled as C++ (simt_headers.py writes the headers it includes), run by
// 256 std::threads a block, blocks one at a time in an order given per run, __shared__ as
// function statics. cp.async copies land at issue (mode 0) or only at the wait (mode 1): a
// read of a stage before its wait shows in mode 1. Results are checked against a float64
// reference, the operands' exact extents fence the copies, and a k split (TL_SPLIT) runs under
// three block orders with its partial sums' scratch NaN-poisoned, its counters checked back to
// zero and the output checked bitwise equal across the orders.
// EMU_EP: an epilogue (2 v + 1 into a separate buffer) that counts its calls per element.
// The ring's 16-byte shared reads are logged for the first block: wavefronts per warp read.
// The last line printed sums it up; the exit code is nonzero on any bad result.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>
#define __device__
#define __global__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(a, b)
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__
struct Dim3 { unsigned x = 0, y = 0, z = 0; };
thread_local Dim3 threadIdx, blockIdx;
Dim3 gridDim;
static std::barrier<>* g_bar;
inline void __syncthreads() { g_bar->arrive_and_wait(); }
struct alignas(16) float4 { float x, y, z, w; };
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline float __ldcg(const float* p) { float v; __atomic_load(p, &v, __ATOMIC_RELAXED); return v; }
using std::max;
using std::min;

struct Copy { char* dst; const char* src; int bytes; };
thread_local std::vector<Copy> pending;
thread_local std::vector<std::vector<Copy>> groups;
int g_mode;
const char* g_lo[2];
const char* g_hi[2];
std::atomic<int> g_err{0};
inline unsigned long long tl_smem_addr(const void* p) { return (unsigned long long)p; }
inline void land(const Copy& c) {
  memcpy(c.dst, c.src, size_t(c.bytes));
  memset(c.dst + c.bytes, 0, size_t(16 - c.bytes));
}
inline void tl_cp_async16(unsigned long long dst, const void* src, int bytes) {
  const char* s = (const char*)src;
  bool ok = bytes >= 0 && bytes <= 16 && bytes % 4 == 0 && dst % 16 == 0 && (uintptr_t)s % 16 == 0;
  bool in = false;
  for (int i = 0; i < 2; ++i) in |= s >= g_lo[i] && s + bytes <= g_hi[i] && (bytes > 0 || s < g_hi[i]);
  if (!ok || !in) {
    if (g_err++ < 5) fprintf(stderr, "bad cp.async dst %llx src %p bytes %d ok %d in %d\n", dst, src, bytes, ok, in);
    return;
  }
  Copy c{(char*)dst, s, bytes};
  if (g_mode == 0) land(c);
  else pending.push_back(c);
}
inline void tl_cp_async_commit() {
  groups.push_back(pending);
  pending.clear();
}
template <int N>
inline void tl_cp_async_wait() {
  while (int(groups.size()) > N) {
    for (auto& c : groups.front()) land(c);
    groups.erase(groups.begin());
  }
}
// Logged shared reads (ring form): byte offsets from the stage array, in the first block.
const float* tl_smem_base;
thread_local bool lds_on;
thread_local std::vector<long> lds_log;
inline float4 tl_lds(const void* p) {
  if (lds_on) lds_log.push_back(long((const char*)p - (const char*)tl_smem_base));
  if ((uintptr_t)p % 16 && g_err++ < 5) fprintf(stderr, "misaligned 16-byte shared read\n");
  return *(const float4*)p;
}

#include "cuda_prelude.h"
#define TL_RANK 1
#define TL_S float
#ifdef EMU_EP
#define TL_EPILOGUE 1
#define TL_EP_MEM 1
#define TL_EP_RANK 1
struct TlEpArgs {
  int64_t off[1], shape[1], st[1][1];
  float* out;
  int* calls;
  int64_t sm, sn;
};
inline void tl_ep_run(const TlEpArgs& e, const int64_t (&eo)[1], int64_t r, int64_t c, float v) {
  const int64_t i = eo[0] + r * e.sm + c * e.sn;
  e.out[i] = 2 * v + 1;
  __atomic_fetch_add(&e.calls[i], 1, __ATOMIC_RELAXED);
}
#endif
#include "matmul_common.h"
#include "matmul_simt.h"

static float* alloc(size_t n, std::vector<void*>& keep) {
  void* p = aligned_alloc(16, ((n * 4 + 15) / 16) * 16);
  keep.push_back(p);
  float* f = (float*)p;
  for (size_t i = 0; i < n; ++i) f[i] = NAN;
  return f;
}
static int64_t up4(int64_t v) { return (v + 3) / 4 * 4; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Wavefronts of the logged reads, per operand: each warp read's 16-byte accesses, as many
// passes as the most distinct 4-byte words one bank holds.
long g_reads[2], g_waves[2];
void lds_stats(const std::vector<std::vector<long>>& logs) {
  for (int w = 0; w < 8; ++w) {
    const size_t n = logs[size_t(32 * w)].size();
    for (int t = 0; t < 32; ++t)
      if (logs[size_t(32 * w + t)].size() != n && g_err++ < 5) fprintf(stderr, "warp reads diverge\n");
    for (size_t j = 0; j < n; ++j) {
      std::vector<std::vector<long>> bank(32);
      for (int t = 0; t < 32; ++t)
        for (int e = 0; e < 4; ++e) {
          const long word = logs[size_t(32 * w + t)][j] / 4 + e;
          auto& b = bank[size_t(word % 32)];
          if (std::find(b.begin(), b.end(), word) == b.end()) b.push_back(word);
        }
      size_t most = 0;
      for (auto& b : bank) most = std::max(most, b.size());
#ifdef TL_TILE
      const int op = int(logs[size_t(32 * w)][j] / 4 / TL_TILE % 2);  // a stage: a's tile, then b's
#else
      const int op = 0;  // (form 0's reads are not logged)
#endif
      g_reads[op]++, g_waves[op] += long(most);
    }
  }
}

int run(int M, int N, int K, int batches, int splits, std::mt19937& rng) {
  std::vector<void*> keep;
  std::uniform_real_distribution<float> U(-1, 1);
  // a: (M, K): k-major: [m][k], else [k][m]; vec: leading dim and batch stride multiples of 4, aligned.
  const int64_t alead = TL_A_KMAJOR ? (TL_A_VEC ? up4(K) + 4 : K + 1) : (TL_A_VEC ? up4(M) + 4 : M + 1);
  const int64_t arows = TL_A_KMAJOR ? M : K, aoff = TL_A_VEC ? 4 : 1;
  const int64_t abs_ = (TL_A_VEC ? up4(arows * alead) : arows * alead + 3);
  const int64_t blead = TL_B_KMAJOR ? (TL_B_VEC ? up4(K) + 4 : K + 3) : (TL_B_VEC ? up4(N) + 8 : N + 1);
  const int64_t brows = TL_B_KMAJOR ? N : K, boff = TL_B_VEC ? 8 : 3;
  const int64_t bbs = (TL_B_VEC ? up4(brows * blead) + 4 : brows * blead + 1);
  const int64_t cld = TL_C_VEC ? up4(N) + 4 : N + 1, cbs = M * cld + (TL_C_VEC ? 0 : 1);
  // exact sizes: up to the last element
  const int64_t asz = aoff + (batches - 1) * abs_ + (arows - 1) * alead + (TL_A_KMAJOR ? K : M);
  const int64_t bsz = boff + (batches - 1) * bbs + (brows - 1) * blead + (TL_B_KMAJOR ? K : N);
  const int64_t csz = (batches - 1) * cbs + (M - 1) * cld + N;
  if (K == 0) return 0;
  float* A = alloc(size_t(asz), keep);
  float* B = alloc(size_t(bsz), keep);
  std::vector<double> ref(size_t(batches * M * N), 0.0);
  auto aat = [&](int64_t bt, int64_t m, int64_t k) -> float& {
    return A[aoff + bt * abs_ + (TL_A_KMAJOR ? m * alead + k : k * alead + m)];
  };
  auto bat = [&](int64_t bt, int64_t k, int64_t n) -> float& {
    return B[boff + bt * bbs + (TL_B_KMAJOR ? n * blead + k : k * blead + n)];
  };
  for (int bt = 0; bt < batches; ++bt) {
    for (int m = 0; m < M; ++m)
      for (int k = 0; k < K; ++k) aat(bt, m, k) = U(rng);
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) bat(bt, k, n) = U(rng);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double s = 0;
        for (int k = 0; k < K; ++k) s += double(aat(bt, m, k)) * double(bat(bt, k, n));
        ref[size_t((bt * M + m) * N + n)] = s;
      }
  }
  g_lo[0] = (const char*)A, g_hi[0] = (const char*)(A + asz);
  g_lo[1] = (const char*)B, g_hi[1] = (const char*)(B + bsz);
  // The k split as the selector makes it: whole k steps (TL_KB) a split.
  const int64_t kslice = splits > 1 ? cdiv(cdiv(K, splits), TL_KB) * TL_KB : K;
  const int sp = TL_SPLIT ? int(cdiv(K, kslice)) : 1;
  const int64_t tiles = cdiv(M, TL_T) * cdiv(N, TL_T);
  const unsigned gz = unsigned(std::min(batches, 2));  // (blocks loop over batches past the grid)
  const int64_t psz = tiles * batches * sp * TL_T * TL_T;
  std::vector<unsigned> counters(size_t(tiles * batches + 8), 0u);
  std::vector<float> first;  // the first order's output, bit for bit
  int bad = 0;
  for (int order = 0; order < (TL_SPLIT ? 3 : 1); ++order) {
    float* C = alloc(size_t(csz), keep);
    for (int64_t i = 0; i < csz; ++i) C[i] = 12345.f;
    float* part = alloc(size_t(psz + 64), keep);  // NaN: a partial read before it is written shows
    MatmulArgs p{};
    p.a = (const char*)A, p.b = (const char*)B, p.c = (char*)C;
    p.off[0] = aoff, p.off[1] = boff, p.off[2] = 0;
    p.st[0][0] = abs_, p.st[1][0] = bbs, p.st[2][0] = cbs;
    p.shape[0] = batches;
    p.M = M, p.N = N, p.K = K;
    p.am = TL_A_KMAJOR ? alead : 1, p.ak = TL_A_KMAJOR ? 1 : alead;
    p.bk = TL_B_KMAJOR ? 1 : blead, p.bn = TL_B_KMAJOR ? blead : 1;
    p.cm = cld, p.cn = 1, p.batches = batches;
#ifdef EMU_EP
    std::vector<float> epo(size_t(csz), 777.f);
    std::vector<int> calls(size_t(csz), 0);
    p.ep.off[0] = 0, p.ep.shape[0] = batches, p.ep.st[0][0] = cbs;
    p.ep.out = epo.data(), p.ep.calls = calls.data(), p.ep.sm = cld, p.ep.sn = 1;
#endif
    TlSplitArgs g{p, TL_SPLIT ? part : nullptr, TL_SPLIT ? counters.data() : nullptr, kslice};
    std::vector<Dim3> blocks;
    if (TL_SPLIT) {
      gridDim = {unsigned(tiles), unsigned(sp), gz};
    } else {
      gridDim = {unsigned(cdiv(N, TL_T)), unsigned(cdiv(M, TL_T)), gz};
    }
    for (unsigned z = 0; z < gridDim.z; ++z)
      for (unsigned y = 0; y < gridDim.y; ++y)
        for (unsigned x = 0; x < gridDim.x; ++x) blocks.push_back({x, y, z});
    // Orders: grid order (split 0 first), reversed (the last split first), shuffled.
    if (order == 1) std::reverse(blocks.begin(), blocks.end());
    if (order == 2) std::shuffle(blocks.begin(), blocks.end(), rng);
    const bool log = g_reads[0] + g_reads[1] == 0 && TL_STAGES;
    std::vector<std::vector<long>> logs(256);
    // 256 threads for all the blocks: each round one block, between two barriers of 257.
    std::barrier<> start(257), done(257), bar(256);
    g_bar = &bar;
    size_t bi = 0;
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < 256; ++t)
      ts.emplace_back([&, t] {
        for (;;) {
          start.arrive_and_wait();
          if (bi == blocks.size()) return;
          threadIdx = {t, 0, 0};
          blockIdx = blocks[bi];
          pending.clear();
          groups.clear();
          lds_on = log && bi == 0;
          lds_log.clear();
          tl_matmul_simt(g);
          if (lds_on) logs[t] = lds_log;
          for (auto& gr : groups)
            if (!gr.empty() && g_err++ < 5) fprintf(stderr, "copies in flight at exit\n");
          done.arrive_and_wait();
        }
      });
    for (; bi < blocks.size(); ++bi) {
      start.arrive_and_wait();
      done.arrive_and_wait();
      if (log && bi == 0) lds_stats(logs);
    }
    start.arrive_and_wait();
    for (auto& t : ts) t.join();
    for (size_t i = 0; i < counters.size(); ++i)
      if (counters[i] && bad++ < 5) fprintf(stderr, "counter %zu left at %u\n", i, counters[i]);
    for (int bt = 0; bt < batches; ++bt)
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < cld && (bt * cbs + m * cld + n) < csz; ++n) {
          const int64_t at = bt * cbs + m * cld + n;
          const float v = C[at];
#ifdef EMU_EP
          // c untouched; the epilogue once an element, on the total.
          if (v != 12345.f && bad++ < 5) fprintf(stderr, "c written with an epilogue at %d %d %d\n", bt, m, n);
          const float e = epo[size_t(at)];
          const int want = n < N;
          if (calls[size_t(at)] != want && bad++ < 5)
            fprintf(stderr, "epilogue ran %d times at %d %d %d\n", calls[size_t(at)], bt, m, n);
          if (n >= N) continue;
          const double r = 2 * ref[size_t((bt * M + m) * N + n)] + 1;
          if (!(std::fabs(e - r) <= 2e-5 * (K + 1)) && bad++ < 5)
            fprintf(stderr, "M %d N %d K %d b %d: ep[%d][%d][%d] = %g, want %g\n", M, N, K, batches, bt, m, n, e, r);
#else
          if (n >= N) {
            if (v != 12345.f && bad++ < 5) fprintf(stderr, "store outside c at %d %d %d\n", bt, m, n);
            continue;
          }
          const double r = ref[size_t((bt * M + m) * N + n)];
          if (!(std::fabs(v - r) <= 1e-5 * (K + 1)) && bad++ < 5)
            fprintf(stderr, "M %d N %d K %d b %d: c[%d][%d][%d] = %g, want %g\n", M, N, K, batches, bt, m, n, v, r);
#endif
        }
#ifdef EMU_EP
    const float* out = epo.data();
#else
    const float* out = C;
#endif
    if (order == 0) first.assign(out, out + csz);
    else if (memcmp(first.data(), out, size_t(csz) * 4) && bad++ < 5)
      fprintf(stderr, "M %d N %d K %d: block order %d changed the bits\n", M, N, K, order);
  }
  for (void* q : keep) free(q);
  return bad;
}

int main(int argc, char** argv) {
  std::mt19937 rng(7);
  // M, N, K, batches, splits (TL_SPLIT builds; whole TL_KB steps, so fewer where k is short)
  const int shapes[][5] = {{1, 1, 1, 1, 2},      {5, 7, 1, 1, 2},      {17, 33, 5, 2, 2},   {64, 64, 16, 1, 2},
                           {65, 63, 33, 1, 3},   {130, 129, 17, 1, 2}, {128, 128, 64, 1, 4}, {70, 140, 100, 3, 3},
                           {129, 3, 48, 1, 3},   {3, 130, 31, 2, 2},   {200, 70, 0, 1, 2},  {40, 200, 96, 1, 5},
                           {130, 260, 200, 2, 3}, {256, 128, 160, 1, 7}};
  int bad = 0, runs = 0;
  for (int mode = 0; mode < 2; ++mode) {
    g_mode = mode;
    for (auto& s : shapes) {
      const int b = run(s[0], s[1], s[2], s[3], s[4], rng);
      bad += b, ++runs;
      if (b) fprintf(stderr, "mode %d shape %d %d %d %d: %d bad\n", mode, s[0], s[1], s[2], s[3], b);
    }
  }
  printf("%s: %d runs, %d bad, %d cp.async errors; wavefronts a read: a %.2f b %.2f (%ld, %ld reads)\n", argv[0], runs,
         bad, int(g_err), g_reads[0] ? double(g_waves[0]) / double(g_reads[0]) : 0.0,
         g_reads[1] ? double(g_waves[1]) / double(g_reads[1]) : 0.0, g_reads[0], g_reads[1]);
  return bad || g_err;
}
