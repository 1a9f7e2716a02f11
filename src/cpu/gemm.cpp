// Blocked GEMM driver in the GotoBLAS / BLIS style: loops over kc x nc blocks of B (packed
// into nr-wide panels, kept in L3) and mc x kc blocks of A (packed into mr-tall panels, or
// read in place when already row-major, kept in L2), and a micro-kernel (gemm_kernels.h)
// computes each mr x nr tile of C in registers. Packing reads any strides and widens
// f16/bf16 to f32, so the kernels only see f32 or f64.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "core/half.h"
#include "cpu/gemm_kernels.h"
#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

using gemm_kernels::MicroKernel;

// Block sizes for Zen 4 class cores (32 KiB L1d and 1 MiB L2 per core, large shared L3):
// an A micro-panel (mr x kc) stays in L1, the packed A block and the B micro-panel (kc x nr)
// that every A panel of the block reuses stay in L2, and the packed B block in L3. A deep kc
// means fewer passes over C; 384-768 for kc and 192 KiB-768 KiB for the A block measured the
// same within noise.
constexpr int64_t kMaxKC = 512;
constexpr int64_t kABlockBytes = 384 << 10;
constexpr int64_t kBBlockBytes = 4 << 20;
// f16/bf16 results and f32/f64 results with non-unit column stride are accumulated in this
// much per-thread staging space before being rounded / scattered into C.
constexpr int64_t kStageBytes = 8 << 20;
constexpr int64_t kStageMaxCols = 1024;
// Below this many multiply-adds in total the pool's wake-up costs more than it saves.
constexpr int64_t kSerialMacs = int64_t(1) << 21;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Splits `total` into equal blocks of at most about `max_step`, each a multiple of `multiple`,
// so that a dimension just over a block size does not leave a sliver block.
int64_t balanced_step(int64_t total, int64_t max_step, int64_t multiple) {
  max_step = std::max(max_step, multiple);
  return round_up(ceil_div(total, ceil_div(total, max_step)), multiple);
}

// Per-thread buffers reused across calls (pool threads live as long as the process).
void* scratch(int slot, int64_t bytes) {
  struct Buffer {
    void* data = nullptr;
    int64_t bytes = 0;
    ~Buffer() { ::operator delete(data, std::align_val_t(64)); }
  };
  thread_local Buffer buffers[3];
  Buffer& buf = buffers[slot];
  if (bytes > buf.bytes) {
    ::operator delete(buf.data, std::align_val_t(64));
    buf.data = nullptr;  // stays consistent if the allocation below throws
    buf.data = ::operator new(size_t(bytes), std::align_val_t(64));
    buf.bytes = bytes;
  }
  return buf.data;
}

struct Operand {
  const char* data;  // element (0, 0)
  int64_t rs, cs;    // in elements
  DType dtype;
  int64_t itemsize;
  const char* at(int64_t i, int64_t j) const { return data + (i * rs + j * cs) * itemsize; }
};

inline float widen(half_t h) { return half_to_float(h.bits); }
inline float widen(bfloat16_t b) { return bf16_to_float(b.bits); }
inline float widen(float f) { return f; }
inline double widen(double d) { return d; }

