#include "cpu/random.h"

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/philox.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

// Ten Philox rounds per element make even modest fills worth splitting.
constexpr int64_t kGrain = 1 << 14;

// The next value of storage type S toward -infinity.
template <class S>
S next_down(S s) {
  if constexpr (std::is_floating_point_v<S>) {
    return std::nextafter(s, -std::numeric_limits<S>::infinity());
  } else {  // half_t / bfloat16_t: 16-bit sign-magnitude
    uint16_t b = s.bits;
    if ((b & 0x7fffu) == 0) return S{0x8001u};  // +-0 -> smallest negative subnormal
    return S{uint16_t((b & 0x8000u) ? b + 1u : b - 1u)};
  }
}

template <class S, class F>
void fill(const Tensor& out, F gen) {
  S* p = static_cast<S*>(out.data_ptr());
  parallel_for(out.numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] = gen(uint64_t(i));
  });
}

// f16 / bf16 / f32 draw in float, f64 in double.
template <class S>
void fill_float(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
                const Tensor& out) {
  using C = std::conditional_t<std::is_same_v<S, double>, double, float>;
  const C shift = C(a);
  if (dist == RandomDist::Normal) {
    const C scale = C(b);
    fill<S>(out, [=](uint64_t i) {
      philox::U32x4 r = philox::element(seed, counter, i);
      C z;
      if constexpr (std::is_same_v<C, double>) z = philox::normal_f64(r);
      else z = philox::normal_f32(r);
      return from_compute<S, C>(philox::affine(z, scale, shift));
    });
    return;
  }
  const C scale = C(b - a);
  fill<S>(out, [=](uint64_t i) {
    philox::U32x4 r = philox::element(seed, counter, i);
    C u;
    if constexpr (std::is_same_v<C, double>) u = philox::uniform_f64(r);
    else u = philox::uniform_f32(r);
    S s = from_compute<S, C>(philox::affine(u, scale, shift));
    // Rounding (of the fma or to a narrower type) may reach b; the interval is half-open.
    while (double(to_compute<S, double>(s)) >= b) s = next_down(s);
    return s;
  });
}

template <class S>
void fill_int(uint64_t seed, uint64_t counter, double a, double b, const Tensor& out) {
  const int64_t low = int64_t(a);
  const uint64_t range = uint64_t(int64_t(b)) - uint64_t(low);
  fill<S>(out, [=](uint64_t i) {
    return S(philox::randint(philox::element(seed, counter, i), low, range));
  });
}

}  // namespace

void random(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
            const Tensor& out) {
  if (out.numel() == 0) return;
  const DType t = out.dtype();
  const bool want_float = dist != RandomDist::Bits;
  if (t == DType::Bool || want_float != is_float(t))
    throw_type(std::string("random: cannot draw ") + (want_float ? "floats" : "integers") +
               " into a " + dtype_name(t) + " tensor");
  visit_dtype(t, [&](auto tag) {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, half_t> || std::is_same_v<S, bfloat16_t> ||
                  std::is_floating_point_v<S>)
      fill_float<S>(dist, seed, counter, a, b, out);
    else if constexpr (!std::is_same_v<S, bool>)
      fill_int<S>(seed, counter, a, b, out);
  });
}

}  // namespace tl::cpu
