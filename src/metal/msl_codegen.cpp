#include "metal/msl_codegen.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "core/op_table.h"

namespace tl::metal {
namespace {

std::string num(int64_t i) { return std::to_string(i); }
// (Not "v" + num(i): g++ 12 warns of a false -Wrestrict on it.)
std::string v(int i) { return std::string(1, 'v') += num(i); }

// How a dtype sits in a device buffer: bool as uchar and bfloat16 as ushort bits, so that no
// kernel depends on Metal's bool layout or on Metal 3.1's bfloat.
const char* storage(DType t) {
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
const char* compute(DType repr) { return repr == DType::Int64 ? "long" : "float"; }

// A stored value (expression e of storage(t)) in representation repr (the CPU's to_compute).
std::string load_conv(const std::string& e, DType t, DType repr) {
  if (t == DType::BFloat16) return repr == DType::Int64 ? "long(tl_bf2f(" + e + "))" : "tl_bf2f(" + e + ")";
  return std::string(compute(repr)) + "(" + e + ")";
}

// Value x (of representation from) stored as dtype t (the CPU's from_compute: float to
// integer saturates, anything to bool is != 0, the halves round to nearest even).
std::string store_conv(const std::string& x, DType from, DType t) {
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

std::string identity(const ir::Instr& r) {
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
std::string op_of(const ir::Instr& r) {
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

// Adds to offsets o<j> (of index type I) the strides of linear index `lin` unravelled over
// `rank` dims of p.<shape> (innermost last), operand j's strides in p.<st>[j].
std::string unravel(const std::string& o, const std::string& lin, const std::string& shape, const std::string& st,
                    int rank, int operands, const std::string& ind) {
  std::string s = ind + "{\n" + ind + "  I t = " + lin + ";\n";
  for (int d = rank - 1; d >= 0; --d) {
    const std::string i = d == 0 ? "t" : "i" + num(d);
    if (d > 0) s += ind + "  const I " + i + " = t % I(p." + shape + "[" + num(d) + "]);\n";
    for (int j = 0; j < operands; ++j)
      s += ind + "  " + o + num(j) + " += " + i + " * I(p." + st + "[" + num(j) + "][" + num(d) + "]);\n";
    if (d > 0) s += ind + "  t /= I(p." + shape + "[" + num(d) + "]);\n";
  }
  return s + ind + "}\n";
}

std::string params_struct(const ir::Kernel& k, const Cut& c, const std::string& entry, int operands) {
  const std::string M = num(std::max(1, operands)), P = num(std::max<size_t>(1, k.params.size()));
  std::string s = "struct " + entry + "_params {\n  long total, inner;\n  long off[" + M + "];\n";
  s += "  long oshape[" + num(c.rank_outer) + "];\n  long ost[" + M + "][" + num(c.rank_outer) + "];\n";
  if (c.rank_inner > 0)
    s += "  long ishape[" + num(c.rank_inner) + "];\n  long ist[" + M + "][" + num(c.rank_inner) + "];\n";
  return s + "  long ci[" + P + "];\n  float cf[" + P + "];\n};\n";
}

// The kernel's parameters (slot n at buffer(n), the params after them), then `typedef I`.
std::string signature(const ir::Kernel& k, const Cut& c, const std::string& entry, const std::string& builtins) {
  std::vector<bool> written(k.slots.size(), false);
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op == ir::Op::Store) written[size_t(k.instrs[i].slot)] = true;
  std::string s = "kernel void " + entry + "(";
  for (size_t b = 0; b < k.slots.size(); ++b)
    s += std::string("device ") + (written[b] ? "" : "const ") + storage(k.slots[b]) + "* b" + num(int64_t(b)) +
         " [[buffer(" + num(int64_t(b)) + ")]],\n    ";
  // I: the index type of every offset and count (32-bit when the launch says they all fit).
  return s + "constant " + entry + "_params& p [[buffer(" + num(int64_t(k.slots.size())) + ")]],\n    " + builtins +
         ") {\n  typedef " + (c.wide ? "long" : "int") + " I;\n";
}

std::string consts(const ir::Kernel& k, const Printer& pr) {
  std::string s;
  for (size_t n = 0; n < k.instrs.size(); ++n)
    if (k.instrs[n].op == ir::Op::Const) s += pr.instr(int(n), nullptr, "  ");
  return s;
}

std::vector<int> non_const(const ir::Kernel& k) {
  std::vector<int> list;
  for (size_t n = 0; n < k.instrs.size(); ++n)
    if (k.instrs[n].op != ir::Op::Const) list.push_back(int(n));
  return list;
}

std::string elementwise(const ir::Kernel& k, const Cut& c, const std::string& entry) {
  const Printer pr(k);
  const int M = pr.operands();
  std::string s = signature(k, c, entry, "uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]");
  s += "  const I total = I(p.total);\n" + consts(k, pr);
  const std::vector<int> body = non_const(k);
  std::string start = "0";
  if (c.vector > 1) {
    // Each thread first takes whole 4-vectors: contiguous operands move as one vec<T, 4>
    // access (the launch checked their alignment), broadcast ones are read in place.
    const std::string V = num(c.vector);
    std::string in, out;
    for (int n : body) {
      const ir::Instr& i = k.instrs[size_t(n)];
      const int j = pr.mem[size_t(n)];
      if (j < 0 || !c.unit[size_t(j)]) continue;
      const std::string T = "vec<" + std::string(storage(i.dtype)) + ", " + V + ">", J = num(j);
      const std::string at = "*((device " + std::string(i.op == ir::Op::Load ? "const " : "") + T + "*)(b" +
                             num(i.slot) + " + p.off[" + J + "]) + q)";
      if (i.op == ir::Op::Load) in += "    const " + T + " r" + J + " = " + at + ";\n";
      else in += "    " + T + " r" + J + ";\n", out += "    " + at + " = r" + J + ";\n";
    }
    s += "  const I vectors = total / " + V + ";\n  for (I q = I(gid); q < vectors; q += I(nthreads)) {\n" + in +
         "    for (int e = 0; e < " + V + "; ++e) {\n" +
         pr.instrs(body, [&](int j, const ir::Instr& i) {
           return c.unit[size_t(j)] ? "r" + num(j) + "[e]" : "b" + num(i.slot) + "[p.off[" + num(j) + "]]";
         }, "      ") + "    }\n" + out + "  }\n";
    start = "vectors * " + V;
  }
  s += "  for (I lin = " + start + " + I(gid); lin < total; lin += I(nthreads)) {\n";
  for (int j = 0; j < M; ++j) s += "    I o" + num(j) + " = I(p.off[" + num(j) + "]);\n";
  s += unravel("o", "lin", "oshape", "ost", c.rank_outer, M, "    ");
  s += pr.instrs(body, [](int j, const ir::Instr& i) { return "b" + num(i.slot) + "[o" + num(j) + "]"; }, "    ");
  return s + "  }\n}\n";
}

// Reductions: threads of an output fold their elements into accumulators a<n>, which meet
// through SIMD-group functions (rows) or threadgroup memory (columns); every thread of the
// output gets each total v<n>, so row values and later passes need no broadcast.
std::string reduction(const ir::Kernel& k, const Cut& c, const std::string& entry) {
  const Printer pr(k);
  const int M = pr.operands();
  const ir::Schedule sched = k.schedule();
  const bool rows = c.layout == Layout::Rows;
  const std::string X = num(rows ? 1 : kColumnsX);
  // Threadgroup memory: per pass, a slot per float / long reduction (reused pass to pass).
  int nf = 0, ni = 0;
  for (const std::vector<int>& pass : sched.passes) {
    int f = 0, i = 0;
    for (int n : pass)
      if (k.instrs[size_t(n)].op == ir::Op::Reduce) (k.instrs[size_t(n)].repr == DType::Int64 ? i : f)++;
    nf = std::max(nf, f), ni = std::max(ni, i);
  }
  const std::string SH = num(rows ? 32 : kColumnsX * kColumnsY);
  std::string s = signature(k, c, entry,
      "uint tid [[thread_index_in_threadgroup]], uint nthr [[threads_per_threadgroup]],\n"
      "    uint tg [[threadgroup_position_in_grid]], uint ntg [[threadgroups_per_grid]],\n"
      "    uint lane [[thread_index_in_simdgroup]], uint sg [[simdgroup_index_in_threadgroup]],\n"
      "    uint nsg [[simdgroups_per_threadgroup]], uint width [[threads_per_simdgroup]]");
  if (nf) s += "  threadgroup float tl_shf[" + num(nf) + "][" + SH + "];\n";
  if (ni) s += "  threadgroup long tl_shi[" + num(ni) + "][" + SH + "];\n";
  s += "  const I outputs = I(p.total), inner = I(p.inner);\n";
  s += rows ? "  const I tx = 0, ty = I(tid), ny = I(nthr);\n"
            : "  const I tx = I(tid % " + X + "u), ty = I(tid / " + X + "u), ny = I(nthr / " + X + "u);\n";
  s += consts(k, pr) + "  for (I g = I(tg); g < (outputs + " + X + " - 1) / " + X + "; g += I(ntg)) {\n" +
       "    const I o = g * " + X + " + tx;\n    const bool live = o < outputs;\n";
  for (int j = 0; j < M; ++j) s += "    I k" + num(j) + " = I(p.off[" + num(j) + "]);\n";
  s += unravel("k", "live ? o : 0", "oshape", "ost", c.rank_outer, M, "    ");  // (past the end: output 0's)
  const Printer::Access at_row = [](int j, const ir::Instr& i) { return "b" + num(i.slot) + "[k" + num(j) + "]"; };
  const Printer::Access at_elem = [](int j, const ir::Instr& i) { return "b" + num(i.slot) + "[o" + num(j) + "]"; };
  const std::string row_guard = "if (live && ty == 0) ";
  s += pr.instrs(sched.rows[0], at_row, "    ", row_guard);
  for (size_t p = 0; p < sched.passes.size(); ++p) {
    std::vector<int> reds;
    for (int n : sched.passes[p])
      if (k.instrs[size_t(n)].op == ir::Op::Reduce) reds.push_back(n);
    for (int r : reds) s += "    " + std::string(compute(k.instrs[size_t(r)].repr)) + " " + v(r) + ";\n";
    s += "    {\n";
    for (int r : reds) s += "      " + std::string(compute(k.instrs[size_t(r)].repr)) + " a" + num(r) + " = " + identity(k.instrs[size_t(r)]) + ";\n";
    s += "      for (I r = ty; live && r < inner; r += ny) {\n";
    for (int j = 0; j < M; ++j) s += "        I o" + num(j) + " = k" + num(j) + ";\n";
    s += unravel("o", "r", "ishape", "ist", c.rank_inner, M, "        ") + pr.instrs(sched.passes[p], at_elem, "        ") + "      }\n";
    std::string put, get;
    int f = 0, i = 0;
    for (int r : reds) {
      const ir::Instr& in = k.instrs[size_t(r)];
      const std::string sh = in.repr == DType::Int64 ? "tl_shi[" + num(i++) + "]" : "tl_shf[" + num(f++) + "]";
      const std::string comb = "tl_combine<" + op_of(in) + ">";
      if (rows) {
        put += "      {\n        const " + std::string(compute(in.repr)) + " w = tl_simd_combine<" + op_of(in) + ">(a" +
               num(r) + ", ushort(width));\n        if (lane == 0) " + sh + "[sg] = w;\n      }\n";
        get += "      " + v(r) + " = " + sh + "[0];\n      for (uint w = 1; w < nsg; ++w) " + v(r) + " = " + comb + "(" +
               v(r) + ", " + sh + "[w]);\n";
      } else {
        put += "      " + sh + "[tid] = a" + num(r) + ";\n";
        get += "      " + v(r) + " = " + sh + "[tx];\n      for (I y = 1; y < ny; ++y) " + v(r) + " = " + comb + "(" +
               v(r) + ", " + sh + "[y * " + X + " + tx]);\n";
      }
    }
    const std::string barrier = reds.empty() ? "" : "      threadgroup_barrier(mem_flags::mem_threadgroup);\n";
    s += put + barrier + get + barrier + "    }\n" + pr.instrs(sched.rows[p + 1], at_row, "    ", row_guard);
  }
  return s + "  }\n}\n";
}

}  // namespace

std::string unprintable_reason(const ir::Kernel& k) {
  for (DType t : k.slots)
    if (t == DType::Float64) return "float64 tensors are not supported on Metal (no double)";
  for (const ir::Instr& in : k.instrs) {
    if (in.dtype == DType::Float64 || in.repr == DType::Float64)
      return "float64 values are not supported on Metal (no double)";
    if (in.op == ir::Op::Reduce && (in.rop == ReduceOp::ArgMax || in.rop == ReduceOp::ArgMin))
      return "arg reductions run as static kernels";
  }
  // Threadgroup memory: a column layout holds 256 partials of 8 bytes per reduction of a pass.
  for (const std::vector<int>& pass : k.schedule().passes)
    if (std::count_if(pass.begin(), pass.end(), [&](int n) { return k.instrs[size_t(n)].op == ir::Op::Reduce; }) > 16)
      return "more than 16 reductions in one pass (threadgroup memory)";
  return "";
}

std::string kernel_source(const ir::Kernel& k, const Cut& c, const std::string& entry) {
  const Printer pr(k);
  return params_struct(k, c, entry, pr.operands()) +
         (c.layout == Layout::Elementwise ? elementwise(k, c, entry) : reduction(k, c, entry));
}

std::vector<uint8_t> pack_params(const ir::Kernel& k, const Cut& c, const MergedDims& outer,
                                 const MergedDims& inner, int64_t total, int64_t inner_n) {
  // The order of params_struct: longs, then the floats.
  std::vector<int64_t> words = {total, inner_n};
  const size_t M = size_t(std::max(1, Printer(k).operands()));
  for (size_t j = 0; j < M; ++j) words.push_back(0);  // offsets: filled below
  const auto dims = [&](const MergedDims& m, int rank) {
    for (int d = 0; d < rank; ++d) words.push_back(m.shape[size_t(d)]);
    for (size_t j = 0; j < M; ++j)
      for (int d = 0; d < rank; ++d)
        words.push_back(m.strides[size_t(d)].size() > j ? m.strides[size_t(d)][j] : 0);
  };
  dims(outer, c.rank_outer);
  if (c.rank_inner > 0) dims(inner, c.rank_inner);
  const size_t P = std::max<size_t>(1, k.params.size()), ci = words.size();
  words.resize(ci + P, 0);
  std::vector<float> cf(P, 0.0f);
  for (size_t n = 0, j = 0; n < k.instrs.size(); ++n) {
    const ir::Instr& in = k.instrs[n];
    if (in.op == ir::Op::Load || in.op == ir::Op::Store) words[2 + j++] = in.offset;
    if (in.op != ir::Op::Const) continue;
    const Scalar v = scalar_as(k.params[size_t(in.slot)], in.dtype);  // as a stored 0-d tensor holds it
    words[ci + size_t(in.slot)] = v.i;
    cf[size_t(in.slot)] = float(v.f);
  }
  std::vector<uint8_t> bytes((words.size() * 8 + P * 4 + 7) / 8 * 8, 0);
  std::memcpy(bytes.data(), words.data(), words.size() * 8);
  std::memcpy(bytes.data() + words.size() * 8, cf.data(), P * 4);
  return bytes;
}

}  // namespace tl::metal
