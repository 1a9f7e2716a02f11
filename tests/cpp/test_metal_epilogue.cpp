// Matmuls with fused epilogues on Metal (src/metal/msl_matmul.cpp): the planner folds an
// elementwise consumer (scale, bias, activation, residual, cast) into the matmul; the
// generated MSL (metal/matmul.metal's tile or metal/gemv.metal's GEMV body with the epilogue
// as its output policy) runs in the CPU emulation harness (tests/metal_emu, built through its emu.py) under
// three thread orders, which must agree bit for bit, and must match the CPU backend's result
// for the same graph. Skipped where python3 with NumPy or a C++ compiler is missing.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/half.h"
#include "core/ops.h"
#include "core/planner.h"
#include "metal/matmul_plan.h"
#include "metal/msl_matmul.h"
#include "metal_emu_runner.h"

namespace {

using namespace tl_test;
using tl::DType;
using tl::OpCode;
using tl::Scalar;
using tl::Shape;
using tl::Tensor;
using namespace tl::metal;

Tensor random_tensor(const Shape& s, DType t, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(size_t(tl::numel(s)));
  for (float& x : v) x = u(rng);
  Tensor f = tl::from_host(v.data(), s, DType::Float32, tl::Device{});
  if (t == DType::Float32) return f;
  Tensor r = tl::astype(f, t);
  (void)r.buffer();  // materialized: an input, not part of the graph under test
  return r;
}

double to_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::Float32: return static_cast<const float*>(p)[i];
    case DType::Float16: return double(tl::half_to_float(static_cast<const uint16_t*>(p)[i]));
    case DType::BFloat16: return double(tl::bf16_to_float(static_cast<const uint16_t*>(p)[i]));
    default: ADD_FAILURE() << "unexpected dtype"; return 0;
  }
}

struct Case {
  std::string name;
  // Builds the graph from fresh CPU inputs; returns the result (pending).
  std::function<Tensor(std::mt19937&)> build;
  double rtol;
};

struct MatmulParams {
  uint32_t M, N, K, lda, ldb, ldc, ldc_col, z0;
  int64_t batch_a, batch_b, batch_c;
  uint32_t vec_flags, pad;
};
static_assert(sizeof(MatmulParams) == 64);

