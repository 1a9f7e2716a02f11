// Reductions, scans and softmax on the CPU against double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/ops.h"

namespace {

const tl::Device kCpu{tl::DeviceType::CPU, 0};

std::vector<float> random_floats(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 3.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

template <class T>
std::vector<T> host(const tl::Tensor& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  tl::to_host(t, v.data());
  return v;
}

TEST(Reduce, SumAllLargeIsAccurate) {
  const int64_t n = (1 << 20) + 37;  // several parallel partials and a ragged tail
  auto v = random_floats(n, 1);
  double ref = 0;
  for (float x : v) ref += x;
  tl::Tensor x = tl::from_host(v.data(), {n}, tl::DType::Float32, kCpu);
  tl::Tensor s = tl::reduce(tl::ReduceOp::Sum, x, std::nullopt, false);
  ASSERT_EQ(s.dtype(), tl::DType::Float32);
  ASSERT_EQ(s.ndim(), 0);
  EXPECT_NEAR(host<float>(s)[0], ref, 1e-6 * std::abs(ref) + 1e-3);
}

TEST(Reduce, AxesBothLoopOrders) {
  const int64_t r = 37, c = 53;
  auto v = random_floats(r * c, 2);
  tl::Tensor x = tl::from_host(v.data(), {r, c}, tl::DType::Float32, kCpu);
  // axis 1 reduces contiguous rows; axis 0 accumulates whole rows.
  auto rows = host<float>(tl::reduce(tl::ReduceOp::Sum, x, std::vector<int64_t>{1}, false));
  auto cols = host<float>(tl::reduce(tl::ReduceOp::Max, x, std::vector<int64_t>{-2}, true));
  for (int64_t i = 0; i < r; ++i) {
    double ref = 0;
    for (int64_t j = 0; j < c; ++j) ref += v[size_t(i * c + j)];
    EXPECT_NEAR(rows[size_t(i)], ref, 1e-4);
  }
  for (int64_t j = 0; j < c; ++j) {
    float ref = v[size_t(j)];
    for (int64_t i = 1; i < r; ++i) ref = std::max(ref, v[size_t(i * c + j)]);
    EXPECT_EQ(cols[size_t(j)], ref);
  }
}

TEST(Reduce, IntegerSumIsInt64AndEmptyGivesIdentity) {
  std::vector<int32_t> v{3, -7, 11, 2000000000, 2000000000, 5};
  tl::Tensor x = tl::from_host(v.data(), {2, 3}, tl::DType::Int32, kCpu);
  tl::Tensor s = tl::reduce(tl::ReduceOp::Sum, x, std::nullopt, false);
  ASSERT_EQ(s.dtype(), tl::DType::Int64);
  EXPECT_EQ(host<int64_t>(s)[0], 4000000012LL);
  tl::Tensor e = tl::empty({0, 4}, tl::DType::Float32, kCpu);
  auto p = host<float>(tl::reduce(tl::ReduceOp::Prod, e, std::vector<int64_t>{0}, false));
  EXPECT_EQ(p, std::vector<float>(4, 1.0f));
  EXPECT_THROW(tl::reduce(tl::ReduceOp::Max, e, std::vector<int64_t>{0}, false), tl::Error);
  EXPECT_THROW(tl::reduce(tl::ReduceOp::Sum, x, std::vector<int64_t>{2}, false), tl::Error);
}

TEST(Reduce, ArgmaxFirstOccurrenceAndNaN) {
  const float nan = std::nanf("");
  std::vector<float> v{1, 5, 5, 2, nan, 3, nan, 9};
  tl::Tensor x = tl::from_host(v.data(), {2, 4}, tl::DType::Float32, kCpu);
  auto a = host<int64_t>(tl::argreduce(tl::ReduceOp::ArgMax, x, 1, false));
  EXPECT_EQ(a, (std::vector<int64_t>{1, 0}));
  auto flat = host<int64_t>(tl::argreduce(tl::ReduceOp::ArgMin, x, std::nullopt, false));
  EXPECT_EQ(flat, (std::vector<int64_t>{4}));
}

TEST(Reduce, VarianceAndLogsumexp) {
  auto v = random_floats(1000, 3);
  tl::Tensor x = tl::from_host(v.data(), {1000}, tl::DType::Float32, kCpu);
  double mean = 0, ss = 0, mx = -INFINITY, se = 0;
  for (float f : v) mean += f / 1000.0;
  for (float f : v) ss += (f - mean) * (f - mean), mx = std::max(mx, double(f));
  for (float f : v) se += std::exp(f - mx);
  EXPECT_NEAR(host<float>(tl::var(x, std::nullopt, 1.0, false))[0], ss / 999.0, 1e-4);
  EXPECT_NEAR(host<float>(tl::logsumexp(x, std::nullopt, false))[0], mx + std::log(se), 1e-4);
}

TEST(Scan, CumsumAlongEachAxis) {
  const int64_t r = 5, c = 300;
  auto v = random_floats(r * c, 4);
  tl::Tensor x = tl::from_host(v.data(), {r, c}, tl::DType::Float32, kCpu);
  auto a0 = host<float>(tl::scan(tl::ScanOp::CumSum, x, 0));
  auto a1 = host<float>(tl::scan(tl::ScanOp::CumSum, x, -1));
  for (int64_t i = 0; i < r; ++i) {
    double row = 0;
    for (int64_t j = 0; j < c; ++j) {
      row += v[size_t(i * c + j)];
      EXPECT_NEAR(a1[size_t(i * c + j)], row, 1e-3);
      double col = 0;
      for (int64_t k = 0; k <= i; ++k) col += v[size_t(k * c + j)];
      EXPECT_NEAR(a0[size_t(i * c + j)], col, 1e-4);
    }
  }
}

TEST(Softmax, RowsSumToOne) {
  auto v = random_floats(7 * 33, 5);
  tl::Tensor x = tl::from_host(v.data(), {7, 33}, tl::DType::Float32, kCpu);
  auto s = host<float>(tl::softmax(x, 0));
  for (int64_t j = 0; j < 33; ++j) {
    double t = 0;
    for (int64_t i = 0; i < 7; ++i) t += s[size_t(i * 33 + j)];
    EXPECT_NEAR(t, 1.0, 1e-5);
  }
}

}  // namespace
