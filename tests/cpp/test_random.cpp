// The Philox stream: the raw block against Random123's published known answers, and the
// drawn tensors against the documented conversions of core/philox.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/ops.h"
#include "core/philox.h"
#include "cpu/random.h"

namespace {

using tl::philox::U32x2;
using tl::philox::U32x4;

void expect_block(U32x4 counter, U32x2 key, U32x4 want) {
  U32x4 got = tl::philox::philox4x32_10(counter, key);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], want.v[i]) << "word " << i;
}

template <class T>
std::vector<T> host(const tl::Tensor& t) {
  std::vector<T> v(size_t(t.numel()));
  tl::to_host(t, v.data());
  return v;
}

tl::ErrorKind error_kind(void (*fn)()) {
  try {
    fn();
  } catch (const tl::Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error thrown";
  return tl::ErrorKind::NotImplemented;
}

const tl::Device kCpu{};

TEST(Philox, KnownAnswers) {
  // Random123 kat_vectors, "philox4x32 10" lines: counter, key -> output.
  expect_block({{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}});
  expect_block({{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, {{0xffffffff, 0xffffffff}},
               {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}});
  expect_block({{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, {{0xa4093822, 0x299f31d0}},
               {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}});
}

TEST(Philox, ElementCounterAndKey) {
  const uint64_t seed = 0x0123456789abcdefull;
  const U32x2 key{{0x89abcdefu, 0x01234567u}};
  U32x4 a = tl::philox::element(seed, 0x00000005ffffffffull, 1);
  U32x4 b = tl::philox::philox4x32_10({{0, 6, 0, 0}}, key);
  EXPECT_TRUE(std::equal(a.v, a.v + 4, b.v));
  // counter + i past 2^64 carries into word 2
  U32x4 c = tl::philox::element(seed, ~uint64_t(0), 2);
  U32x4 d = tl::philox::philox4x32_10({{1, 0, 1, 0}}, key);
  EXPECT_TRUE(std::equal(c.v, c.v + 4, d.v));
}

TEST(Philox, Conversions) {
  U32x4 r{{0xffffffffu, 0xffffffffu, 0, 0}};
  EXPECT_EQ(tl::philox::uniform_f32(r), 1.0f - 0x1p-24f);
  EXPECT_EQ(tl::philox::uniform_f64(r), 1.0 - 0x1p-53);
  EXPECT_EQ(tl::philox::bits64(r), ~uint64_t(0));
  U32x4 z{{0, 0, 0, 0}};
  EXPECT_EQ(tl::philox::uniform_f32(z), 0.0f);
  EXPECT_TRUE(std::isfinite(tl::philox::normal_f32(z)));  // u1 in (0, 1]: no log(0)
  EXPECT_TRUE(std::isfinite(tl::philox::normal_f64(z)));
  EXPECT_EQ(tl::philox::randint(r, -3, 10), 6);  // the top of the range
  EXPECT_EQ(tl::philox::randint(z, -3, 10), -3);
  EXPECT_EQ(tl::philox::mulhi64(0xfedcba9876543210ull, 0x0f1e2d3c4b5a6978ull),
            0x0f0cf9d5a05a0299ull);
  EXPECT_EQ(tl::philox::mulhi64(~uint64_t(0), ~uint64_t(0)), ~uint64_t(0) - 1);
}

TEST(Random, UniformMatchesFormula) {
  tl::random_seed(7);
  const int64_t n = 100003;  // large enough to split across threads
  auto u = host<float>(tl::random_uniform(2.0, 5.0, {n}, tl::DType::Float32, kCpu));
  for (int64_t i = 0; i < n; ++i) {
    float want = std::fma(3.0f, tl::philox::uniform_f32(tl::philox::element(7, 0, uint64_t(i))),
                          2.0f);
    ASSERT_EQ(u[size_t(i)], want) << "element " << i;
  }
  // The next draw continues the stream at counter n.
  auto d = host<double>(tl::random_uniform(-1.0, 1.0, {5}, tl::DType::Float64, kCpu));
  for (int64_t i = 0; i < 5; ++i)
    EXPECT_EQ(d[size_t(i)],
              std::fma(2.0, tl::philox::uniform_f64(tl::philox::element(7, uint64_t(n + i), 0)),
                       -1.0));
}

TEST(Random, NormalMatchesFormula) {
  tl::random_seed(11);
  auto f = host<float>(tl::random_normal(1.5, 2.0, {33}, tl::DType::Float32, kCpu));
  auto d = host<double>(tl::random_normal(1.5, 2.0, {7}, tl::DType::Float64, kCpu));
  for (uint64_t i = 0; i < 33; ++i)
    EXPECT_EQ(f[i], std::fma(2.0f, tl::philox::normal_f32(tl::philox::element(11, 0, i)), 1.5f));
  for (uint64_t i = 0; i < 7; ++i)
    EXPECT_EQ(d[i], std::fma(2.0, tl::philox::normal_f64(tl::philox::element(11, 33, i)), 1.5));
}

TEST(Random, RandintMatchesFormula) {
  tl::random_seed(3);
  auto v = host<int32_t>(tl::random_randint(-5, 1000, {1000}, tl::DType::Int32, kCpu));
  for (uint64_t i = 0; i < 1000; ++i)
    EXPECT_EQ(v[i], tl::philox::randint(tl::philox::element(3, 0, i), -5, 1005));
}

TEST(Random, NarrowFloatsStayBelowHigh) {
  // bf16 has 8 significant bits: without the clamp about 1/512 of draws would round to 1.0.
  tl::random_seed(0);
  auto v = host<uint16_t>(tl::random_uniform(0.0, 1.0, {100000}, tl::DType::BFloat16, kCpu));
  float hi = 0;
  for (uint16_t b : v) hi = std::max(hi, tl::bf16_to_float(b));
  EXPECT_EQ(hi, 1.0f - 0x1p-8f);
  auto h = host<uint16_t>(tl::random_uniform(-2.0, -1.0, {100000}, tl::DType::Float16, kCpu));
  for (uint16_t b : h) {
    float x = tl::half_to_float(b);
    ASSERT_TRUE(x >= -2.0f && x < -1.0f) << x;
  }
}

TEST(Random, Permutation) {
  tl::random_seed(5);
  auto p = host<int64_t>(tl::random_permutation(1000, tl::DType::Int64, kCpu));
  auto s = p;
  std::sort(s.begin(), s.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(s[size_t(i)], i);
  EXPECT_NE(p, s);
  tl::random_seed(5);
  EXPECT_EQ(host<int64_t>(tl::random_permutation(1000, tl::DType::Int64, kCpu)), p);
  EXPECT_EQ(tl::random_permutation(0, tl::DType::Int32, kCpu).numel(), 0);
}

TEST(Random, ArgumentErrors) {
  using tl::DType;
  using tl::ErrorKind;
  EXPECT_EQ(error_kind([] { tl::random_uniform(1, 1, {2}, DType::Float32, kCpu); }),
            ErrorKind::Value);
  EXPECT_EQ(error_kind([] { tl::random_uniform(0, 1, {2}, DType::Int32, kCpu); }),
            ErrorKind::Type);
  EXPECT_EQ(error_kind([] { tl::random_normal(0, -1, {2}, DType::Float32, kCpu); }),
            ErrorKind::Value);
  EXPECT_EQ(error_kind([] { tl::random_normal(0, 1, {2}, DType::Bool, kCpu); }),
            ErrorKind::Type);
  EXPECT_EQ(error_kind([] { tl::random_randint(3, 3, {2}, DType::Int64, kCpu); }),
            ErrorKind::Value);
  EXPECT_EQ(error_kind([] { tl::random_randint(0, 3, {2}, DType::Float32, kCpu); }),
            ErrorKind::Type);
  EXPECT_EQ(error_kind([] { tl::random_randint(0, 1ll << 40, {2}, DType::Int32, kCpu); }),
            ErrorKind::Value);
  EXPECT_EQ(error_kind([] { tl::random_permutation(-1, DType::Int64, kCpu); }),
            ErrorKind::Value);
  EXPECT_EQ(error_kind([] {
              tl::Tensor t = tl::empty({4}, DType::Float32, kCpu);
              tl::cpu::random(tl::RandomDist::Bits, 0, 0, 0, 3, t);
            }),
            ErrorKind::Type);
}

}  // namespace
