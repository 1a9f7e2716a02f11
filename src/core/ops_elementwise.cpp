// Elementwise ops: operand resolution (weak scalars), dtype rules, broadcasting.
#include <algorithm>
#include <array>

#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"

namespace tl {
namespace {

const Tensor* first_tensor(std::span<const Operand* const> ops) {
  for (const Operand* o : ops)
    if (auto* t = std::get_if<Tensor>(o)) return t;
  return nullptr;
}

// Tensors for every operand: scalars take the dtype a weak scalar takes next to the first
// tensor operand (or their default dtype when all are scalars), on that tensor's device.
std::vector<Tensor> resolve(std::span<const Operand* const> ops) {
  const Tensor* ref = first_tensor(ops);
  Device dev = ref ? ref->device() : default_device();
  std::vector<Tensor> out;
  for (const Operand* o : ops) {
    if (auto* t = std::get_if<Tensor>(o)) {
      if (t->device() != dev)
        throw_value("operands are on different devices: " + dev.str() + " and " +
                    t->device().str());
      out.push_back(*t);
    } else {
      const Scalar& s = std::get<Scalar>(*o);
      DType dt = ref ? weak_scalar_dtype(s, ref->dtype()) : default_scalar_dtype(s);
      out.push_back(graph::constant(s, dt, dev));
    }
  }
  return out;
}

DType promote_all(std::span<const DType> ts) {
  DType r = ts[0];
  for (size_t i = 1; i < ts.size(); ++i) r = promote_types(r, ts[i]);
  return r;
}

// The type the backend computes in.
DType op_compute_dtype(OpCode op, std::span<const DType> in, DType result) {
  switch (op_info(op).rule) {
    case OpRule::Compare:
    case OpRule::Predicate:
      return compute_dtype(promote_all(in));
    case OpRule::Logical:
      return DType::Int64;
    default:
      return compute_dtype(result);
  }
}

Tensor run(OpCode op, std::vector<Tensor> in, const Tensor* out_or_null) {
  std::array<DType, 3> dt_store{};
  for (size_t i = 0; i < in.size(); ++i) dt_store[i] = in[i].dtype();
  const std::span<const DType> dts(dt_store.data(), in.size());
  DType result = result_dtype(op, dts);
  if (op_info(op).rule == OpRule::Logical)
    for (Tensor& t : in)
      if (t.dtype() != DType::Bool) t = astype(t, DType::Bool);
  Shape shape = in[0].shape();
  for (size_t i = 1; i < in.size(); ++i) shape = broadcast_shapes(shape, in[i].shape());
  DType compute = op_compute_dtype(op, dts, result);
  if (!out_or_null) {  // recorded: computed when needed, fused with its neighbours
    (void)numel(shape);  // a broadcast result may not claim more than 2^63 elements
    auto node = std::make_shared<Node>();
    node->kind = NodeKind::Elementwise;
    node->shape = shape;
    node->dtype = result;
    node->device = in[0].device();
    node->op = op;
    node->compute = compute;
    for (const Tensor& t : in) {  // each read through its broadcast view
      Source src = t.source();
      src.strides = broadcast_strides(t.shape(), t.strides(), shape);
      src.shape = shape;
      node->inputs.push_back(std::move(src));
    }
    return graph::record(std::move(node));
  }
  const Tensor& out = *out_or_null;
  if (broadcast_shapes(shape, out.shape()) != out.shape())
    throw_value("non-broadcastable output operand with shape " + shape_str(out.shape()) +
                " doesn't match the broadcast shape " + shape_str(shape));
  shape = out.shape();
  for (Tensor& t : in) {
    if (t.overlaps_differently(out))
      t = copy(t);  // an input overlapping the output differently must be read first
    t = t.view(shape, broadcast_strides(t.shape(), t.strides(), shape), t.offset());
  }
  backend_for(out.device()).elementwise(op, compute, in, out);
  return out;
}

}  // namespace

DType result_dtype(OpCode op, std::span<const DType> in) {
  const OpInfo& info = op_info(op);
  DType p = promote_all(info.rule == OpRule::Where ? in.subspan(1) : in);
  auto only_ints = [&] {
    for (DType t : in)
      if (is_float(t))
        throw_type(std::string(info.name) + " is only defined for integer and boolean dtypes, got " +
                   dtype_name(t));
  };
  switch (info.rule) {
    case OpRule::Cast:
    case OpRule::Keep:
      if (op == OpCode::negative && p == DType::Bool)
        throw_type("negative is not supported for bool tensors; use logical_not");
      return p;
    case OpRule::Float:
    case OpRule::Divide:
      return is_float(p) ? p : DType::Float32;
    case OpRule::Predicate:
    case OpRule::Compare:
    case OpRule::Logical:
      return DType::Bool;
    case OpRule::Arith:
      if (op == OpCode::subtract && p == DType::Bool)
        throw_type("subtract is not supported for bool tensors; use logical_xor");
      return p;
    case OpRule::Bitwise:
      only_ints();
      return p;
    case OpRule::Where:
      return p;
  }
  return p;
}

Tensor unary(OpCode op, const Tensor& x) {
  if (op == OpCode::bitwise_invert && x.dtype() == DType::Bool) op = OpCode::logical_not;
  return run(op, {x}, nullptr);
}

Tensor binary(OpCode op, const Operand& a, const Operand& b) {
  const Operand* ops[2] = {&a, &b};
  return run(op, resolve(ops), nullptr);
}

Tensor where(const Operand& cond, const Operand& x, const Operand& y) {
  const Operand* xy[2] = {&x, &y};
  std::vector<Tensor> v = resolve(xy);
  Tensor c = std::holds_alternative<Tensor>(cond)
                 ? std::get<Tensor>(cond)
                 : graph::constant(std::get<Scalar>(cond), DType::Bool, v[0].device());
  if (c.dtype() != DType::Bool) c = astype(c, DType::Bool);
  return run(OpCode::where, {c, v[0], v[1]}, nullptr);
}

Tensor clip(const Tensor& x, const std::optional<Operand>& lo, const std::optional<Operand>& hi) {
  // Integer bounds beyond an integer x's range would wrap when taken as x's dtype.
  auto fit = [&](const Operand& b) -> Operand {
    const Scalar* s = std::get_if<Scalar>(&b);
    if (!s || s->kind != Scalar::Kind::Int || !is_integer(x.dtype())) return b;
    auto [min, max] = integer_range(x.dtype());
    return Scalar::from_int(std::clamp(s->i, min, max));
  };
  Tensor r = x;
  if (lo) r = binary(OpCode::maximum, r, fit(*lo));
  if (hi) r = binary(OpCode::minimum, r, fit(*hi));
  if (r.same(x)) return copy(x);
  return r.dtype() == x.dtype() ? r : astype(r, x.dtype());
}

void binary_inplace(OpCode op, const Tensor& x, const Operand& b) {
  const Operand a = x;
  const Operand* ops[2] = {&a, &b};
  std::vector<Tensor> in = resolve(ops);
  DType dts[2] = {in[0].dtype(), in[1].dtype()};
  DType r = result_dtype(op, dts);
  bool castable = r == x.dtype() || (is_float(x.dtype()) && r != DType::Bool) ||
                  (is_integer(x.dtype()) && !is_float(r));
  if (!castable)
    throw_type(std::string("result type ") + dtype_name(r) +
               " can't be cast to the in-place operand's type " + dtype_name(x.dtype()));
  run(op, std::move(in), &x);
}

}  // namespace tl