// Plans `c.build`'s graph with epilogues, runs the fused Metal kernel in the emulator and
// compares with the CPU backend's evaluation of the same graph.
void check(const Case& c) {
  std::mt19937 rng(1234);
  Tensor y = c.build(rng);
  ASSERT_TRUE(y.pending());
  const tl::NodePtr root = y.source().node;
  const tl::Plan plan = tl::make_plan(std::span<const tl::NodePtr>(&root, 1), /*epilogues=*/true);
  const tl::PlanStep* mm = nullptr;
  for (const tl::PlanStep& st : plan.steps)
    if (st.kind == tl::PlanStep::Kind::Matmul && st.acc_slot >= 0) mm = &st;
  ASSERT_NE(mm, nullptr) << c.name << ": no epilogue planned:\n" << plan.str();
  ASSERT_EQ(plan.steps.size(), 1u) << plan.str();
  ASSERT_EQ(mm->out.get(), root.get());
  const tl::Node& m = *mm->node;
  const tl::Source sa = m.inputs[0], sb = m.inputs[1];
  ASSERT_TRUE(sa.buffer && sb.buffer) << "the matmul's operands are materialized inputs";
  const tl::ir::Kernel kernel = mm->kernel;
  const int acc = mm->acc_slot;
  const std::vector<tl::Source> bindings = mm->bindings;

  const tl::Strides cst = tl::contiguous_strides(m.shape);
  std::vector<int> copy;
  const auto mp = plan_matmul(m.shape, sa.shape.back(), m.dtype, {&sa.strides, sa.offset},
                              {&sb.strides, sb.offset}, {&cst, 0}, copy);
  ASSERT_TRUE(mp) << "operands the kernel reads in place";
  if (c.name.ends_with("_vector_staging")) EXPECT_EQ(mp->vec, 3u) << "both operands staged as 4-vectors";
  const EpilogueProgram prog = epilogue_program(kernel, acc, *mp);
  ASSERT_EQ(prog.error, "");
  const std::string source =
      epilogue_program_source(metal_library_text(mp->library()), kernel, acc, *mp, prog);
  const Emulator emu = load(source, prog.entry);
  ASSERT_EQ(emu.error, "") << source;

  // Reference: the CPU backend, on the same graph.
  tl::graph::evaluate(std::span<const Tensor>(&y, 1));
  const std::vector<uint8_t> expected(static_cast<const uint8_t*>(y.buffer()->data()),
                                      static_cast<const uint8_t*>(y.buffer()->data()) + y.nbytes());

  int out_slot = -1;
  std::vector<std::vector<uint8_t>> slot_data(bindings.size());
  for (size_t s = 0; s < bindings.size(); ++s) {
    const Binding& b = prog.buffers[s];
    const size_t bytes = size_t(std::max<int64_t>(b.elements, 1)) * size_t(tl::itemsize(b.dtype));
    if (b.written) {
      out_slot = int(s);
      slot_data[s].assign(bytes, 0xA5);
    } else if (int(s) == acc) {
      slot_data[s].assign(16, 0xFF);  // never read: the product comes in a register
    } else {
      ASSERT_TRUE(bindings[s].buffer) << "slot " << s << " is a materialized input";
      ASSERT_GE(bindings[s].buffer->nbytes(), bytes);
      const auto* p = static_cast<const uint8_t*>(bindings[s].buffer->data());
      slot_data[s].assign(p, p + bytes);
    }
  }
  ASSERT_GE(out_slot, 0);

  std::vector<std::vector<uint8_t>> results;
  for (int order = 0; order < 3; ++order) {
    std::vector<std::vector<uint8_t>> slots = slot_data;
    std::vector<uint8_t> ep = prog.params;
    std::vector<uint8_t> c_dummy(16, 0xFF);
    for (const MatmulDispatch& d : mp->dispatches) {
      MatmulParams p{mp->M, mp->N, mp->K, mp->a.ld, mp->b.ld, mp->ldc, mp->ldc_col, d.z0,
                     mp->batch_stride[0], mp->batch_stride[1], mp->batch_stride[2], mp->vec, 0};
      const size_t item = size_t(tl::itemsize(m.dtype));
      const tl::Source& x = mp->swap ? sb : sa;
      const tl::Source& w = mp->swap ? sa : sb;
      // Buffers as the host binds them: A, B, C, the epilogue's slots, then the two params blocks.
      std::vector<void*> ptrs = {static_cast<char*>(x.buffer->data()) + d.offset[0] * item,
                                 static_cast<char*>(w.buffer->data()) + d.offset[1] * item, c_dummy.data()};
      std::vector<uint64_t> sizes = {x.buffer->nbytes() - d.offset[0] * item, w.buffer->nbytes() - d.offset[1] * item,
                                     c_dummy.size()};
      for (auto& s : slots) ptrs.push_back(s.data()), sizes.push_back(s.size());
      ptrs.push_back(&p), sizes.push_back(sizeof p);
      ptrs.push_back(ep.data()), sizes.push_back(ep.size());
      const uint32_t grid[3] = {mp->groups[0], mp->groups[1], d.batches}, tg[3] = {kMatmulThreads, 1, 1};
      char err[2048] = {0};
      const int rc = emu.launch(prog.entry.c_str(), ptrs.data(), sizes.data(), int(ptrs.size()), grid, tg, 0, nullptr,
                                0, order, 99, err, sizeof err);
      ASSERT_EQ(rc, 0) << err;
    }
    results.push_back(slots[size_t(out_slot)]);
  }
  EXPECT_TRUE(results[0] == results[1] && results[0] == results[2]) << "thread order changes the result";

  // The CPU's result is contiguous; the kernel wrote the output slot with its strides.
  const DType t = y.dtype();
  const tl::ir::Instr* store = nullptr;
  for (const tl::ir::Instr& in : kernel.instrs)
    if (in.op == tl::ir::Op::Store && in.slot == out_slot) store = &in;
  ASSERT_NE(store, nullptr);
  const Shape& dom = kernel.domain;
  std::vector<int64_t> idx(dom.size(), 0);
  double worst = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t o = store->offset;
    for (size_t d = 0; d < dom.size(); ++d) o += idx[d] * store->strides[d];
    const double got = to_double(results[0].data(), t, o), want = to_double(expected.data(), t, i);
    const double err = std::abs(got - want) / (1.0 + std::abs(want));
    worst = std::max(worst, err);
    for (size_t d = dom.size(); d-- > 0;) {
      if (++idx[d] < dom[d]) break;
      idx[d] = 0;
    }
  }
  EXPECT_LE(worst, c.rtol) << c.name;
}

