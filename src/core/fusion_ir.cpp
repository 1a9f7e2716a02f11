#include "core/fusion_ir.h"

#include <algorithm>
#include <vector>

namespace tl::ir {
namespace {

const char* reduce_name(ReduceOp op) {
  static const char* names[] = {"sum", "prod", "max", "min", "any", "all", "argmax", "argmin"};
  return names[int(op)];
}

std::string ints(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

std::string scalar_str(const Scalar& s) {
  switch (s.kind) {
    case Scalar::Kind::Bool: return s.i ? "True" : "False";
    case Scalar::Kind::Int: return std::to_string(s.i);
    default: {
      char b[32];
      std::snprintf(b, sizeof b, "%.9g", s.f);
      return b;
    }
  }
}

void mix(uint64_t& h, uint64_t v) { h = (h ^ v) * 0x100000001b3ull; }

}  // namespace

bool Kernel::has_reduction() const {
  return std::any_of(instrs.begin(), instrs.end(), [](const Instr& i) { return i.op == Op::Reduce; });
}

int Kernel::passes() const {
  int p = 0;  // row stores happen between passes: they need none of their own
  for (const Instr& i : instrs)
    if (i.op == Op::Reduce || (i.op == Op::Store && !instrs[size_t(i.args[0])].row))
      p = std::max(p, instrs[size_t(i.args[0])].level);
  return p + 1;
}

Schedule Kernel::schedule() const {
  const int np = passes();
  const size_t n = instrs.size();
  Schedule s;
  s.rows.resize(size_t(np) + 1);
  for (size_t i = 0; i < n; ++i) {
    const Instr& in = instrs[i];
    const bool row_store = in.op == Op::Store && instrs[size_t(in.args[0])].row;
    if ((in.row && in.op != Op::Const && in.op != Op::Reduce && in.op != Op::Store) || row_store)
      s.rows[size_t(std::min(in.level, np))].push_back(int(i));
  }
  s.passes.resize(size_t(np));
  for (int p = 0; p < np; ++p) {
    // The pass's roots (its reductions and full stores) and the full values they read.
    std::vector<bool> mine(n, false);
    for (size_t i = n; i-- > 0;) {
      const Instr& in = instrs[i];
      const bool root = (in.op == Op::Reduce && instrs[size_t(in.args[0])].level == p) ||
                        (in.op == Op::Store && !instrs[size_t(in.args[0])].row && in.level == p);
      const bool full = !in.row && in.op != Op::Const && in.op != Op::Reduce && in.op != Op::Store;
      mine[i] = root || (mine[i] && full);
      if (mine[i])
        for (int a : in.args)
          if (a >= 0) mine[size_t(a)] = true;
    }
    for (size_t i = 0; i < n; ++i)
      if (mine[i]) s.passes[size_t(p)].push_back(int(i));
  }
  return s;
}

std::string Kernel::op_names() const {
  std::string n;
  int shown = 0, hidden = 0;
  for (const Instr& i : instrs) {
    if (i.op != Op::Alu && i.op != Op::Reduce) continue;
    if (shown < 4) {
      n += std::string("_") + (i.op == Op::Alu ? op_info(i.alu).name : reduce_name(i.rop));
      ++shown;
    } else {
      ++hidden;
    }
  }
  if (shown == 0) n += "_copy";
  if (hidden) n += "_+" + std::to_string(hidden);
  return n;
}

std::string Kernel::name() const {
  std::string n = (has_reduction() ? "R" : "E") + op_names() + "_";
  for (size_t d = 0; d < domain.size(); ++d) n += (d ? "x" : "") + std::to_string(domain[d]);
  if (domain.empty()) n += "1";
  for (const Instr& i : instrs)
    if (i.op == Op::Store) return n + "_" + dtype_name(i.dtype);
  return n;
}

std::string Kernel::str() const {
  std::string s = "kernel " + name() + " domain " + ints(domain);
  if (has_reduction()) {
    std::vector<int64_t> r;
    for (size_t d = 0; d < reduced.size(); ++d)
      if (reduced[d]) r.push_back(int64_t(d));
    s += " reduce " + ints(r) + ", " + std::to_string(passes()) + " passes";
  }
  s += "\n";
  for (size_t k = 0; k < instrs.size(); ++k) {
    const Instr& i = instrs[k];
    std::string line = "  ";
    auto arg = [&](int j) { return "%" + std::to_string(i.args[j]); };
    switch (i.op) {
      case Op::Load:
        line += "%" + std::to_string(k) + " = load b" + std::to_string(i.slot) + "[" +
                ints(i.strides) + " + " + std::to_string(i.offset) + "] " + dtype_name(i.dtype);
        break;
      case Op::Const:
        line += "%" + std::to_string(k) + " = const " + scalar_str(params[size_t(i.slot)]) + " " +
                dtype_name(i.dtype);
        break;
      case Op::Alu: {
        line += "%" + std::to_string(k) + " = " + op_info(i.alu).name + " " + arg(0);
        for (int j = 1; j < 3 && i.args[j] >= 0; ++j) line += ", " + arg(j);
        line += std::string(" : ") + dtype_name(i.repr);
        break;
      }
      case Op::Cast:
        line += "%" + std::to_string(k) + " = cast " + arg(0) + " -> " + dtype_name(i.dtype) +
                (i.repr != i.dtype ? std::string(" in ") + dtype_name(i.repr) : "");
        break;
      case Op::Reduce:
        line += "%" + std::to_string(k) + " = reduce_" + reduce_name(i.rop) + " " + arg(0) +
                " : " + dtype_name(i.repr);
        break;
      case Op::Store:
        line += "store b" + std::to_string(i.slot) + "[" + ints(i.strides) + " + " +
                std::to_string(i.offset) + "] " + dtype_name(i.dtype) + " <- " + arg(0);
        break;
    }
    if (has_reduction() && i.op != Op::Store)
      line += (i.row ? "  [row" : "  [full") + std::string(", pass ") + std::to_string(i.level) + "]";
    s += line + "\n";
  }
  return s;
}

uint64_t Kernel::hash() const {
  uint64_t h = 0xcbf29ce484222325ull;
  mix(h, domain.size());
  mix(h, slots.size());
  mix(h, params.size());
  for (bool r : reduced) mix(h, r);
  for (const Instr& i : instrs) {
    mix(h, uint64_t(i.op) | uint64_t(i.dtype) << 8 | uint64_t(i.repr) << 16 |
               uint64_t(i.alu) << 24 | uint64_t(i.rop) << 32);
    for (int a : i.args) mix(h, uint64_t(int64_t(a)));
    mix(h, uint64_t(int64_t(i.slot)));
    mix(h, uint64_t(i.level) << 1 | uint64_t(i.row));
    for (int64_t st : i.strides) mix(h, st == 0 ? 0 : st == 1 ? 1 : 2);  // broadcast/unit/strided
  }
  return h;
}

}  // namespace tl::ir
