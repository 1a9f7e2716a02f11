#pragma once
// How a matmul runs on metal/matmul.metal (tiles of a size chosen by shape) or metal/gemv.metal
// (GEMV, for M or N <= 16): which kernel, which instantiation (dtype, and whether each operand is read
// transposed), leading dimensions, the threadgroup grid, and the batch: its innermost merged
// dim is the grid's z (with a stride per operand), the outer ones are separate dispatches at
// element offsets. Operands the kernel cannot address (neither rows
// nor columns contiguous, negative or huge strides) are reported, for the host to copy them
// to contiguous memory and plan again. Portable: nothing here touches Metal.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"

namespace tl::metal {

// A rows x cols matrix with element strides (rs, cs), as the kernel reads it.
struct MatrixLayout {
  bool transposed = false;  // stored column-major: element (r, c) at c * ld + r
  uint32_t ld = 0;
};
// nullopt when the kernel cannot read it in place.
std::optional<MatrixLayout> read_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs);
// Whether the kernel can write C there: rows contiguous, rows apart (no overlap).
bool writable_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs);

// Every kernel runs threadgroups of 128 threads (matmul_common.h's kMatmulThreads).
constexpr uint32_t kMatmulThreads = 128;
constexpr uint32_t kMaxGridZ = 65535;
// GEMV (gemv.metal's kGemvRows): at most this many rows of C (or columns, with the operands
// swapped).
constexpr uint32_t kGemvRows = 16;

// A tiled kernel's block of C per threadgroup and its K step (matmul.metal's instantiations).
struct MatmulTile {
  uint32_t m, n, k;
};
constexpr MatmulTile kMatmulTiles[] = {{32, 32, 16}, {64, 64, 16}, {64, 32, 32}};

// The tile for an M x N product (batch matrices of it): the largest block that still gives
// the GPU enough threadgroups to fill it (`fill`, about a few per GPU core), else 32 x 32.
MatmulTile select_tile(int64_t M, int64_t N, int64_t batch, int64_t fill = 64);
// The tiles worth measuring for it (core/autotune.h's candidates): select_tile's first, then
// the others that are at least half full at the product's edges.
std::vector<MatmulTile> tile_candidates(int64_t M, int64_t N, int64_t batch, int64_t fill = 64);
std::string tile_name(const MatmulTile& t);  // "64x64x16", as in the kernel names
// What decides which tile wins, for the autotune cache: the GPU, the dtype and layouts (the
// plan's kernel without its tile), M, N, K and the batch.
std::string tile_tune_key(const std::string& device, const std::string& kernel, int64_t M, int64_t N,
                          int64_t K, int64_t batch);

struct MatmulDispatch {
  std::array<int64_t, 3> offset;  // elements into buffers 0, 1, 2 (a, b, c; b, a, c swapped)
  uint32_t batches;               // grid z
  uint32_t z0;                    // flat batch index of this dispatch's z = 0
};

struct MatmulPlan {
  // matmul_<f32|f16|bf16>_<n|t><n|t>_<m>x<n>x<k>, or gemv_<f32|f16|bf16>_<n|t><n|t>
  std::string kernel;
  bool gemv = false;
  // The file whose function `kernel` is: metal/<library()>.metal, "gemv" or "matmul".
  const char* library() const { return gemv ? "gemv" : "matmul"; }
  // GEMV with N <= 16: the kernel computes C^T = op(B)^T op(A)^T, so buffer 0 is b and
  // buffer 1 is a, M and N below are exchanged and C is written through ldc_col.
  bool swap = false;
  uint32_t M = 0, N = 0, K = 0;  // as the kernel sees them
  MatrixLayout a, b;             // buffers 0 and 1
  uint32_t ldc = 0, ldc_col = 1;
  std::array<int64_t, 3> batch_stride{};  // along grid z, per buffer
  std::array<uint32_t, 2> groups{};       // grid x (over N), y (over M)
  std::vector<MatmulDispatch> dispatches;
  // matmul_common.h's MatmulParams::vec_flags (tiled kernels): bit i when buffer i's stored rows all
  // start on a 4-element boundary (ld, the batch stride and every dispatch's offset multiples
  // of 4; MTLBuffer contents are aligned), so its staging reads 4-vectors.
  uint32_t vec = 0;
};

// The operands of Backend::matmul: shapes (..., M, K), (..., K, N), (..., M, N) with batch
// dims already broadcast; element strides and offsets. Returns nullopt (with `copy` naming
// the operands to make contiguous: 0 a, 1 b, 2 c) when some operand cannot be used in place.
// TypeError for a dtype without a kernel, ValueError past the kernel's 32-bit sizes. `fill`:
// select_tile's; `tile`: this tile instead of select_tile's (an autotuned choice; tiled
// products only, GEMV stays GEMV).
struct MatmulOperand {
  const Strides* strides;
  int64_t offset;
};
std::optional<MatmulPlan> plan_matmul(const Shape& out_shape, int64_t K, DType dtype,
                                      MatmulOperand a, MatmulOperand b, MatmulOperand c,
                                      std::vector<int>& copy, int64_t fill = 64,
                                      const MatmulTile* tile = nullptr);

}  // namespace tl::metal
