#include "cpu/reduce.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/scalar_math.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/strided_loop.h"
#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

constexpr int kLanes = 16;             // independent accumulators: fill the vector registers
constexpr int64_t kBlock = 4096;       // elements per f32 block before it moves to double
constexpr int64_t kColFlush = 256;     // rows per f32 block in the column order
constexpr int64_t kTile = 4096;        // columns accumulated together: 4 pages of f32 per row
constexpr int64_t kSplit = 1 << 18;    // elements per partial of one long reduction
constexpr int64_t kFewUnits = 16;      // fewer independent outputs than this: split the reduction
constexpr int64_t kSerial = 1 << 15;   // less total work than this runs on the caller
// Fixed split sizes (not the thread count) decide every partial, so results are reproducible.

template <class S>
using ComputeOf = std::conditional_t<std::is_same_v<S, double>, double,
                                     std::conditional_t<std::is_integral_v<S>, int64_t, float>>;
template <class C>
using Wide = std::conditional_t<std::is_floating_point_v<C>, double, int64_t>;

using Off2 = std::array<int64_t, 2>;
using Off1 = std::array<int64_t, 1>;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <ReduceOp OP>
struct Rop {
  template <class T>
  static T ident() {
    using L = std::numeric_limits<T>;
    if constexpr (OP == ReduceOp::Sum || OP == ReduceOp::Any) return T(0);
    else if constexpr (OP == ReduceOp::Prod || OP == ReduceOp::All) return T(1);
    else if constexpr (OP == ReduceOp::Max) return L::has_infinity ? -L::infinity() : L::lowest();
    else return L::has_infinity ? L::infinity() : L::max();
  }
  template <class T>
  static T step(T a, T x) {
    constexpr bool kInt = std::is_integral_v<T>;  // integers wrap through unsigned arithmetic
    if constexpr (OP == ReduceOp::Sum) return kInt ? T(uint64_t(a) + uint64_t(x)) : a + x;
    else if constexpr (OP == ReduceOp::Prod) return kInt ? T(uint64_t(a) * uint64_t(x)) : a * x;
    else if constexpr (OP == ReduceOp::Max) return sm::tl_max(a, x);
    else if constexpr (OP == ReduceOp::Min) return sm::tl_min(a, x);
    else if constexpr (OP == ReduceOp::Any) return x != T(0) ? T(1) : a;
    else return x != T(0) ? a : T(0);
  }
};

// Stores n values (any of the wide types) to out, casting to its dtype.
template <class V>
void write_row(DType dt, void* base, int64_t off, int64_t stride, const V* v, int64_t n) {
  visit_dtype(dt, [&](auto tag) {
    using O = decltype(tag);
    O* p = static_cast<O*>(base) + off;
    for (int64_t i = 0; i < n; ++i) p[i * stride] = from_compute<O, V>(v[i]);
  });
}

// f32 max/min: the NaN test in the scalar step defeats auto-vectorization, so the lanes are
// spelled out as GCC/Clang vectors (SSE2 and NEON alike) with a separate NaN mask.
using F4 = float __attribute__((vector_size(16)));
using I4 = int32_t __attribute__((vector_size(16)));

template <bool kMax, class S, class St>
float minmax_block(const S* q, int64_t m, St s) {
  constexpr int kVecs = kLanes / 4;
  constexpr float kInit = kMax ? -std::numeric_limits<float>::infinity()
                               : std::numeric_limits<float>::infinity();
  F4 acc[kVecs];
  I4 nan[kVecs];
  for (int v = 0; v < kVecs; ++v) {
    acc[v] = F4{} + kInit;
    nan[v] = I4{};
  }
  int64_t i = 0;
  for (; i + kLanes <= m; i += kLanes) {
    for (int v = 0; v < kVecs; ++v) {
      const S* r = q + (i + 4 * v) * s;
      const F4 x = {to_compute<S, float>(r[0]), to_compute<S, float>(r[s]),
                    to_compute<S, float>(r[2 * s]), to_compute<S, float>(r[3 * s])};
      acc[v] = (kMax ? x > acc[v] : x < acc[v]) ? x : acc[v];
      nan[v] |= x != x;
    }
  }
  float r = kInit;
  bool any_nan = false;
  for (int v = 0; v < kVecs; ++v)
    for (int k = 0; k < 4; ++k) {
      r = kMax ? std::max(r, acc[v][k]) : std::min(r, acc[v][k]);
      any_nan |= nan[v][k] != 0;
    }
  for (; i < m; ++i) {
    const float x = to_compute<S, float>(q[i * s]);
    any_nan |= x != x;
    r = kMax ? std::max(r, x) : std::min(r, x);
  }
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}

