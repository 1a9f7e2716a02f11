#pragma once
// Printing fusion-IR instructions as MSL: the pieces the kernel generators share
// (msl_codegen.cpp's elementwise and reduction kernels, msl_matmul.cpp's matmul epilogues).
// Internal to src/metal.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/fusion_ir.h"
#include "core/op_table.h"

namespace tl::metal::msl {

inline std::string num(int64_t i) { return std::to_string(i); }
// (Not "v" + num(i): g++ 12 warns of a false -Wrestrict on it.)
inline std::string v(int i) { return std::string(1, 'v') += num(i); }

// How a dtype sits in a device buffer: bool as uchar and bfloat16 as ushort bits, so that no
// kernel depends on Metal's bool layout or on Metal 3.1's bfloat.
inline const char* storage(DType t) {
  switch (t) {
    case DType::Bool: return "uchar";
    case DType::Int8: return "int8_t";
    case DType::UInt8: return "uchar";
    case DType::Int32: return "int";
    case DType::Int64: return "long";
    case DType::Float16: return "half";
    case DType::BFloat16: return "ushort";
    case DType::Float32: return "float";
    case DType::Float64: return nullptr;
  }
  return nullptr;
}

// The compute representation: float (for f16, bf16, f32) or long (integers and bool).
inline const char* compute(DType repr) { return repr == DType::Int64 ? "long" : "float"; }

// A stored value (expression e of storage(t)) in representation repr (the CPU's to_compute).
inline std::string load_conv(const std::string& e, DType t, DType repr) {
  if (t == DType::BFloat16) return repr == DType::Int64 ? "long(tl_bf2f(" + e + "))" : "tl_bf2f(" + e + ")";
  return std::string(compute(repr)) + "(" + e + ")";
}

// Value x (of representation from) stored as dtype t (the CPU's from_compute: float to
// integer saturates, anything to bool is != 0, the halves round to nearest even).
inline std::string store_conv(const std::string& x, DType from, DType t) {
  const bool f = from != DType::Int64;
  switch (t) {
    case DType::Bool: return "uchar(" + x + " != 0)";
    case DType::Int8: return f ? "tl_f2i8(" + x + ")" : "int8_t(" + x + ")";
    case DType::UInt8: return f ? "tl_f2u8(" + x + ")" : "uchar(" + x + ")";
    case DType::Int32: return f ? "tl_f2i32(" + x + ")" : "int(" + x + ")";
    case DType::Int64: return f ? "tl_f2i64(" + x + ")" : x;
    case DType::Float16: return f ? "half(" + x + ")" : "half(float(" + x + "))";
    case DType::BFloat16: return "tl_f2bf(float(" + x + "))";
    default: return "float(" + x + ")";
  }
}

inline std::string identity(const ir::Instr& r) {
  const bool f = r.repr != DType::Int64;
  switch (r.rop) {
    case ReduceOp::Sum:
    case ReduceOp::Any: return f ? "0.0f" : "0L";
    case ReduceOp::Max: return f ? "-INFINITY" : "(-9223372036854775807L - 1L)";
    case ReduceOp::Min: return f ? "INFINITY" : "9223372036854775807L";
    default: return f ? "1.0f" : "1L";
  }
}

// tl_combine's OP (see the prelude).
inline std::string op_of(const ir::Instr& r) {
  switch (r.rop) {
    case ReduceOp::Sum: return "0";
    case ReduceOp::Prod: return "1";
    case ReduceOp::Max: return "2";
    case ReduceOp::Min: return "3";
    case ReduceOp::Any: return "4";
    default: return "5";
  }
}

// Prints instructions for one element. The j-th memory operand (the j-th Load/Store of the
// kernel) is at access(j, instr); a Reduce folds into its accumulator a<n>.
struct Printer {
  const ir::Kernel& k;
  std::vector<int> mem;  // instr -> memory operand index, or -1
  explicit Printer(const ir::Kernel& kernel) : k(kernel), mem(kernel.instrs.size(), -1) {
    for (size_t i = 0, j = 0; i < k.instrs.size(); ++i)
      if (k.instrs[i].op == ir::Op::Load || k.instrs[i].op == ir::Op::Store) mem[i] = int(j++);
  }
  int operands() const { return int(std::count_if(mem.begin(), mem.end(), [](int j) { return j >= 0; })); }

  using Access = std::function<std::string(int j, const ir::Instr&)>;
  std::string instr(int n, const Access& access, const std::string& ind, const std::string& store_guard = "") const {
    const ir::Instr& in = k.instrs[size_t(n)];
    const std::string C = compute(in.repr);
    const auto arg = [&](int a) { return k.instrs[size_t(in.args[a])]; };
    switch (in.op) {
      case ir::Op::Load:
        return ind + "const " + C + " " + v(n) + " = " + load_conv(access(mem[size_t(n)], in), in.dtype, in.repr) + ";\n";
      case ir::Op::Store:
        return ind + store_guard + access(mem[size_t(n)], in) + " = " +
               store_conv(v(in.args[0]), arg(0).repr, in.dtype) + ";\n";
      case ir::Op::Cast:
        return ind + "const " + C + " " + v(n) + " = " +
               load_conv(store_conv(v(in.args[0]), arg(0).repr, in.dtype), in.dtype, in.repr) + ";\n";
      case ir::Op::Reduce:
        return ind + "a" + num(n) + " = tl_combine<" + op_of(in) + ">(a" + num(n) + ", " + C + "(" +
               v(in.args[0]) + "));\n";
      case ir::Op::Alu: {
        std::string s = ind + C + " " + v(n) + ";\n" + ind + "{\n" + ind + "  const " + C + " a = " + C + "(" + v(in.args[0]) + ")";
        if (in.args[1] >= 0) s += ", b = " + C + "(" + v(in.args[1]) + ")";
        if (in.args[2] >= 0) s += ", c = " + C + "(" + v(in.args[2]) + ")";
        return s + ";\n" + ind + "  " + v(n) + " = " + C + "(" + op_info(in.alu).expr + ");\n" + ind + "}\n";
      }
      case ir::Op::Const:
        return ind + "const " + C + " " + v(n) + " = p." + (in.repr == DType::Int64 ? "ci[" : "cf[") + num(in.slot) + "];\n";
    }
    return "";
  }
  std::string instrs(const std::vector<int>& list, const Access& access, const std::string& ind,
                     const std::string& store_guard = "") const {
    std::string s;
    for (int n : list) s += instr(n, access, ind, store_guard);
    return s;
  }
};

inline std::vector<int> non_const(const ir::Kernel& k) {
  std::vector<int> list;
  for (size_t n = 0; n < k.instrs.size(); ++n)
    if (k.instrs[n].op != ir::Op::Const) list.push_back(int(n));
  return list;
}

// Whether each slot is written by the kernel.
inline std::vector<bool> written_slots(const ir::Kernel& k) {
  std::vector<bool> written(k.slots.size(), false);
  for (const ir::Instr& in : k.instrs)
    if (in.op == ir::Op::Store) written[size_t(in.slot)] = true;
  return written;
}

}  // namespace tl::metal::msl
