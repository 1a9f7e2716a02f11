#pragma once
// Branch-free float32 versions of the common transcendentals, written so the compiler
// vectorizes the elementwise loops that call them (libm's expf/logf/tanhf are opaque calls,
// one element at a time). Range reduction plus polynomials, within a few ulp of the float64
// result; NaN and infinities behave as in libm. Non-template overloads: in the CPU executor
// they win over scalar_math.h's templates for float and leave double to libm.
#include <bit>
#include <cstdint>

namespace tl::cpu::vm {

inline float bits_float(uint32_t u) { return std::bit_cast<float>(u); }
inline uint32_t float_bits(float f) { return std::bit_cast<uint32_t>(f); }
// c ? a : b with bit operations: a conditional expression on floats keeps the loop from
// vectorizing (the compiler will not speculate both arms without -ffast-math).
inline float sel(bool c, float a, float b) {
  const uint32_t m = 0u - uint32_t(c);
  return bits_float((float_bits(a) & m) | (float_bits(b) & ~m));
}
inline int32_t sel(bool c, int32_t a, int32_t b) {
  const int32_t m = -int32_t(c);
  return (a & m) | (b & ~m);
}

// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^7, 2^n built in the
// exponent bits in two halves so that results in the subnormal range come out right.
inline float tl_exp(float x) {
  const float xc = sel(x < -104.0f, -104.0f, sel(x > 89.0f, 89.0f, x));
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (xc * 1.44269504088896341f + shifter) - shifter;
  const float r = (xc - n * 0.693145751953125f) - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t ni = int32_t(n);
  const int32_t half = ni >> 1;
  const float s1 = bits_float(uint32_t(half + 127) << 23);
  const float s2 = bits_float(uint32_t(ni - half + 127) << 23);
  const float y = p * s1 * s2;
  return sel(x != x, x, y);
}

// log(x): x = m 2^e with m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(s), s = (m-1)/(m+1),
// by its odd series to s^11.
inline float tl_log(float x) {
  const bool tiny = x < 1.17549435e-38f;  // subnormal: scale into the normal range first
  const float xs = sel(tiny, x * 8388608.0f, x);
  const uint32_t u = float_bits(xs);
  int32_t e = int32_t((u >> 23) & 0xffu) - 127 - sel(tiny, 23, 0);
  float m = bits_float((u & 0x7fffffu) | 0x3f800000u);
  const bool big = m > 1.41421356f;
  m = sel(big, m * 0.5f, m);
  e = sel(big, e + 1, e);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float p = 2.0f / 11.0f;
  p = p * s2 + 2.0f / 9.0f;
  p = p * s2 + 2.0f / 7.0f;
  p = p * s2 + 2.0f / 5.0f;
  p = p * s2 + 2.0f / 3.0f;
  p = p * s2 + 2.0f;
  const float fe = float(e);
  const float y = fe * 0.693145751953125f + (s * p + fe * 1.42860682030941723212e-6f);
  // x < 0 or NaN -> NaN; 0 -> -inf; +inf -> +inf
  const float special = sel(x == 0.0f, -__builtin_inff(), sel(x > 0.0f, x, __builtin_nanf("")));
  return sel((x > 0.0f) & (x < __builtin_inff()), y, special);
}

inline float tl_tanh(float x) {
  // x P(x^2) / Q(x^2): a (4, 4) rational fitted for least maximum relative error on [0, 9]
  // (2e-8 before rounding; within 6 ulp in float32), 13 operations and one division instead
  // of an exp. Past 9, tanh rounds to +-1.
  const float ax = bits_float(float_bits(x) & 0x7fffffffu);
  const float xc = sel(ax > 9.0f, 9.0f, x);
  const float s = xc * xc;
  float p = 1.3354701e-08f;
  p = p * s + 2.0609114e-05f;
  p = p * s + 3.4955903e-03f;
  p = p * s + 1.3381027e-01f;
  p = p * s + 1.0f;
  float q = 7.7765753e-07f;
  q = q * s + 3.2856382e-04f;
  q = q * s + 2.5876990e-02f;
  q = q * s + 4.6714342e-01f;
  q = q * s + 1.0f;
  const float one = bits_float(0x3f800000u | (float_bits(x) & 0x80000000u));
  return sel(ax > 9.0f, one, xc * p / q);
}

// expm1: its Taylor series to x^9 for |x| < 0.35 (where e^x - 1 would cancel), else e^x - 1.
inline float tl_expm1(float x) {
  float p = 1.0f / 362880.0f;
  p = p * x + 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  const float small = x + x * x * p;
  const float ax = bits_float(float_bits(x) & 0x7fffffffu);
  return sel(ax < 0.35f, small, tl_exp(x) - 1.0f);
}

// log1p: log(u) for u = 1 + x, corrected by the rounding error of u (x - (u - 1)) / u.
inline float tl_log1p(float x) {
  const float u = 1.0f + x;
  const float corrected = tl_log(u) + (x - (u - 1.0f)) / u;
  // u == 1 (tiny x): log1p(x) = x; u == inf: no correction; u <= 0: log gives -inf / NaN
  return sel(u == 1.0f, x, sel((u == __builtin_inff()) | (u <= 0.0f), tl_log(u), corrected));
}

inline float tl_softplus(float x) {
  const float ax = bits_float(float_bits(x) & 0x7fffffffu);
  const float relu = sel(x > 0.0f, x, 0.0f);
  return sel(x != x, x, tl_log1p(tl_exp(-ax)) + relu);
}

inline float tl_sigmoid(float x) {
  const float e = tl_exp(bits_float(float_bits(x) | 0x80000000u));  // e^-|x| never overflows
  const float s = 1.0f / (1.0f + e);
  return sel(x >= 0.0f, s, sel(x != x, x, e * s));
}
inline float tl_silu(float x) { return x * tl_sigmoid(x); }
inline float tl_gelu_tanh(float x) {
  return 0.5f * x * (1.0f + tl_tanh(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
}

}  // namespace tl::cpu::vm
