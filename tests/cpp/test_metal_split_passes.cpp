// Split multi-pass kernels of the Metal generator (softmax, log_softmax, layernorm over a few
// very long rows, or over axis 0 of a tall array with few columns: msl_kernels.h): per pass a
// chunked kernel over many threadgroups, then (where the pass reduces) a kernel per output
// that folds its partials into the output's totals, the last pass's chunks storing the
// results. The generated MSL of kernels planned on the CPU
// runs in the emulation harness (every step, three thread orders that must agree bit for bit)
// and must match a float64 reference (computed here, as NumPy's float64 would) and the CPU
// backend, NaN and -inf rows included. Skipped without python3 + NumPy or a C++ compiler
// (metal_emu_runner.h).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/ops.h"
#include "metal/msl_kernels.h"
#include "metal_emu_runner.h"

namespace {

using namespace tl_test;
using tl::DType;
using tl::OpCode;
using tl::Scalar;
using tl::Tensor;
using namespace tl::metal;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN(), kInf = std::numeric_limits<double>::infinity();

enum class Fn { Softmax, LogSoftmax, LayerNorm };
enum class Special { None, NaN, NegInf };

// `rows` outputs of n elements each: rows x n reduced over axis 1, or (columns) n x rows
// reduced over axis 0.
struct Case {
  std::string name;
  Fn fn;
  int64_t rows, n;
  Special special = Special::None;
  bool columns = false;
};

// Row r of x, in float64, through `fn` (w: the layernorm weight).
std::vector<double> reference(Fn fn, const float* x, const float* w, int64_t n) {
  std::vector<double> y(static_cast<size_t>(n), 0.0);
  if (fn == Fn::LayerNorm) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[i];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= double(n);
    for (int64_t i = 0; i < n; ++i) y[size_t(i)] = (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + 0.25;
    return y;
  }
  double m = -kInf, s = 0;
  for (int64_t i = 0; i < n; ++i) m = std::isnan(m) || std::isnan(double(x[i])) ? kNaN : std::max(m, double(x[i]));
  for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
  for (int64_t i = 0; i < n; ++i)
    y[size_t(i)] = fn == Fn::Softmax ? std::exp(x[i] - m) / s : (x[i] - m) - std::log(s);
  return y;
}

// Within tolerance of `want`: NaN for NaN, an infinity for the same one, else close: relative
// to 1 + |want|, or (`relative`: softmax, whose values over n elements are about 1 / n, so an
// absolute 1e-5 would pass a wrong sum) to |want|.
::testing::AssertionResult close(double got, double want, double tol, bool relative, const char* what, int64_t at) {
  const double scale = relative ? std::abs(want) + 1e-30 : 1.0 + std::abs(want);
  const bool ok = std::isnan(want) ? std::isnan(got)
                  : std::isinf(want) ? got == want
                                     : std::abs(got - want) <= tol * scale;
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " [" << at << "]: got " << got << ", want " << want;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class MetalSplitPasses : public ::testing::TestWithParam<Case> {};

TEST_P(MetalSplitPasses, MatchesFloat64AndTheCpuBackendInTheEmulator) {
  if (!emulator_missing().empty()) GTEST_SKIP() << emulator_missing();
  const Case& c = GetParam();
  std::mt19937 rng(123);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  std::vector<float> xv(size_t(c.rows * c.n)), wv(size_t(c.n));
  for (float& v : xv) v = u(rng);
  for (float& v : wv) v = 0.5f + 0.25f * u(rng);
  // Element i of output r, in xv.
  const auto at = [&](int64_t r, int64_t i) { return size_t(c.columns ? i * c.rows + r : r * c.n + i); };
  if (c.special == Special::NaN) xv[at(1, 4321)] = std::numeric_limits<float>::quiet_NaN();  // output 1
  if (c.special == Special::NegInf) {
    for (int64_t i = 0; i < c.n; i += 997) xv[at(0, i)] = -std::numeric_limits<float>::infinity();  // output 0: some
    for (int64_t i = 0; i < c.n; ++i) xv[at(1, i)] = -std::numeric_limits<float>::infinity();  // output 1: all
  }
  const int axis = c.columns ? 0 : 1;
  const Tensor x = tl::from_host(xv.data(), c.columns ? tl::Shape{c.n, c.rows} : tl::Shape{c.rows, c.n},
                                 DType::Float32, tl::Device{});
  const Tensor w = tl::from_host(wv.data(), c.columns ? tl::Shape{c.n, 1} : tl::Shape{c.n}, DType::Float32,
                                 tl::Device{});
  Tensor y;
  if (c.fn == Fn::Softmax) y = tl::softmax(x, axis);
  if (c.fn == Fn::LogSoftmax) y = tl::log_softmax(x, axis);
  if (c.fn == Fn::LayerNorm) {
    const tl::Axes ax(std::vector<int64_t>{axis});
    const Tensor d = tl::binary(OpCode::subtract, x, tl::mean(x, ax, true));
    const Tensor s = tl::unary(OpCode::sqrt, tl::binary(OpCode::add, tl::var(x, ax, 0.0, true), Scalar::from_float(1e-5)));
    y = tl::binary(OpCode::add, tl::binary(OpCode::multiply, tl::binary(OpCode::divide, d, s), w), Scalar::from_float(0.25));
  }
  tl::graph::evaluate(std::span<const Tensor>(&y, 1));
  const std::vector<tl::ir::Kernel> kernels = tl::graph::last_kernels();
  ASSERT_EQ(kernels.size(), 1u) << tl::graph::last_plan();
  const tl::ir::Kernel& k = kernels[0];
  ASSERT_GT(k.passes(), 1) << k.str();
  const Program p = fused_program(k);
  ASSERT_EQ(p.error, "");
  ASSERT_GT(p.launch.cut.split, 0) << "not split: " << p.key;
  // (One column is a contiguous row once the size-1 dim is merged away.)
  // (Layernorm's weight is contiguous along the reduced dim: strided rows, not columns.)
  ASSERT_EQ(p.launch.cut.layout, c.columns && c.rows > 1 && c.fn != Fn::LayerNorm ? Layout::Columns : Layout::Rows);
  if (!c.columns) EXPECT_EQ(p.launch.cut.vector, c.n % 4 == 0 ? 4 : 1);  // 4-vectors where rows start on one
  const uint32_t groups =
      uint32_t(p.launch.cut.layout == Layout::Columns ? (c.rows + kColumnsX - 1) / kColumnsX : c.rows);
  EXPECT_EQ(p.part_entry, "");
  // Per pass its chunks, then (all passes but the last reduce) its fold.
  ASSERT_EQ(p.steps.size(), size_t(2 * k.passes() - 1));
  for (int t = 0; t < k.passes(); ++t) {
    EXPECT_EQ(p.steps[size_t(2 * t)].entry, split_entry(p.entry, t, false));
    EXPECT_EQ(p.steps[size_t(2 * t)].grid[0], groups * uint32_t(p.launch.cut.split));
    if (t + 1 < k.passes()) EXPECT_EQ(p.steps[size_t(2 * t + 1)].entry, split_entry(p.entry, t, true));
  }
  const Emulator emu = load(program_source(k, p), p.entry);
  ASSERT_EQ(emu.error, "");

  // Slots: x (rows * n elements read), w (n read), the result (written).
  std::vector<std::vector<uint8_t>> slots;
  int out = -1;
  for (size_t s = 0; s < p.buffers.size(); ++s) {
    const Binding& b = p.buffers[s];
    ASSERT_EQ(b.dtype, DType::Float32);
    const size_t bytes = size_t(std::max<int64_t>(b.elements, 1)) * 4;
    if (b.written) {
      out = int(s);
      slots.emplace_back(bytes, 0xA5);
    } else {
      ASSERT_TRUE(b.elements == c.rows * c.n || b.elements == c.n) << b.elements;
      const bool weight = c.fn == Fn::LayerNorm && b.elements == c.n && c.rows > 1;  // (the cases have rows > 1)
      const auto* d = reinterpret_cast<const uint8_t*>(weight ? wv.data() : xv.data());
      slots.emplace_back(d, d + bytes);
    }
  }
  ASSERT_GE(out, 0);
  std::string err;
  const std::vector<std::vector<uint8_t>> results = run_steps(emu, p, slots, out, err);
  ASSERT_EQ(err, "");
  EXPECT_TRUE(results[0] == results[1] && results[0] == results[2]) << "thread order changes the result";

  const auto* got = reinterpret_cast<const float*>(results[0].data());
  const auto* cpu = static_cast<const float*>(y.buffer()->data());
  const double tol = c.fn == Fn::LayerNorm ? 2e-5 : 1e-5;
  int failures = 0;
  for (int64_t r = 0; r < c.rows && failures < 10; ++r) {
    std::vector<float> line(size_t(c.n));
    for (int64_t i = 0; i < c.n; ++i) line[size_t(i)] = xv[at(r, i)];
    const std::vector<double> want = reference(c.fn, line.data(), wv.data(), c.n);
    for (int64_t i = 0; i < c.n && failures < 10; ++i) {
      const int64_t e = int64_t(at(r, i));
      const bool rel = c.fn == Fn::Softmax;
      const auto a = close(got[e], want[size_t(i)], tol, rel, "float64", e), b = close(got[e], cpu[e], tol, rel, "cpu", e);
      if (!a) ++failures, ADD_FAILURE() << c.name << ": " << a.message();
      else if (!b) ++failures, ADD_FAILURE() << c.name << ": " << b.message();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, MetalSplitPasses,
    ::testing::Values(Case{"softmax_3x65539", Fn::Softmax, 3, 65539},
                      Case{"softmax_nan_3x70001", Fn::Softmax, 3, 70001, Special::NaN},
                      Case{"softmax_neginf_3x65537", Fn::Softmax, 3, 65537, Special::NegInf},
                      Case{"log_softmax_2x90001", Fn::LogSoftmax, 2, 90001},
                      Case{"log_softmax_neginf_3x65537", Fn::LogSoftmax, 3, 65537, Special::NegInf},
                      Case{"layernorm_2x65543", Fn::LayerNorm, 2, 65543},
                      Case{"softmax_vectors_2x65540", Fn::Softmax, 2, 65540}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Over axis 0 of a tall array with few columns (named as the array's shape): kColumnsX
// columns side by side per threadgroup, chunks of rows.
INSTANTIATE_TEST_SUITE_P(
    Columns, MetalSplitPasses,
    ::testing::Values(Case{"softmax_65537x3", Fn::Softmax, 3, 65537, Special::None, true},
                      Case{"softmax_nan_70001x2", Fn::Softmax, 2, 70001, Special::NaN, true},
                      Case{"log_softmax_neginf_65539x3", Fn::LogSoftmax, 3, 65539, Special::NegInf, true},
                      Case{"layernorm_strided_rows_65543x5", Fn::LayerNorm, 5, 65543, Special::None, true},
                      Case{"softmax_100003x1", Fn::Softmax, 1, 100003, Special::None, true},
                      Case{"log_softmax_65537x33", Fn::LogSoftmax, 33, 65537, Special::None, true}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// What is split: few rows or few columns of several passes, not many of them.
TEST(MetalSplitPassesPlan, FewRowsOrColumnsOfSeveralPasses) {
  std::vector<float> v(size_t(4 * kSplitMinInner), 0.5f);
  const Tensor rows = tl::from_host(v.data(), {4, kSplitMinInner}, DType::Float32, tl::Device{});
  const Tensor cols = tl::from_host(v.data(), {kSplitMinInner, 4}, DType::Float32, tl::Device{});
  const auto plan = [](const Tensor& y) {
    Tensor t = y;
    tl::graph::evaluate(std::span<const Tensor>(&t, 1));
    return fused_program(tl::graph::last_kernels().at(0));
  };
  const Program r = plan(tl::softmax(rows, 1));
  ASSERT_GT(r.launch.cut.split, 0);
  EXPECT_EQ(r.launch.scratch_bytes, 2 * 4 * (r.launch.cut.split + 1) * 8);  // max, sum: partials, totals
  EXPECT_EQ(r.steps.size(), 5u);
  const Program c = plan(tl::softmax(cols, 0));
  ASSERT_GT(c.launch.cut.split, 0);
  EXPECT_EQ(c.launch.cut.layout, Layout::Columns);
  EXPECT_EQ(c.launch.scratch_bytes, 2 * 4 * (c.launch.cut.split + 1) * 8);
  EXPECT_EQ(c.steps.size(), 5u);
  std::vector<float> many(size_t(kSplitMinInner) * size_t(kSplitMaxOutputs + 1), 0.5f);
  EXPECT_EQ(plan(tl::softmax(tl::from_host(many.data(), {kSplitMinInner, kSplitMaxOutputs + 1}, DType::Float32,
                                           tl::Device{}), 0)).launch.cut.split, 0);
  const Program whole = plan(tl::softmax(tl::from_host(v.data(), {4, 1000}, DType::Float32, tl::Device{}), 1));
  EXPECT_EQ(whole.launch.cut.split, 0);
  ASSERT_EQ(whole.steps.size(), 1u);
  EXPECT_EQ(whole.steps[0].entry, whole.entry);
}

}  // namespace
