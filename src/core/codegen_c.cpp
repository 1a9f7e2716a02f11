#include "core/codegen_c.h"

#include <algorithm>

namespace tl::codegen {
const char* ctype(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::Int8: return "int8_t";
    case DType::UInt8: return "uint8_t";
    case DType::Int32: return "int32_t";
    case DType::Int64: return "int64_t";
    case DType::Float32: return "float";
    case DType::Float64: return "double";
    case DType::Float16: return "tl_f16";
    case DType::BFloat16: return "tl_bf16";
  }
  return nullptr;
}

namespace {

bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

std::string v(int i) { return "v" + std::to_string(i); }
std::string num(int64_t i) { return std::to_string(i); }

constexpr int kLanes = 16;  // independent partial reductions: the loop vectorizes

}  // namespace

std::string identity(ReduceOp op, DType repr) {
  const bool f = repr != DType::Int64;
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Any: return "0";
    case ReduceOp::Max: return f ? "-INFINITY" : "INT64_MIN";
    case ReduceOp::Min: return f ? "INFINITY" : "INT64_MAX";
    default: return "1";
  }
}

std::string fold(ReduceOp op, const std::string& acc, const std::string& x) {
  switch (op) {
    case ReduceOp::Sum: return acc + " + " + x;
    case ReduceOp::Prod: return acc + " * " + x;
    case ReduceOp::Max: return "tl_max(" + acc + ", " + x + ")";
    case ReduceOp::Min: return "tl_min(" + acc + ", " + x + ")";
    default: {  // any / all: 0 or 1
      const std::string both = acc + (op == ReduceOp::Any ? " != 0 || " : " != 0 && ") + x + " != 0";
      return "(" + both + " ? 1 : 0)";
    }
  }
}

bool printable(const ir::Kernel& k, const std::vector<int>& instrs, bool halves) {
  auto ok = [&](DType t) { return ctype(t) && (halves || !is_half(t)); };
  for (int n : instrs) {
    const ir::Instr& i = k.instrs[size_t(n)];
    if (!ok(i.dtype) || !ok(i.repr)) return false;
    if (i.op == ir::Op::Reduce && (i.rop == ReduceOp::ArgMax || i.rop == ReduceOp::ArgMin))
      return false;
    for (int a : i.args)
      if (a >= 0 && !ok(k.instrs[size_t(a)].repr)) return false;
  }
  return true;
}

// Relative error under 2e-6 for |x| < 3 and 1e-5 in the far negative tail, where the textbook
// x (1 + erf(x / sqrt 2)) / 2 loses every digit to the cancellation in 1 + erf (the CPU avoids
// it with erfc); +-inf and NaN give inf, NaN, NaN as that formula does. (CUDA's flushing 2^x
// makes gelu -0 below about -13.1, where the CPU still gives subnormals.) 17 instructions on
// CUDA, where erf and the formula around it take about 27: gelu(x @ w + b)'s epilogue spends
// its time here. R: a minimax fit (Lawson) to log2(erfc(t) e^(t^2) / (2k)), t = |x| / sqrt 2.
const char* gelu_float_source() {
  return R"(TL_GELU_QUAL float tl_gelu(float a) {
  const float k = TL_RCP(fma(fabs(a), 0.33234018f, 1.0f));
  float r = -0.28473929f;
  r = fma(r, k, 1.2589748f);
  r = fma(r, k, -1.9677483f);
  r = fma(r, k, 1.0962780f);
  r = fma(r, k, -0.27833128f);
  r = fma(r, k, 0.65881252f);
  r = fma(r, k, 1.4312010f);
  r = fma(r, k, -2.9144478f);
  const float tail = k * TL_EXP2(fma(a, a * -0.72134752f, r));  // Phi(-|a|)
  return a * (a < 0.0f ? tail : 1.0f - tail);
}
)";
}

