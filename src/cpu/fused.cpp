#include "cpu/fused.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include "cpu/fused_program.h"
#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

using namespace fused;

constexpr int64_t kGrain = 1 << 15;  // elements worth a thread
constexpr int64_t kSplit = 1 << 16;  // reduced elements per partial when outputs are few

// Walks a subset of the domain's dims for several operands (each with its own strides) as
// rows; dims contiguous in every operand are merged.
class Walker {
 public:
  Walker(const Shape& domain, const std::vector<int>& dims, const std::vector<const Strides*>& st)
      : k_(st.size()) {
    MergedDims m = merge_dims(domain, dims, st);
    shape_ = std::move(m.shape);
    strides_ = std::move(m.strides);
    size_ = numel(shape_);
  }
  int64_t size() const { return size_; }
  const std::vector<int64_t>& inner_strides() const { return strides_.back(); }

  // fn(offsets, n) for each row piece of linear indices [begin, end); offsets per operand.
  template <class F>
  void for_each_row(int64_t begin, int64_t end, F&& fn) const {
    if (begin >= end) return;
    const size_t nd = shape_.size();
    std::vector<int64_t> idx(nd), off(k_, 0);
    int64_t rest = begin;
    for (size_t d = nd; d-- > 0;) {
      idx[d] = rest % shape_[d];
      rest /= shape_[d];
    }
    for (size_t d = 0; d < nd; ++d)
      for (size_t j = 0; j < k_; ++j) off[j] += idx[d] * strides_[d][j];
    for (int64_t pos = begin; pos < end;) {
      const int64_t n = std::min(shape_[nd - 1] - idx[nd - 1], end - pos);
      fn(off.data(), n);
      pos += n;
      idx[nd - 1] += n;
      for (size_t j = 0; j < k_; ++j) off[j] += n * strides_[nd - 1][j];
      for (size_t d = nd - 1; d > 0 && idx[d] == shape_[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
        for (size_t j = 0; j < k_; ++j) off[j] += strides_[d - 1][j] - shape_[d] * strides_[d][j];
      }
    }
  }

 private:
  size_t k_;
  Shape shape_;
  std::vector<std::vector<int64_t>> strides_;
  int64_t size_ = 1;
};

// Kept dims walked in blocks of up to kBlock outputs; for each block, every pass loops over
// the reduced index (none for a plain elementwise kernel).
// `domain` is the kernel's, or a box of it whose first element is `shift` elements into each
// memory operand; `threaded` splits it over the pool.
void run_columns(const Program& p, const Shape& domain, const std::vector<int64_t>& shift, bool threaded) {
  const size_t nm = p.mem_strides.size();
  const Walker outer(domain, p.kept, p.mem_strides);
  auto split = [&](int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (threaded) parallel_for(n, grain, fn);
    else fn(0, n);
  };
  if (p.reduces.empty() && p.jit[0]) {  // compiled: each row piece is one call
    split(outer.size(), kGrain, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> off(nm);
      outer.for_each_row(begin, end, [&](const int64_t* o0, int64_t n) {
        for (size_t j = 0; j < nm; ++j) off[j] = o0[j] + shift[j] + p.mem_offset[j];
        p.jit[0](p.base.data(), off.data(), outer.inner_strides().data(), n, p.cf.data(),
                 p.ci.data(), nullptr, nullptr, nullptr, nullptr);
      });
    });
    return;
  }
  const Walker inner(domain, p.reduced, p.mem_strides);
  const int64_t inner_n = inner.size();
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, inner_n));
  split(outer.size(), grain, [&](int64_t begin, int64_t end) {
    Frame f(p);
    std::vector<int64_t> off(nm), o(nm), inc(outer.inner_strides());
    outer.for_each_row(begin, end, [&](const int64_t* o0, int64_t n) {
      for (int64_t done = 0; done < n; done += kBlock) {
        const int64_t m = std::min(kBlock, n - done);
        for (size_t j = 0; j < nm; ++j) off[j] = o0[j] + shift[j] + done * inc[j];
        f.run_rows(0, off.data(), inc.data(), m);
        for (int pass = 0; pass < p.passes; ++pass) {
          f.reset_acc(pass);
          inner.for_each_row(0, inner_n, [&](const int64_t* r0, int64_t rn) {
            for (int64_t r = 0; r < rn; ++r) {
              for (size_t j = 0; j < nm; ++j) o[j] = off[j] + r0[j] + r * inner.inner_strides()[j];
              f.run(p.pass_list[size_t(pass)], o.data(), inc.data(), m);
            }
          });
          f.finish_acc(pass, m);
          f.run_rows(pass + 1, off.data(), inc.data(), m);
        }
      }
    });
  });
}