// Converts n elements, `src_step` apart, to `dst_step` apart; unit steps get their own loop
// so that it vectorizes.
template <class T, class S>
void convert_run(T* dst, int64_t dst_step, const S* src, int64_t src_step, int64_t n) {
  if (dst_step == 1 && src_step == 1) {
    for (int64_t i = 0; i < n; ++i) dst[i] = widen(src[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i * dst_step] = widen(src[i * src_step]);
  }
}

// Where a packed panel keeps line t (a row of A or column of B) at depth k:
// dst[t * line + k * depth].
struct PanelShape {
  int64_t line, depth;
  int width;  // lines in the panel (mr or nr)
};

// Packs w <= width source lines (`ls` apart) over kc depth steps (`ds` apart). Lines w..width
// are zero, so the kernel always computes full tiles. The inner loop follows the smaller
// source stride, to read memory in order.
template <class T, class S>
void pack_panel(T* dst, PanelShape p, int w, int64_t kc, const S* src, int64_t ls, int64_t ds) {
  if (std::abs(ls) <= std::abs(ds)) {
    for (int64_t k = 0; k < kc; ++k) convert_run(dst + k * p.depth, p.line, src + k * ds, ls, w);
  } else {
    for (int t = 0; t < w; ++t) convert_run(dst + t * p.line, p.depth, src + t * ls, ds, kc);
  }
  for (int t = w; t < p.width; ++t)
    for (int64_t k = 0; k < kc; ++k) dst[t * p.line + k * p.depth] = T(0);
}

void pack(float* dst, PanelShape p, int w, int64_t kc, DType dtype, const char* src, int64_t ls,
          int64_t ds) {
  switch (dtype) {
    case DType::Float16:
      return pack_panel(dst, p, w, kc, reinterpret_cast<const half_t*>(src), ls, ds);
    case DType::BFloat16:
      return pack_panel(dst, p, w, kc, reinterpret_cast<const bfloat16_t*>(src), ls, ds);
    default:
      return pack_panel(dst, p, w, kc, reinterpret_cast<const float*>(src), ls, ds);
  }
}

void pack(double* dst, PanelShape p, int w, int64_t kc, DType, const char* src, int64_t ls,
          int64_t ds) {
  pack_panel(dst, p, w, kc, reinterpret_cast<const double*>(src), ls, ds);
}

// Cache lines for one kernel call to prefetch: sources of the panels packed next.
struct PrefetchList {
  const void* lines[kMaxKC];  // a kernel fetches at most one line per k step
  int64_t count = 0;

  // Adds the source of a panel (w lines `ls` apart, kc depth steps `ds` apart), or the share
  // part / parts of it, walking its contiguous direction; nothing when neither is contiguous.
  void add_panel(const char* src, int64_t w, int64_t kc, int64_t ls, int64_t ds, int64_t itemsize,
                 int64_t part = 0, int64_t parts = 1) {
    int64_t runs = kc, run_step = ds, inner = w, inner_step = ls;
    if (std::abs(ls) > std::abs(ds)) std::swap(runs, inner), std::swap(run_step, inner_step);
    if (std::abs(inner_step) * itemsize > 64) return;
    const int64_t run_bytes = (inner - 1) * std::abs(inner_step) * itemsize + itemsize;
    const int64_t start = inner_step < 0 ? (inner - 1) * inner_step * itemsize : 0;
    for (int64_t r = runs * part / parts; r < runs * (part + 1) / parts; ++r) {
      const uintptr_t first = reinterpret_cast<uintptr_t>(src + r * run_step * itemsize + start);
      for (uintptr_t line = first & ~uintptr_t(63); line < first + run_bytes; line += 64) {
        if (count == kMaxKC) return;
        lines[count++] = reinterpret_cast<const void*>(line);
      }
    }
  }
};

// C (m x n, row stride ldc, unit column stride) = A (m x k) @ B (k x n), on one thread.
// Panels are packed just before their first use, with the next panel's source prefetched
// while the kernel runs, so that packing rarely waits on memory.
template <class T>
void blocked_gemm(const MicroKernel<T>& uk, int64_t m, int64_t n, int64_t k, const Operand& a,
                  const Operand& b, T* c, int64_t ldc) {
  const int mr = uk.mr, nr = uk.nr;
  const int64_t kc_step = balanced_step(k, kMaxKC, 1);
  const int64_t mc_step = balanced_step(m, kABlockBytes / (kc_step * int64_t(sizeof(T))), mr);
  const int64_t nc_step = balanced_step(n, kBBlockBytes / (kc_step * int64_t(sizeof(T))), nr);
  T* packed_a = static_cast<T*>(scratch(0, mc_step * kc_step * sizeof(T)));
  T* packed_b = static_cast<T*>(scratch(1, nc_step * kc_step * sizeof(T)));
  alignas(64) T edge[gemm_kernels::kMaxTile];
  PrefetchList prefetch;
  // Full panels of a row-major A of the kernel's own type are read in place.
  const bool a_in_place = a.cs == 1 && a.itemsize == int64_t(sizeof(T));

  for (int64_t jc = 0; jc < n; jc += nc_step) {
    const int64_t nc = std::min(nc_step, n - jc);
    for (int64_t pc = 0; pc < k; pc += kc_step) {
      const int64_t kc = std::min(kc_step, k - pc);
      const bool accumulate = pc > 0;
      for (int64_t ic = 0; ic < m; ic += mc_step) {
        const int64_t mc = std::min(mc_step, m - ic);
        const int64_t a_panels = ceil_div(mc, mr);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int cols = int(std::min<int64_t>(nr, nc - jr));
          const T* pb = packed_b + jr * kc;
          // B is packed during the first ic pass, A during the first jr pass.
          const bool next_b = ic == 0 && jr + nr < nc;
          if (ic == 0)
            pack(packed_b + jr * kc, {1, nr, nr}, cols, kc, b.dtype, b.at(pc, jc + jr), b.cs, b.rs);
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int rows = int(std::min<int64_t>(mr, mc - ir));
            const bool packed = !a_in_place || rows < mr;
            const T* pa =
                packed ? packed_a + ir * kc : reinterpret_cast<const T*>(a.at(ic + ir, pc));
            const int64_t lda = packed ? kc : a.rs;
            prefetch.count = 0;
            if (jr == 0) {
              if (packed)
                pack(packed_a + ir * kc, {kc, 1, mr}, rows, kc, a.dtype, a.at(ic + ir, pc), a.rs,
                     a.cs);
              if (ir + mr < mc)
                prefetch.add_panel(a.at(ic + ir + mr, pc), std::min<int64_t>(mr, mc - ir - mr), kc,
                                   a.rs, a.cs, a.itemsize);
            }
            if (next_b)  // spread over the kernel calls of this B panel
              prefetch.add_panel(b.at(pc, jc + jr + nr), std::min<int64_t>(nr, nc - jr - nr), kc,
                                 b.cs, b.rs, b.itemsize, ir / mr, a_panels);
            const gemm_kernels::Prefetch hint{prefetch.lines, prefetch.count};
            T* tile = c + (ic + ir) * ldc + jc + jr;
            if (rows == mr && cols == nr) {
              uk.run(kc, pa, lda, pb, tile, ldc, accumulate, hint);
              continue;
            }
            // Partial tile: compute the full tile into scratch and copy its valid part.
            uk.run(kc, pa, lda, pb, edge, nr, false, hint);
            for (int i = 0; i < rows; ++i)
              for (int j = 0; j < cols; ++j)
                tile[i * ldc + j] = edge[i * nr + j] + (accumulate ? tile[i * ldc + j] : T(0));
          }
        }
      }
    }
  }
}

