#pragma once
// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
// SC'11), the one random stream of tensorlogic, and its conversions to numbers. It is
// counter-based: element i of a draw (seed, counter) is a pure function of (seed, counter + i),
// so every backend and every split across threads gives the same numbers. Plain C++ so GPU
// kernels can include it (TL_HD marks functions for CUDA).
//
// Reproducibility: raw bits, uniform and integer draws are exact integer / IEEE arithmetic
// (the affine maps use an explicit fma so no compiler's contraction changes them); normal
// draws also go through log, cos and sqrt, which math libraries agree on only to about an ulp.
#include <cmath>
#include <cstdint>

#ifndef TL_HD
#define TL_HD
#endif

namespace tl::philox {

struct U32x4 {
  uint32_t v[4];
};
struct U32x2 {
  uint32_t v[2];
};

// Multipliers and Weyl key increments of Philox4x32.
constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

TL_HD inline U32x4 philox_round(U32x4 c, U32x2 k) {
  uint64_t p0 = uint64_t(kM0) * c.v[0];
  uint64_t p1 = uint64_t(kM1) * c.v[2];
  return U32x4{{uint32_t(p1 >> 32) ^ c.v[1] ^ k.v[0], uint32_t(p1),
                uint32_t(p0 >> 32) ^ c.v[3] ^ k.v[1], uint32_t(p0)}};
}

// The Philox4x32-10 block function: ten rounds, the key bumped between rounds.
TL_HD inline U32x4 philox4x32_10(U32x4 counter, U32x2 key) {
  for (int r = 0; r < 9; ++r) {
    counter = philox_round(counter, key);
    key.v[0] += kW0;
    key.v[1] += kW1;
  }
  return philox_round(counter, key);
}

// The block of element i of the draw (seed, counter): 128-bit counter value counter + i
// (a carry out of 64 bits goes to word 2), key = the seed's low and high 32 bits.
TL_HD inline U32x4 element(uint64_t seed, uint64_t counter, uint64_t i) {
  uint64_t c = counter + i;
  uint32_t carry = c < counter ? 1u : 0u;
  return philox4x32_10(U32x4{{uint32_t(c), uint32_t(c >> 32), carry, 0u}},
                       U32x2{{uint32_t(seed), uint32_t(seed >> 32)}});
}

// "Bits": 64 bits, word 0 high and word 1 low (so uniform_f32 is uniform_f64 truncated).
TL_HD inline uint64_t bits64(const U32x4& r) { return (uint64_t(r.v[0]) << 32) | r.v[1]; }

// Uniform in [0, 1): the top 24 bits of word 0 (float) or top 53 bits of bits64 (double).
TL_HD inline float uniform_f32(const U32x4& r) { return float(r.v[0] >> 8) * 0x1p-24f; }
TL_HD inline double uniform_f64(const U32x4& r) { return double(bits64(r) >> 11) * 0x1p-53; }

// Standard normal by Box-Muller from words 0 and 1; u1 is taken in (0, 1] so log(u1) is finite.
// float: 24-bit uniforms, |z| <= 5.77; double: 32-bit uniforms, |z| <= 6.66.
TL_HD inline float normal_f32(const U32x4& r) {
  float u1 = float((r.v[0] >> 8) + 1u) * 0x1p-24f;
  float u2 = float(r.v[1] >> 8) * 0x1p-24f;
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
}
TL_HD inline double normal_f64(const U32x4& r) {
  double u1 = (double(r.v[0]) + 1.0) * 0x1p-32;
  double u2 = double(r.v[1]) * 0x1p-32;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.28318530717958647692 * u2);
}

// shift + scale * x rounded once. Uniform(a, b): scale = b - a, shift = a; Normal(loc, std):
// scale = std, shift = loc; scale and shift are rounded from double on the host, once.
TL_HD inline float affine(float x, float scale, float shift) { return std::fma(scale, x, shift); }
TL_HD inline double affine(double x, double scale, double shift) {
  return std::fma(scale, x, shift);
}

// High 64 bits of the 128-bit product a * b, from 32-bit halves (same result on every target).
TL_HD inline uint64_t mulhi64(uint64_t a, uint64_t b) {
  uint64_t a_lo = uint32_t(a), a_hi = a >> 32, b_lo = uint32_t(b), b_hi = b >> 32;
  uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
  uint64_t mid = (p0 >> 32) + uint32_t(p1) + uint32_t(p2);
  return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
}

// Uniform integer in [low, low + range), range >= 1: floor(bits64 * range / 2^64) (Lemire's
// multiply-shift, no rejection so one block per element). Each value gets floor or ceil of
// 2^64 / range of the 2^64 bit patterns, so any value's probability is off by less than
// range / 2^64 relative (below 2^-32 for ranges under 2^32).
TL_HD inline int64_t randint(const U32x4& r, int64_t low, uint64_t range) {
  return int64_t(uint64_t(low) + mulhi64(bits64(r), range));
}

}  // namespace tl::philox