// Runs body with the stride as a compile-time 1 when it is 1, so unit-stride loops vectorize.
template <class F>
void with_stride(int64_t st, F&& body) {
  if (st == 1) body(std::integral_constant<int64_t, 1>{});
  else body(st);
}

template <ReduceOp OP, class S>
struct Kernel {
  using C = ComputeOf<S>;
  using W = Wide<C>;
  using R = Rop<OP>;
  const StridedLoop<1>& red;

  // n elements at stride st: kLanes accumulators over blocks of kBlock, blocks combined in W.
  static W row(const S* p, int64_t n, int64_t st) {
    W total = R::template ident<W>();
    with_stride(st, [&](auto s) {
      for (int64_t b = 0; b < n; b += kBlock)
        total = R::step(total, W(block(p + b * s, std::min(kBlock, n - b), s)));
    });
    return total;
  }

  template <class St>
  static C block(const S* q, int64_t m, St s) {
    if constexpr (std::is_same_v<C, float> && (OP == ReduceOp::Max || OP == ReduceOp::Min))
      return minmax_block<OP == ReduceOp::Max>(q, m, s);
    C acc[kLanes];
    for (C& a : acc) a = R::template ident<C>();
    int64_t i = 0;
    for (; i + kLanes <= m; i += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] = R::step(acc[k], to_compute<S, C>(q[(i + k) * s]));
    for (; i < m; ++i) acc[0] = R::step(acc[0], to_compute<S, C>(q[i * s]));
    for (int w = kLanes / 2; w > 0; w /= 2)
      for (int k = 0; k < w; ++k) acc[k] = R::step(acc[k], acc[k + w]);
    return acc[0];
  }

  // Reduced elements [rb, re) (linear over the reduced dims) starting at base.
  W span(const S* base, int64_t rb, int64_t re) const {
    const int64_t rs = red.inner_strides()[0];
    if (red.shape.size() == 1) return row(base + rb * rs, re - rb, rs);
    W t = R::template ident<W>();
    red.for_each_row(rb, re, [&](const Off1& off, int64_t n) {
      t = R::step(t, row(base + off[0], n, rs));
    });
    return t;
  }

  // Column order: w outputs at stride cs share each reduced row [rb, re); read row by row.
  void cols(const S* base, int64_t w, int64_t cs, int64_t rb, int64_t re, W* dst) const {
    std::vector<C> acc(static_cast<size_t>(w), R::template ident<C>());
    std::fill(dst, dst + w, R::template ident<W>());
    auto flush = [&] {
      for (int64_t j = 0; j < w; ++j) {
        dst[j] = R::step(dst[j], W(acc[j]));
        acc[j] = R::template ident<C>();
      }
    };
    const int64_t rs = red.inner_strides()[0];
    int64_t count = 0;
    with_stride(cs, [&](auto s) {
      red.for_each_row(rb, re, [&](const Off1& off, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          const S* p = base + off[0] + i * rs;
          for (int64_t j = 0; j < w; ++j) acc[j] = R::step(acc[j], to_compute<S, C>(p[j * s]));
          if (++count == kColFlush) {
            flush();
            count = 0;
          }
        }
      });
    });
    flush();
  }
};

// Whether the kept dims are read faster along rows (column order) than the reduced ones.
bool column_order(const StridedLoop<2>& kept, int64_t red_inner, int64_t red_stride) {
  if (kept.inner() <= 1) return false;
  const int64_t rs = red_inner > 1 ? std::abs(red_stride) : std::numeric_limits<int64_t>::max();
  return std::abs(kept.inner_strides()[0]) < rs;
}

