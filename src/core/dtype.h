#pragma once
// Element types, their sizes and names, and the type-promotion rules (Python Array API
// table; integer with float gives the float operand's type; Python scalars are weak).
#include <cstdint>
#include <string>
#include <utility>

namespace tl {

enum class DType : uint8_t { Bool, Int8, UInt8, Int32, Int64, Float16, BFloat16, Float32, Float64 };
constexpr int kNumDTypes = 9;

enum class DTypeKind : uint8_t { Bool, SignedInt, UnsignedInt, Float };

int64_t itemsize(DType t);
const char* dtype_name(DType t);  // "float32", "bfloat16", ...
DType dtype_from_name(const std::string& name);  // TypeError for an unknown name
DTypeKind dtype_kind(DType t);
inline bool is_float(DType t) { return dtype_kind(t) == DTypeKind::Float; }
inline bool is_integer(DType t) {
  DTypeKind k = dtype_kind(t);
  return k == DTypeKind::SignedInt || k == DTypeKind::UnsignedInt;
}

// The smallest and largest value of an integer (or bool) dtype.
std::pair<int64_t, int64_t> integer_range(DType t);

// Result type of a binary op on two arrays.
DType promote_types(DType a, DType b);

// A Python-style scalar operand: it takes the array's type where its kind fits.
struct Scalar {
  enum class Kind : uint8_t { Bool, Int, Float } kind;
  double f = 0;
  int64_t i = 0;
  static Scalar from_bool(bool v) { return {Kind::Bool, double(v), int64_t(v)}; }
  static Scalar from_int(int64_t v) { return {Kind::Int, double(v), v}; }
  static Scalar from_float(double v) { return {Kind::Float, v, int64_t(v)}; }
};
// The dtype a weak scalar takes next to an array of type `other`.
DType weak_scalar_dtype(const Scalar& s, DType other);
// The dtype of a scalar standing alone (tl.asarray(3.0) -> float32, 3 -> int64).
DType default_scalar_dtype(const Scalar& s);
// The value `s` has once stored as dtype t (rounded, wrapped or saturated as a cast does),
// with both f and i set.
Scalar scalar_as(const Scalar& s, DType t);

}  // namespace tl
