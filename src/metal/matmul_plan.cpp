#include "metal/matmul_plan.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace tl::metal {
namespace {

constexpr int64_t kU32 = std::numeric_limits<uint32_t>::max();

const char* dtype_suffix(DType t) {
  switch (t) {
    case DType::Float32: return "f32";
    case DType::Float16: return "f16";
    case DType::BFloat16: return "bf16";
    default:
      throw_type(std::string("Metal matmul: no kernel for ") + dtype_name(t) +
                 " (float32, float16 and bfloat16 run on the GPU)");
  }
}

}  // namespace

std::optional<MatrixLayout> read_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  // A single row or column: contiguous needs no leading dimension; strided, the stride is one.
  if (rows <= 1 && (cs == 1 || cols <= 1)) return MatrixLayout{false, uint32_t(std::max<int64_t>(cols, 1))};
  if (cols <= 1 && rs == 1) return MatrixLayout{true, uint32_t(std::max<int64_t>(rows, 1))};
  if (rows <= 1 && cs >= 0 && cs <= kU32) return MatrixLayout{true, uint32_t(cs)};
  if (cols <= 1 && rs >= 0 && rs <= kU32) return MatrixLayout{false, uint32_t(rs)};
  // Rows may overlap (stride 0 broadcasts a row): the kernel only reads them.
  if (cs == 1 && rs >= 0 && rs <= kU32) return MatrixLayout{false, uint32_t(rs)};
  if (rs == 1 && cs >= 0 && cs <= kU32) return MatrixLayout{true, uint32_t(cs)};
  return std::nullopt;
}

bool writable_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (rows <= 1) return cs == 1 || cols <= 1;
  return (cs == 1 || cols <= 1) && rs >= cols && rs <= kU32;
}

std::optional<MatmulPlan> plan_matmul(const Shape& out_shape, int64_t K, DType dtype,
                                      MatmulOperand a, MatmulOperand b, MatmulOperand c,
                                      std::vector<int>& copy) {
  const size_t nd = out_shape.size();
  const int64_t M = out_shape[nd - 2], N = out_shape[nd - 1];
  const char* suffix = dtype_suffix(dtype);
  if (M > kU32 || N > kU32 || K > kU32 || (M + kMatmulTile - 1) / kMatmulTile > kU32)
    throw_value("Metal matmul: " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                std::to_string(K) + " exceeds the kernel's 32-bit sizes");
  const auto at = [&](const MatmulOperand& o, size_t back) { return (*o.strides)[nd - back]; };
  const auto la = read_layout(M, K, at(a, 2), at(a, 1));
  const auto lb = read_layout(K, N, at(b, 2), at(b, 1));
  const bool wc = writable_layout(M, N, at(c, 2), at(c, 1));
  copy.clear();
  if (!la) copy.push_back(0);
  if (!lb) copy.push_back(1);
  if (!wc) copy.push_back(2);
  if (!copy.empty()) return std::nullopt;

  MatmulPlan p;
  p.kernel = std::string("matmul_") + suffix + "_" + (la->transposed ? "t" : "n") +
             (lb->transposed ? "t" : "n");
  p.M = uint32_t(M), p.N = uint32_t(N), p.K = uint32_t(K);
  p.a = *la, p.b = *lb;
  p.ldc = uint32_t(M <= 1 ? std::max<int64_t>(N, 1) : at(c, 2));
  p.groups = {uint32_t((N + kMatmulTile - 1) / kMatmulTile), uint32_t((M + kMatmulTile - 1) / kMatmulTile)};
  if (M == 0 || N == 0) return p;  // nothing to dispatch

  std::vector<int> batch_dims;
  for (size_t d = 0; d + 2 < nd; ++d) batch_dims.push_back(int(d));
  const MergedDims batch = merge_dims(out_shape, batch_dims, {a.strides, b.strides, c.strides});
  if (numel(batch.shape) == 0) return p;
  // The innermost merged dim goes to grid z (in pieces of at most kMaxGridZ), the others
  // are walked here, row-major.
  const size_t inner = batch.shape.size() - 1;
  for (size_t j = 0; j < 3; ++j) p.batch_stride[j] = batch.strides[inner][j];
  std::vector<int64_t> idx(inner, 0);
  const int64_t outer = numel(batch.shape) / batch.shape[inner];
  for (int64_t o = 0; o < outer; ++o) {
    std::array<int64_t, 3> base{a.offset, b.offset, c.offset};
    for (size_t d = 0; d < inner; ++d)
      for (size_t j = 0; j < 3; ++j) base[j] += idx[d] * batch.strides[d][j];
    for (int64_t z = 0; z < batch.shape[inner]; z += kMaxGridZ) {
      std::array<int64_t, 3> off = base;
      for (size_t j = 0; j < 3; ++j) off[j] += z * p.batch_stride[j];
      p.dispatches.push_back({off, uint32_t(std::min<int64_t>(kMaxGridZ, batch.shape[inner] - z))});
    }
    for (size_t d = inner; d-- > 0;) {
      if (++idx[d] < batch.shape[d]) break;
      idx[d] = 0;
    }
  }
  return p;
}

}  // namespace tl::metal
