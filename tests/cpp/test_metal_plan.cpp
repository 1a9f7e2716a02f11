// Portable pieces of the Metal backend: the matmul plan (instantiation, leading dimensions,
// batch dispatches), the pipeline cache, and the one-op IR kernels that elementwise ops and
// reductions run as (checked on the CPU backend's fused executor against its own kernels).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "metal/matmul_plan.h"
#include "metal/pipeline_cache.h"
#include "core/single_op_ir.h"

namespace {

using tl::DType;
using tl::Shape;
using tl::Strides;
using namespace tl::metal;

const Strides kRowMajor70{70, 1}, kRowMajor520{520, 1};

std::optional<MatmulPlan> plan(const Shape& out, int64_t K, DType t, const Strides& a,
                               const Strides& b, const Strides& c, std::vector<int>& copy,
                               int64_t a_off = 0) {
  return plan_matmul(out, K, t, {&a, a_off}, {&b, 0}, {&c, 0}, copy);
}

TEST(MetalMatmulPlan, TransposedOperandsAreReadInPlace) {
  std::vector<int> copy;
  // a: 33x45 row-major (ld 48: a slice of a wider matrix); b: 45x70 seen through a transpose.
  auto p = plan({33, 70}, 45, DType::Float16, {48, 1}, {1, 45}, {70, 1}, copy);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kernel, "matmul_f16_nt_32x32x16");
  EXPECT_FALSE(p->gemv);
  EXPECT_EQ(p->a.ld, 48u);
  EXPECT_EQ(p->b.ld, 45u);
  EXPECT_EQ(p->ldc, 70u);
  EXPECT_EQ(p->groups, (std::array<uint32_t, 2>{3, 2}));
  ASSERT_EQ(p->dispatches.size(), 1u);
  EXPECT_EQ(p->dispatches[0].batches, 1u);
  p = plan({40, 40}, 8, DType::BFloat16, {1, 40}, {40, 1}, {40, 1}, copy);
  EXPECT_EQ(p->kernel, "matmul_bf16_tn_32x32x16");
  p = plan({40, 40}, 8, DType::Float32, {1, 40}, {1, 8}, {40, 1}, copy);
  EXPECT_EQ(p->kernel, "matmul_f32_tt_32x32x16");
}

TEST(MetalMatmulPlan, TileSizeFollowsTheShape) {
  // Large enough for 64 threadgroups of 64 x 64: the large tile.
  EXPECT_EQ(select_tile(512, 512, 1).m, 64u);
  EXPECT_EQ(select_tile(512, 512, 1).n, 64u);
  // Too few 64 x 64 blocks to fill the GPU: 64 x 32 (K step 32), then 32 x 32.
  EXPECT_EQ(select_tile(512, 256, 1).m, 64u);
  EXPECT_EQ(select_tile(512, 256, 1).n, 32u);
  EXPECT_EQ(select_tile(512, 256, 1).k, 32u);
  EXPECT_EQ(select_tile(256, 256, 1).m, 32u);
  EXPECT_EQ(select_tile(128, 128, 1).m, 32u);
  EXPECT_EQ(select_tile(128, 128, 16).m, 64u);  // the batch fills it
  EXPECT_EQ(select_tile(4096, 40, 1).n, 32u);   // N too narrow for 64
  EXPECT_EQ(select_tile(40, 4096, 1).m, 32u);   // M too short for 64
  std::vector<int> copy;
  auto p = plan({600, 520}, 70, DType::Float32, {70, 1}, {520, 1}, {520, 1}, copy);
  EXPECT_EQ(p->kernel, "matmul_f32_nn_64x64x16");
  EXPECT_EQ(p->groups, (std::array<uint32_t, 2>{9, 10}));
}