// Writes one result into C, rounding once for f16/bf16.
void store(char* dst, DType dtype, float v) {
  if (dtype == DType::Float32) return (void)std::memcpy(dst, &v, sizeof v);
  const uint16_t bits = dtype == DType::Float16 ? float_to_half(v) : float_to_bf16(v);
  std::memcpy(dst, &bits, sizeof bits);
}
void store(char* dst, DType, double v) { std::memcpy(dst, &v, sizeof v); }

// Output block of one task: element (i, j) at data + (i * rs + j * cs) * itemsize.
struct Output {
  char* data;
  int64_t rs, cs;
  DType dtype;
  int64_t itemsize;
};

// Computes into f32/f64 staging chunks, then rounds (f16/bf16) or scatters (strided C).
template <class T>
void staged_gemm(const MicroKernel<T>& uk, int64_t m, int64_t n, int64_t k, const Operand& a,
                 const Operand& b, const Output& c) {
  const int64_t chunk_cols = std::min(n, kStageMaxCols);
  const int64_t chunk_rows =
      std::clamp<int64_t>(kStageBytes / int64_t(sizeof(T)) / chunk_cols, 1, m);
  T* stage = static_cast<T*>(scratch(2, chunk_rows * chunk_cols * sizeof(T)));
  for (int64_t i0 = 0; i0 < m; i0 += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, m - i0);
    for (int64_t j0 = 0; j0 < n; j0 += chunk_cols) {
      const int64_t cols = std::min(chunk_cols, n - j0);
      Operand a_chunk = a, b_chunk = b;
      a_chunk.data = a.at(i0, 0);
      b_chunk.data = b.at(0, j0);
      blocked_gemm(uk, rows, cols, k, a_chunk, b_chunk, stage, cols);
      for (int64_t i = 0; i < rows; ++i) {
        char* row = c.data + ((i0 + i) * c.rs + j0 * c.cs) * c.itemsize;
        for (int64_t j = 0; j < cols; ++j)
          store(row + j * c.cs * c.itemsize, c.dtype, stage[i * cols + j]);
      }
    }
  }
}

