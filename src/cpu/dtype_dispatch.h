#pragma once
// Maps a DType to its C++ storage type, and converts between storage and compute types
// (float, double, int64_t) along a strided row.
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"
#include "core/half.h"

namespace tl::cpu {

template <class S, class C> inline C to_compute(S v) { return C(v); }
template <> inline float to_compute<half_t, float>(half_t v) { return half_to_float(v.bits); }
template <> inline double to_compute<half_t, double>(half_t v) { return half_to_float(v.bits); }
template <> inline int64_t to_compute<half_t, int64_t>(half_t v) {
  return int64_t(half_to_float(v.bits));
}
template <> inline float to_compute<bfloat16_t, float>(bfloat16_t v) { return bf16_to_float(v.bits); }
template <> inline double to_compute<bfloat16_t, double>(bfloat16_t v) { return bf16_to_float(v.bits); }
template <> inline int64_t to_compute<bfloat16_t, int64_t>(bfloat16_t v) {
  return int64_t(bf16_to_float(v.bits));
}

template <class S, class C> inline S from_compute(C v) {
  if constexpr (std::is_same_v<S, bool>) {
    return v != C(0);
  } else if constexpr (std::is_integral_v<S> && std::is_floating_point_v<C>) {
    // float -> int: NaN and out-of-range give 0 / saturate instead of undefined behavior
    if (!(v == v)) return S(0);
    if (v >= C(std::numeric_limits<S>::max())) return std::numeric_limits<S>::max();
    if (v <= C(std::numeric_limits<S>::min())) return std::numeric_limits<S>::min();
    return S(v);
  } else {
    return S(v);
  }
}
template <> inline half_t from_compute<half_t, float>(float v) { return {float_to_half(v)}; }
template <> inline half_t from_compute<half_t, double>(double v) { return {float_to_half(float(v))}; }
template <> inline half_t from_compute<half_t, int64_t>(int64_t v) { return {float_to_half(float(v))}; }
template <> inline bfloat16_t from_compute<bfloat16_t, float>(float v) { return {float_to_bf16(v)}; }
template <> inline bfloat16_t from_compute<bfloat16_t, double>(double v) {
  return {float_to_bf16(float(v))};
}
template <> inline bfloat16_t from_compute<bfloat16_t, int64_t>(int64_t v) {
  return {float_to_bf16(float(v))};
}

// Calls f(S{}) with S the storage type of dtype t.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::Bool: return f(bool{});
    case DType::Int8: return f(int8_t{});
    case DType::UInt8: return f(uint8_t{});
    case DType::Int32: return f(int32_t{});
    case DType::Int64: return f(int64_t{});
    case DType::Float16: return f(half_t{});
    case DType::BFloat16: return f(bfloat16_t{});
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
  }
  throw_type("unknown dtype");
}

// Calls f(C{}) with C the compute type (float, double or int64_t) named by t.
template <class F>
decltype(auto) visit_compute(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    default: throw_type(std::string("not a compute dtype: ") + dtype_name(t));
  }
}

// n elements of dtype t at base + (off + i * stride) elements, converted to C, into dst.
template <class C>
void load_row(DType t, const char* base, int64_t off, int64_t stride, int64_t n, C* dst) {
  visit_dtype(t, [&](auto s) {
    using S = decltype(s);
    const S* p = reinterpret_cast<const S*>(base) + off;
    for (int64_t i = 0; i < n; ++i) dst[i] = to_compute<S, C>(p[i * stride]);
  });
}

// The reverse: n values of C, converted to dtype t.
template <class C>
void store_row(DType t, char* base, int64_t off, int64_t stride, int64_t n, const C* src) {
  visit_dtype(t, [&](auto s) {
    using S = decltype(s);
    S* p = reinterpret_cast<S*>(base) + off;
    for (int64_t i = 0; i < n; ++i) p[i * stride] = from_compute<S, C>(src[i]);
  });
}

}  // namespace tl::cpu

namespace tl::cpu {
// The DType of a compute type.
template <class C> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::Float32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::Float64; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::Int64; };
}  // namespace tl::cpu
