// Reductions, scans and softmax: shape and dtype rules, then the backend's reduce/scan
// kernels. The statistics (mean, var, logsumexp, softmax) are built from elementwise ops and
// plain reductions so that the fusion planner sees ordinary chains ending in a reduction.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"

namespace tl {
namespace {

std::vector<int> resolve_axes(const Axes& axes, int ndim) {
  if (!axes) {
    std::vector<int> all(size_t(ndim), 0);
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  return normalize_axes(*axes, ndim);
}

// The shape left after reducing `axes` (sorted), each kept as 1 when keepdims.
Shape reduced_shape(const Shape& s, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  for (size_t d = 0; d < s.size(); ++d) {
    if (!std::binary_search(axes.begin(), axes.end(), int(d))) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

int64_t reduced_count(const Shape& s, const std::vector<int>& axes) {
  int64_t n = 1;
  for (int a : axes) n *= s[size_t(a)];
  return n;
}

DType reduce_dtype(ReduceOp op, DType t) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Prod: return is_float(t) ? t : DType::Int64;
    case ReduceOp::Any:
    case ReduceOp::All: return DType::Bool;
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin: return DType::Int64;
    default: return t;
  }
}

// Statistics compute in f32 (f16, bf16, integers, bool) or f64, and return floats in the
// input's dtype, integers and bool as float32.
DType stats_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }
DType stats_result_dtype(DType t) { return is_float(t) ? t : DType::Float32; }
Tensor to_stats(const Tensor& x) {
  DType st = stats_dtype(x.dtype());
  return x.dtype() == st ? x : astype(x, st);
}
Tensor from_stats(const Tensor& r, DType input) {
  DType rt = stats_result_dtype(input);
  return r.dtype() == rt ? r : astype(r, rt);
}

// Reduction over normalized axes, checked by the caller.
Tensor reduce_axes(ReduceOp op, const Tensor& x, const std::vector<int>& ax, bool keepdims) {
  Tensor out;
  const Shape shape = reduced_shape(x.shape(), ax, false);
  if (x.numel() == 0) {  // nothing to fuse: identities, or an empty result
    out = empty(shape, reduce_dtype(op, x.dtype()), x.device());
    if (out.numel() > 0) backend_for(x.device()).reduce(op, x, ax, out);
  } else {
    auto node = std::make_shared<Node>();
    node->kind = NodeKind::Reduce;
    node->shape = shape;
    node->dtype = reduce_dtype(op, x.dtype());
    node->device = x.device();
    node->rop = op;
    node->axes = ax;
    node->inputs.push_back(x.source());
    out = graph::record(std::move(node));
  }
  return keepdims ? reshape(out, reduced_shape(x.shape(), ax, true)) : out;
}

Tensor mean_axes(const Tensor& x, const std::vector<int>& ax, bool keepdims) {
  Tensor s = reduce_axes(ReduceOp::Sum, x, ax, keepdims);
  // An empty reduction gives 0 / 0 = NaN, as in NumPy.
  return binary(OpCode::divide, s, Scalar::from_float(double(reduced_count(x.shape(), ax))));
}

// Two-pass variance of a float32/float64 tensor: sum((x - mean)^2) / max(n - correction, 0).
Tensor var_axes(const Tensor& x, const std::vector<int>& ax, double correction, bool keepdims) {
  Tensor d = binary(OpCode::subtract, x, mean_axes(x, ax, true));
  Tensor s = reduce_axes(ReduceOp::Sum, unary(OpCode::square, d), ax, keepdims);
  double dof = std::max(double(reduced_count(x.shape(), ax)) - correction, 0.0);
  return binary(OpCode::divide, s, Scalar::from_float(dof));
}

}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims) {
  if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin)
    throw_value("reduce: argmax/argmin go through argreduce");
  std::vector<int> ax = resolve_axes(axes, x.ndim());
  if ((op == ReduceOp::Max || op == ReduceOp::Min) && reduced_count(x.shape(), ax) == 0)
    throw_value(std::string("zero-size array to reduction operation ") +
                (op == ReduceOp::Max ? "max" : "min") + " which has no identity");
  return reduce_axes(op, x, ax, keepdims);
}

Tensor mean(const Tensor& x, const Axes& axes, bool keepdims) {
  std::vector<int> ax = resolve_axes(axes, x.ndim());
  // f16/bf16 sums could overflow or lose digits before the division: go through f32.
  if (x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16)
    return from_stats(mean_axes(to_stats(x), ax, keepdims), x.dtype());
  // Integers are summed in float64 (an int64 sum could wrap, as NumPy's mean never does);
  // the result is float32.
  if (!is_float(x.dtype())) return from_stats(mean_axes(astype(x, DType::Float64), ax, keepdims), x.dtype());
  return from_stats(mean_axes(x, ax, keepdims), x.dtype());
}