struct Kernels {
  gemm_kernels::KernelFamily<float> f32;
  gemm_kernels::KernelFamily<double> f64;
};

// Picks the widest kernels this CPU runs. TENSORLOGIC_GEMM_ISA=avx2 or =generic caps the
// choice, so the fallbacks can be tested on newer machines.
Kernels select_kernels() {
#if defined(__x86_64__)
  const char* env = std::getenv("TENSORLOGIC_GEMM_ISA");
  const std::string_view cap = env ? env : "";
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  if (cap.empty() && fma && __builtin_cpu_supports("avx512f"))
    return {gemm_kernels::avx512_f32, gemm_kernels::avx512_f64};
  if (cap != "generic" && fma && __builtin_cpu_supports("avx2"))
    return {gemm_kernels::avx2_f32, gemm_kernels::avx2_f64};
#endif
  return {gemm_kernels::generic_f32, gemm_kernels::generic_f64};
}

const Kernels& kernels() {
  static const Kernels selected = select_kernels();
  return selected;
}

// C = A @ B for one block of one matrix, on the calling thread. f32/f64 results with unit
// column stride are accumulated in C itself.
template <class T>
void gemm_block(const MicroKernel<T>& uk, int64_t m, int64_t n, int64_t k, const Operand& a,
                const Operand& b, const Output& c) {
  if (c.cs == 1 && c.itemsize == int64_t(sizeof(T)))
    return blocked_gemm(uk, m, n, k, a, b, reinterpret_cast<T*>(c.data), c.rs);
  staged_gemm(uk, m, n, k, a, b, c);
}

// How one matrix is cut among tasks: rows x cols blocks of whole micro-tiles.
struct Grid {
  int64_t rows, cols, row_step, col_step;
};

// Factors `parts` into the grid whose largest block (in padded tiles) is smallest; ties go
// to column splits, which keep each task's C rows long.
Grid split_grid(int64_t m, int64_t n, int mr, int nr, int64_t parts) {
  const int64_t m_tiles = ceil_div(m, mr), n_tiles = ceil_div(n, nr);
  Grid best{0, 0, 0, 0};
  int64_t best_area = -1;
  for (int64_t rows = 1; rows <= parts; ++rows) {
    if (parts % rows) continue;
    const int64_t cols = parts / rows;
    const int64_t row_step = ceil_div(m_tiles, rows) * mr, col_step = ceil_div(n_tiles, cols) * nr;
    if (best_area < 0 || row_step * col_step < best_area) {
      best = {ceil_div(m, row_step), ceil_div(n, col_step), row_step, col_step};
      best_area = row_step * col_step;
    }
  }
  return best;
}

