#include "cpu/gather.h"

#include <algorithm>

#include "core/error.h"
#include "cpu/strided_loop.h"
#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

constexpr int64_t kParallelWork = 32768;

// The three nested loops: P (indexed tensor's dims before split), I (offsets' dims) and Q (its
// dims from split on). Operand 0 of P and Q is the indexed tensor, of I the offsets tensor;
// operand 1 is always the dense tensor (gather's out, scatter's values).
struct Walk {
  StridedLoop<2> p, i, q;
  const int64_t* offs;
};

Walk make_walk(const Tensor& t, int split, const Tensor& offsets, const Tensor& dense) {
  const auto s = size_t(split), ni = size_t(offsets.ndim());
  const Shape& ts = t.shape();
  const Strides& tt = t.strides();
  const Strides& ds = dense.strides();
  Shape ps(ts.begin(), ts.begin() + s), qs(ts.begin() + s, ts.end());
  Strides pt(tt.begin(), tt.begin() + s), qt(tt.begin() + s, tt.end());
  Strides pd(ds.begin(), ds.begin() + s), id(ds.begin() + s, ds.begin() + s + ni),
      qd(ds.begin() + s + ni, ds.end());
  return Walk{StridedLoop<2>(ps, {&pt, &pd}), StridedLoop<2>(offsets.shape(), {&offsets.strides(), &id}),
              StridedLoop<2>(qs, {&qt, &qd}), static_cast<const int64_t*>(offsets.data_ptr())};
}

enum class Part { P, I, Q };

// Calls move(t_off, d_off) for each element of the walk, restricted to [b, e) along `part`
// (the whole range along the others). The I loop always runs in order within one call, so a
// scatter that splits P or Q keeps "last write wins".
template <class Move>
void run(const Walk& w, Part part, int64_t b, int64_t e, Move&& move) {
  // Plain variables, not structured bindings: older clangs cannot capture those in lambdas.
  const int64_t pb = part == Part::P ? b : 0, pe = part == Part::P ? e : w.p.size();
  const int64_t ib = part == Part::I ? b : 0, ie = part == Part::I ? e : w.i.size();
  const int64_t qb = part == Part::Q ? b : 0, qe = part == Part::Q ? e : w.q.size();
  const auto ps = w.p.inner_strides(), is = w.i.inner_strides(), qs = w.q.inner_strides();
  const bool one_q = qe - qb == 1 && w.q.shape.size() == 1;
  w.p.for_each_row(pb, pe, [&](const std::array<int64_t, 2>& po, int64_t pn) {
    for (int64_t a = 0; a < pn; ++a) {
      const int64_t pt = po[0] + a * ps[0], pd = po[1] + a * ps[1];
      w.i.for_each_row(ib, ie, [&](const std::array<int64_t, 2>& io, int64_t in) {
        const int64_t* offs = w.offs + io[0];
        if (one_q) {  // a tight loop over the offsets: keeps many loads in flight
          const int64_t t0 = pt + qb * qs[0], d0 = pd + io[1] + qb * qs[1];
          for (int64_t c = 0; c < in; ++c) move(t0 + offs[c * is[0]], d0 + c * is[1]);
          return;
        }
        for (int64_t c = 0; c < in; ++c) {
          const int64_t it = pt + offs[c * is[0]], id = pd + io[1] + c * is[1];
          w.q.for_each_row(qb, qe, [&](const std::array<int64_t, 2>& qo, int64_t qn) {
            for (int64_t k = 0; k < qn; ++k) move(it + qo[0] + k * qs[0], id + qo[1] + k * qs[1]);
          });
        }
      });
    }
  });
}

// Runs the walk on the pool when it is large, splitting the largest allowed part.
template <class F>
void run_parallel(const Walk& w, bool may_split_i, F&& f) {
  const int64_t np = w.p.size(), ni = w.i.size(), nq = w.q.size(), total = np * ni * nq;
  if (total == 0) return;
  Part part = np >= nq ? Part::P : Part::Q;
  int64_t n = std::max(np, nq);
  if (may_split_i && ni > n) {
    part = Part::I;
    n = ni;
  }
  if (total < kParallelWork || n < 2) return run(w, part, 0, n, f);
  const int64_t grain = std::max<int64_t>(1, kParallelWork / (total / n));
  parallel_for(n, grain, [&](int64_t b, int64_t e) { run(w, part, b, e, f); });
}

// Calls f(T{}) with an unsigned type of the given element size.
template <class F>
void visit_size(int64_t size, F&& f) {
  switch (size) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
  }
  throw_type("gather/scatter: unsupported element size " + std::to_string(size));
}

// dense must be shaped (P..., I..., Q...).
void check(const Tensor& t, int split, const Tensor& offsets, const Tensor& dense) {
  bool ok = offsets.dtype() == DType::Int64 && t.dtype() == dense.dtype() && split >= 0 &&
            split <= t.ndim();
  if (ok) {
    Shape want(t.shape().begin(), t.shape().begin() + split);
    want.insert(want.end(), offsets.shape().begin(), offsets.shape().end());
    want.insert(want.end(), t.shape().begin() + split, t.shape().end());
    ok = want == dense.shape();
  }
  if (!ok) throw_value("gather/scatter: inconsistent operands");
}

}  // namespace

void gather(const Tensor& src, int split, const Tensor& offsets, const Tensor& out) {
  check(src, split, offsets, out);
  if (out.numel() == 0) return;
  const Walk w = make_walk(src, split, offsets, out);
  visit_size(itemsize(src.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(src.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    run_parallel(w, true, [&](int64_t so, int64_t oo) { o[oo] = s[so]; });
  });
}

void scatter(const Tensor& dst, int split, const Tensor& offsets, const Tensor& values) {
  check(dst, split, offsets, values);
  if (values.numel() == 0) return;
  const Walk w = make_walk(dst, split, offsets, values);
  visit_size(itemsize(dst.dtype()), [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(dst.data_ptr());
    const T* v = static_cast<const T*>(values.data_ptr());
    run_parallel(w, false, [&](int64_t dof, int64_t vo) { d[dof] = v[vo]; });
  });
}

}  // namespace tl::cpu
