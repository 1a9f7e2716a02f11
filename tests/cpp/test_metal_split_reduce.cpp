// Split reductions of the Metal generator (msl_kernels.h: few long outputs, e.g. a full sum,
// run as a partials kernel over many threadgroups, then a kernel per output that folds the
// partials and runs the row values and stores): the generated MSL of kernels planned on the
// CPU runs in the emulation harness (both kernels, three thread orders that must agree bit
// for bit) and must match the CPU backend's result. Skipped without python3 + NumPy or a
// C++ compiler (metal_emu_runner.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/half.h"
#include "core/ops.h"
#include "metal/msl_kernels.h"
#include "metal_emu_runner.h"

namespace {

using namespace tl_test;
using tl::DType;
using tl::OpCode;
using tl::ReduceOp;
using tl::Scalar;
using tl::Tensor;
using namespace tl::metal;

struct Case {
  std::string name;
  DType input;
  tl::Shape shape;
  std::function<Tensor(const Tensor&)> fn;
  double rtol;  // of the sum of magnitudes (sums), else of the value
  int vector;   // the expected access: 4-vectors along the reduced dim, or 1
  bool columns = false;  // the expected layout: columns (the kept dim contiguous), else rows
};

Tensor input_tensor(const Case& c) {
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> v(size_t(tl::numel(c.shape)));
  for (float& x : v) x = u(rng);
  Tensor f = tl::from_host(v.data(), c.shape, DType::Float32, tl::Device{});
  if (c.input == DType::Float32) return f;
  Tensor t = c.input == DType::Int32 ? tl::astype(tl::binary(OpCode::multiply, f, Scalar::from_float(50.0)), c.input)
                                     : tl::astype(f, c.input);
  (void)t.buffer();
  return t;
}

double value(const uint8_t* p, DType t, int64_t i) {
  switch (t) {
    case DType::Float32: return reinterpret_cast<const float*>(p)[i];
    case DType::Float16: return tl::half_to_float(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::Int64: return double(reinterpret_cast<const int64_t*>(p)[i]);
    case DType::Int32: return reinterpret_cast<const int32_t*>(p)[i];
    case DType::Bool: return p[i];
    default: ADD_FAILURE() << "dtype"; return 0;
  }
}

class MetalSplitReduce : public ::testing::TestWithParam<Case> {};

TEST_P(MetalSplitReduce, MatchesTheCpuBackendInTheEmulator) {
  if (!emulator_missing().empty()) GTEST_SKIP() << emulator_missing();
  const Case& c = GetParam();
  const Tensor x = input_tensor(c);
  Tensor y = c.fn(x);
  tl::graph::evaluate(std::span<const Tensor>(&y, 1));
  const std::vector<tl::ir::Kernel> kernels = tl::graph::last_kernels();
  ASSERT_EQ(kernels.size(), 1u) << tl::graph::last_plan();
  const tl::ir::Kernel& k = kernels[0];
  const Program p = fused_program(k);
  ASSERT_EQ(p.error, "");
  ASSERT_GT(p.launch.cut.split, 0) << "not split: " << p.key;
  EXPECT_EQ(p.launch.cut.vector, c.vector);
  EXPECT_EQ(p.launch.cut.layout, c.columns ? Layout::Columns : Layout::Rows);
  const Emulator emu = load(program_source(k, p), p.entry);
  ASSERT_EQ(emu.error, "");

  // Slots: the one input (read), the result (written).
  std::vector<std::vector<uint8_t>> slots;
  int out = -1;
  for (size_t s = 0; s < p.buffers.size(); ++s) {
    const Binding& b = p.buffers[s];
    const size_t bytes = size_t(std::max<int64_t>(b.elements, 1)) * size_t(tl::itemsize(b.dtype));
    if (b.written) {
      out = int(s);
      slots.emplace_back(bytes, 0xA5);
    } else {
      ASSERT_EQ(b.dtype, x.dtype());
      ASSERT_LE(bytes, x.buffer()->nbytes());
      const auto* d = static_cast<const uint8_t*>(x.buffer()->data());
      slots.emplace_back(d, d + bytes);
    }
  }
  ASSERT_GE(out, 0);
  ASSERT_EQ(p.steps.size(), 2u);  // the partials kernel, then the fold
  EXPECT_EQ(p.steps[0].entry, p.part_entry);
  std::string err;
  const std::vector<std::vector<uint8_t>> results = run_steps(emu, p, slots, out, err);
  ASSERT_EQ(err, "");
  EXPECT_TRUE(results[0] == results[1] && results[0] == results[2]) << "thread order changes the result";

  const auto* want = static_cast<const uint8_t*>(y.buffer()->data());
  // The scale of a sum: the sum of the input's magnitudes.
  double scale = 0;
  for (int64_t i = 0; i < x.numel(); ++i) scale += std::abs(value(static_cast<const uint8_t*>(x.buffer()->data()), x.dtype(), i));
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double got = value(results[0].data(), y.dtype(), i), ref = value(want, y.dtype(), i);
    if (c.rtol == 0) {
      EXPECT_EQ(got, ref) << c.name << " [" << i << "]";
    } else {
      EXPECT_LE(std::abs(got - ref), c.rtol * (scale + std::abs(ref))) << c.name << " [" << i << "]";
    }
  }
}

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> axes) {
  return tl::reduce(op, x, tl::Axes(std::vector<int64_t>(axes.begin(), axes.end())), false);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MetalSplitReduce,
    ::testing::Values(
        Case{"sum_all_f32_100003", DType::Float32, {100003},
             [](const Tensor& x) { return reduce(ReduceOp::Sum, tl::binary(OpCode::multiply, x, Scalar::from_float(2.0)), {0}); },
             1e-6, 4},
        Case{"sum_rows_f32_3x70001", DType::Float32, {3, 70001},
             [](const Tensor& x) { return reduce(ReduceOp::Sum, tl::unary(OpCode::exp, x), {1}); }, 1e-6, 1},
        Case{"sum_rows_f32_4x65540_vectors", DType::Float32, {4, 65540},
             [](const Tensor& x) { return reduce(ReduceOp::Sum, tl::unary(OpCode::exp, x), {1}); }, 1e-6, 4},
        Case{"mean_all_f32_2d", DType::Float32, {257, 301},
             [](const Tensor& x) { return tl::mean(x, tl::Axes(std::vector<int64_t>{0, 1}), false); }, 1e-6, 4},
        Case{"max_all_f32_70001", DType::Float32, {70001},
             [](const Tensor& x) { return reduce(ReduceOp::Max, tl::binary(OpCode::subtract, x, Scalar::from_float(3.0)), {0}); },
             0, 4},
        Case{"min_rows_f16_2x65543", DType::Float16, {2, 65543},
             [](const Tensor& x) { return reduce(ReduceOp::Min, tl::unary(OpCode::abs, x), {1}); }, 0, 1},
        Case{"sum_all_int32_to_int64", DType::Int32, {80001},
             [](const Tensor& x) { return reduce(ReduceOp::Sum, tl::binary(OpCode::multiply, x, Scalar::from_int(3)), {0}); },
             0, 4},
        Case{"any_all_f32", DType::Float32, {100000},
             [](const Tensor& x) {
               return reduce(ReduceOp::Any, tl::binary(OpCode::greater, x, Scalar::from_float(1.9999)), {0});
             },
             0, 4},
        // Columns: few long columns (reductions over axis 0 of tall, narrow arrays).
        Case{"sum_cols_f32_100003x3", DType::Float32, {100003, 3},
             [](const Tensor& x) { return reduce(ReduceOp::Sum, tl::unary(OpCode::exp, x), {0}); }, 1e-6, 1, true},
        Case{"mean_cols_f32_65537x33", DType::Float32, {65537, 33},  // two column groups, the second of one
             [](const Tensor& x) { return tl::mean(x, tl::Axes(std::vector<int64_t>{0}), false); }, 1e-6, 1, true},
        Case{"max_cols_f16_70001x5", DType::Float16, {70001, 5},
             [](const Tensor& x) { return reduce(ReduceOp::Max, tl::unary(OpCode::abs, x), {0}); }, 0, 1, true},
        Case{"sum_cols_int32_to_int64_3x40000x2", DType::Int32, {3, 40000, 2},  // two reduced dims merged
             [](const Tensor& x) {
               return reduce(ReduceOp::Sum, tl::binary(OpCode::multiply, x, Scalar::from_int(3)), {0, 1});
             },
             0, 1, true}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