const char* cast_prelude() {
  return R"(
// from_compute of the CPU backend: float -> integer saturates (NaN -> 0), anything -> bool is
// != 0, everything else converts.
template <class T> struct tl_int_range { static constexpr bool saturates = false; };
template <> struct tl_int_range<int8_t> { static constexpr bool saturates = true; static constexpr int8_t lo = -128, hi = 127; };
template <> struct tl_int_range<uint8_t> { static constexpr bool saturates = true; static constexpr uint8_t lo = 0, hi = 255; };
template <> struct tl_int_range<int32_t> { static constexpr bool saturates = true; static constexpr int32_t lo = -2147483647 - 1, hi = 2147483647; };
template <> struct tl_int_range<int64_t> { static constexpr bool saturates = true; static constexpr int64_t lo = -9223372036854775807LL - 1, hi = 9223372036854775807LL; };
template <class T> struct tl_is_float { static constexpr bool value = false; };
template <> struct tl_is_float<float> { static constexpr bool value = true; };
template <> struct tl_is_float<double> { static constexpr bool value = true; };
template <class S, class C, bool = tl_int_range<S>::saturates && tl_is_float<C>::value>
struct tl_conv { static TL_HD inline S run(C v) { return S(v); } };
template <class S, class C> struct tl_conv<S, C, true> {
  static TL_HD inline S run(C v) {
    if (!(v == v)) return S(0);
    if (v >= C(tl_int_range<S>::hi)) return tl_int_range<S>::hi;
    if (v <= C(tl_int_range<S>::lo)) return tl_int_range<S>::lo;
    return S(v);
  }
};
template <class C> struct tl_conv<bool, C, false> { static TL_HD inline bool run(C v) { return v != C(0); } };
template <class S, class C> TL_HD inline S tl_from(C v) { return tl_conv<S, C>::run(v); }
// A cast computed on: a (of compute type A) stored as S, read back as compute type C. (A
// backend may specialize it: CUDA rounds float to bfloat16 and back in one instruction.)
template <class S, class C, class A> TL_HD inline C tl_cast(A a) { return C(tl_from<S, A>(a)); }
)";
}

