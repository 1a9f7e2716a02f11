// Matrix multiplication with NumPy's rules: vectors, N-d batch broadcasting.
#include <atomic>

#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"

namespace tl {
namespace {
std::atomic<MatmulPrecision> f32_precision{MatmulPrecision::Highest};
}  // namespace

void set_float32_matmul_precision(MatmulPrecision p) { f32_precision.store(p); }
MatmulPrecision float32_matmul_precision() { return f32_precision.load(); }

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  if (a_in.ndim() == 0 || b_in.ndim() == 0)
    throw_value("matmul: operands must have at least one dimension, got shapes " +
                shape_str(a_in.shape()) + " and " + shape_str(b_in.shape()));
  if (a_in.device() != b_in.device())
    throw_value("matmul: operands are on different devices: " + a_in.device().str() + " and " +
                b_in.device().str());
  DType dt = promote_types(a_in.dtype(), b_in.dtype());
  // Integer matmul runs in float64 (exact below 2^53) and converts back.
  DType compute = is_float(dt) ? dt : DType::Float64;
  Tensor a = a_in.dtype() == compute ? a_in : astype(a_in, compute);
  Tensor b = b_in.dtype() == compute ? b_in : astype(b_in, compute);
  const bool a_vec = a.ndim() == 1, b_vec = b.ndim() == 1;
  if (a_vec) a = a.view({1, a.dim(0)}, {0, a.strides()[0]}, a.offset());
  if (b_vec) b = b.view({b.dim(0), 1}, {b.strides()[0], 0}, b.offset());
  const int64_t M = a.dim(a.ndim() - 2), K = a.dim(a.ndim() - 1);
  const int64_t K2 = b.dim(b.ndim() - 2), N = b.dim(b.ndim() - 1);
  if (K != K2)
    throw_value("matmul: shapes " + shape_str(a_in.shape()) + " and " + shape_str(b_in.shape()) +
                " are not aligned: " + std::to_string(K) + " != " + std::to_string(K2));
  Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(batch_a, batch_b);
  } catch (const Error&) {
    throw_value("matmul: batch dimensions of shapes " + shape_str(a_in.shape()) + " and " +
                shape_str(b_in.shape()) + " cannot be broadcast together");
  }
  auto expand = [&](const Tensor& t, int64_t r, int64_t c) {
    Shape s = batch;
    s.push_back(r);
    s.push_back(c);
    return t.view(s, broadcast_strides(t.shape(), t.strides(), s), t.offset());
  };
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  auto node = std::make_shared<Node>();
  node->kind = NodeKind::Matmul;
  node->shape = out_shape;
  node->dtype = compute;
  node->device = a.device();
  if (compute == DType::Float32) node->precision = float32_matmul_precision();
  node->inputs = {expand(a, M, K).source(), expand(b, K, N).source()};
  Tensor out = graph::record(std::move(node));
  Shape final_shape = batch;
  if (!a_vec) final_shape.push_back(M);
  if (!b_vec) final_shape.push_back(N);
  out = out.view(final_shape, contiguous_strides(final_shape), 0);
  if (compute == dt) return out;
  // Through int64 (exact) so narrower integers wrap, as their elementwise products do.
  return is_integer(dt) || dt == DType::Bool ? astype(astype(out, DType::Int64), dt)
                                             : astype(out, dt);
}

}  // namespace tl