class MetalEpilogue : public ::testing::TestWithParam<Case> {};

TEST_P(MetalEpilogue, MatchesTheCpuBackendInTheEmulator) {
  if (!emulator_missing().empty()) GTEST_SKIP() << emulator_missing();
  check(GetParam());
}

Tensor mm(const Tensor& a, const Tensor& b) { return tl::matmul(a, b); }
Tensor bin(OpCode op, const Tensor& a, const tl::Operand& b) { return tl::binary(op, a, b); }
Scalar f(double v) { return Scalar::from_float(v); }

Case tile_case(const std::string& name, int64_t M, int64_t N, int64_t K, DType t, double rtol) {
  // relu(a @ b * 0.5 + bias) + residual: scale, bias (broadcast row), activation, residual.
  return {name, [=](std::mt19937& rng) {
            Tensor a = random_tensor({M, K}, t, rng), b = random_tensor({K, N}, t, rng);
            Tensor bias = random_tensor({N}, t, rng), res = random_tensor({M, N}, t, rng);
            return bin(OpCode::add, tl::unary(OpCode::relu, bin(OpCode::add, bin(OpCode::multiply, mm(a, b), f(0.5)), bias)),
                       res);
          }, rtol};
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MetalEpilogue,
    ::testing::Values(
        tile_case("tile_f32_33x70x45", 33, 70, 45, DType::Float32, 1e-5),
        tile_case("tile_f32_600x520x7_large_tile", 600, 520, 7, DType::Float32, 1e-5),
        tile_case("tile_f16_70x33x17", 70, 33, 17, DType::Float16, 2e-3),
        tile_case("tile_bf16_40x70x9", 40, 70, 9, DType::BFloat16, 1e-2),
        // Rows on 4-element boundaries: both operands staged as 4-vectors (MatmulPlan::vec 3).
        tile_case("tile_f32_72x100x36_vector_staging", 72, 100, 36, DType::Float32, 1e-5),
        tile_case("tile_f16_64x96x40_vector_staging", 64, 96, 40, DType::Float16, 2e-3),
        tile_case("gemv_f32_1x70x127", 1, 70, 127, DType::Float32, 1e-5),
        tile_case("gemv_f32_swapped_127x7x45", 127, 7, 45, DType::Float32, 1e-5),
        Case{"transposed_b_gelu_cast_to_f16",
             [](std::mt19937& rng) {
               Tensor a = random_tensor({33, 45}, DType::Float32, rng), w = random_tensor({70, 45}, DType::Float32, rng);
               return tl::astype(tl::unary(OpCode::gelu, mm(a, tl::matrix_transpose(w))), DType::Float16);
             },
             2e-3},
        Case{"batched_bias_per_matrix_tanh",
             [](std::mt19937& rng) {
               Tensor a = random_tensor({3, 9, 40}, DType::Float32, rng), b = random_tensor({3, 40, 33}, DType::Float32, rng);
               Tensor bias = random_tensor({3, 1, 33}, DType::Float32, rng);
               return tl::unary(OpCode::tanh, bin(OpCode::add, mm(a, b), bias));
             },
             1e-5},
        Case{"batched_swapped_silu_residual",
             [](std::mt19937& rng) {
               Tensor a = random_tensor({2, 70, 33}, DType::Float32, rng), b = random_tensor({2, 33, 5}, DType::Float32, rng);
               Tensor res = random_tensor({2, 70, 5}, DType::Float32, rng);
               return bin(OpCode::subtract, tl::unary(OpCode::silu, mm(a, b)), res);
             },
             1e-5}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
