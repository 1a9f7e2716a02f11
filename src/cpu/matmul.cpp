#include "cpu/matmul.h"

#include <memory>
#include <vector>

#include "cpu/fused.h"
#include "cpu/gemm.h"
#include "cpu/gemv.h"

namespace tl::cpu {

void matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* epilogue) {
  const int nd = out.ndim();
  const int64_t M = out.dim(nd - 2), N = out.dim(nd - 1), K = a.dim(nd - 1);
  // Element offsets of every batch matrix, walking the batch dims in row-major order.
  const int64_t batch = numel(Shape(out.shape().begin(), out.shape().end() - 2));
  std::vector<int64_t> offs[3];
  for (auto& v : offs) v.reserve(size_t(batch));
  std::vector<int64_t> idx(size_t(nd - 2), 0);
  const Tensor* ts[3] = {&a, &b, &out};
  for (int64_t i = 0; i < batch; ++i) {
    for (int t = 0; t < 3; ++t) {
      int64_t o = ts[t]->offset();
      for (int d = 0; d < nd - 2; ++d) o += idx[size_t(d)] * ts[t]->strides()[size_t(d)];
      offs[t].push_back(o);
    }
    for (int d = nd - 3; d >= 0; --d) {
      if (++idx[size_t(d)] < out.dim(d)) break;
      idx[size_t(d)] = 0;
    }
  }
  auto mat = [&](const Tensor& t) {
    return GemmMatrix{t.buffer()->data(), t.strides()[size_t(nd - 2)], t.strides()[size_t(nd - 1)]};
  };
  // The epilogue runs on each block of `out` (row-major, fresh) while it is still in cache.
  std::unique_ptr<BoxRunner> ep;
  if (epilogue) ep = std::make_unique<BoxRunner>(epilogue->kernel, epilogue->bindings);
  const GemmBlockFn on_block = [&](int64_t b, int64_t i0, int64_t j0, int64_t m, int64_t n) {
    std::vector<int64_t> start(size_t(nd), 0), extent(size_t(nd), 1);
    for (int d = nd - 3; d >= 0; --d) {
      start[size_t(d)] = b % out.dim(d);
      b /= out.dim(d);
    }
    start[size_t(nd - 2)] = i0, start[size_t(nd - 1)] = j0;
    extent[size_t(nd - 2)] = m, extent[size_t(nd - 1)] = n;
    ep->run(start, extent);
  };
  if (gemv(out.dtype(), M, N, K, batch, mat(a), offs[0].data(), mat(b), offs[1].data(), mat(out),
           offs[2].data())) {
    if (ep) ep->run(std::vector<int64_t>(size_t(nd), 0), out.shape());
    return;
  }
  gemm(out.dtype(), M, N, K, batch, mat(a), offs[0].data(), mat(b), offs[1].data(), mat(out),
       offs[2].data(), ep ? &on_block : nullptr);
}

}  // namespace tl::cpu
