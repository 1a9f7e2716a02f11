#include "cpu/gemv.h"

#include <cstring>
#include <vector>

#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

constexpr int64_t kGrainElems = 1 << 18;  // matrix elements worth a thread (wake-up ~20 us)

// Dot product with four independent vector accumulators (a plain loop would not vectorize:
// float addition is not associative).
template <class T>
T dot(const T* a, const T* x, int64_t n) {
  constexpr int W = 16 / sizeof(T);
  typedef T V __attribute__((vector_size(16)));
  V acc[4] = {};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    for (int j = 0; j < 4; ++j) {
      V va, vx;
      std::memcpy(&va, a + i + j * W, sizeof(V));
      std::memcpy(&vx, x + i + j * W, sizeof(V));
      acc[j] += va * vx;
    }
  }
  V v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  T s = 0;
  for (int j = 0; j < W; ++j) s += v[j];
  for (; i < n; ++i) s += a[i] * x[i];
  return s;
}

// y = A x for one (M x K) matrix whose rows (rs_k == 1) or columns (rs_m == 1) are contiguous;
// x is contiguous, y strided by ys.
template <class T>
void matvec(const T* A, int64_t rs_m, int64_t rs_k, const T* x, T* y, int64_t ys, int64_t M,
            int64_t K) {
  const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(K, 1));
  if (rs_k == 1) {
    parallel_for(M, grain, [&](int64_t b, int64_t e) {
      for (int64_t m = b; m < e; ++m) y[m * ys] = dot(A + m * rs_m, x, K);
    });
    return;
  }
  // Columns contiguous: y += A[:, k] * x[k] column by column. Each thread takes a block of
  // columns (one contiguous region of memory) into its own accumulator; the partial sums
  // are added in order afterwards.
  const int64_t parts = std::min<int64_t>(num_threads(), std::max<int64_t>(1, M * K / kGrainElems));
  std::vector<std::vector<T>> acc(size_t(parts), std::vector<T>(size_t(M), T(0)));
  const int64_t step = (K + parts - 1) / parts;
  parallel_for(parts, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      T* a = acc[size_t(p)].data();
      for (int64_t k = p * step; k < std::min(K, (p + 1) * step); ++k) {
        const T* col = A + k * rs_k;
        const T xk = x[k];
        for (int64_t m = 0; m < M; ++m) a[m] += col[m] * xk;
      }
    }
  });
  for (int64_t m = 0; m < M; ++m) {
    T s = 0;
    for (int64_t p = 0; p < parts; ++p) s += acc[size_t(p)][size_t(m)];
    y[m * ys] = s;
  }
}

template <class T>
void run(int64_t M, int64_t K, int64_t batch, GemmMatrix A, const int64_t* ao, int64_t x_stride,
         const void* xbase, const int64_t* xo, T* ybase, int64_t ys, const int64_t* yo) {
  std::vector<T> x(static_cast<size_t>(K));
  for (int64_t b = 0; b < batch; ++b) {
    const T* xs = static_cast<const T*>(xbase) + xo[b];
    for (int64_t k = 0; k < K; ++k) x[size_t(k)] = xs[k * x_stride];
    matvec(static_cast<const T*>(A.data) + ao[b], A.rs, A.cs, x.data(), ybase + yo[b], ys, M, K);
  }
}

}  // namespace

bool gemv(DType dtype, int64_t M, int64_t N, int64_t K, int64_t batch, GemmMatrix A,
          const int64_t* ao, GemmMatrix B, const int64_t* bo, GemmMatrix C, const int64_t* co) {
  if (dtype != DType::Float32 && dtype != DType::Float64) return false;
  if (N != 1 && M != 1) return false;
  if (N != 1) transpose_product(M, N, A, ao, B, bo, C);  // M == 1: c^T = B^T a^T
  // Now N == 1: y (M) = A (M x K) x (K).
  if (A.cs != 1 && A.rs != 1) return false;
  if (dtype == DType::Float32)
    run<float>(M, K, batch, A, ao, B.rs, B.data, bo, static_cast<float*>(C.data), C.rs, co);
  else
    run<double>(M, K, batch, A, ao, B.rs, B.data, bo, static_cast<double*>(C.data), C.rs, co);
  return true;
}

}  // namespace tl::cpu