std::string block_function(const ir::Kernel& k, const std::vector<int>& instrs, int inner,
                           const std::string& name, const std::string& qualifiers,
                           bool export_values, const std::string& float_acc) {
  std::string head = qualifiers + " void " + name +
                     "(char* const* base, const int64_t* off, const int64_t* inc, int64_t n, "
                     "const double* cf, const int64_t* ci, double* rf, int64_t* ri, " +
                     float_acc + "* af, int64_t* ai) {\n";
  std::vector<int> mem_index(k.instrs.size(), -1), acc_index(k.instrs.size(), -1);
  for (size_t n = 0, m = 0, a = 0; n < k.instrs.size(); ++n) {
    if (k.instrs[n].op == ir::Op::Load || k.instrs[n].op == ir::Op::Store) mem_index[n] = int(m++);
    if (k.instrs[n].op == ir::Op::Reduce) acc_index[n] = int(a++);
  }
  std::vector<bool> here(k.instrs.size(), false);
  for (int n : instrs) here[size_t(n)] = true;

  // Values from outside the loop: constants and row values.
  std::vector<bool> declared(k.instrs.size(), false);
  for (int n : instrs)
    for (int a : k.instrs[size_t(n)].args) {
      if (a < 0 || here[size_t(a)] || declared[size_t(a)]) continue;
      declared[size_t(a)] = true;
      const ir::Instr& in = k.instrs[size_t(a)];
      const bool i64 = in.repr == DType::Int64;
      const std::string C = ctype(in.repr);
      head += "  const " + C + " " + v(a) + " = " + C + "(" +
              (in.op == ir::Op::Const ? (i64 ? "ci[" : "cf[") + num(in.slot)
                                      : (i64 ? "ri[" : "rf[") + num(a)) + "]);\n";
    }

  std::string body, lanes_init, lanes_step, tail_step, lanes_fold;
  for (int n : instrs) {
    const ir::Instr& in = k.instrs[size_t(n)];
    const std::string C = ctype(in.repr);
    switch (in.op) {
      case ir::Op::Load:
      case ir::Op::Store: {
        const int j = mem_index[size_t(n)];
        const int64_t s = inner < 0 ? 0 : in.strides[size_t(inner)];
        const std::string p = "p" + num(j), T = ctype(in.dtype);
        const std::string cst = in.op == ir::Op::Load ? "const " : "";
        head += "  " + cst + T + "* TL_RESTRICT " + p + " = (" + cst + T + "*)base[" + num(in.slot) +
                "] + off[" + num(j) + "];\n";
        if (s != 0 && s != 1) head += "  const int64_t s" + num(j) + " = inc[" + num(j) + "];\n";
        const std::string at = s == 0 ? "[0]" : s == 1 ? "[i]" : "[i * s" + num(j) + "]";
        if (in.op == ir::Op::Load) {
          body += "    const " + C + " " + v(n) + " = " + C + "(" + p + at + ");\n";
        } else {
          // A store of a cast to the stored dtype converts the cast's input: the same value
          // (rounding twice to one dtype rounds once), one conversion instead of three.
          int a = in.args[0];
          const ir::Instr& c = k.instrs[size_t(a)];
          if (c.op == ir::Op::Cast && c.dtype == in.dtype && here[size_t(a)]) a = c.args[0];
          const std::string src = ctype(k.instrs[size_t(a)].repr);
          body += "    " + p + at + " = tl_from<" + T + ", " + src + ">(" + v(a) + ");\n";
        }
        break;
      }
      case ir::Op::Alu:
        body += "    " + C + " " + v(n) + ";\n    { const " + C + " a = " + v(in.args[0]);
        if (in.args[1] >= 0) body += ", b = " + v(in.args[1]);
        if (in.args[2] >= 0) body += ", c = " + v(in.args[2]);
        body += "; " + v(n) + " = " + C + "(" + op_info(in.alu).expr + "); }\n";
        break;
      case ir::Op::Cast: {
        const std::string A = ctype(k.instrs[size_t(in.args[0])].repr), T = ctype(in.dtype);
        body += "    const " + C + " " + v(n) + " = tl_cast<" + T + ", " + C + ", " + A + ">(" + v(in.args[0]) + ");\n";
        break;
      }
      case ir::Op::Reduce: {
        const std::string L = "l" + num(n), A = in.repr == DType::Int64 ? "ai" : "af";
        const std::string acc = A + "[" + num(acc_index[size_t(n)]) + "]";
        const std::string W = in.repr == DType::Int64 ? "int64_t" : float_acc;
        lanes_init += "  " + C + " " + L + "[" + num(kLanes) + "];\n  for (int l = 0; l < " +
                      num(kLanes) + "; ++l) " + L + "[l] = " + identity(in.rop, in.repr) + ";\n";
        lanes_step += "    " + L + "[i - i0] = " + fold(in.rop, L + "[i - i0]", v(in.args[0])) + ";\n";
        tail_step += "    " + acc + " = " + fold(in.rop, acc, W + "(" + v(in.args[0]) + ")") + ";\n";
        lanes_fold += "  for (int l = 0; l < " + num(kLanes) + "; ++l) " + acc + " = " +
                      fold(in.rop, acc, W + "(" + L + "[l])") + ";\n";
        break;
      }
      case ir::Op::Const:
        break;
    }
    if (export_values && in.op != ir::Op::Store && in.op != ir::Op::Reduce && in.op != ir::Op::Const)
      body += std::string("    ") + (in.repr == DType::Int64 ? "ri[" : "rf[") + num(n) + "] = " +
              (in.repr == DType::Int64 ? "int64_t(" : "double(") + v(n) + ");\n";
  }
  if (lanes_init.empty()) return head + "  for (int64_t i = 0; i < n; ++i) {\n" + body + "  }\n}\n";
  // Reductions: kLanes partials along the block (vectorizable), then a scalar tail. (A block
  // shorter than kLanes, as a GPU thread's few elements, skips the lanes altogether.)
  return head + "  int64_t i0 = 0;\n  if (n >= " + num(kLanes) + ") {\n" + lanes_init + "  for (; i0 + " +
         num(kLanes) + " <= n; i0 += " + num(kLanes) + ")\n   for (int64_t i = i0; i < i0 + " + num(kLanes) +
         "; ++i) {\n" + body + lanes_step + "  }\n" + lanes_fold + "  }\n  for (int64_t i = i0; i < n; ++i) {\n" +
         body + tail_step + "  }\n}\n";
}

}  // namespace tl::codegen
