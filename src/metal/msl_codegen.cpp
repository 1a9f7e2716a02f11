#include "metal/msl_codegen.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "core/op_table.h"
#include "metal/msl_print.h"

namespace tl::metal {
namespace {

using namespace msl;

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
  std::string s = "struct " + entry + "_params {\n  long total, inner;\n" + (c.split ? "  long split;\n" : "") +
                  "  long off[" + M + "];\n";
  s += "  long oshape[" + num(c.rank_outer) + "];\n  long ost[" + M + "][" + num(c.rank_outer) + "];\n";
  if (c.rank_inner > 0)
    s += "  long ishape[" + num(c.rank_inner) + "];\n  long ist[" + M + "][" + num(c.rank_inner) + "];\n";
  return s + "  long ci[" + P + "];\n  float cf[" + P + "];\n};\n";
}

// The kernel's parameters (slot n at buffer(n), the params after them), then `typedef I`.
std::string signature(const ir::Kernel& k, const Cut& c, const std::string& entry, const std::string& builtins,
                      const std::string& type) {
  std::vector<bool> written(k.slots.size(), false);
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (k.instrs[i].op == ir::Op::Store) written[size_t(k.instrs[i].slot)] = true;
  std::string s = "kernel void " + entry + "(";
  for (size_t b = 0; b < k.slots.size(); ++b)
    s += std::string("device ") + (written[b] ? "" : "const ") + storage(k.slots[b]) + "* b" + num(int64_t(b)) +
         " [[buffer(" + num(int64_t(b)) + ")]],\n    ";
  // I: the index type of every offset and count (32-bit when the launch says they all fit).
  // (A split reduction's scratch buffer comes before the params.)
  const int64_t params = int64_t(k.slots.size()) + (c.split ? 1 : 0);
  return s + "constant " + type + "_params& p [[buffer(" + num(params) + ")]],\n    " + builtins +
         ") {\n  typedef " + (c.wide ? "long" : "int") + " I;\n";
}

std::string consts(const ir::Kernel& k, const Printer& pr) {
  std::string s;
  for (size_t n = 0; n < k.instrs.size(); ++n)
    if (k.instrs[n].op == ir::Op::Const) s += pr.instr(int(n), nullptr, "  ");
  return s;
}


std::string elementwise(const ir::Kernel& k, const Cut& c, const std::string& entry) {
  const Printer pr(k);
  const int M = pr.operands();
  std::string s = signature(k, c, entry, "uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]", entry);
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
//
// A split reduction (c.split, one pass) runs as two kernels: `entry`_part, where threadgroup
// g folds chunk g % split of output g / split (rows) or of the kColumnsX outputs of column
// group g / split (columns) and stores its totals in the scratch buffer (buffer(slots), 8
// bytes a partial, floats as their bits), and `entry`, laid out as an unsplit reduction, whose
// threads fold their outputs' partials in place of elements and run the row values and stores.
//
// A split multi-pass kernel (softmax, layernorm; rows or columns) runs pass by pass: for each pass t,
// a chunked kernel (Part, `target` t) whose threadgroups read the totals of the passes before
// from the scratch buffer, recompute the row values, run pass t over their chunk (its full
// stores included) and store their partials; then, when pass t reduces, a kernel per output
// (Final, `target` t) that folds them into the pass's totals (stored after every partial in
// the scratch buffer) and runs the row values and row stores that follow. Reduction n of the
// kernel (counted over all passes) has its partials at (n * outputs + o) * split + chunk and
// its totals at reductions * outputs * split + n * outputs + o.
enum class Stage { Whole, Part, Final };

std::string reduction(const ir::Kernel& k, const Cut& c, const std::string& name, const std::string& type,
                      Stage stage, int target) {
  const Printer pr(k);
  const int M = pr.operands();
  const ir::Schedule sched = k.schedule();
  const bool multi = sched.passes.size() > 1 && stage != Stage::Whole;
  std::vector<int> index(k.instrs.size(), -1);  // each reduction's number, over all passes
  int reductions = 0;
  for (const std::vector<int>& pass : sched.passes)
    for (int n : pass)
      if (k.instrs[size_t(n)].op == ir::Op::Reduce) index[size_t(n)] = reductions++;
  const std::string totals = "(" + num(int64_t(reductions)) + " * outputs * split + ";
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
  const std::string scratch = stage == Stage::Whole ? "" :
      "device long* tl_scratch [[buffer(" + num(int64_t(k.slots.size())) + ")]],\n    ";
  std::string s = signature(k, c, name,
      scratch +
      "uint tid [[thread_index_in_threadgroup]], uint nthr [[threads_per_threadgroup]],\n"
      "    uint tg [[threadgroup_position_in_grid]], uint ntg [[threadgroups_per_grid]],\n"
      "    uint lane [[thread_index_in_simdgroup]], uint sg [[simdgroup_index_in_threadgroup]],\n"
      "    uint nsg [[simdgroups_per_threadgroup]], uint width [[threads_per_simdgroup]]", type);
  if (nf) s += "  threadgroup float tl_shf[" + num(nf) + "][" + SH + "];\n";
  if (ni) s += "  threadgroup long tl_shi[" + num(ni) + "][" + SH + "];\n";
  s += "  const I outputs = I(p.total), inner = I(p.inner);\n";
  if (stage != Stage::Whole) s += "  const I split = I(p.split);\n";
  s += rows ? "  const I tx = 0, ty = I(tid), ny = I(nthr);\n"
            : "  const I tx = I(tid % " + X + "u), ty = I(tid / " + X + "u), ny = I(nthr / " + X + "u);\n";
  const std::string groups = "(outputs + " + X + " - 1) / " + X + (stage == Stage::Part ? " * split" : "");
  s += consts(k, pr) + "  for (I g = I(tg); g < " + groups + "; g += I(ntg)) {\n";
  if (stage == Stage::Part) {
    s += std::string("    const I o = g / split") + (rows ? "" : " * " + X + " + tx") + ", chunk = " +
         (c.vector > 1 ? "((inner + split - 1) / split + 3) / 4 * 4;\n" : "(inner + split - 1) / split;\n") +
         "    const I begin = (g % split) * chunk, end = min(inner, begin + chunk);\n"
         "    const bool live = o < outputs;\n";
  } else {
    s += "    const I o = g * " + X + " + tx;\n    const bool live = o < outputs;\n";
  }
  for (int j = 0; j < M; ++j) s += "    I k" + num(j) + " = I(p.off[" + num(j) + "]);\n";
  s += unravel("k", "live ? o : 0", "oshape", "ost", c.rank_outer, M, "    ");  // (past the end: output 0's)
  const Printer::Access at_row = [](int j, const ir::Instr& i) { return "b" + num(i.slot) + "[k" + num(j) + "]"; };
  const Printer::Access at_elem = [](int j, const ir::Instr& i) { return "b" + num(i.slot) + "[o" + num(j) + "]"; };
  const std::string row_guard = "if (live && ty == 0) ";
  // Row values without their stores (those are another kernel's).
  const auto no_stores = [&](std::vector<int> ns) {
    std::erase_if(ns, [&](int n) { return k.instrs[size_t(n)].op == ir::Op::Store; });
    return ns;
  };
  const bool rows0_stores = stage == Stage::Whole || (stage == Stage::Final && target == 0);
  s += pr.instrs(rows0_stores ? sched.rows[0] : no_stores(sched.rows[0]), at_row, "    ", row_guard);
  const size_t last = stage == Stage::Whole ? sched.passes.size() - 1 : size_t(target);
  for (size_t p = 0; p <= last; ++p) {
    std::vector<int> reds;
    for (int n : sched.passes[p])
      if (k.instrs[size_t(n)].op == ir::Op::Reduce) reds.push_back(n);
    if (stage != Stage::Whole && p < last) {  // a split pass before the target: its totals, then the row values after it
      for (int r : reds) {
        const ir::Instr& in = k.instrs[size_t(r)];
        const std::string at = "tl_scratch[" + totals + num(int64_t(index[size_t(r)])) + " * outputs + (live ? o : 0))]";
        s += "    const " + std::string(compute(in.repr)) + " " + v(r) + " = " +
             (in.repr == DType::Int64 ? at : "as_type<float>(uint(" + at + "))") + ";\n";
      }
      s += pr.instrs(no_stores(sched.rows[p + 1]), at_row, "    ", row_guard);
      continue;
    }
    for (int r : reds) s += "    " + std::string(compute(k.instrs[size_t(r)].repr)) + " " + v(r) + ";\n";
    s += "    {\n";
    for (int r : reds) s += "      " + std::string(compute(k.instrs[size_t(r)].repr)) + " a" + num(r) + " = " + identity(k.instrs[size_t(r)]) + ";\n";
    if (stage == Stage::Final) {  // the output's partials, in place of its elements
      s += "      for (I r = ty; live && r < split; r += ny) {\n";
      for (size_t q = 0; q < reds.size(); ++q) {
        const ir::Instr& in = k.instrs[size_t(reds[q])];
        const std::string at = "tl_scratch[(" + num(int64_t(index[size_t(reds[q])])) + " * outputs + o) * split + r]";
        const std::string val = in.repr == DType::Int64 ? at : "as_type<float>(uint(" + at + "))";
        s += "        a" + num(reds[q]) + " = tl_combine<" + op_of(in) + ">(a" + num(reds[q]) + ", " + val + ");\n";
      }
      s += "      }\n";
    } else {
      std::string from = stage == Stage::Part ? "begin" : "I(0)";
      const std::string to = stage == Stage::Part ? "end" : "inner";
      if (c.vector > 1) {
        // Whole 4-vectors of the reduced dim first: each contiguous operand (its rows start on
        // a vector, the launch checked) moves as one vec<T, 4>, broadcast ones are read in
        // place; then the elements past the last whole vector.
        std::string loads;
        for (int n : sched.passes[p]) {
          const ir::Instr& in = k.instrs[size_t(n)];
          const int j = pr.mem[size_t(n)];
          if (in.op != ir::Op::Load || !c.unit[size_t(j)]) continue;
          const std::string T = "vec<" + std::string(storage(in.dtype)) + ", 4>", J = num(j);
          loads += "        const " + T + " q" + J + " = *((device const " + T + "*)(b" + num(in.slot) + " + k" + J + ") + r4);\n";
        }
        const Printer::Access at_vec = [&](int j, const ir::Instr& in) {
          if (!c.unit[size_t(j)]) return "b" + num(in.slot) + "[k" + num(j) + "]";
          return in.op == ir::Op::Load ? "q" + num(j) + "[e]" : "b" + num(in.slot) + "[k" + num(j) + " + r]";
        };
        s += "      for (I r4 = " + from + " / 4 + ty; live && r4 < " + to + " / 4; r4 += ny) {\n" + loads +
             "        for (int e = 0; e < 4; ++e) {\n          const I r = r4 * 4 + I(e);\n" +
             pr.instrs(sched.passes[p], at_vec, "          ") + "        }\n      }\n";
        from = "max(" + from + ", (" + to + " / 4) * 4)";
      }
      s += "      for (I r = " + from + " + ty; live && r < " + to + "; r += ny) {\n";
      for (int j = 0; j < M; ++j) s += "        I o" + num(j) + " = k" + num(j) + ";\n";
      s += unravel("o", "r", "ishape", "ist", c.rank_inner, M, "        ") + pr.instrs(sched.passes[p], at_elem, "        ") + "      }\n";
    }
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
    s += put + barrier + get + barrier + "    }\n";
    if (stage == Stage::Part) {  // this chunk's totals
      s += "    if (live && ty == 0) {\n";
      for (size_t q = 0; q < reds.size(); ++q) {
        const ir::Instr& in = k.instrs[size_t(reds[q])];
        const std::string val = in.repr == DType::Int64 ? v(reds[q]) : "long(as_type<uint>(" + v(reds[q]) + "))";
        s += "      tl_scratch[(" + num(int64_t(index[size_t(reds[q])])) + " * outputs + o) * split + g % split] = " + val + ";\n";
      }
      s += "    }\n";
    } else {
      if (multi && !reds.empty()) {  // the pass's totals, for the kernels after
        s += "    if (live && ty == 0) {\n";
        for (int r : reds) {
          const std::string val = k.instrs[size_t(r)].repr == DType::Int64 ? v(r) : "long(as_type<uint>(" + v(r) + "))";
          s += "      tl_scratch[" + totals + num(int64_t(index[size_t(r)])) + " * outputs + o)] = " + val + ";\n";
        }
        s += "    }\n";
      }
      s += pr.instrs(sched.rows[p + 1], at_row, "    ", row_guard);
    }
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
  if (c.layout == Layout::Elementwise) return params_struct(k, c, entry, pr.operands()) + elementwise(k, c, entry);
  std::string s = params_struct(k, c, entry, pr.operands());
  if (c.split == 0) return s + reduction(k, c, entry, entry, Stage::Whole, 0);
  const std::vector<std::vector<int>> passes = k.schedule().passes;
  if (passes.size() == 1)
    return s + reduction(k, c, entry + "_part", entry, Stage::Part, 0) + reduction(k, c, entry, entry, Stage::Final, 0);
  for (int t = 0; t < int(passes.size()); ++t) {
    s += reduction(k, c, split_entry(entry, t, false), entry, Stage::Part, t);
    if (std::any_of(passes[size_t(t)].begin(), passes[size_t(t)].end(),
                    [&](int n) { return k.instrs[size_t(n)].op == ir::Op::Reduce; }))
      s += reduction(k, c, split_entry(entry, t, true), entry, Stage::Final, t);
  }
  return s;
}

std::string split_entry(const std::string& entry, int pass, bool fold) {
  return entry + (fold ? "_fold" : "_part") + num(int64_t(pass));
}

std::vector<uint8_t> pack_params(const ir::Kernel& k, const Cut& c, const MergedDims& outer,
                                 const MergedDims& inner, int64_t total, int64_t inner_n) {
  // The order of params_struct: longs, then the floats.
  std::vector<int64_t> words = {total, inner_n};
  if (c.split) words.push_back(c.split);
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
  for (size_t n = 0, j = 0; n < k.instrs.size(); ++n)
    if (k.instrs[n].op == ir::Op::Load || k.instrs[n].op == ir::Op::Store)
      words[(c.split ? 3 : 2) + j++] = k.instrs[n].offset;
  return with_constants(k, std::move(words));
}

std::vector<uint8_t> with_constants(const ir::Kernel& k, std::vector<int64_t> words) {
  const size_t P = std::max<size_t>(1, k.params.size()), ci = words.size();
  words.resize(ci + P, 0);
  std::vector<float> cf(P, 0.0f);
  for (const ir::Instr& in : k.instrs) {
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
