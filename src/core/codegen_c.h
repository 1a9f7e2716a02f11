#pragma once
// Prints part of a fused kernel as a C++ loop over a block of elements: the body every
// source-generating backend builds on (the CPU compiles it with the system compiler). Each
// IR value becomes a local variable and each op its op-table expression, so a whole chain
// runs in registers.
#include <string>
#include <vector>

#include "core/fusion_ir.h"

namespace tl::codegen {

// The C type a dtype is stored as in printed kernels (tl_f16 / tl_bf16 for the halves).
const char* ctype(DType t);

// Whether these instructions can be printed: every dtype a plain C type, or also float16 /
// bfloat16 with `halves` (the backend's prelude then defines tl_f16 and tl_bf16: storage
// types converting to and from float), and no arg reductions.
bool printable(const ir::Kernel& k, const std::vector<int>& instrs, bool halves = false);

// A reduction's identity and its fold of x into acc, as C expressions over a value of repr.
std::string identity(ReduceOp op, DType repr);
std::string fold(ReduceOp op, const std::string& acc, const std::string& x);

// The function
//   extern "C" void <name>(char* const* base, const int64_t* off, const int64_t* inc,
//       int64_t n, const double* cf, const int64_t* ci, double* rf, int64_t* ri,
//       double* af, int64_t* ai)
// runs `instrs` (in order; a pass of the kernel) over n elements along the domain dim
// `inner`: memory operand j (the j-th Load/Store of the kernel) is at base[slot] + off[j] +
// i * stride, the stride being 0, 1 or inc[j] as the IR's stride along `inner` says.
// Values read but not computed here come in as arguments: constant p as cf[p] / ci[p] (float
// / int64 representations), any other value v (a row value) as rf[v] / ri[v]. A reduction
// r folds its n inputs into af[a] / ai[a], a being r's index among the kernel's reductions.
// `qualifiers` go before the return type (`extern "C"` on the CPU, `static __device__` on a
// GPU); the source before it must define TL_RESTRICT (the compiler's restrict keyword).
// With `export_values`, every value computed is also written to rf[v] / ri[v] (a backend
// computing row values once and handing them to later passes). `float_acc` is the C type of
// af (a GPU thread's few elements may accumulate in float: see float_accumulation).
std::string block_function(const ir::Kernel& k, const std::vector<int>& instrs, int inner,
                           const std::string& name, const std::string& qualifiers,
                           bool export_values = false, const std::string& float_acc = "double");

// Definitions the block function needs after scalar_math.h: storage casts of the C types
// (the CPU backend's from_compute rules), written without the standard library so that
// GPU compilers take them too. Needs int8_t ... int64_t and TL_HD defined.
const char* cast_prelude();

// gelu over float, as a C function for GPU preludes: x Phi(x), Phi(-|x|) = k 2^(R(k) - x^2
// log2(e) / 2) with k = 1 / (1 + 0.47 |x| / sqrt 2) and R a degree-7 polynomial. The prelude
// defines TL_GELU_QUAL (what goes before the return type), TL_RCP and TL_EXP2 (its reciprocal
// and 2^x, approximations to a few ulp being enough) first.
const char* gelu_float_source();

}  // namespace tl::codegen