TEST(MetalMatmulPlan, AutotuneCandidatesAndForcedTiles) {
  // The heuristic's tile first, then the others at least half full at the edges.
  auto c = tile_candidates(512, 512, 1);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(tile_name(c[0]), "64x64x16");
  c = tile_candidates(40, 40, 1);
  ASSERT_EQ(c.size(), 3u);  // 64-row tiles are 5/8 full at 40
  EXPECT_EQ(tile_name(c[0]), "32x32x16");
  c = tile_candidates(20, 300, 1);
  ASSERT_EQ(c.size(), 1u);  // 64 rows for 20 is too empty: nothing to measure
  EXPECT_EQ(tile_tune_key("Apple M2", "matmul_f16_nt_64x64x16", 512, 256, 128, 3),
            "matmul|Apple M2|matmul_f16_nt|512x256x128|b3");
  std::vector<int> copy;
  const MatmulTile tall{64, 32, 32};
  auto p = plan_matmul({600, 520}, 70, DType::Float32, {&kRowMajor70, 0}, {&kRowMajor520, 0}, {&kRowMajor520, 0},
                       copy, 64, &tall);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kernel, "matmul_f32_nn_64x32x32");
  EXPECT_EQ(p->groups, (std::array<uint32_t, 2>{17, 10}));
  const MatmulTile bogus{16, 16, 8};
  EXPECT_THROW(plan_matmul({600, 520}, 70, DType::Float32, {&kRowMajor70, 0}, {&kRowMajor520, 0},
                           {&kRowMajor520, 0}, copy, 64, &bogus),
               tl::Error);
  // A skinny product stays GEMV whatever the tile.
  EXPECT_TRUE(plan_matmul({4, 520}, 70, DType::Float32, {&kRowMajor70, 0}, {&kRowMajor520, 0}, {&kRowMajor520, 0},
                          copy, 64, &tall)->gemv);
}

TEST(MetalMatmulPlan, SkinnyProductsRunAsGemv) {
  std::vector<int> copy;
  // M <= 16: as it is; b transposed (a weight matrix stored N x K): a SIMD-group per column.
  auto p = plan({1, 70}, 127, DType::Float32, {127, 1}, {1, 127}, {70, 1}, copy);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kernel, "gemv_f32_nt");
  EXPECT_TRUE(p->gemv);
  EXPECT_FALSE(p->swap);
  EXPECT_EQ(p->groups, (std::array<uint32_t, 2>{18, 1}));  // 4 columns per threadgroup
  p = plan({16, 300}, 7, DType::Float16, {7, 1}, {300, 1}, {300, 1}, copy);
  EXPECT_EQ(p->kernel, "gemv_f16_nn");
  EXPECT_EQ(p->groups, (std::array<uint32_t, 2>{3, 1}));  // a thread per column
  // N <= 16 < M: C^T = op(B)^T op(A)^T. a (33 x 45, row-major, ld 48) becomes buffer 1,
  // read transposed; b (45 x 7, row-major) buffer 0, read transposed; C written by columns.
  p = plan({2, 33, 7}, 45, DType::Float32, {33 * 48, 48, 1}, {315, 7, 1}, {231, 7, 1}, copy, 5);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->swap);
  EXPECT_EQ(p->kernel, "gemv_f32_tt");
  EXPECT_EQ(p->M, 7u);
  EXPECT_EQ(p->N, 33u);
  EXPECT_EQ(p->a.ld, 7u);
  EXPECT_EQ(p->b.ld, 48u);
  EXPECT_EQ(p->ldc, 1u);
  EXPECT_EQ(p->ldc_col, 7u);
  EXPECT_EQ(p->groups, (std::array<uint32_t, 2>{9, 1}));
  EXPECT_EQ(p->batch_stride, (std::array<int64_t, 3>{315, 33 * 48, 231}));
  ASSERT_EQ(p->dispatches.size(), 1u);
  EXPECT_EQ(p->dispatches[0].offset, (std::array<int64_t, 3>{0, 5, 0}));
  EXPECT_EQ(p->dispatches[0].batches, 2u);
  EXPECT_EQ(p->dispatches[0].z0, 0u);
}

TEST(MetalMatmulPlan, VectorsAndBroadcastRowsNeedNoCopy) {
  EXPECT_EQ(read_layout(1, 9, 0, 1)->transposed, false);  // a vector as a 1 x K matrix
  EXPECT_EQ(read_layout(9, 1, 1, 0)->transposed, true);   // ... and as K x 1
  ASSERT_TRUE(read_layout(1, 9, 0, 5));                   // a strided row: columns 5 apart
  EXPECT_EQ(read_layout(1, 9, 0, 5)->ld, 5u);
  EXPECT_EQ(read_layout(9, 1, 3, 0)->ld, 3u);             // a strided column: rows 3 apart
  EXPECT_EQ(read_layout(4, 9, 0, 1)->ld, 0u);             // one row broadcast to four
  EXPECT_FALSE(read_layout(4, 9, 18, 2));                 // neither rows nor columns contiguous
  EXPECT_FALSE(read_layout(4, 9, -9, 1));                 // flipped rows
  EXPECT_TRUE(writable_layout(4, 9, 9, 1));
  EXPECT_FALSE(writable_layout(4, 9, 0, 1));  // rows would overlap
  EXPECT_FALSE(writable_layout(4, 9, 1, 4));  // column-major output
}

