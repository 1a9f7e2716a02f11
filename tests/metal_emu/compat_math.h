// Metal math functions, as_type and atomics for the emulator. Scalars use the compiler's
// builtins (no <cmath>, whose global overloads would make unqualified calls ambiguous);
// half computes in float and rounds once; vectors apply the scalar function per component.
#pragma once
#include "compat_vec.h"

namespace metal {

namespace detail {
template <detail::vec_like X, class F>
auto map(const X& x, F f) {
  auto v = as_vec(x);
  for (int i = 0; i < vec_info<X>::width; ++i) v[i] = f(v[i]);
  return v;
}
}  // namespace detail

#define TL_EMU_UNARY(name, builtin)                            \
  inline float name(float x) { return builtin(x); }            \
  inline half name(half x) { return half(builtin(float(x))); } \
  template <detail::vec_like X>                                \
  auto name(const X& x) {                                      \
    return detail::map(x, [](auto e) { return name(e); });     \
  }
TL_EMU_UNARY(exp, __builtin_expf)
TL_EMU_UNARY(exp2, __builtin_exp2f)
TL_EMU_UNARY(log, __builtin_logf)
TL_EMU_UNARY(log2, __builtin_log2f)
TL_EMU_UNARY(sqrt, __builtin_sqrtf)
TL_EMU_UNARY(tanh, __builtin_tanhf)
TL_EMU_UNARY(fabs, __builtin_fabsf)
TL_EMU_UNARY(floor, __builtin_floorf)
TL_EMU_UNARY(ceil, __builtin_ceilf)
TL_EMU_UNARY(trunc, __builtin_truncf)
TL_EMU_UNARY(rint, __builtin_rintf)
TL_EMU_UNARY(sin, __builtin_sinf)
TL_EMU_UNARY(cos, __builtin_cosf)
TL_EMU_UNARY(tan, __builtin_tanf)
inline float rsqrt_f(float x) { return 1.0f / __builtin_sqrtf(x); }
TL_EMU_UNARY(rsqrt, rsqrt_f)
#undef TL_EMU_UNARY

inline float pow(float x, float y) { return __builtin_powf(x, y); }
inline half pow(half x, half y) { return half(__builtin_powf(float(x), float(y))); }
inline float fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline half fma(half a, half b, half c) {
  return half(__builtin_fmaf(float(a), float(b), float(c)));
}
inline bool isnan(float x) { return __builtin_isnan(x); }
inline bool isnan(half x) { return __builtin_isnan(float(x)); }
inline bool isinf(float x) { return __builtin_isinf(x); }
inline bool isinf(half x) { return __builtin_isinf(float(x)); }
inline bool isfinite(float x) { return __builtin_isfinite(x); }
inline bool signbit(float x) { return __builtin_signbit(x); }
inline float fmod(float x, float y) { return __builtin_fmodf(x, y); }
inline float copysign(float x, float y) { return __builtin_copysignf(x, y); }

// abs, max, min and clamp take any scalar type Metal has (integer or float) and vectors.
template <detail::scalar T>
T abs(T x) {
  return x < T(0) ? T(-x) : x;
}
// Metal's fmax/max return the other operand when one is NaN (IEEE maxNum).
template <detail::scalar T>
T max(T a, T b) {
  if constexpr (detail::is_float<T>) {
    if (a != a) return b;
    if (b != b) return a;
  }
  return a < b ? b : a;
}
template <detail::scalar T>
T min(T a, T b) {
  if constexpr (detail::is_float<T>) {
    if (a != a) return b;
    if (b != b) return a;
  }
  return b < a ? b : a;
}
template <detail::scalar T>
T clamp(T x, T lo, T hi) {
  return min(max(x, lo), hi);
}
template <class A, class B>
requires detail::vec_operands<A, B>
auto max(const A& a, const B& b) {
  using P = detail::pair_info<A, B>;
  using T = typename P::elem;
  vec<T, P::width> r;
  for (int i = 0; i < P::width; ++i) r[i] = max(T(detail::at(a, i)), T(detail::at(b, i)));
  return r;
}
template <class A, class B>
requires detail::vec_operands<A, B>
auto min(const A& a, const B& b) {
  using P = detail::pair_info<A, B>;
  using T = typename P::elem;
  vec<T, P::width> r;
  for (int i = 0; i < P::width; ++i) r[i] = min(T(detail::at(a, i)), T(detail::at(b, i)));
  return r;
}

// select(a, b, c): c ? b : a, per component for vectors.
template <class T>
requires detail::scalar<T> T select(T a, T b, bool c) { return c ? b : a; }
template <class T, int N>
vec<T, N> select(const vec<T, N>& a, const vec<T, N>& b, const vec<bool, N>& c) {
  vec<T, N> r;
  for (int i = 0; i < N; ++i) r[i] = c[i] ? b[i] : a[i];
  return r;
}

// Reinterprets the bits of x as T (sizes must match, as in Metal).
template <class T, class U>
T as_type(const U& x) {
  static_assert(sizeof(T) == sizeof(U), "as_type: sizes differ");
  return __builtin_bit_cast(T, x);
}

// precise:: and fast:: select numerics on a GPU; here both are the same functions.
namespace precise {
using metal::exp, metal::exp2, metal::log, metal::log2, metal::sqrt, metal::rsqrt, metal::tanh,
    metal::pow;
}
namespace fast {
using metal::exp, metal::exp2, metal::log, metal::log2, metal::sqrt, metal::rsqrt, metal::tanh,
    metal::pow;
}

// Atomics. Threads of one launch run on one OS thread and only switch at barriers and
// collectives, so a plain read-modify-write is atomic here.
enum memory_order { memory_order_relaxed };
template <class T>
struct atomic {
  T value;
};
using atomic_int = atomic<int>;
using atomic_uint = atomic<uint>;
using atomic_float = atomic<float>;

template <class T, class U>
T atomic_fetch_add_explicit(atomic<T>* a, U v, memory_order) {
  T old = a->value;
  a->value = T(old + T(v));
  return old;
}
template <class T, class U>
T atomic_fetch_max_explicit(atomic<T>* a, U v, memory_order) {
  T old = a->value;
  a->value = max(old, T(v));
  return old;
}
template <class T>
T atomic_load_explicit(const atomic<T>* a, memory_order) {
  return a->value;
}
template <class T, class U>
void atomic_store_explicit(atomic<T>* a, U v, memory_order) {
  a->value = T(v);
}

}  // namespace metal
