// The MSL prelude of generated kernels: src/core/scalar_math.h's semantics for the compute
// types float and long (Metal has no double), the storage conversions of the CPU backend's
// from_compute, and the threadgroup combines of reductions. Functions Metal lacks (expm1,
// log1p, erf) are written out to float precision.
#include "core/codegen_c.h"
#include "metal/msl_codegen.h"

namespace tl::metal {

const std::string& prelude() {
  static const std::string s = std::string(R"(#include <metal_stdlib>
using namespace metal;

// ---- storage: bfloat16 as ushort bits (any Metal version), float -> integer saturating.
inline float tl_bf2f(ushort b) { return as_type<float>(uint(b) << 16); }
inline ushort tl_f2bf(float f) {  // round to nearest even, NaN kept quiet (core/half.h)
  const uint u = as_type<uint>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return ushort((u >> 16) | 0x40u);
  return ushort((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
// NaN -> 0, out of range -> the nearest bound (the bounds as floats: 2^7, 2^8, 2^31, 2^63).
inline int8_t tl_f2i8(float v) { return !(v == v) ? int8_t(0) : v >= 127.0f ? int8_t(127) : v <= -128.0f ? int8_t(-128) : int8_t(v); }
inline uchar tl_f2u8(float v) { return !(v == v) ? uchar(0) : v >= 255.0f ? uchar(255) : v <= 0.0f ? uchar(0) : uchar(v); }
inline int tl_f2i32(float v) {
  return !(v == v) ? 0 : v >= 2147483648.0f ? 2147483647 : v <= -2147483648.0f ? (-2147483647 - 1) : int(v);
}
inline long tl_f2i64(float v) {
  return !(v == v) ? 0L : v >= 9223372036854775808.0f ? 9223372036854775807L
       : v <= -9223372036854775808.0f ? (-9223372036854775807L - 1L) : long(v);
}

// ---- scalar semantics (src/core/scalar_math.h), for T = float and T = long.
template <typename T> inline T tl_abs(T a) { return a < T(0) ? T(0) - a : a; }
template <typename T> inline T tl_sign(T a) { return a != a ? a : T((a > T(0)) - (a < T(0))); }
template <typename T> inline T tl_relu(T a) { return a < T(0) ? T(0) : a; }
template <typename T> inline T tl_max(T a, T b) { return (a != a || a > b) ? a : b; }  // NaN wins
template <typename T> inline T tl_min(T a, T b) { return (a != a || a < b) ? a : b; }
template <typename T> inline bool tl_isnan(T a) { return a != a; }

inline long tl_floordiv(long a, long b) {  // Python's floor division; x // 0 is 0
  if (b == 0) return 0;
  if (b == -1) return long(0ul - ulong(a));
  const long q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline float tl_floordiv(float a, float b) { return floor(a / b); }
inline long tl_mod(long a, long b) {  // the sign of the divisor; x % 0 is 0
  if (b == 0 || b == -1) return 0;
  const long r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
inline float tl_mod(float a, float b) {
  float r = fmod(a, b);
  if (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) r += b;
  return r;
}
inline long tl_pow(long a, long b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  ulong r = 1, base = ulong(a);  // wraps like NumPy
  while (b != 0) {
    if ((b & 1) != 0) r *= base;
    base *= base;
    b >>= 1;
  }
  return long(r);
}
// C's pow: a negative base takes integer exponents (odd ones keep the sign), where Metal's
// pow is undefined for x < 0.
inline float tl_pow(float a, float b) {
  if (b == 0.0f || a == 1.0f) return 1.0f;
  const bool integral = b == trunc(b);
  if (a < 0.0f && !integral) return NAN;
  const float r = pow(fabs(a), b);
  const bool odd = integral && fabs(b) < 16777216.0f && fmod(b, 2.0f) != 0.0f;
  return signbit(a) && odd ? -r : r;
}
inline long tl_shl(long a, long b) { return (b < 0 || b > 63) ? 0 : long(ulong(a) << ulong(b)); }
inline long tl_shr(long a, long b) { return (b < 0 || b > 63) ? (a < 0 ? -1 : 0) : (a >> b); }

inline float tl_exp(float a) { return exp(a); }
inline float tl_expm1(float a) {  // exp(a) - 1 without cancellation near 0 (Kahan)
  const float u = exp(a);
  if (u == 1.0f) return a;
  const float um1 = u - 1.0f;
  if (um1 == -1.0f || !isfinite(u)) return um1;
  return um1 * a / log(u);
}
inline float tl_log(float a) { return log(a); }
inline float tl_log1p(float a) {  // log(1 + a) without cancellation near 0
  const float u = 1.0f + a;
  if (u == 1.0f) return a;
  if (!isfinite(u)) return log(u);
  return log(u) * a / (u - 1.0f);
}
inline float tl_sqrt(float a) { return sqrt(a); }
inline float tl_rsqrt(float a) { return 1.0f / sqrt(a); }
inline float tl_sin(float a) { return sin(a); }
inline float tl_cos(float a) { return cos(a); }
inline float tl_tan(float a) { return tan(a); }
inline float tl_tanh(float a) { return tanh(a); }
// erf to ~2e-7 relative: a * P(a^2) below 1; 1 - exp(-a^2) * Q(1 / a) up to 4, where erf
// rounds to 1. (Least-squares fits of erf(x) / x and erfc(x) exp(x^2).)
inline float tl_erf(float a) {
  const float x = fabs(a);
  if (x < 1.0f) {
    const float s = a * a;
    float r = 7.87898970884271e-05f;
    r = r * s - 0.0008014566265046597f;
    r = r * s + 0.00518838269636035f;
    r = r * s - 0.026853539049625397f;
    r = r * s + 0.11283568292856216f;
    r = r * s - 0.376126229763031f;
    r = r * s + 1.1283791065216064f;
    return a * r;
  }
  if (!(x < 4.0f)) return isnan(a) ? a : copysign(1.0f, a);
  const float s = (1.0f / x - 0.625f) / 0.375f;
  float r = -2.0232919268892147e-06f;
  r = r * s + 3.724871703525423e-06f;
  r = r * s + 2.2558081127499463e-06f;
  r = r * s - 2.788846722978633e-05f;
  r = r * s + 0.00011982555588474497f;
  r = r * s - 0.00034824456088244915f;
  r = r * s + 0.0004614937352016568f;
  r = r * s + 0.002308053197339177f;
  r = r * s - 0.024243028834462166f;
  r = r * s + 0.14335641264915466f;
  r = r * s + 0.3059529960155487f;
  return copysign(1.0f - exp(-x * x) * r, a);
}
inline float tl_floor(float a) { return floor(a); }
inline float tl_ceil(float a) { return ceil(a); }
inline float tl_trunc(float a) { return trunc(a); }
inline float tl_round(float a) { return rint(a); }  // half to even
inline long tl_floor(long a) { return a; }
inline long tl_ceil(long a) { return a; }
inline long tl_trunc(long a) { return a; }
inline long tl_round(long a) { return a; }
inline float tl_sigmoid(float a) {
  if (a >= 0.0f) return 1.0f / (1.0f + exp(-a));
  const float e = exp(a);
  return e / (1.0f + e);
}
inline float tl_silu(float a) { return a * tl_sigmoid(a); }
inline float tl_softplus(float a) { return tl_log1p(exp(-tl_abs(a))) + tl_relu(a); }
)") + "#define TL_GELU_QUAL inline\n#define TL_RCP(x) (1.0f / (x))\n#define TL_EXP2(x) exp2(x)\n" +
                                codegen::gelu_float_source() + R"(inline float tl_gelu_tanh(float a) {
  return 0.5f * a * (1.0f + tanh(0.79788456080286536f * (a + 0.044715f * a * a * a)));
}
inline bool tl_isinf(float a) { return isinf(a); }
inline bool tl_isfinite(float a) { return isfinite(a); }
inline bool tl_isinf(long) { return false; }
inline bool tl_isfinite(long) { return true; }

// ---- reductions. OP: 0 sum, 1 prod, 2 max, 3 min (NaN-propagating), 4 any, 5 all.
template <int OP, typename T> inline T tl_combine(T a, T b) {
  return OP == 0 ? a + b : OP == 1 ? a * b : OP == 2 ? tl_max(a, b) : OP == 3 ? tl_min(a, b)
       : OP == 4 ? T(a != T(0) || b != T(0)) : T(a != T(0) && b != T(0));
}
inline float tl_shuffle_xor(float v, ushort mask) { return simd_shuffle_xor(v, mask); }
inline long tl_shuffle_xor(long v, ushort mask) {  // 64-bit values move as two 32-bit halves
  return as_type<long>(simd_shuffle_xor(as_type<uint2>(v), mask));
}
// Every lane of a SIMD-group gets the combine of all lanes' v: simd_sum for float sums;
// max/min through simd_max/simd_min plus a NaN vote (those two ignore NaN); any/all of 0/1
// values as max/min; the rest (prod, long) through a butterfly of shuffles.
template <int OP> inline float tl_simd_combine(float v, ushort width) {
  if (OP == 0) return simd_sum(v);
  if (OP == 2 || OP == 3) {
    const float m = OP == 2 ? simd_max(v) : simd_min(v);
    return simd_max(v != v ? 1.0f : 0.0f) != 0.0f ? NAN : m;
  }
  if (OP == 4) return simd_max(v);
  if (OP == 5) return simd_min(v);
  for (ushort s = width / 2; s > 0; s /= 2) v = tl_combine<OP>(v, tl_shuffle_xor(v, s));
  return v;
}
template <int OP> inline long tl_simd_combine(long v, ushort width) {
  if (OP == 4) return long(simd_max(int(v)));
  if (OP == 5) return long(simd_min(int(v)));
  for (ushort s = width / 2; s > 0; s /= 2) v = tl_combine<OP>(v, tl_shuffle_xor(v, s));
  return v;
}
)";
  return s;
}

}  // namespace tl::metal