TEST(MetalMatmulPlan, OperandsItCannotAddressAreNamedForACopy) {
  std::vector<int> copy;
  EXPECT_FALSE(plan({4, 4}, 4, DType::Float32, {8, 2}, {4, 1}, {1, 4}, copy));
  EXPECT_EQ(copy, (std::vector<int>{0, 2}));
  EXPECT_TRUE(plan({4, 4}, 4, DType::Float32, {4, 1}, {4, 1}, {4, 1}, copy));
  EXPECT_TRUE(copy.empty());
}

TEST(MetalMatmulPlan, BatchDimsBecomeGridZAndDispatches) {
  std::vector<int> copy;
  // (2, 3) batch, contiguous: one merged dim of 6 on grid z.
  auto p = plan({2, 3, 5, 7}, 4, DType::Float32, {60, 20, 4, 1}, {84, 28, 7, 1}, {105, 35, 7, 1}, copy);
  ASSERT_EQ(p->dispatches.size(), 1u);
  EXPECT_EQ(p->dispatches[0].batches, 6u);
  EXPECT_EQ(p->batch_stride, (std::array<int64_t, 3>{20, 28, 35}));
  // b broadcast over the batch (stride 0) and a's batch dims swapped: two dispatches of 3.
  p = plan({2, 3, 5, 7}, 4, DType::Float32, {20, 40, 4, 1}, {0, 0, 7, 1}, {105, 35, 7, 1}, copy,
           /*a_off=*/11);
  ASSERT_EQ(p->dispatches.size(), 2u);
  EXPECT_EQ(p->batch_stride, (std::array<int64_t, 3>{40, 0, 35}));
  EXPECT_EQ(p->dispatches[1].offset, (std::array<int64_t, 3>{31, 0, 105}));
  EXPECT_EQ(p->dispatches[1].batches, 3u);
  EXPECT_EQ(p->dispatches[1].z0, 3u);  // the flat batch index, for epilogues
  // A batch past the grid's z limit is cut into pieces.
  p = plan({70000, 1, 1}, 1, DType::Float32, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, copy);
  ASSERT_EQ(p->dispatches.size(), 2u);
  EXPECT_EQ(p->dispatches[0].batches, kMaxGridZ);
  EXPECT_EQ(p->dispatches[1].batches, 70000 - kMaxGridZ);
  EXPECT_EQ(p->dispatches[1].offset[2], int64_t(kMaxGridZ));
  EXPECT_EQ(p->dispatches[1].z0, kMaxGridZ);
  // Empty: nothing to dispatch.
  EXPECT_TRUE(plan({0, 5, 7}, 4, DType::Float32, {20, 4, 1}, {28, 7, 1}, {35, 7, 1}, copy)->dispatches.empty());
}

TEST(MetalMatmulPlan, VectorStagingWhereStoredRowsStartOnVectors) {
  std::vector<int> copy;
  // a: ld 48; b: seen through a transpose with ld 45: only buffer 0 reads 4-vectors.
  auto p = plan({33, 70}, 45, DType::Float32, {48, 1}, {1, 45}, {70, 1}, copy);
  EXPECT_EQ(p->vec, 1u);
  p = plan({33, 72}, 44, DType::Float32, {1, 36}, {72, 1}, {72, 1}, copy);  // a transposed, ld 36
  EXPECT_EQ(p->vec, 3u);
  // An offset or a batch stride off the boundary turns it off for that operand.
  p = plan({33, 72}, 44, DType::Float32, {48, 1}, {72, 1}, {72, 1}, copy, /*a_off=*/2);
  EXPECT_EQ(p->vec, 2u);
  p = plan({3, 33, 72}, 44, DType::Float32, {33 * 48 + 2, 48, 1}, {0, 72, 1}, {33 * 72, 72, 1}, copy);
  EXPECT_EQ(p->vec, 2u);
  // GEMV does not stage: no flags.
  p = plan({8, 72}, 44, DType::Float32, {48, 1}, {72, 1}, {72, 1}, copy);
  EXPECT_TRUE(p->gemv);
  EXPECT_EQ(p->vec, 0u);
}

TEST(MetalMatmulPlan, DTypesWithoutAKernelAreTypeErrors) {
  std::vector<int> copy;
  try {
    plan({2, 2}, 2, DType::Float64, {2, 1}, {2, 1}, {2, 1}, copy);
    FAIL();
  } catch (const tl::Error& e) {
    EXPECT_EQ(e.kind(), tl::ErrorKind::Type);
  }
}

