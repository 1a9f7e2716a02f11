// The launch key of Metal's fused kernels (msl_kernels.h): the host finds a pipeline by it
// before printing any MSL, so equal keys must mean equal sources, and a kernel or cut that
// prints differently must get a key of its own.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/ops.h"
#include "core/single_op_ir.h"
#include "metal/msl_kernels.h"
#include "metal/pipeline_cache.h"

namespace {

using tl::DType;
using tl::OpCode;
using tl::Tensor;
using namespace tl::metal;

Tensor cpu_empty(const tl::Shape& s, DType t = DType::Float32) { return tl::empty(s, t, tl::Device{}); }

tl::ir::Kernel binary(OpCode op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Tensor in[] = {a, b};
  return tl::ir::elementwise_kernel(op, DType::Float32, in, out).kernel;
}

tl::ir::Kernel add(const tl::Shape& s, DType t = DType::Float32) {
  return binary(OpCode::add, cpu_empty(s, t), cpu_empty(s, t), cpu_empty(s, t));
}

tl::ir::Kernel sum(const Tensor& in, std::vector<int> axes, const tl::Shape& out) {
  return tl::ir::reduce_kernel(tl::ReduceOp::Sum, in, axes, cpu_empty(out)).kernel;
}

TEST(MetalLaunchKey, EqualForKernelsThatDifferOnlyInSizesStridesAndOffsets) {
  const Program small = fused_program(add({1000})), large = fused_program(add({4096 * 3}));
  EXPECT_EQ(small.key, large.key);
  EXPECT_EQ(small.entry, large.entry);
  EXPECT_NE(small.params, large.params);  // sizes travel in the params, not the source
  // Transposed operands of two shapes, and a view starting past its buffer's start.
  const Tensor a = tl::transpose(cpu_empty({5, 7})), b = tl::transpose(cpu_empty({9, 11}));
  const Tensor b_past = tl::transpose(tl::slice(cpu_empty({10, 11}), 0, 1, 10, 1));  // offset 11
  const Program p = fused_program(binary(OpCode::add, a, a, cpu_empty({7, 5})));
  const Program q = fused_program(binary(OpCode::add, b, b_past, cpu_empty({11, 9})));
  EXPECT_EQ(p.key, q.key);
  EXPECT_NE(p.key, small.key);
}

TEST(MetalLaunchKey, DiffersWhenTheKernelDiffers) {
  const tl::Shape s{64};
  const std::string k = fused_program(add(s)).key;
  EXPECT_NE(k, fused_program(binary(OpCode::multiply, cpu_empty(s), cpu_empty(s), cpu_empty(s))).key);
  EXPECT_NE(k, fused_program(add(s, DType::Float16)).key);
  const Tensor row = tl::broadcast_to(cpu_empty({1}), s);  // a broadcast operand: another stride class
  EXPECT_NE(k, fused_program(binary(OpCode::add, cpu_empty(s), row, cpu_empty(s))).key);
}

TEST(MetalLaunchKey, DiffersWhenTheCutDiffers) {
  const tl::ir::Kernel k = add({64});
  const Program p = fused_program(k);
  ASSERT_EQ(p.launch.cut.vector, 4);
  const Program wide = fused_program(k, {}, true);
  EXPECT_TRUE(wide.launch.cut.wide);
  EXPECT_NE(p.key, wide.key);
  const std::vector<uint64_t> misaligned{4, 0, 0};  // slot 0 one float past a 16-byte boundary
  const Program scalar = fused_program(k, misaligned);
  EXPECT_EQ(scalar.launch.cut.vector, 1);
  EXPECT_NE(p.key, scalar.key);
  // One kernel structure over rows (reduced dim contiguous) and over columns (kept dim).
  const Tensor x = cpu_empty({32, 48});
  const Program rows = fused_program(sum(x, {1}, {32})), cols = fused_program(sum(tl::transpose(x), {1}, {48}));
  EXPECT_EQ(rows.launch.cut.layout, Layout::Rows);
  EXPECT_EQ(cols.launch.cut.layout, Layout::Columns);
  EXPECT_NE(rows.key, cols.key);
  // Few long outputs: a split reduction (partials, then a kernel per output), its own key;
  // the number of chunks travels in the params.
  const Tensor big = cpu_empty({2, kSplitMinInner * 3}), bigger = cpu_empty({2, kSplitMinInner * 5});
  const Program split = fused_program(sum(big, {1}, {2})), split5 = fused_program(sum(bigger, {1}, {2}));
  ASSERT_GT(split.launch.cut.split, 0);
  EXPECT_EQ(split.part_entry, split.entry + "_part");
  EXPECT_EQ(split.launch.part_grid[0], uint32_t(2 * split.launch.cut.split));
  EXPECT_EQ(split.launch.scratch_bytes, 2 * split.launch.cut.split * 8);
  EXPECT_NE(split.key, rows.key);
  EXPECT_EQ(split.key, split5.key);
  EXPECT_NE(split.launch.cut.split, split5.launch.cut.split);
  // Enough outputs to fill the GPU without it (one row broadcast: no memory needed).
  const Tensor many = tl::broadcast_to(cpu_empty({1, kSplitMinInner}), {kSplitMaxOutputs + 1, kSplitMinInner});
  EXPECT_EQ(fused_program(sum(many, {1}, {kSplitMaxOutputs + 1})).launch.cut.split, 0);
}

TEST(MetalLaunchKey, EqualKeysPrintEqualSources) {
  // Kernels and cuts of every kind: a pipeline found by a key must run the code the kernel
  // would print. (Distinct keys may print alike: that only costs a second compile.)
  const Tensor x = cpu_empty({6, 10}), h = cpu_empty({6, 10}, DType::Float16);
  std::vector<std::pair<tl::ir::Kernel, bool>> cases;
  for (bool wide : {false, true}) {
    for (const tl::Shape& s : {tl::Shape{3}, tl::Shape{64}, tl::Shape{1000}, tl::Shape{8, 8}, tl::Shape{5, 40}})
      cases.push_back({add(s), wide});
    cases.push_back({add({64}, DType::Float16), wide});
    for (const Tensor& t : {tl::transpose(x), tl::transpose(cpu_empty({9, 4}))})
      cases.push_back({binary(OpCode::add, t, t, cpu_empty(t.shape())), wide});
    cases.push_back({binary(OpCode::maximum, x, h, cpu_empty({6, 10})), wide});
    cases.push_back({sum(x, {1}, {6}), wide});
    cases.push_back({sum(x, {0}, {10}), wide});
    cases.push_back({sum(cpu_empty({4, 6, 10}), {0, 2}, {6}), wide});
  }
  std::vector<Program> progs;
  std::vector<std::string> sources;
  for (const auto& [k, wide] : cases) {
    progs.push_back(fused_program(k, {}, wide));
    ASSERT_EQ(progs.back().error, "");
    sources.push_back(kernel_source(k, progs.back().launch.cut, "tl_kernel"));  // the entry aside
  }
  int shared = 0;
  for (size_t i = 0; i < progs.size(); ++i)
    for (size_t j = i + 1; j < progs.size(); ++j) {
      if (progs[i].key != progs[j].key) continue;
      EXPECT_EQ(sources[i], sources[j]) << progs[i].key;
      EXPECT_EQ(progs[i].entry, progs[j].entry);
      ++shared;
    }
  EXPECT_GT(shared, 3);  // cases do share keys: the check above ran
}

TEST(MetalLaunchKey, APipelineCacheByKeyPrintsEachKernelOnce) {
  // As the host uses it: the source is printed inside `make`, only for a key not seen before.
  PipelineCache<std::string> cache(8);
  int printed = 0;
  const auto pipeline = [&](const tl::ir::Kernel& k) {
    const Program p = fused_program(k);
    return cache.get(PipelineKey{0, p.key}, [&] { return ++printed, program_source(k, p); });
  };
  const std::string first = pipeline(add({100}));
  EXPECT_EQ(pipeline(add({5000})), first);
  EXPECT_EQ(pipeline(add({64})), first);
  EXPECT_EQ(printed, 1);
  EXPECT_NE(pipeline(add({100}, DType::Float16)), first);
  EXPECT_EQ(printed, 2);
}

}  // namespace