// A unit is one output (row order) or one row of L outputs (column order); few units with
// long reductions also split the reduction into chunks, combined in order.
template <ReduceOp OP, class S>
void run_reduce(const S* in, const StridedLoop<2>& kept, const StridedLoop<1>& red,
                const Tensor& out) {
  using K = Kernel<OP, S>;
  using W = typename K::W;
  using R = Rop<OP>;
  const K k{red};
  const int64_t n_out = kept.size(), n_red = red.size();
  const DType odt = out.dtype();
  void* obase = out.data_ptr();
  const int64_t kin = kept.inner_strides()[0], kout = kept.inner_strides()[1];
  if (n_red == 0) {
    kept.for_each_row(0, n_out, [&](const Off2& off, int64_t n) {
      std::vector<W> v(static_cast<size_t>(n), R::template ident<W>());
      write_row(odt, obase, off[1], kout, v.data(), n);
    });
    return;
  }
  const bool columns = column_order(kept, red.inner(), red.inner_strides()[0]);
  const int64_t width = columns ? kept.inner() : 1, units = n_out / width;
  const int64_t tw = std::min(width, kTile), tiles = ceil_div(width, tw);
  // Reduces [rb, re) of tile t of the unit at base into dst.
  auto tile = [&](const S* base, int64_t t, int64_t rb, int64_t re, W* dst) {
    if (columns) k.cols(base + t * tw * kin, std::min(tw, width - t * tw), kin, rb, re, dst);
    else *dst = k.span(base, rb, re);
  };
  if (units >= kFewUnits || n_out * n_red < kSerial) {
    parallel_for(units, std::max<int64_t>(1, kSerial / (width * n_red)), [&](int64_t b, int64_t e) {
      std::vector<W> v;
      kept.for_each_row(b * width, e * width, [&](const Off2& off, int64_t n) {
        v.resize(size_t(n));
        for (int64_t i = 0; i < n; i += width)
          for (int64_t t = 0; t < tiles; ++t)
            tile(in + off[0] + i * kin, t, 0, n_red, &v[size_t(i + t * tw)]);
        write_row(odt, obase, off[1], kout, v.data(), n);
      });
    });
    return;
  }
  const int64_t rsplit = columns ? std::max(kSplit / tw, kColFlush) : kSplit;
  const int64_t chunks = ceil_div(n_red, rsplit);
  std::vector<W> parts(static_cast<size_t>(chunks * width));
  kept.for_each_row(0, n_out, [&](const Off2& off, int64_t n) {
    for (int64_t i = 0; i < n; i += width) {
      parallel_for(tiles * chunks, 1, [&](int64_t b, int64_t e) {
        for (int64_t item = b; item < e; ++item) {
          const int64_t t = item % tiles, c = item / tiles;
          tile(in + off[0] + i * kin, t, c * rsplit, std::min(n_red, (c + 1) * rsplit),
               &parts[size_t(c * width + t * tw)]);
        }
      });
      for (int64_t c = 1; c < chunks; ++c)
        for (int64_t j = 0; j < width; ++j)
          parts[size_t(j)] = R::step(parts[size_t(j)], parts[size_t(c * width + j)]);
      write_row(odt, obase, off[1] + i * kout, kout, parts.data(), width);
    }
  });
}

// ---- argmax / argmin over one axis ----

template <bool kMax, class S>
struct Arg {
  using C = ComputeOf<S>;
  struct Best { C v; int64_t i; };
  static bool better(C v, C best) { return kMax ? v > best : v < best; }
  static bool isnan(C v) { return v != v; }

  // Indices [i0, i1) of the axis at p with stride st; the first NaN ends the search. Each
  // block's extreme comes from the vectorized reduction; only a block that improves on the
  // best so far is searched again for the index.
  static Best scan(const S* p, int64_t i0, int64_t i1, int64_t st) {
    using K = Kernel<kMax ? ReduceOp::Max : ReduceOp::Min, S>;
    Best b{to_compute<S, C>(p[i0 * st]), i0};
    for (int64_t blk = i0; blk < i1 && !isnan(b.v); blk += kBlock) {
      const int64_t end = std::min(i1, blk + kBlock);
      const C e = C(K::row(p + blk * st, end - blk, st));
      if (!isnan(e) && !better(e, b.v)) continue;
      int64_t i = blk;  // the block holds e, or a NaN when e is NaN
      while (!isnan(to_compute<S, C>(p[i * st])) && to_compute<S, C>(p[i * st]) != e) ++i;
      b = {to_compute<S, C>(p[i * st]), i};
    }
    return b;
  }
  // a covers indices before b's.
  static Best merge(Best a, Best b) {
    return (!isnan(a.v) && (isnan(b.v) || better(b.v, a.v))) ? b : a;
  }
  // Column order: w outputs at stride cs, n rows at stride st.
  static void cols(const S* p, int64_t w, int64_t cs, int64_t n, int64_t st, int64_t* idx) {
    C best[kTile];
    for (int64_t j = 0; j < w; ++j) best[j] = to_compute<S, C>(p[j * cs]), idx[j] = 0;
    for (int64_t i = 1; i < n; ++i) {
      const S* r = p + i * st;
      for (int64_t j = 0; j < w; ++j) {
        const C v = to_compute<S, C>(r[j * cs]);
        if (!isnan(best[j]) && (isnan(v) || better(v, best[j]))) {
          best[j] = v;
          idx[j] = i;
        }
      }
    }
  }
};