TEST(MetalPipelineCache, CompilesOncePerKeyAndEvictsTheLeastRecentlyUsed) {
  PipelineCache<int> cache(2);
  int compiles = 0;
  auto make = [&] { return ++compiles; };
  EXPECT_EQ(cache.get({0, "fill_f32"}, make), 1);
  EXPECT_EQ(cache.get({0, "fill_f32"}, make), 1);
  EXPECT_EQ(cache.get({42, "fill_f32"}, make), 2);  // same name, other library
  EXPECT_EQ(cache.get({0, "fill_f32"}, make), 1);   // now the most recent
  EXPECT_EQ(cache.get({0, "copy_f32_f16"}, make), 3);  // evicts library 42's
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.get({42, "fill_f32"}, make), 4);
  EXPECT_EQ(cache.hits(), 2);
  EXPECT_EQ(cache.misses(), 4);
  EXPECT_THROW(cache.get({1, "bad"}, []() -> int { throw std::runtime_error("compile error"); }),
               std::runtime_error);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ((PipelineKey{0xabc, "k"}.str()), "0000000000000abc/k");
}

tl::Tensor random_tensor(const Shape& s, DType t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-3, 3);
  std::vector<double> v(size_t(tl::numel(s)));
  for (double& x : v) x = u(rng);
  return tl::astype(tl::from_host(v.data(), s, DType::Float64, tl::Device{}), t);
}

std::vector<double> values(const tl::Tensor& t) {
  tl::Tensor d = tl::contiguous(tl::astype(t, DType::Float64));
  const double* p = static_cast<const double*>(d.data_ptr());
  return {p, p + d.numel()};
}

TEST(MetalSingleOpIR, ElementwiseKernelsMatchTheCpuKernels) {
  tl::Backend& cpu = *tl::backend_for(tl::DeviceType::CPU);
  // A transposed, broadcast float16 operand with an int32 one, into a strided float32 view.
  const tl::Tensor x = tl::transpose(random_tensor({5, 7}, DType::Float16, 1));  // (7, 5)
  const tl::Tensor y = tl::broadcast_to(random_tensor({5}, DType::Int32, 2), {7, 5});
  for (tl::OpCode op : {tl::OpCode::add, tl::OpCode::maximum, tl::OpCode::multiply}) {
    const tl::Tensor want = tl::empty({7, 5}, DType::Float32, tl::Device{});
    const tl::Tensor base = tl::empty({7, 10}, DType::Float32, tl::Device{});
    const tl::Tensor got = tl::slice(base, 1, 0, 10, 2);
    const tl::Tensor in[] = {x, y};
    cpu.elementwise(op, DType::Float32, in, want);
    tl::ir::BoundKernel k = tl::ir::elementwise_kernel(op, DType::Float32, in, got);
    EXPECT_EQ(k.bindings.size(), 3u);
    cpu.fused(k.kernel, k.bindings);
    EXPECT_EQ(values(got), values(want)) << tl::op_info(op).name;
  }
}

TEST(MetalSingleOpIR, ReductionKernelsMatchTheCpuKernels) {
  tl::Backend& cpu = *tl::backend_for(tl::DeviceType::CPU);
  const tl::Tensor x = tl::slice(random_tensor({4, 6, 9}, DType::BFloat16, 3), 2, 1, 9, 1);  // (4, 6, 8)
  const std::vector<int> axes{0, 2};
  for (tl::ReduceOp op : {tl::ReduceOp::Sum, tl::ReduceOp::Max, tl::ReduceOp::Min, tl::ReduceOp::Any}) {
    const DType out_t = op == tl::ReduceOp::Any ? DType::Bool : DType::Float32;
    const tl::Tensor want = tl::empty({6}, out_t, tl::Device{});
    const tl::Tensor got = tl::empty({6}, out_t, tl::Device{});
    cpu.reduce(op, x, axes, want);
    tl::ir::BoundKernel k = tl::ir::reduce_kernel(op, x, axes, got);
    cpu.fused(k.kernel, k.bindings);
    const std::vector<double> g = values(got), w = values(want);
    for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-5 * (1 + std::abs(w[i])));
  }
  EXPECT_THROW(tl::ir::reduce_kernel(tl::ReduceOp::ArgMax, x, axes, tl::empty({6}, DType::Int64, tl::Device{})),
               tl::Error);
}

}  // namespace
