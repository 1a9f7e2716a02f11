#pragma once
// How a matmul runs on metal/matmul.metal: which instantiation (dtype, and whether each
// operand is read transposed), leading dimensions, the threadgroup grid, and the batch: its
// innermost merged dim is the grid's z (with a stride per operand), the outer ones are
// separate dispatches at element offsets. Operands the kernel cannot address (neither rows
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

// The kernel's tile: 32 x 32 outputs per threadgroup of 128 threads.
constexpr uint32_t kMatmulTile = 32;
constexpr uint32_t kMatmulThreads = 128;
constexpr uint32_t kMaxGridZ = 65535;

struct MatmulDispatch {
  std::array<int64_t, 3> offset;  // elements into a, b, c
  uint32_t batches;               // grid z
};

struct MatmulPlan {
  std::string kernel;  // matmul_<f32|f16|bf16>_<n|t><n|t>
  uint32_t M = 0, N = 0, K = 0;
  MatrixLayout a, b;
  uint32_t ldc = 0;
  std::array<int64_t, 3> batch_stride{};  // along grid z, per operand
  std::array<uint32_t, 2> groups{};       // grid x (over N), y (over M)
  std::vector<MatmulDispatch> dispatches;
};

// The operands of Backend::matmul: shapes (..., M, K), (..., K, N), (..., M, N) with batch
// dims already broadcast; element strides and offsets. Returns nullopt (with `copy` naming
// the operands to make contiguous: 0 a, 1 b, 2 c) when some operand cannot be used in place.
// TypeError for a dtype without a kernel, ValueError past the kernel's 32-bit sizes.
struct MatmulOperand {
  const Strides* strides;
  int64_t offset;
};
std::optional<MatmulPlan> plan_matmul(const Shape& out_shape, int64_t K, DType dtype,
                                      MatmulOperand a, MatmulOperand b, MatmulOperand c,
                                      std::vector<int>& copy);

}  // namespace tl::metal
