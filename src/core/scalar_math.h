#pragma once
// Scalar semantics of every elementwise op, for the three compute types (float, double,
// int64_t). The op table (elementwise_ops.def) writes each op as an expression over these
// functions, so the CPU executor and the GPU code generators share one definition.
// Integer edge cases never trap: x / 0 gives 0 (as NumPy does, minus the warning).
#include <cmath>
#include <cstdint>

#ifndef TL_HD
#define TL_HD
#endif

namespace tl::sm {

template <class T> TL_HD inline T tl_abs(T a) { return a < T(0) ? T(0) - a : a; }
template <class T> TL_HD inline T tl_sign(T a) {
  if (a != a) return a;  // NaN stays NaN
  return T((a > T(0)) - (a < T(0)));
}
template <class T> TL_HD inline T tl_relu(T a) { return a < T(0) ? T(0) : a; }
template <class T> TL_HD inline T tl_max(T a, T b) { return (a != a || a > b) ? a : b; }
template <class T> TL_HD inline T tl_min(T a, T b) { return (a != a || a < b) ? a : b; }

TL_HD inline int64_t tl_floordiv(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return int64_t(0ull - uint64_t(a));  // avoids INT64_MIN / -1
  int64_t q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
template <class T> TL_HD inline T tl_floordiv(T a, T b) { return std::floor(a / b); }

TL_HD inline int64_t tl_mod(int64_t a, int64_t b) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
template <class T> TL_HD inline T tl_mod(T a, T b) {
  T r = std::fmod(a, b);
  if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
  return r;
}

TL_HD inline int64_t tl_pow(int64_t a, int64_t b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  uint64_t r = 1, base = uint64_t(a);  // unsigned: overflow wraps like NumPy
  while (b) {
    if (b & 1) r *= base;
    base *= base;
    b >>= 1;
  }
  return int64_t(r);
}
template <class T> TL_HD inline T tl_pow(T a, T b) { return std::pow(a, b); }

TL_HD inline int64_t tl_shl(int64_t a, int64_t b) {
  return (b < 0 || b > 63) ? 0 : int64_t(uint64_t(a) << b);
}
TL_HD inline int64_t tl_shr(int64_t a, int64_t b) {
  return (b < 0 || b > 63) ? (a < 0 ? -1 : 0) : (a >> b);
}

template <class T> TL_HD inline T tl_exp(T a) { return std::exp(a); }
template <class T> TL_HD inline T tl_expm1(T a) { return std::expm1(a); }
template <class T> TL_HD inline T tl_log(T a) { return std::log(a); }
template <class T> TL_HD inline T tl_log1p(T a) { return std::log1p(a); }
template <class T> TL_HD inline T tl_sqrt(T a) { return std::sqrt(a); }
template <class T> TL_HD inline T tl_rsqrt(T a) { return T(1) / std::sqrt(a); }
template <class T> TL_HD inline T tl_sin(T a) { return std::sin(a); }
template <class T> TL_HD inline T tl_cos(T a) { return std::cos(a); }
template <class T> TL_HD inline T tl_tan(T a) { return std::tan(a); }
template <class T> TL_HD inline T tl_tanh(T a) { return std::tanh(a); }
template <class T> TL_HD inline T tl_erf(T a) { return std::erf(a); }
template <class T> TL_HD inline T tl_floor(T a) { return std::floor(a); }
template <class T> TL_HD inline T tl_ceil(T a) { return std::ceil(a); }
template <class T> TL_HD inline T tl_trunc(T a) { return std::trunc(a); }
template <class T> TL_HD inline T tl_round(T a) { return std::nearbyint(a); }  // half to even
TL_HD inline int64_t tl_floor(int64_t a) { return a; }
TL_HD inline int64_t tl_ceil(int64_t a) { return a; }
TL_HD inline int64_t tl_trunc(int64_t a) { return a; }
TL_HD inline int64_t tl_round(int64_t a) { return a; }

template <class T> TL_HD inline T tl_sigmoid(T a) {
  if (a >= T(0)) return T(1) / (T(1) + std::exp(-a));
  T e = std::exp(a);
  return e / (T(1) + e);
}
template <class T> TL_HD inline T tl_silu(T a) { return a * tl_sigmoid(a); }
template <class T> TL_HD inline T tl_softplus(T a) {
  return std::log1p(std::exp(-tl_abs(a))) + tl_relu(a);
}
// x Phi(x) through erfc: 1 + erf(x / sqrt 2) would cancel to nothing for x below about -5.
// (The GPU preludes compute float gelu by codegen_c.h's gelu_float_source.)
template <class T> TL_HD inline T tl_gelu(T a) {
  return T(0.5) * a * std::erfc(a * T(-0.70710678118654752440));
}
template <class T> TL_HD inline T tl_gelu_tanh(T a) {
  return T(0.5) * a * (T(1) + std::tanh(T(0.79788456080286535588) * (a + T(0.044715) * a * a * a)));
}

template <class T> TL_HD inline bool tl_isnan(T a) { return a != a; }
template <class T> TL_HD inline bool tl_isinf(T a) { return std::isinf(a); }
template <class T> TL_HD inline bool tl_isfinite(T a) { return std::isfinite(a); }
TL_HD inline bool tl_isinf(int64_t) { return false; }
TL_HD inline bool tl_isfinite(int64_t) { return true; }

}  // namespace tl::sm
