#include "core/dtype.h"

#include <algorithm>

#include "core/error.h"

namespace tl {
namespace {

struct DTypeInfo {
  const char* name;
  int64_t size;
  DTypeKind kind;
};
constexpr DTypeInfo kInfo[kNumDTypes] = {
    {"bool", 1, DTypeKind::Bool},        {"int8", 1, DTypeKind::SignedInt},
    {"uint8", 1, DTypeKind::UnsignedInt}, {"int32", 4, DTypeKind::SignedInt},
    {"int64", 8, DTypeKind::SignedInt},   {"float16", 2, DTypeKind::Float},
    {"bfloat16", 2, DTypeKind::Float},    {"float32", 4, DTypeKind::Float},
    {"float64", 8, DTypeKind::Float},
};

}  // namespace

int64_t itemsize(DType t) { return kInfo[int(t)].size; }
const char* dtype_name(DType t) { return kInfo[int(t)].name; }
DTypeKind dtype_kind(DType t) { return kInfo[int(t)].kind; }

DType dtype_from_name(const std::string& name) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (name == kInfo[i].name) return DType(i);
  if (name == "float") return DType::Float32;
  if (name == "int") return DType::Int64;
  if (name == "half") return DType::Float16;
  if (name == "double") return DType::Float64;
  throw_type("unsupported dtype '" + name + "'");
}

std::pair<int64_t, int64_t> integer_range(DType t) {
  switch (t) {
    case DType::Bool: return {0, 1};
    case DType::Int8: return {INT8_MIN, INT8_MAX};
    case DType::UInt8: return {0, UINT8_MAX};
    case DType::Int32: return {INT32_MIN, INT32_MAX};
    case DType::Int64: return {INT64_MIN, INT64_MAX};
    default: throw_type(std::string("not an integer dtype: ") + dtype_name(t));
  }
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  DTypeKind ka = dtype_kind(a), kb = dtype_kind(b);
  if (ka == DTypeKind::Bool) return b;
  if (kb == DTypeKind::Bool) return a;
  bool fa = ka == DTypeKind::Float, fb = kb == DTypeKind::Float;
  if (fa && fb) {
    // f16 with bf16 has no exact common 16-bit type: both fit in f32.
    if (itemsize(a) == itemsize(b)) return DType::Float32;
    return itemsize(a) > itemsize(b) ? a : b;
  }
  if (fa) return a;  // integer with float: the float operand's type
  if (fb) return b;
  if (ka == kb) return itemsize(a) > itemsize(b) ? a : b;
  // signed with unsigned (only uint8 here): the smallest signed type that holds both
  DType s = ka == DTypeKind::SignedInt ? a : b;
  return itemsize(s) > 1 ? s : DType::Int32;
}

DType weak_scalar_dtype(const Scalar& s, DType other) {
  switch (s.kind) {
    case Scalar::Kind::Bool:
      return other;
    case Scalar::Kind::Int:
      return other == DType::Bool ? DType::Int64 : other;
    case Scalar::Kind::Float:
      return is_float(other) ? other : DType::Float32;
  }
  return other;
}

DType default_scalar_dtype(const Scalar& s) {
  switch (s.kind) {
    case Scalar::Kind::Bool:
      return DType::Bool;
    case Scalar::Kind::Int:
      return DType::Int64;
    case Scalar::Kind::Float:
      return DType::Float32;
  }
  return DType::Float32;
}

}  // namespace tl
