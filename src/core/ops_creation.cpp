// Creation, transfer and copy ops.
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/graph.h"
#include "core/half.h"
#include "core/ops.h"

namespace tl {
namespace {

// A float stored in an integer type: truncated, saturated at the type's range, NaN -> 0
// (the rule of every float-to-integer cast).
template <class I>
I float_to_int(double f) {
  if (!(f == f)) return 0;
  if (f >= double(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  if (f <= double(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  return I(f);
}

// The bytes of `v` stored as dtype t. Integers wrap into narrower integer types, as casts do.
void encode_scalar(const Scalar& v, DType t, void* dst) {
  const bool fl = v.kind == Scalar::Kind::Float;
  double f = fl ? v.f : double(v.i);
  auto put = [&](auto x) { std::memcpy(dst, &x, sizeof(x)); };
  switch (t) {
    case DType::Bool: put(uint8_t(fl ? v.f != 0 : v.i != 0)); break;
    case DType::Int8: put(fl ? float_to_int<int8_t>(f) : int8_t(v.i)); break;
    case DType::UInt8: put(fl ? float_to_int<uint8_t>(f) : uint8_t(v.i)); break;
    case DType::Int32: put(fl ? float_to_int<int32_t>(f) : int32_t(v.i)); break;
    case DType::Int64: put(fl ? float_to_int<int64_t>(f) : v.i); break;
    case DType::Float16: put(float_to_half(float(f))); break;
    case DType::BFloat16: put(float_to_bf16(float(f))); break;
    case DType::Float32: put(float(f)); break;
    case DType::Float64: put(f); break;
  }
}

// A cast computes in float64 when either side is float64, in float32 from narrower floats,
// and in int64 from integers and bool (exact for every integer source).
DType cast_compute_dtype(DType src, DType dst) {
  if (src == DType::Float64 || dst == DType::Float64) return DType::Float64;
  return is_float(src) ? DType::Float32 : DType::Int64;
}

}  // namespace

Scalar scalar_as(const Scalar& v, DType t) {
  alignas(8) unsigned char b[8] = {};
  encode_scalar(v, t, b);
  auto get = [&](auto x) {
    std::memcpy(&x, b, sizeof x);
    return x;
  };
  switch (t) {
    case DType::Bool: return Scalar::from_bool(get(uint8_t()) != 0);
    case DType::Int8: return Scalar::from_int(get(int8_t()));
    case DType::UInt8: return Scalar::from_int(get(uint8_t()));
    case DType::Int32: return Scalar::from_int(get(int32_t()));
    case DType::Int64: return Scalar::from_int(get(int64_t()));
    case DType::Float16: return Scalar::from_float(half_to_float(get(uint16_t())));
    case DType::BFloat16: return Scalar::from_float(bf16_to_float(get(uint16_t())));
    case DType::Float32: return Scalar::from_float(get(float()));
    case DType::Float64: return Scalar::from_float(get(double()));
  }
  return v;
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    if (d < 0) throw_value("negative dimensions are not allowed: " + shape_str(shape));
  Backend& be = backend_for(device);
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel(shape), itemsize(dtype), &nbytes))
    throw_value("array is too big: shape " + shape_str(shape) + " of " + dtype_name(dtype) +
                " needs more than 2^63 bytes");
  BufferPtr buf = be.allocate(device.index, size_t(nbytes));
  return Tensor(std::move(buf), shape, contiguous_strides(shape), 0, dtype);
}

Tensor scalar_tensor(const Scalar& value, DType dtype, Device device) {
  Tensor t = empty({}, dtype, device);
  alignas(8) unsigned char bytes[8];
  encode_scalar(value, dtype, bytes);
  backend_for(device).write(*t.buffer(), 0, bytes, size_t(itemsize(dtype)));
  return t;
}

Tensor full(const Shape& shape, const Scalar& value, DType dtype, Device device) {
  Tensor out = empty(shape, dtype, device);
  copy_into(out, scalar_tensor(value, dtype, device));
  return out;
}

Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor out = empty(shape, dtype, device);
  backend_for(device).write(*out.buffer(), 0, data, size_t(out.nbytes()));
  return out;
}

void to_host(const Tensor& x, void* dst) {
  Tensor c = contiguous(x);
  backend_for(c.device()).read(*c.buffer(), size_t(c.offset() * itemsize(c.dtype())), dst,
                               size_t(c.nbytes()));
}

void* host_data(const Tensor& x) {
  Backend& be = backend_for(x.device());
  if (!be.host_visible()) return nullptr;
  be.before_host_access(*x.buffer());
  return x.data_ptr();
}

Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor c = contiguous(x);
  if (const void* p = host_data(c)) return from_host(p, c.shape(), c.dtype(), device);
  std::vector<unsigned char> staging(size_t(c.nbytes()));
  to_host(c, staging.data());
  return from_host(staging.data(), c.shape(), c.dtype(), device);
}

void copy_into(const Tensor& dst, const Operand& src_operand) {
  Tensor src = std::holds_alternative<Tensor>(src_operand)
                   ? std::get<Tensor>(src_operand)
                   : scalar_tensor(std::get<Scalar>(src_operand), dst.dtype(), dst.device());
  if (src.device() != dst.device()) src = to_device(src, dst.device());
  if (src.overlaps_differently(dst)) src = copy(src);  // NumPy semantics for overlapping views
  Tensor b = src.view(dst.shape(), broadcast_strides(src.shape(), src.strides(), dst.shape()),
                      src.offset());
  const Tensor inputs[1] = {b};
  backend_for(dst.device())
      .elementwise(OpCode::identity, cast_compute_dtype(src.dtype(), dst.dtype()), inputs, dst);
}

Tensor astype(const Tensor& x, DType dtype) {
  auto node = std::make_shared<Node>();
  node->kind = NodeKind::Elementwise;
  node->shape = x.shape();
  node->dtype = dtype;
  node->device = x.device();
  node->op = OpCode::identity;
  node->compute = cast_compute_dtype(x.dtype(), dtype);
  node->inputs.push_back(x.source());
  return graph::record(std::move(node));
}

Tensor copy(const Tensor& x) { return astype(x, x.dtype()); }

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : copy(x); }

