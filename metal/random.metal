// Philox4x32-10 random fills of a contiguous tensor: element i from the block of counter
// `counter + i` under key `seed`, the stream of src/core/philox.h, so the numbers equal the
// CPU backend's (normal draws up to an ulp: log, cos and sqrt come from Metal's library).
// One thread per element, striding past the grid. Needs fast math off (the host compiles
// the library so): the uniform bound test must see exact float comparisons.
#include <metal_stdlib>
using namespace metal;

struct RandomParams {
  ulong n;
  ulong seed;
  ulong counter;
  float scale;   // uniform: b - a; normal: std
  float shift;   // a or loc
  float bound;   // uniform: the smallest float >= b (values must stay below b)
  uint normal;   // 1: normal, 0: uniform
  long low;      // integers: [low, low + range)
  ulong range;
};

static uint4 philox_round(uint4 c, uint2 k) {
  const ulong p0 = ulong(0xD2511F53u) * c.x;
  const ulong p1 = ulong(0xCD9E8D57u) * c.z;
  return uint4(uint(p1 >> 32) ^ c.y ^ k.x, uint(p1), uint(p0 >> 32) ^ c.w ^ k.y, uint(p0));
}

// The block of element i: 128-bit counter value counter + i (the carry into word 2).
static uint4 philox_block(ulong seed, ulong counter, ulong i) {
  const ulong c = counter + i;
  uint4 x = uint4(uint(c), uint(c >> 32), c < counter ? 1u : 0u, 0u);
  uint2 k = uint2(uint(seed), uint(seed >> 32));
  for (int r = 0; r < 9; ++r) {
    x = philox_round(x, k);
    k += uint2(0x9E3779B9u, 0xBB67AE85u);
  }
  return philox_round(x, k);
}

// The next value of a 16- or 32-bit sign-magnitude float toward -infinity.
template <typename T, typename Bits>
static T next_down(T s) {
  const Bits sign = Bits(1) << (sizeof(Bits) * 8 - 1);
  const Bits b = as_type<Bits>(s);
  if ((b & ~sign) == 0) {
    return as_type<T>(Bits(sign | 1));  // +-0: the smallest negative subnormal
  }
  return as_type<T>((b & sign) != 0 ? Bits(b + 1) : Bits(b - 1));
}

template <typename T, typename Bits>
kernel void random_float(device T* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
                         uint gid [[thread_position_in_grid]],
                         uint grid_threads [[threads_per_grid]]) {
  for (ulong i = gid; i < p.n; i += grid_threads) {
    const uint4 r = philox_block(p.seed, p.counter, i);
    if (p.normal != 0) {
      const float u1 = float((r.x >> 8) + 1u) * 5.9604644775390625e-8f;  // (0, 1]: finite log
      const float u2 = float(r.y >> 8) * 5.9604644775390625e-8f;
      const float z = sqrt(-2.0f * log(u1)) * cos(6.28318530717958647692f * u2);
      out[i] = T(fma(p.scale, z, p.shift));
    } else {
      const float u = float(r.x >> 8) * 5.9604644775390625e-8f;  // the top 24 bits: [0, 1)
      T s = T(fma(p.scale, u, p.shift));
      while (float(s) >= p.bound) {  // rounding may reach b: the interval is half-open
        s = next_down<T, Bits>(s);
      }
      out[i] = s;
    }
  }
}

// High 64 bits of the 128-bit product a * b, from 32-bit halves.
static ulong mulhi64(ulong a, ulong b) {
  const ulong a_lo = a & 0xFFFFFFFFul;
  const ulong a_hi = a >> 32;
  const ulong b_lo = b & 0xFFFFFFFFul;
  const ulong b_hi = b >> 32;
  const ulong p0 = a_lo * b_lo;
  const ulong p1 = a_lo * b_hi;
  const ulong p2 = a_hi * b_lo;
  const ulong mid = (p0 >> 32) + (p1 & 0xFFFFFFFFul) + (p2 & 0xFFFFFFFFul);
  return a_hi * b_hi + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
}

// Integers in [low, low + range): floor(bits64 * range / 2^64), no rejection.
template <typename T>
kernel void random_int(device T* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
                       uint gid [[thread_position_in_grid]],
                       uint grid_threads [[threads_per_grid]]) {
  for (ulong i = gid; i < p.n; i += grid_threads) {
    const uint4 r = philox_block(p.seed, p.counter, i);
    const ulong bits = (ulong(r.x) << 32) | ulong(r.y);
    out[i] = T(long(ulong(p.low) + mulhi64(bits, p.range)));
  }
}

template [[host_name("random_f32")]] kernel void random_float<float, uint>(
    device float* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("random_f16")]] kernel void random_float<half, ushort>(
    device half* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("random_bf16")]] kernel void random_float<bfloat, ushort>(
    device bfloat* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("random_i8")]] kernel void random_int<char>(
    device char* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("random_u8")]] kernel void random_int<uchar>(
    device uchar* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("random_i32")]] kernel void random_int<int>(
    device int* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("random_i64")]] kernel void random_int<long>(
    device long* out [[buffer(0)]], constant RandomParams& p [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
