// Random draws: one process-wide Philox stream (seed, next counter). Every draw claims as
// many counters as it has elements, so the numbers depend only on the seed and the order of
// draws, never on the backend or on how a kernel splits its work.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "core/philox.h"

namespace tl {
namespace {

struct Generator {
  std::mutex mu;
  uint64_t seed = 0;  // fixed initial seed: unseeded runs are reproducible too
  uint64_t counter = 0;
};

Generator& generator() {
  static Generator g;
  return g;
}

struct Draw {
  uint64_t seed, counter;
};

// Takes the next n counters of the stream.
Draw claim(int64_t n) {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  Draw d{g.seed, g.counter};
  g.counter += uint64_t(n);
  return d;
}

Tensor draw(RandomDist dist, double a, double b, const Shape& shape, DType dtype,
            Device device) {
  Tensor out = empty(shape, dtype, device);
  if (out.numel() == 0) return out;
  Draw d = claim(out.numel());
  backend_for(device).random(dist, d.seed, d.counter, a, b, out);
  return out;
}

void require_float(const char* fn, DType dtype) {
  if (!is_float(dtype))
    throw_type(std::string(fn) + ": dtype must be a floating type, got " + dtype_name(dtype));
}

// [min, max] of an integer dtype; TypeError naming the function for other dtypes.
std::pair<int64_t, int64_t> int_limits(const char* fn, DType dtype) {
  if (!is_integer(dtype))
    throw_type(std::string(fn) + ": dtype must be an integer type, got " + dtype_name(dtype));
  return integer_range(dtype);
}

// Copies int64 values into host memory laid out as `dtype` (an integer type they fit).
template <class T>
void store(const std::vector<int64_t>& v, std::vector<unsigned char>& out) {
  for (size_t i = 0; i < v.size(); ++i) {
    T x = T(v[i]);
    std::memcpy(out.data() + i * sizeof(T), &x, sizeof(T));
  }
}
std::vector<unsigned char> narrow(const std::vector<int64_t>& v, DType dtype) {
  std::vector<unsigned char> out(v.size() * size_t(itemsize(dtype)));
  switch (dtype) {
    case DType::Int8: store<int8_t>(v, out); break;
    case DType::UInt8: store<uint8_t>(v, out); break;
    case DType::Int32: store<int32_t>(v, out); break;
    default: store<int64_t>(v, out); break;
  }
  return out;
}

}  // namespace

void random_seed(uint64_t seed) {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  g.seed = seed;
  g.counter = 0;
}

Tensor random_uniform(double low, double high, const Shape& shape, DType dtype, Device device) {
  require_float("uniform", dtype);
  if (!(low < high) || !std::isfinite(high - low))
    throw_value("uniform: need finite low < high, got low=" + std::to_string(low) +
                ", high=" + std::to_string(high));
  return draw(RandomDist::Uniform, low, high, shape, dtype, device);
}

Tensor random_normal(double loc, double scale, const Shape& shape, DType dtype, Device device) {
  require_float("normal", dtype);
  if (!std::isfinite(loc) || !(scale >= 0) || !std::isfinite(scale))
    throw_value("normal: need finite loc and scale >= 0, got loc=" + std::to_string(loc) +
                ", scale=" + std::to_string(scale));
  return draw(RandomDist::Normal, loc, scale, shape, dtype, device);
}

Tensor random_randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Device device) {
  auto [lo, hi] = int_limits("randint", dtype);
  if (low >= high)
    throw_value("randint: need low < high, got low=" + std::to_string(low) +
                ", high=" + std::to_string(high));
  if (low < lo || high - 1 > hi)
    throw_value("randint: [" + std::to_string(low) + ", " + std::to_string(high) +
                ") is out of bounds for " + dtype_name(dtype));
  // The backend takes the bounds as doubles, exact up to 2^53.
  constexpr int64_t kExact = int64_t(1) << 53;
  if (low < -kExact || high > kExact)
    throw_value("randint: bounds beyond +-2^53 are not supported, got low=" +
                std::to_string(low) + ", high=" + std::to_string(high));
  return draw(RandomDist::Bits, double(low), double(high), shape, dtype, device);
}

// Fisher-Yates on the host: step k (swapping position n-1-k) uses element k of the draw.
Tensor random_permutation(int64_t n, DType dtype, Device device) {
  auto [lo, hi] = int_limits("permutation", dtype);
  (void)lo;
  if (n < 0) throw_value("permutation: n must be >= 0, got " + std::to_string(n));
  if (n > 0 && n - 1 > hi)
    throw_value("permutation: n=" + std::to_string(n) + " does not fit " + dtype_name(dtype));
  if (n > (int64_t(1) << 40))  // the shuffle runs in host memory, outside the pools
    throw_memory("permutation: n=" + std::to_string(n) + " needs " + std::to_string(n) +
                 " x 8 bytes of host memory");
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  Draw d = claim(n);
  for (int64_t i = n - 1; i > 0; --i) {
    philox::U32x4 r = philox::element(d.seed, d.counter, uint64_t(n - 1 - i));
    std::swap(perm[size_t(i)], perm[size_t(philox::randint(r, 0, uint64_t(i) + 1))]);
  }
  return from_host(narrow(perm, dtype).data(), Shape{n}, dtype, device);
}

}  // namespace tl