Tensor var(const Tensor& x, const Axes& axes, double correction, bool keepdims) {
  std::vector<int> ax = resolve_axes(axes, x.ndim());
  return from_stats(var_axes(to_stats(x), ax, correction, keepdims), x.dtype());
}

Tensor std_(const Tensor& x, const Axes& axes, double correction, bool keepdims) {
  std::vector<int> ax = resolve_axes(axes, x.ndim());
  Tensor v = var_axes(to_stats(x), ax, correction, keepdims);
  return from_stats(unary(OpCode::sqrt, v), x.dtype());
}

Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdims) {
  std::vector<int> ax = resolve_axes(axes, x.ndim());
  if (reduced_count(x.shape(), ax) == 0)  // log(0)
    return full(reduced_shape(x.shape(), ax, keepdims),
                Scalar::from_float(-std::numeric_limits<double>::infinity()),
                stats_result_dtype(x.dtype()), x.device());
  Tensor xs = to_stats(x);
  Tensor m = reduce_axes(ReduceOp::Max, xs, ax, true);
  // Rows whose max is infinite (all -inf, or holding +inf) are shifted by 0, not by inf,
  // which would give inf - inf = NaN.
  Tensor shift = where(unary(OpCode::isfinite, m), m, Scalar::from_float(0.0));
  Tensor e = unary(OpCode::exp, binary(OpCode::subtract, xs, shift));
  Tensor lse = unary(OpCode::log, reduce_axes(ReduceOp::Sum, e, ax, keepdims));
  if (!keepdims) shift = reshape(shift, reduced_shape(x.shape(), ax, false));
  return from_stats(binary(OpCode::add, lse, shift), x.dtype());
}

Tensor argreduce(ReduceOp op, const Tensor& x, std::optional<int64_t> axis, bool keepdims) {
  if (op != ReduceOp::ArgMax && op != ReduceOp::ArgMin)
    throw_value("argreduce takes ArgMax or ArgMin");
  const char* name = op == ReduceOp::ArgMax ? "argmax" : "argmin";
  Tensor src = axis ? x : reshape(x, {-1});  // a view when x is contiguous
  const int a = axis ? normalize_axis(*axis, x.ndim()) : 0;
  if (src.dim(a) == 0) throw_value(std::string("attempt to get ") + name + " of an empty sequence");
  const std::vector<int> ax{a};
  Tensor out = empty(reduced_shape(src.shape(), ax, false), DType::Int64, x.device());
  if (out.numel() > 0) backend_for(x.device()).reduce(op, src, ax, out);
  if (!keepdims) return out;
  // keepdims without an axis keeps every dim as 1, as NumPy does.
  return reshape(out, axis ? reduced_shape(x.shape(), ax, true) : Shape(size_t(x.ndim()), 1));
}

Tensor scan(ScanOp op, const Tensor& x, std::optional<int64_t> axis) {
  Tensor src = axis ? x : reshape(x, {-1});  // a view when x is contiguous
  const int a = axis ? normalize_axis(*axis, x.ndim()) : 0;
  Tensor out = empty(src.shape(), is_float(x.dtype()) ? x.dtype() : DType::Int64, x.device());
  if (out.numel() > 0) backend_for(x.device()).scan(op, src, a, out);
  return out;
}

Tensor softmax(const Tensor& x, int64_t axis) {
  const std::vector<int> ax{normalize_axis(axis, x.ndim())};
  if (x.numel() == 0) return empty(x.shape(), stats_result_dtype(x.dtype()), x.device());
  Tensor xs = to_stats(x);
  Tensor e = unary(OpCode::exp,
                   binary(OpCode::subtract, xs, reduce_axes(ReduceOp::Max, xs, ax, true)));
  Tensor r = binary(OpCode::divide, e, reduce_axes(ReduceOp::Sum, e, ax, true));
  return from_stats(r, x.dtype());
}

Tensor log_softmax(const Tensor& x, int64_t axis) {
  const std::vector<int> ax{normalize_axis(axis, x.ndim())};
  if (x.numel() == 0) return empty(x.shape(), stats_result_dtype(x.dtype()), x.device());
  Tensor xs = to_stats(x);
  Tensor d = binary(OpCode::subtract, xs, reduce_axes(ReduceOp::Max, xs, ax, true));
  Tensor lse = unary(OpCode::log, reduce_axes(ReduceOp::Sum, unary(OpCode::exp, d), ax, true));
  return from_stats(binary(OpCode::subtract, d, lse), x.dtype());
}

}  // namespace tl
