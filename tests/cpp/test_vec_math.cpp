// The vectorizable float transcendentals against double-precision libm, over a sweep of
// all float bit patterns, and at their special values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cpu/vec_math.h"

namespace {

using namespace tl::cpu::vm;

double ulp_error(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : 1e9;
  if (std::isinf(want)) return double(got) == want ? 0 : 1e9;
  double ulp = std::ldexp(1.0, std::max(std::ilogb(float(want)), -126) - 23);
  return std::fabs(double(got) - want) / ulp;
}

template <class F, class R>
double max_ulp(F f, R ref, bool positive_only) {
  double worst = 0;
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 9973) {
    float x = std::bit_cast<float>(uint32_t(u));
    if (std::isnan(x) || (positive_only && !(x > 0))) continue;
    worst = std::max(worst, ulp_error(f(x), ref(double(x))));
  }
  return worst;
}

TEST(VecMath, WithinFourUlpOfDouble) {
  EXPECT_LE(max_ulp(tl_exp, [](double x) { return std::exp(x); }, false), 4);
  EXPECT_LE(max_ulp(tl_log, [](double x) { return std::log(x); }, true), 4);
  EXPECT_LE(max_ulp(tl_tanh, [](double x) { return std::tanh(x); }, false), 6);  // rational fit
  EXPECT_LE(max_ulp(tl_expm1, [](double x) { return std::expm1(x); }, false), 4);
  EXPECT_LE(max_ulp([](float x) { return tl_log1p(x); },
                    [](double x) { return x > -1 ? std::log1p(x) : (x == -1 ? -HUGE_VAL : NAN); },
                    false), 4);
  EXPECT_LE(max_ulp(tl_softplus, [](double x) { return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0); }, false), 4);
  EXPECT_LE(max_ulp(tl_sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, false), 4);
}

TEST(VecMath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  EXPECT_EQ(tl_exp(inf), inf);
  EXPECT_EQ(tl_exp(-inf), 0.0f);
  EXPECT_TRUE(std::isnan(tl_exp(nan)));
  EXPECT_GT(tl_exp(-100.0f), 0.0f);  // subnormal result, not flushed
  const double denormal_ulp = std::ldexp(1.0, -149);
  EXPECT_NEAR(tl_exp(-100.0f), std::exp(-100.0), 1.5 * denormal_ulp);
  EXPECT_EQ(tl_log(0.0f), -inf);
  EXPECT_TRUE(std::isnan(tl_log(-1.0f)));
  EXPECT_EQ(tl_log(inf), inf);
  EXPECT_NEAR(tl_log(1e-40f), std::log(1e-40), 1e-5);  // subnormal input
  EXPECT_EQ(tl_tanh(inf), 1.0f);
  EXPECT_EQ(tl_tanh(-inf), -1.0f);
  EXPECT_TRUE(std::isnan(tl_tanh(nan)));
  EXPECT_EQ(tl_expm1(-inf), -1.0f);
  EXPECT_EQ(tl_expm1(inf), inf);
  EXPECT_EQ(tl_log1p(-1.0f), -inf);
  EXPECT_TRUE(std::isnan(tl_log1p(-2.0f)));
  EXPECT_EQ(tl_log1p(inf), inf);
  EXPECT_EQ(tl_log1p(1e-30f), 1e-30f);
  EXPECT_EQ(tl_softplus(inf), inf);
  EXPECT_EQ(tl_softplus(-inf), 0.0f);
  EXPECT_EQ(tl_sigmoid(-inf), 0.0f);
  EXPECT_EQ(tl_sigmoid(inf), 1.0f);
  EXPECT_TRUE(std::isnan(tl_sigmoid(nan)));
  EXPECT_NEAR(tl_gelu_tanh(1.0f), 0.841192f, 1e-6);
  EXPECT_NEAR(tl_silu(-2.0f), -2.0 / (1 + std::exp(2.0)), 1e-7);
}

}  // namespace