template <bool kMax, class S>
void run_arg(const S* in, const StridedLoop<2>& kept, int64_t n, int64_t st, int64_t* out) {
  using A = Arg<kMax, S>;
  const int64_t n_out = kept.size();
  const int64_t kin = kept.inner_strides()[0], kout = kept.inner_strides()[1];
  const bool serial = n_out * n < kSerial;
  if (!column_order(kept, n, st)) {
    if (n_out >= kFewUnits || serial) {
      parallel_for(n_out, std::max<int64_t>(1, kSerial / n), [&](int64_t b, int64_t e) {
        kept.for_each_row(b, e, [&](const Off2& off, int64_t m) {
          for (int64_t i = 0; i < m; ++i)
            out[off[1] + i * kout] = A::scan(in + off[0] + i * kin, 0, n, st).i;
        });
      });
      return;
    }
    const int64_t chunks = ceil_div(n, kSplit);
    std::vector<typename A::Best> parts(static_cast<size_t>(chunks));
    kept.for_each_row(0, n_out, [&](const Off2& off, int64_t m) {
      for (int64_t i = 0; i < m; ++i) {
        const S* base = in + off[0] + i * kin;
        parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
          for (int64_t c = b; c < e; ++c)
            parts[size_t(c)] = A::scan(base, c * kSplit, std::min(n, (c + 1) * kSplit), st);
        });
        auto best = parts[0];
        for (int64_t c = 1; c < chunks; ++c) best = A::merge(best, parts[size_t(c)]);
        out[off[1] + i * kout] = best.i;
      }
    });
    return;
  }
  const int64_t L = kept.inner(), outer = n_out / L, tw = std::min(L, kTile);
  parallel_for(outer, std::max<int64_t>(1, kSerial / (L * n)), [&](int64_t b, int64_t e) {
    int64_t idx[kTile];
    kept.for_each_row(b * L, e * L, [&](const Off2& off, int64_t) {
      for (int64_t t = 0; t < L; t += tw) {
        const int64_t w = std::min(tw, L - t);
        A::cols(in + off[0] + t * kin, w, kin, n, st, idx);
        for (int64_t j = 0; j < w; ++j) out[off[1] + (t + j) * kout] = idx[j];
      }
    });
  });
}

}  // namespace

void reduce(ReduceOp op, const Tensor& in, std::span<const int> axes, const Tensor& out) {
  // Split in's dims into kept (paired with out's dims, in order) and reduced ones.
  Shape ks, rs;
  Strides kin, kout, rin;
  size_t next_axis = 0;
  for (int d = 0; d < in.ndim(); ++d) {
    if (next_axis < axes.size() && axes[next_axis] == d) {
      ++next_axis;
      rs.push_back(in.dim(d));
      rin.push_back(in.strides()[size_t(d)]);
    } else {
      kin.push_back(in.strides()[size_t(d)]);
      kout.push_back(out.strides()[ks.size()]);
      ks.push_back(in.dim(d));
    }
  }
  const StridedLoop<2> kept(ks, {&kin, &kout});
  if (kept.size() == 0) return;
  if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) {
    if (axes.size() != 1 || rs[0] == 0) throw_value("argmax/argmin need one non-empty axis");
    if (out.dtype() != DType::Int64) throw_type("argmax/argmin write int64 indices");
    auto* o = static_cast<int64_t*>(out.data_ptr());
    visit_dtype(in.dtype(), [&](auto tag) {
      using S = decltype(tag);
      const S* p = static_cast<const S*>(in.data_ptr());
      if (op == ReduceOp::ArgMax) run_arg<true>(p, kept, rs[0], rin[0], o);
      else run_arg<false>(p, kept, rs[0], rin[0], o);
    });
    return;
  }
  const StridedLoop<1> red(rs, {&rin});
  visit_dtype(in.dtype(), [&](auto tag) {
    using S = decltype(tag);
    const S* p = static_cast<const S*>(in.data_ptr());
    switch (op) {
      case ReduceOp::Sum: return run_reduce<ReduceOp::Sum>(p, kept, red, out);
      case ReduceOp::Prod: return run_reduce<ReduceOp::Prod>(p, kept, red, out);
      case ReduceOp::Max: return run_reduce<ReduceOp::Max>(p, kept, red, out);
      case ReduceOp::Min: return run_reduce<ReduceOp::Min>(p, kept, red, out);
      case ReduceOp::Any: return run_reduce<ReduceOp::Any>(p, kept, red, out);
      case ReduceOp::All: return run_reduce<ReduceOp::All>(p, kept, red, out);
      default: throw_value("unknown reduction");
    }
  });
}

}  // namespace tl::cpu
