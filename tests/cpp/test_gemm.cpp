// tl::cpu::gemm against a double-precision naive reference, over every dtype, strided /
// transposed / broadcast / reversed operands, batches, and block-boundary sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernels.h"

namespace tl::cpu {
namespace {

const DType kDTypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};

int64_t size_of(DType t) { return t == DType::Float64 ? 8 : t == DType::Float32 ? 4 : 2; }

double read(DType t, const uint8_t* p) {
  uint16_t h;
  float f;
  double d;
  switch (t) {
    case DType::Float64:
      std::memcpy(&d, p, 8);
      return d;
    case DType::Float32:
      std::memcpy(&f, p, 4);
      return f;
    case DType::Float16:
      std::memcpy(&h, p, 2);
      return half_to_float(h);
    default:
      std::memcpy(&h, p, 2);
      return bf16_to_float(h);
  }
}

void write(DType t, uint8_t* p, double v) {
  uint16_t h;
  float f = float(v);
  switch (t) {
    case DType::Float64:
      std::memcpy(p, &v, 8);
      return;
    case DType::Float32:
      std::memcpy(p, &f, 4);
      return;
    case DType::Float16:
      h = float_to_half(f);
      break;
    default:
      h = float_to_bf16(f);
      break;
  }
  std::memcpy(p, &h, 2);
}

// How one operand is laid out in memory, for every batch entry.
struct Layout {
  bool transposed = false;      // column-major
  int64_t step = 1;             // stride between neighbours along the contiguous dimension
  int64_t pad = 0;              // extra elements between rows (columns if transposed)
  bool reverse_rows = false;    // negative row stride
  bool reverse_cols = false;    // negative column stride
  bool broadcast_rows = false;  // row stride 0: every row is the same
  bool broadcast_cols = false;  // column stride 0
  bool shared = false;          // one matrix for the whole batch (equal offsets)
};

struct Matrix {
  DType dtype;
  std::vector<uint8_t> bytes;
  int64_t rs, cs;
  std::vector<int64_t> offsets;
  int64_t index(int64_t b, int64_t i, int64_t j) const { return offsets[b] + i * rs + j * cs; }
  double at(int64_t b, int64_t i, int64_t j) const {
    return read(dtype, bytes.data() + index(b, i, j) * size_of(dtype));
  }
  GemmMatrix view() { return {bytes.data(), rs, cs}; }
};

// Random values in [-1, 1] in every element (reference reads them back rounded), or a fixed
// byte pattern when `sentinel` is set, so untouched output elements can be detected.
Matrix make(DType dtype, int64_t rows, int64_t cols, int64_t batch, const Layout& l,
            std::mt19937& rng, bool sentinel = false) {
  const int64_t inner = l.transposed ? rows : cols;
  const int64_t near = l.step, far = (inner - 1) * l.step + 1 + l.pad;
  int64_t rs = l.transposed ? near : far, cs = l.transposed ? far : near;
  if (l.broadcast_rows) rs = 0;
  if (l.broadcast_cols) cs = 0;
  const int64_t span =
      std::max<int64_t>(rows - 1, 0) * rs + std::max<int64_t>(cols - 1, 0) * cs + 1;
  int64_t origin = 0;
  if (l.reverse_rows) origin += std::max<int64_t>(rows - 1, 0) * rs, rs = -rs;
  if (l.reverse_cols) origin += std::max<int64_t>(cols - 1, 0) * cs, cs = -cs;
  Matrix m{dtype, {}, rs, cs, {}};
  const int64_t copies = l.shared ? 1 : batch;
  // Later batch entries sit earlier in memory, so offsets are really used.
  for (int64_t b = 0; b < batch; ++b)
    m.offsets.push_back((l.shared ? 0 : (batch - 1 - b) * span) + origin);
  m.bytes.assign(size_t(copies * span * size_of(dtype)), 0x7b);
  if (!sentinel) {
    std::uniform_real_distribution<double> dist(-1, 1);
    for (int64_t e = 0; e < copies * span; ++e)
      write(dtype, m.bytes.data() + e * size_of(dtype), dist(rng));
  }
  return m;
}

struct Case {
  int64_t m, n, k, batch = 1;
  Layout a = {}, b = {}, c = {};
};

// Runs one case and compares every output element with the reference; bytes of C that are
// not output elements must be left alone.
void check(DType dtype, const Case& t) {
  SCOPED_TRACE(testing::Message() << "dtype " << int(dtype) << " M " << t.m << " N " << t.n << " K "
                                  << t.k << " batch " << t.batch);
  std::mt19937 rng(uint32_t(t.m * 7919 + t.n * 104729 + t.k * 31 + t.batch));
  Matrix a = make(dtype, t.m, t.k, t.batch, t.a, rng);
  Matrix b = make(dtype, t.k, t.n, t.batch, t.b, rng);
  Matrix c = make(dtype, t.m, t.n, t.batch, t.c, rng, /*sentinel=*/true);
  const std::vector<uint8_t> before = c.bytes;
  gemm(dtype, t.m, t.n, t.k, t.batch, a.view(), a.offsets.data(), b.view(), b.offsets.data(),
       c.view(), c.offsets.data());

  // Accumulation error grows with K; f16/bf16 also round once on store.
  const double acc_eps = dtype == DType::Float64 ? 0x1p-52 : 0x1p-23;
  const double out_eps = dtype == DType::Float16 ? 0x1p-10 : dtype == DType::BFloat16 ? 0x1p-7 : 0;
  const double out_abs = dtype == DType::Float16 ? 0x1p-24 : 0;  // f16 subnormal spacing
  const int64_t item = size_of(dtype);
  std::vector<bool> written(c.bytes.size() / item, false);
  int failures = 0;
  for (int64_t bi = 0; bi < t.batch; ++bi)
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j) {
        double ref = 0, scale = 0;
        for (int64_t p = 0; p < t.k; ++p) {
          const double product = a.at(bi, i, p) * b.at(bi, p, j);
          ref += product;
          scale += std::abs(product);
        }
        const double tol = 2 * double(t.k) * acc_eps * scale + out_eps * std::abs(ref) + out_abs;
        const double got = c.at(bi, i, j);
        written[size_t(c.index(bi, i, j))] = true;
        if (!(std::abs(got - ref) <= tol) && ++failures <= 5)
          ADD_FAILURE() << "C[" << bi << "][" << i << "][" << j << "] = " << got << ", want " << ref
                        << " +- " << tol;
      }
  for (size_t e = 0; e < written.size(); ++e)
    if (!written[e] && std::memcmp(&c.bytes[e * item], &before[e * item], size_t(item)) != 0) {
      ADD_FAILURE() << "element " << e << " of C's buffer is not an output but was written";
      break;
    }
}