// One output at a time; each pass walks its reduced elements in blocks. With few outputs
// and one pass, the reduced range is split into fixed-size partials run in parallel.
void run_rows(const Program& p) {
  const size_t nm = p.mem_strides.size();
  const Walker outer(p.k.domain, p.kept, p.mem_strides);
  const Walker inner(p.k.domain, p.reduced, p.mem_strides);
  const int64_t inner_n = inner.size(), outer_n = outer.size();
  const std::vector<int64_t> one(nm, 0);

  auto pass_over = [&](Frame& f, int pass, const int64_t* base, int64_t begin, int64_t end) {
    std::vector<int64_t> off(nm);
    const auto& inc = inner.inner_strides();
    if (BlockFn fn = p.jit[size_t(pass)]) {
      f.export_rows();
      inner.for_each_row(begin, end, [&](const int64_t* r0, int64_t n) {
        for (size_t j = 0; j < nm; ++j) off[j] = base[j] + r0[j] + p.mem_offset[j];
        fn(p.base.data(), off.data(), inc.data(), n, p.cf.data(), p.ci.data(), f.rf.data(),
           f.ri.data(), f.acc_f.data(), f.acc_i.data());
      });
      return;
    }
    inner.for_each_row(begin, end, [&](const int64_t* r0, int64_t n) {
      for (int64_t done = 0; done < n; done += kBlock) {
        for (size_t j = 0; j < nm; ++j) off[j] = base[j] + r0[j] + done * inc[j];
        f.run(p.pass_list[size_t(pass)], off.data(), inc.data(), std::min(kBlock, n - done));
      }
    });
  };
  auto offsets_of = [&](int64_t o, std::vector<int64_t>& base) {
    outer.for_each_row(o, o + 1, [&](const int64_t* o0, int64_t) { base.assign(o0, o0 + nm); });
  };

  const int64_t splits = (inner_n + kSplit - 1) / kSplit;
  if (p.passes == 1 && outer_n < 4 * num_threads() && splits > 1) {
    // partials[o][s][reduce] in double or int64, combined in order: reproducible.
    const size_t nr = p.reduces.size();
    std::vector<double> part_f(size_t(outer_n * splits) * nr);
    std::vector<int64_t> part_i(part_f.size());
    parallel_for(outer_n * splits, 1, [&](int64_t b, int64_t e) {
      Frame f(p);
      std::vector<int64_t> base;
      for (int64_t t = b; t < e; ++t) {
        offsets_of(t / splits, base);
        f.run_rows(0, base.data(), one.data(), 1);
        f.reset_acc(0);
        const int64_t s = t % splits;
        pass_over(f, 0, base.data(), s * kSplit, std::min(inner_n, (s + 1) * kSplit));
        for (size_t r = 0; r < nr; ++r) {
          part_f[size_t(t) * nr + r] = f.acc_f[r];
          part_i[size_t(t) * nr + r] = f.acc_i[r];
        }
      }
    });
    Frame f(p);
    std::vector<int64_t> base;
    for (int64_t o = 0; o < outer_n; ++o) {
      offsets_of(o, base);
      f.run_rows(0, base.data(), one.data(), 1);
      f.reset_acc(0);
      for (size_t r = 0; r < nr; ++r) {
        const ReduceOp op = p.k.instrs[size_t(p.reduces[r])].rop;
        for (int64_t s = 0; s < splits; ++s) {
          const size_t at = size_t(o * splits + s) * nr + r;
          f.acc_f[r] = combine(op, f.acc_f[r], part_f[at]);
          f.acc_i[r] = combine(op, f.acc_i[r], part_i[at]);
        }
      }
      f.finish_acc(0, 1);
      f.run_rows(1, base.data(), one.data(), 1);
    }
    return;
  }

  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, inner_n));
  parallel_for(outer_n, grain, [&](int64_t begin, int64_t end) {
    Frame f(p);
    std::vector<int64_t> base;
    for (int64_t o = begin; o < end; ++o) {
      offsets_of(o, base);
      f.run_rows(0, base.data(), one.data(), 1);
      for (int pass = 0; pass < p.passes; ++pass) {
        f.reset_acc(pass);
        pass_over(f, pass, base.data(), 0, inner_n);
        f.finish_acc(pass, 1);
        f.run_rows(pass + 1, base.data(), one.data(), 1);
      }
    }
  });
}

}  // namespace

void run_fused(const ir::Kernel& kernel, std::span<const BufferPtr> bindings) {
  if (numel(kernel.domain) == 0 && std::find(kernel.reduced.begin(), kernel.reduced.end(), true) == kernel.reduced.end())
    return;
  const Program p(kernel, bindings);
  if (p.rows) run_rows(p);
  else run_columns(p, kernel.domain, std::vector<int64_t>(p.mem_strides.size(), 0), true);
}

struct BoxRunner::Impl {
  Program program;
};

BoxRunner::BoxRunner(const ir::Kernel& kernel, std::span<const BufferPtr> bindings)
    : impl_(std::make_unique<Impl>(Impl{Program(kernel, bindings)})) {}

BoxRunner::~BoxRunner() = default;

void BoxRunner::run(std::span<const int64_t> start, std::span<const int64_t> extent) const {
  const Program& p = impl_->program;
  std::vector<int64_t> shift(p.mem_strides.size(), 0);
  for (size_t j = 0; j < shift.size(); ++j)
    for (size_t d = 0; d < start.size(); ++d) shift[j] += start[d] * (*p.mem_strides[j])[d];
  if (numel(Shape(extent.begin(), extent.end())) > 0)
    run_columns(p, Shape(extent.begin(), extent.end()), shift, false);
}

}  // namespace tl::cpu
