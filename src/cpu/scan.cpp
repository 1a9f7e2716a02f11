#include "cpu/scan.h"

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "cpu/dtype_dispatch.h"
#include "cpu/strided_loop.h"
#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

constexpr int64_t kTile = 1024;      // columns carried together when the axis is not innermost
constexpr int64_t kSerial = 1 << 15;  // less work than this runs on the caller

using Off2 = std::array<int64_t, 2>;

template <class S>
using ComputeOf = std::conditional_t<std::is_same_v<S, double>, double,
                                     std::conditional_t<std::is_integral_v<S>, int64_t, float>>;

template <bool kSum, class C>
C step(C a, C x) {
  if constexpr (std::is_integral_v<C>)  // unsigned arithmetic wraps instead of overflowing
    return kSum ? C(uint64_t(a) + uint64_t(x)) : C(uint64_t(a) * uint64_t(x));
  else
    return kSum ? a + x : a * x;
}

template <class C>
void write_row(DType dt, void* base, int64_t off, int64_t stride, const C* v, int64_t n) {
  visit_dtype(dt, [&](auto tag) {
    using O = decltype(tag);
    O* p = static_cast<O*>(base) + off;
    for (int64_t i = 0; i < n; ++i) p[i * stride] = from_compute<O, C>(v[i]);
  });
}

template <bool kSum, class S>
void run(const S* in, const StridedLoop<2>& lines, int64_t n, int64_t si, int64_t so,
         const Tensor& out) {
  using C = ComputeOf<S>;
  const DType odt = out.dtype();
  void* obase = out.data_ptr();
  const int64_t n_lines = lines.size();
  const int64_t lin = lines.inner_strides()[0], lout = lines.inner_strides()[1];
  const bool axis_inner = lines.inner() <= 1 || std::abs(si) <= std::abs(lin);
  if (axis_inner) {
    // One line at a time, read along the axis.
    parallel_for(n_lines, std::max<int64_t>(1, kSerial / n), [&](int64_t b, int64_t e) {
      std::vector<C> acc(static_cast<size_t>(n));
      lines.for_each_row(b, e, [&](const Off2& off, int64_t m) {
        for (int64_t i = 0; i < m; ++i) {
          const S* p = in + off[0] + i * lin;
          C a = C(kSum ? 0 : 1);
          for (int64_t k = 0; k < n; ++k)
            acc[size_t(k)] = a = step<kSum>(a, to_compute<S, C>(p[k * si]));
          write_row(odt, obase, off[1] + i * lout, so, acc.data(), n);
        }
      });
    });
    return;
  }
  // The axis is outer: carry a tile of running values down the axis, reading rows in order.
  const int64_t L = lines.inner(), outer = n_lines / L, tw = std::min(L, kTile);
  const int64_t ntiles = (L + tw - 1) / tw;
  parallel_for(outer * ntiles, std::max<int64_t>(1, kSerial / (tw * n)), [&](int64_t b, int64_t e) {
    C acc[kTile];
    for (int64_t u = b; u < e; ++u) {
      const int64_t t = (u % ntiles) * tw, w = std::min(tw, L - t);
      const int64_t first = (u / ntiles) * L + t;  // the tile's first line
      lines.for_each_row(first, first + 1, [&](const Off2& off, int64_t) {
        std::fill(acc, acc + w, C(kSum ? 0 : 1));
        for (int64_t k = 0; k < n; ++k) {
          const S* p = in + off[0] + k * si;
          for (int64_t j = 0; j < w; ++j)
            acc[j] = step<kSum>(acc[j], to_compute<S, C>(p[j * lin]));
          write_row(odt, obase, off[1] + k * so, lout, acc, w);
        }
      });
    }
  });
}

}  // namespace

void scan(ScanOp op, const Tensor& in, int axis, const Tensor& out) {
  Shape shape;
  Strides sin, sout;
  for (int d = 0; d < in.ndim(); ++d) {
    if (d == axis) continue;
    shape.push_back(in.dim(d));
    sin.push_back(in.strides()[size_t(d)]);
    sout.push_back(out.strides()[size_t(d)]);
  }
  const StridedLoop<2> lines(shape, {&sin, &sout});
  const int64_t n = in.dim(axis);
  if (lines.size() == 0 || n == 0) return;
  const int64_t si = in.strides()[size_t(axis)], so = out.strides()[size_t(axis)];
  visit_dtype(in.dtype(), [&](auto tag) {
    using S = decltype(tag);
    const S* p = static_cast<const S*>(in.data_ptr());
    if (op == ScanOp::CumSum) run<true>(p, lines, n, si, so, out);
    else run<false>(p, lines, n, si, so, out);
  });
}

}  // namespace tl::cpu