void check_all_dtypes(const Case& t) {
  for (DType d : kDTypes) check(d, t);
}

TEST(Gemm, SquareSizes) {
  for (int64_t s : {1, 2, 7, 33, 127}) check_all_dtypes({s, s, s});
}

TEST(Gemm, RectangularAndSkinny) {
  check_all_dtypes({1000, 33, 65});
  check_all_dtypes({33, 1000, 65});
  check_all_dtypes({1000, 65, 33});
  check_all_dtypes({1, 300, 40});  // row vector times matrix
  check_all_dtypes({300, 1, 40});  // matrix times column vector
  check_all_dtypes({500, 7, 40});  // narrow C: the narrowest tiles
  check_all_dtypes({5, 3, 1000});  // long dot products
}

TEST(Gemm, DepthOne) { check_all_dtypes({45, 70, 1}); }

TEST(Gemm, DepthZeroWritesZeros) {
  for (DType d : kDTypes) {
    check(d, {9, 13, 0, 2});
    check(d, {9, 13, 0, 1, {}, {}, {.transposed = true, .pad = 2}});
  }
}

TEST(Gemm, EmptyOutputWritesNothing) {
  for (DType d : kDTypes) {
    check(d, {0, 13, 5});
    check(d, {9, 0, 5});
    check(d, {9, 13, 5, 0});
  }
}

TEST(Gemm, BlockBoundaries) {
  // Several k blocks (accumulation across them), several row blocks, several column blocks
  // (per thread, so the sizes are large enough for that even when split among threads).
  check(DType::Float32, {7, 9000, 520});
  check(DType::Float32, {96, 128, 1030});  // whole tiles only, accumulated in C directly
  check(DType::Float32, {800, 40, 300});
  check(DType::Float64, {700, 50, 270});
  check(DType::Float16, {5, 1100, 300});  // staging chunks across columns
  check(DType::BFloat16, {300, 70, 600});
}

TEST(Gemm, TransposedOperands) {
  const Layout row{}, col{.transposed = true}, col_padded{.transposed = true, .pad = 3};
  for (DType d : kDTypes)
    for (const Layout& a : {row, col})
      for (const Layout& b : {row, col_padded})
        for (const Layout& c : {row, col, col_padded}) check(d, {37, 29, 41, 1, a, b, c});
}