// gemm() for one accumulator type T: f32 (for f32, f16, bf16 data) or f64.
template <class T>
void run_gemm(const gemm_kernels::KernelFamily<T>& family, DType dtype, int64_t M, int64_t N,
              int64_t K, int64_t batch, GemmMatrix A, const int64_t* a_offsets, GemmMatrix B,
              const int64_t* b_offsets, GemmMatrix C, const int64_t* c_offsets,
              const GemmBlockFn* on_block) {
  const int64_t itemsize = dtype == DType::Float16 || dtype == DType::BFloat16 ? 2 : sizeof(T);
  // A stride along a dimension of length 1 is never used; making it 1 enables the direct path.
  if (N == 1) C.cs = 1;
  if (M == 1) C.rs = 1;
  // A column-major C is computed as the row-major C^T = B^T @ A^T, which the kernel writes
  // directly.
  if (C.cs != 1 && C.rs == 1) transpose_product(M, N, A, a_offsets, B, b_offsets, C);
  auto base = [itemsize](const GemmMatrix& x, const int64_t* offsets, int64_t b) {
    return static_cast<char*>(x.data) + (offsets ? offsets[b] : 0) * itemsize;
  };

  if (K <= 0) {
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j)
          std::memset(base(C, c_offsets, b) + (i * C.rs + j * C.cs) * itemsize, 0, itemsize);
    if (on_block)
      for (int64_t b = 0; b < batch; ++b) (*on_block)(b, 0, 0, M, N);
    return;
  }

  const MicroKernel<T>& uk = family.for_columns(N);
  const int64_t threads = M * N * K * batch < kSerialMacs ? 1 : num_threads();
  // Whole matrices per task when the batch alone keeps the threads evenly busy.
  const int64_t parts = (batch % threads == 0 || batch >= 4 * threads) ? 1 : threads;
  const Grid grid = split_grid(M, N, uk.mr, uk.nr, parts);
  const int64_t blocks = grid.rows * grid.cols;

  auto run_task = [&](int64_t task) {
    const int64_t b = task / blocks, block = task % blocks;
    const int64_t i0 = block / grid.cols * grid.row_step, j0 = block % grid.cols * grid.col_step;
    const int64_t m = std::min(grid.row_step, M - i0), n = std::min(grid.col_step, N - j0);
    if (m <= 0 || n <= 0) return;
    Operand a{base(A, a_offsets, b), A.rs, A.cs, dtype, itemsize};
    Operand bm{base(B, b_offsets, b), B.rs, B.cs, dtype, itemsize};
    a.data = a.at(i0, 0);
    bm.data = bm.at(0, j0);
    Output c{base(C, c_offsets, b) + (i0 * C.rs + j0 * C.cs) * itemsize, C.rs, C.cs, dtype,
             itemsize};
    gemm_block(uk, m, n, K, a, bm, c);
    if (on_block) (*on_block)(b, i0, j0, m, n);
  };
  const int64_t tasks = batch * blocks;
  parallel_for(tasks, threads == 1 ? tasks : 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) run_task(t);
  });
}

}  // namespace

void gemm(DType dtype, int64_t M, int64_t N, int64_t K, int64_t batch, GemmMatrix A,
          const int64_t* a_offsets, GemmMatrix B, const int64_t* b_offsets, GemmMatrix C,
          const int64_t* c_offsets, const GemmBlockFn* on_block) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  if (dtype == DType::Float64)
    return run_gemm(kernels().f64, dtype, M, N, K, batch, A, a_offsets, B, b_offsets, C, c_offsets,
                    on_block);
  run_gemm(kernels().f32, dtype, M, N, K, batch, A, a_offsets, B, b_offsets, C, c_offsets, on_block);
}

}  // namespace tl::cpu
