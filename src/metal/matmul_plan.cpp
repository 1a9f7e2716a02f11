#include "metal/matmul_plan.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

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

MatmulTile select_tile(int64_t M, int64_t N, int64_t batch, int64_t fill) {
  const auto groups = [&](const MatmulTile& t) {
    return ((M + t.m - 1) / t.m) * ((N + t.n - 1) / t.n) * std::max<int64_t>(batch, 1);
  };
  const MatmulTile &small = kMatmulTiles[0], &large = kMatmulTiles[1], &tall = kMatmulTiles[2];
  if (M >= large.m && N >= large.n && groups(large) >= fill) return large;
  if (M >= tall.m && groups(tall) >= fill) return tall;
  return small;
}

std::vector<MatmulTile> tile_candidates(int64_t M, int64_t N, int64_t batch, int64_t fill) {
  const MatmulTile first = select_tile(M, N, batch, fill);
  std::vector<MatmulTile> out{first};
  for (const MatmulTile& t : kMatmulTiles)
    if ((t.m != first.m || t.n != first.n || t.k != first.k) && 2 * M >= t.m && 2 * N >= t.n) out.push_back(t);
  return out;
}

std::string tile_name(const MatmulTile& t) {
  return std::to_string(t.m) + "x" + std::to_string(t.n) + "x" + std::to_string(t.k);
}

std::string tile_tune_key(const std::string& device, const std::string& kernel, int64_t M, int64_t N,
                          int64_t K, int64_t batch) {
  const size_t tile = kernel.rfind('_');
  return "matmul|" + device + "|" + kernel.substr(0, tile) + "|" + std::to_string(M) + "x" + std::to_string(N) +
         "x" + std::to_string(K) + "|b" + std::to_string(batch);
}

std::optional<MatmulPlan> plan_matmul(const Shape& out_shape, int64_t K, DType dtype,
                                      MatmulOperand a, MatmulOperand b, MatmulOperand c,
                                      std::vector<int>& copy, int64_t fill, const MatmulTile* tile) {
  const size_t nd = out_shape.size();
  const int64_t M = out_shape[nd - 2], N = out_shape[nd - 1];
  const char* suffix = dtype_suffix(dtype);
  if (M > kU32 || N > kU32 || K > kU32)
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

  std::vector<int> batch_dims;
  for (size_t d = 0; d + 2 < nd; ++d) batch_dims.push_back(int(d));
  const MergedDims batch = merge_dims(out_shape, batch_dims, {a.strides, b.strides, c.strides});
  const int64_t batches = numel(batch.shape);
  if (batches > kU32) throw_value("Metal matmul: " + std::to_string(batches) + " batch matrices exceed the kernel's 32-bit index");

  MatmulPlan p;
  const uint32_t ldc = uint32_t(M <= 1 ? std::max<int64_t>(N, 1) : at(c, 2));
  p.gemv = std::min(M, N) <= kGemvRows;
  p.swap = p.gemv && M > kGemvRows;
  const auto flip = [](MatrixLayout l) { return MatrixLayout{!l.transposed, l.ld}; };
  if (p.swap) {  // C^T = op(B)^T op(A)^T: N rows of the kernel's output, written transposed
    p.M = uint32_t(N), p.N = uint32_t(M), p.K = uint32_t(K);
    p.a = flip(*lb), p.b = flip(*la);
    p.ldc = 1, p.ldc_col = ldc;
  } else {
    p.M = uint32_t(M), p.N = uint32_t(N), p.K = uint32_t(K);
    p.a = *la, p.b = *lb;
    p.ldc = ldc, p.ldc_col = 1;
  }
  const std::string ab = std::string(p.a.transposed ? "t" : "n") + (p.b.transposed ? "t" : "n");
  if (p.gemv) {
    p.kernel = std::string("gemv_") + suffix + "_" + ab;
    // With TB a SIMD-group per column (4 per threadgroup), else a thread per column.
    const uint32_t per_group = p.b.transposed ? kMatmulThreads / 32 : kMatmulThreads;
    p.groups = {uint32_t((int64_t(p.N) + per_group - 1) / per_group), 1};
  } else {
    const MatmulTile t = tile ? *tile : select_tile(M, N, batches, fill);
    if (std::none_of(std::begin(kMatmulTiles), std::end(kMatmulTiles),
                     [&](const MatmulTile& x) { return x.m == t.m && x.n == t.n && x.k == t.k; }))
      throw_value("Metal matmul: no kernel for the tile " + tile_name(t));
    p.kernel = std::string("matmul_") + suffix + "_" + ab + "_" + std::to_string(t.m) + "x" +
               std::to_string(t.n) + "x" + std::to_string(t.k);
    p.groups = {uint32_t((N + t.n - 1) / t.n), uint32_t((M + t.m - 1) / t.m)};
  }
  if (M == 0 || N == 0 || batches == 0) return p;  // nothing to dispatch

  // The innermost merged batch dim goes to grid z (in pieces of at most kMaxGridZ), the
  // others are walked here, row-major. Buffers 0 and 1 are b and a when swapped.
  const size_t inner = batch.shape.size() - 1;
  const size_t first = p.swap ? 1 : 0;
  const auto buffer_order = [&](std::array<int64_t, 3> v) {
    std::swap(v[0], v[first]);
    return v;
  };
  p.batch_stride = buffer_order({batch.strides[inner][0], batch.strides[inner][1], batch.strides[inner][2]});
  std::vector<int64_t> idx(inner, 0);
  const int64_t outer = batches / batch.shape[inner];
  for (int64_t o = 0; o < outer; ++o) {
    std::array<int64_t, 3> base{a.offset, b.offset, c.offset};
    for (size_t d = 0; d < inner; ++d)
      for (size_t j = 0; j < 3; ++j) base[j] += idx[d] * batch.strides[d][j];
    base = buffer_order(base);
    for (int64_t z = 0; z < batch.shape[inner]; z += kMaxGridZ) {
      std::array<int64_t, 3> off = base;
      for (size_t j = 0; j < 3; ++j) off[j] += z * p.batch_stride[j];
      p.dispatches.push_back({off, uint32_t(std::min<int64_t>(kMaxGridZ, batch.shape[inner] - z)),
                              uint32_t(o * batch.shape[inner] + z)});
    }
    for (size_t d = inner; d-- > 0;) {
      if (++idx[d] < batch.shape[d]) break;
      idx[d] = 0;
    }
  }
  if (!p.gemv) {
    const uint32_t ld[2] = {p.a.ld, p.b.ld};
    for (size_t j = 0; j < 2; ++j) {
      bool aligned = ld[j] % 4 == 0 && p.batch_stride[j] % 4 == 0;
      for (const MatmulDispatch& d : p.dispatches) aligned = aligned && d.offset[j] % 4 == 0;
      if (aligned) p.vec |= 1u << j;
    }
  }
  return p;
}

}  // namespace tl::metal