Tensor arange(double start, double stop, double step, DType dtype, Device device) {
  if (step == 0) throw_value("arange: step must not be zero");
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    throw_value("arange: start, stop and step must be finite");
  double n = std::ceil((stop - start) / step);
  if (n > 9.0e18) throw_value("arange: too many elements (" + std::to_string(n) + ")");
  Tensor out = empty({n > 0 ? int64_t(n) : 0}, dtype, device);
  if (out.numel()) backend_for(device).arange(start, step, out);
  return out;
}

Tensor linspace(double start, double stop, int64_t num, bool endpoint, DType dtype, Device device) {
  if (num < 0) throw_value("linspace: number of samples, " + std::to_string(num) + ", must be non-negative");
  Tensor out = empty({num}, dtype, device);
  if (num == 0) return out;
  int64_t div = endpoint ? num - 1 : num;
  double step = div > 0 ? (stop - start) / double(div) : 0.0;
  backend_for(device).arange(start, step, out);
  if (endpoint && num > 1) copy_into(out.view({}, {}, num - 1), Scalar::from_float(stop));
  return out;
}

Tensor eye(int64_t n, int64_t m, int64_t k, DType dtype, Device device) {
  Tensor out = full({n, m}, Scalar::from_int(0), dtype, device);
  int64_t len = k >= 0 ? std::min(n, m - k) : std::min(n + k, m);
  if (len > 0)
    copy_into(out.view({len}, {m + 1}, k >= 0 ? k : -k * m), Scalar::from_int(1));
  return out;
}

}  // namespace tl
