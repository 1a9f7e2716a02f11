#pragma once
// The fusion IR: one kernel as a small SSA list over an iteration domain. Every value is
// indexed by the domain's multi-index; loads and stores address memory through an affine map
// (element offset + per-dim strides, 0 = broadcast). A kernel with reduced axes runs in
// passes: a reduction consumes a value that varies over the whole domain and yields a "row"
// value (constant along the reduced axes) usable from the next pass on; this makes softmax
// or layernorm one kernel. Values are held in a compute representation (float32, float64 or
// int64) and always hold a value exactly representable in their dtype: Cast rounds them.
// Backends translate this list; none of them decides what fuses.
#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.h"

namespace tl::ir {

enum class Op : uint8_t { Load, Const, Alu, Cast, Reduce, Store };

struct Instr {
  Op op;
  DType dtype;  // the value's dtype (Load/Store: the memory's)
  DType repr;   // its compute representation (Store: the stored value's)
  OpCode alu{};
  ReduceOp rop{};
  int args[3] = {-1, -1, -1};
  int slot = -1;     // Load/Store: buffer binding; Const: parameter index
  Strides strides{};  // Load/Store: per domain dim
  int64_t offset = 0;
  int level = 0;     // the pass that can compute it (a reduction's result: one past its input)
  bool row = false;  // constant along the reduced axes
};

// The order a kernel's instructions run in, pass by pass (see Kernel::schedule()).
struct Schedule {
  // Per pass: the full values its reductions and full stores need (recomputed in every pass
  // that needs them), then those reductions and stores, in instruction order.
  std::vector<std::vector<int>> passes;
  // Per level 0..passes: the row values (and row stores) computable once the reductions of
  // the passes before are done; level 0 before the first pass.
  std::vector<std::vector<int>> rows;
};

struct Kernel {
  Shape domain;
  std::vector<bool> reduced;   // per domain dim
  std::vector<Instr> instrs;
  std::vector<Scalar> params;  // Const values, in the Const's dtype
  std::vector<DType> slots;    // dtype of each buffer binding

  bool has_reduction() const;
  int passes() const;  // 1 + the highest level a Reduce or a full Store needs
  Schedule schedule() const;
  // A kernel name for the profiler: kind, ops and shape (E_mul_add_tanh_16777216_float32).
  std::string name() const;
  std::string op_names() const;  // the ops part: "_mul_add_tanh" (at most four, then "_+N")
  std::string str() const;  // the whole list, one instruction per line
  // Structure, dtypes and stride classes; not data, sizes or constants.
  uint64_t hash() const;
};

}  // namespace tl::ir