TEST(Gemm, StridedOutput) {
  // Neither stride of C is 1, so results are scattered from staging.
  const Layout strided{.step = 2, .pad = 5};
  for (DType d : kDTypes) check(d, {31, 45, 20, 2, {}, {}, strided});
  check(DType::Float32, {31, 45, 20, 1, {.step = 3}, {.transposed = true, .step = 2}, {}});
}

TEST(Gemm, BroadcastOperands) {
  for (DType d : kDTypes) {
    check(d, {23, 19, 17, 1, {.broadcast_rows = true}, {.broadcast_cols = true}});
    check(d, {23, 19, 17, 1, {.broadcast_cols = true}, {.broadcast_rows = true}});
    check(d, {23, 19, 17, 3, {.shared = true}, {}, {}});  // A shared across the batch
    check(d, {23, 19, 17, 3, {}, {.shared = true}, {.transposed = true}});
  }
}

TEST(Gemm, NegativeStrides) {
  for (DType d : kDTypes) {
    check(d,
          {21, 35, 18, 1, {.reverse_rows = true}, {.reverse_cols = true}, {.reverse_rows = true}});
    check(d, {21,
              35,
              18,
              2,
              {.transposed = true, .reverse_cols = true},
              {.reverse_rows = true},
              {.transposed = true, .reverse_cols = true}});
  }
}

TEST(Gemm, BatchedWithOffsets) {
  for (DType d : kDTypes) {
    check(d, {3, 4, 5, 6});
    check(d, {64, 70, 40, 8});                                 // whole matrices per thread
    check(d, {150, 130, 120, 3, {.pad = 1}, {}, {.pad = 2}});  // each matrix split among threads
  }
}

// Each micro-kernel this CPU can run, directly: overwrite and accumulate, ldc > nr.
template <class T>
void check_kernel(const gemm_kernels::MicroKernel<T>& uk) {
  ASSERT_LE(uk.mr * uk.nr, gemm_kernels::kMaxTile) << "edge tiles would overflow their scratch";
  std::mt19937 rng(7);
  std::uniform_real_distribution<T> dist(-1, 1);
  for (int64_t kc : {1, 5, 64}) {
    std::vector<T> a(size_t(kc * uk.mr)), b(size_t(kc * uk.nr));
    for (T& x : a) x = dist(rng);
    for (T& x : b) x = dist(rng);
    const int64_t ldc = uk.nr + 3;
    std::vector<T> c(size_t(uk.mr * ldc));
    for (T& x : c) x = dist(rng);
    const std::vector<T> c0 = c;
    for (bool accumulate : {false, true}) {
      c = c0;
      // Prefetch hints must not change results, even pointing at unrelated memory.
      const void* lines[2] = {c0.data(), a.data()};
      uk.run(kc, a.data(), kc, b.data(), c.data(), ldc, accumulate, {lines, 2});
      for (int i = 0; i < uk.mr; ++i)
        for (int j = 0; j < ldc; ++j) {
          const double old = c0[size_t(i * ldc + j)], got = c[size_t(i * ldc + j)];
          if (j >= uk.nr) {
            EXPECT_EQ(got, old) << "padding column " << j << " was written";
            continue;
          }
          double ref = accumulate ? old : 0, scale = std::abs(ref);
          for (int64_t p = 0; p < kc; ++p) {
            const double product = double(a[size_t(i * kc + p)]) * b[size_t(p * uk.nr + j)];
            ref += product;
            scale += std::abs(product);
          }
          EXPECT_NEAR(got, ref, 2 * double(kc + 1) * std::numeric_limits<T>::epsilon() * scale)
              << "kc " << kc << " tile " << i << "," << j;
        }
    }
  }
}

template <class T>
void check_family(const gemm_kernels::KernelFamily<T>& family) {
  for (int i = 0; i < family.count; ++i) check_kernel(family.kernels[i]);
}

TEST(GemmKernels, MatchReference) {
  check_family(gemm_kernels::generic_f32);
  check_family(gemm_kernels::generic_f64);
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    check_family(gemm_kernels::avx2_f32);
    check_family(gemm_kernels::avx2_f64);
  }
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) {
    check_family(gemm_kernels::avx512_f32);
    check_family(gemm_kernels::avx512_f64);
  }
#endif
}

}  // namespace
}  // namespace tl::cpu
