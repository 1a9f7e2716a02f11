#include "core/op_table.h"

namespace tl {
namespace {

constexpr bool has_f(const char* t) { return t[0] == 'F'; }
constexpr bool has_i(const char* t) { return t[0] == 'I' || (t[0] && t[1] == 'I'); }

constexpr OpInfo kOps[] = {
#define TL_UNARY(name, rule, types, expr) \
  {#name, 1, OpRule::rule, has_f(#types), has_i(#types), #expr},
#define TL_BINARY(name, rule, types, expr) \
  {#name, 2, OpRule::rule, has_f(#types), has_i(#types), #expr},
#define TL_TERNARY(name, rule, types, expr) \
  {#name, 3, OpRule::rule, has_f(#types), has_i(#types), #expr},
#include "core/elementwise_ops.def"
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == kNumOps);

}  // namespace

const OpInfo& op_info(OpCode op) { return kOps[int(op)]; }

DType compute_dtype(DType t) {
  if (t == DType::Float64) return DType::Float64;
  if (is_float(t)) return DType::Float32;
  return DType::Int64;
}

}  // namespace tl
