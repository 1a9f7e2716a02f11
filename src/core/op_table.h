#pragma once
// Metadata of the elementwise ops, generated from elementwise_ops.def.
#include <cstdint>

#include "core/dtype.h"

namespace tl {

enum class OpCode : uint8_t {
#define TL_UNARY(name, rule, types, expr) name,
#define TL_BINARY(name, rule, types, expr) name,
#define TL_TERNARY(name, rule, types, expr) name,
#include "core/elementwise_ops.def"
  count_
};
constexpr int kNumOps = int(OpCode::count_);

// How an op's result dtype and compute type follow from its operands.
enum class OpRule : uint8_t {
  Cast,       // identity: output dtype chosen by the caller
  Keep,       // unary, result has the operand's dtype
  Float,      // unary, integer operands give float32
  Predicate,  // unary, bool result
  Arith,      // binary, promoted dtype
  Divide,     // binary true division, integer operands give float32
  Compare,    // binary, promoted operands, bool result
  Logical,    // operands taken as truth values, bool result
  Bitwise,    // integer or bool operands only
  Where,      // (cond, x, y): promoted x and y
};

struct OpInfo {
  const char* name;
  int arity;
  OpRule rule;
  bool float_ok;  // defined for float compute types
  bool int_ok;    // defined for int64 compute
  const char* expr;
};

const OpInfo& op_info(OpCode op);

// The type an op computes in for operands promoted to `t`: float32 for every float narrower
// than 64 bits (f16/bf16 are computed in f32 and rounded once), float64, or int64.
DType compute_dtype(DType t);

}  // namespace tl
