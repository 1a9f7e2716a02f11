#pragma once
// A fused kernel prepared for the CPU (Program: buffers, passes, constants, compiled loops)
// and the per-thread interpreter of its instructions over blocks (Frame). The walking of the
// domain, threading and partial results are in fused.cpp, the only includer.
#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "core/fusion_ir.h"
#include "core/scalar_math.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/jit.h"
#include "cpu/op_kernels.h"

namespace tl::cpu::fused {

using ir::Instr;
using ir::Op;

constexpr int64_t kBlock = 1024;  // elements per instruction loop

template <class T>
using Wide = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class W>
W identity_of(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Any: return W(0);
    case ReduceOp::Max: return std::is_floating_point_v<W> ? W(-INFINITY) : W(INT64_MIN);
    case ReduceOp::Min: return std::is_floating_point_v<W> ? W(INFINITY) : W(INT64_MAX);
    default: return W(1);
  }
}

template <class W>
W combine(ReduceOp op, W a, W x) {
  switch (op) {
    case ReduceOp::Sum:
      if constexpr (std::is_integral_v<W>) return W(uint64_t(a) + uint64_t(x));
      else return a + x;
    case ReduceOp::Prod:
      if constexpr (std::is_integral_v<W>) return W(uint64_t(a) * uint64_t(x));
      else return a * x;
    case ReduceOp::Max: return sm::tl_max(a, x);
    case ReduceOp::Min: return sm::tl_min(a, x);
    case ReduceOp::Any: return (a != 0 || x != 0) ? W(1) : W(0);
    default: return (a != 0 && x != 0) ? W(1) : W(0);
  }
}

// One reduction of a block of n values into a wide accumulator, in 16 lanes of C per block
// (vectorizable), carried across blocks in double (floats) or int64.
template <class C, ReduceOp OP>
TL_CPU_CLONES Wide<C> reduce_lanes(const C* v, int64_t n, Wide<C> acc) {
  using W = Wide<C>;
  constexpr int L = 16;
  C lanes[L];
  for (int l = 0; l < L; ++l) lanes[l] = C(identity_of<W>(OP));
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) {
      if constexpr (OP == ReduceOp::Sum) lanes[l] += v[i + l];
      else if constexpr (OP == ReduceOp::Max) lanes[l] = sm::tl_max(lanes[l], v[i + l]);
      else lanes[l] = sm::tl_min(lanes[l], v[i + l]);
    }
  for (; i < n; ++i) acc = combine(OP, acc, W(v[i]));
  for (int l = 0; l < L; ++l) acc = combine(OP, acc, W(lanes[l]));
  return acc;
}

template <class C>
Wide<C> reduce_block(ReduceOp op, const C* v, int64_t n, Wide<C> acc) {
  switch (op) {
    case ReduceOp::Sum: return reduce_lanes<C, ReduceOp::Sum>(v, n, acc);
    case ReduceOp::Max: return reduce_lanes<C, ReduceOp::Max>(v, n, acc);
    case ReduceOp::Min: return reduce_lanes<C, ReduceOp::Min>(v, n, acc);
    default:
      for (int64_t i = 0; i < n; ++i) acc = combine(op, acc, Wide<C>(v[i]));
      return acc;
  }
}

// A constant in representation C, through its dtype (as a stored 0-d tensor would read).
template <class C>
C const_value(const Instr& in, const Scalar& s) {
  return visit_dtype(in.dtype, [&](auto st) {
    using S = decltype(st);
    if (s.kind == Scalar::Kind::Float) return to_compute<S, C>(from_compute<S, double>(s.f));
    return to_compute<S, C>(from_compute<S, int64_t>(s.i));
  });
}

// Everything a run needs that does not change per block.
struct Program {
  const ir::Kernel& k;
  std::vector<char*> base;           // per slot
  std::vector<int> reduced, kept;    // domain dims
  bool rows = false;                 // the innermost dim is reduced: walk outputs one by one
  int passes = 1;
  std::vector<std::vector<int>> pass_list;  // per pass: full instrs, in order
  std::vector<std::vector<int>> row_list;   // per level: row instrs (and row stores)
  std::vector<int> reduces;                 // all Reduce instrs
  std::vector<int> buf;                     // per instr: its scratch buffer (-1: none)
  std::vector<int> acc;                     // per instr: its accumulator index (Reduce)
  std::vector<int> mem;                     // per instr: operand index (Load/Store) or -1
  std::vector<const Strides*> mem_strides;  // per operand
  std::vector<int64_t> mem_offset;          // per operand
  std::vector<double> cf;                   // per parameter: its value in a float repr
  std::vector<int64_t> ci;                  // ... or in int64
  std::vector<BlockFn> jit;                 // per pass: its compiled loop, or nullptr
  int nbufs = 0;

  Program(const ir::Kernel& kernel, std::span<const BufferPtr> bindings) : k(kernel) {
    for (const BufferPtr& b : bindings) base.push_back(static_cast<char*>(b->data()));
    for (size_t d = 0; d < k.domain.size(); ++d) (k.reduced[d] ? reduced : kept).push_back(int(d));
    rows = !reduced.empty() && k.reduced.back();
    passes = k.passes();
    const size_t n = k.instrs.size();
    buf.assign(n, -1);
    acc.assign(n, -1);
    mem.assign(n, -1);
    for (size_t i = 0; i < n; ++i) {
      const Instr& in = k.instrs[i];
      if (in.op == Op::Load || in.op == Op::Store) {
        mem[i] = int(mem_strides.size());
        mem_strides.push_back(&in.strides);
        mem_offset.push_back(in.offset);
      }
      if (in.op == Op::Reduce) {
        acc[i] = int(reduces.size());
        reduces.push_back(int(i));
      }
    }
    cf.resize(k.params.size());
    ci.resize(k.params.size());
    for (const Instr& in : k.instrs)
      if (in.op == Op::Const)
        visit_compute(in.repr, [&](auto c) {
          using C = decltype(c);
          const C v = const_value<C>(in, k.params[size_t(in.slot)]);
          if constexpr (std::is_integral_v<C>) ci[size_t(in.slot)] = v;
          else cf[size_t(in.slot)] = double(v);
        });
    const ir::Schedule sched = k.schedule();
    row_list = sched.rows;
    pass_list = sched.passes;
    // Values live across blocks (constants, row values, reductions) own a buffer.
    for (size_t i = 0; i < n; ++i) {
      const Instr& in = k.instrs[i];
      if (in.op == Op::Const || in.op == Op::Reduce || (in.row && in.op != Op::Store)) buf[i] = nbufs++;
    }
    // Each pass recomputes the full values its reductions and stores need; their buffers are
    // reused once dead.
    for (int p = 0; p < passes; ++p) {
      std::vector<int> last(n, -1);
      for (int i : pass_list[size_t(p)])
        for (int a : k.instrs[size_t(i)].args)
          if (a >= 0) last[size_t(a)] = i;
      // A buffer is reused once its value is dead, never by the instruction reading it
      // (a cast may widen). With several passes a value may recur: no reuse then.
      std::vector<int> free_bufs;
      for (int i : pass_list[size_t(p)]) {
        const Instr& in = k.instrs[size_t(i)];
        if (in.op != Op::Store && in.op != Op::Reduce && buf[size_t(i)] < 0) {
          if (free_bufs.empty()) {
            buf[size_t(i)] = nbufs++;
          } else {
            buf[size_t(i)] = free_bufs.back();
            free_bufs.pop_back();
          }
        }
        if (passes > 1) continue;
        for (int j = 0; j < 3; ++j) {
          const int a = in.args[j];
          const bool repeated = (j > 0 && in.args[0] == a) || (j > 1 && in.args[1] == a);
          // Only this pass's own full values die here (row values live across blocks).
          if (a >= 0 && !repeated && last[size_t(a)] == i && buf[size_t(a)] >= 0 &&
              k.instrs[size_t(a)].op != Op::Const && !k.instrs[size_t(a)].row)
            free_bufs.push_back(buf[size_t(a)]);
        }
      }
    }
    // Compiled loops where the JIT takes them: elementwise kernels, and each pass of a
    // kernel that walks its reduced elements one output at a time.
    jit.assign(size_t(passes), nullptr);
    if ((reduced.empty() && reduces.empty()) || rows) {
      const std::vector<int>& walked = rows ? reduced : kept;
      int inner = -1;
      for (int d : walked)
        if (k.domain[size_t(d)] > 1) inner = d;
      for (int q = 0; q < passes; ++q) jit[size_t(q)] = jit_block(k, pass_list[size_t(q)], inner);
    }
  }
};

// Per-thread state of a run: value buffers and accumulators.
struct Frame {
  const Program& p;
  double* scratch;                 // nbufs * kBlock values of up to 8 bytes
  std::vector<const void*> ptr;    // per instr: where its current block is
  std::vector<double> acc_f;       // per reduce (rows mode) or per reduce * kBlock
  std::vector<int64_t> acc_i;
  std::vector<double> rf;          // rows mode, compiled passes: each row value, by instr
  std::vector<int64_t> ri;

  // The thread's scratch, kept between runs (grown, never cleared: every value is written
  // before it is read).
  static double* thread_scratch(size_t n) {
    thread_local std::vector<double> s;
    if (s.size() < n) s.resize(n);
    return s.data();
  }

  explicit Frame(const Program& prog)
      : p(prog), scratch(thread_scratch(size_t(prog.nbufs) * kBlock)), ptr(prog.k.instrs.size(), nullptr) {
    const size_t na = prog.reduces.size() * size_t(prog.rows ? 1 : kBlock);
    acc_f.resize(na);
    acc_i.resize(na);
    for (size_t i = 0; i < prog.k.instrs.size(); ++i) {
      const Instr& in = prog.k.instrs[i];
      if (prog.buf[i] >= 0) ptr[i] = buffer(int(i));
      if (in.op == Op::Const) fill_const(in, int(i));
    }
  }

  // Hands the current row values (and finished reductions) to a compiled pass.
  void export_rows() {
    const auto& ins = p.k.instrs;
    rf.resize(ins.size());
    ri.resize(ins.size());
    for (size_t i = 0; i < ins.size(); ++i) {
      if (ins[i].op == Op::Const || p.buf[i] < 0 || !(ins[i].row || ins[i].op == Op::Reduce)) continue;
      visit_compute(ins[i].repr, [&](auto c) {
        using C = decltype(c);
        const C v = *static_cast<const C*>(buffer(int(i)));
        if constexpr (std::is_integral_v<C>) ri[i] = v;
        else rf[i] = double(v);
      });
    }
  }

  void* buffer(int i) { return scratch + size_t(p.buf[size_t(i)]) * kBlock; }

  // (No block is longer than the domain: a small kernel fills only what it can read.)
  void fill_const(const Instr& in, int i) {
    const int64_t n = std::min<int64_t>(kBlock, numel(p.k.domain));
    visit_compute(in.repr, [&](auto c) {
      using C = decltype(c);
      C* b = static_cast<C*>(buffer(i));
      std::fill(b, b + n, const_value<C>(in, p.k.params[size_t(in.slot)]));
    });
  }

  // Runs instrs over n elements; off[operand] and inc[operand] address memory.
  void run(const std::vector<int>& list, const int64_t* off, const int64_t* inc, int64_t n) {
    for (int i : list) step(i, off, inc, n);
  }

  void step(int i, const int64_t* off, const int64_t* inc, int64_t n) {
    const Instr& in = p.k.instrs[size_t(i)];
    switch (in.op) {
      case Op::Load: {
        const int m = p.mem[size_t(i)];
        const char* b = p.base[size_t(in.slot)];
        if (in.dtype == in.repr && inc[m] == 1) {
          ptr[size_t(i)] = b + (in.offset + off[m]) * itemsize(in.dtype);
          return;
        }
        visit_compute(in.repr, [&](auto c) {
          using C = decltype(c);
          load_row<C>(in.dtype, b, in.offset + off[m], inc[m], n, static_cast<C*>(buffer(i)));
        });
        ptr[size_t(i)] = buffer(i);
        return;
      }
      case Op::Const: return;
      case Op::Alu:
        visit_compute(in.repr, [&](auto c) {
          using C = decltype(c);
          const C* args[3] = {};
          for (int a = 0; a < 3 && in.args[a] >= 0; ++a) args[a] = static_cast<const C*>(ptr[size_t(in.args[a])]);
          kernel_for<C>(in.alu)(args, static_cast<C*>(buffer(i)), n);
        });
        return;
      case Op::Cast: {
        const Instr& src = p.k.instrs[size_t(in.args[0])];
        const void* from = ptr[size_t(in.args[0])];
        void* to = buffer(i);
        visit_compute(src.repr, [&](auto a) {
          using A = decltype(a);
          visit_compute(in.repr, [&](auto b) {
            using B = decltype(b);
            visit_dtype(in.dtype, [&](auto t) {
              using T = decltype(t);
              const A* x = static_cast<const A*>(from);
              B* y = static_cast<B*>(to);
              for (int64_t j = 0; j < n; ++j) y[j] = to_compute<T, B>(from_compute<T, A>(x[j]));
            });
          });
        });
        return;
      }
      case Op::Reduce:
        accumulate(in, i, n);
        return;
      case Op::Store: {
        const int m = p.mem[size_t(i)];
        const Instr& src = p.k.instrs[size_t(in.args[0])];
        visit_compute(src.repr, [&](auto c) {
          using C = decltype(c);
          store_row<C>(in.dtype, p.base[size_t(in.slot)], in.offset + off[m], inc[m], n,
                       static_cast<const C*>(ptr[size_t(in.args[0])]));
        });
        return;
      }
    }
  }

  void reset_acc(int pass) {
    for (int r : p.reduces) {
      const Instr& in = p.k.instrs[size_t(r)];
      if (p.k.instrs[size_t(in.args[0])].level != pass) continue;
      const size_t a = size_t(p.acc[size_t(r)]) * (p.rows ? 1 : kBlock);
      const size_t len = p.rows ? 1 : kBlock;
      if (in.repr == DType::Int64) std::fill_n(acc_i.begin() + long(a), len, identity_of<int64_t>(in.rop));
      else std::fill_n(acc_f.begin() + long(a), len, identity_of<double>(in.rop));
    }
  }

  void accumulate(const Instr& in, int i, int64_t n) {
    const size_t a = size_t(p.acc[size_t(i)]) * (p.rows ? 1 : kBlock);
    visit_compute(in.repr, [&](auto c) {
      using C = decltype(c);
      using W = Wide<C>;
      W* acc = reinterpret_cast<W*>(std::is_integral_v<W> ? static_cast<void*>(acc_i.data() + a)
                                                          : static_cast<void*>(acc_f.data() + a));
      const C* v = static_cast<const C*>(ptr[size_t(in.args[0])]);
      if (p.rows) {
        acc[0] = reduce_block<C>(in.rop, v, n, acc[0]);
      } else {
        for (int64_t j = 0; j < n; ++j) acc[j] = combine(in.rop, acc[j], W(v[j]));
      }
    });
  }

  // Writes finished accumulators of `pass` into their reductions' buffers (n values, or
  // one value broadcast over the block in rows mode).
  void finish_acc(int pass, int64_t n) {
    for (int r : p.reduces) {
      const Instr& in = p.k.instrs[size_t(r)];
      if (p.k.instrs[size_t(in.args[0])].level != pass) continue;
      const size_t a = size_t(p.acc[size_t(r)]) * (p.rows ? 1 : kBlock);
      visit_compute(in.repr, [&](auto c) {
        using C = decltype(c);
        using W = Wide<C>;
        const W* acc = reinterpret_cast<const W*>(
            std::is_integral_v<W> ? static_cast<const void*>(acc_i.data() + a)
                                  : static_cast<const void*>(acc_f.data() + a));
        C* out = static_cast<C*>(buffer(r));
        if (p.rows) std::fill(out, out + kBlock, C(acc[0]));
        else
          for (int64_t j = 0; j < n; ++j) out[j] = C(acc[j]);
      });
    }
  }

  // Row values of `level` for one output (rows mode: computed once, then broadcast).
  void run_rows(int level, const int64_t* off, const int64_t* inc, int64_t n) {
    for (int i : p.row_list[size_t(level)]) {
      step(i, off, inc, p.rows ? 1 : n);
      const Instr& in = p.k.instrs[size_t(i)];
      if (!p.rows || in.op == Op::Store) continue;
      if (ptr[size_t(i)] != buffer(i)) {  // a direct load: copy its one value
        visit_compute(in.repr, [&](auto c) {
          using C = decltype(c);
          *static_cast<C*>(buffer(i)) = *static_cast<const C*>(ptr[size_t(i)]);
        });
        ptr[size_t(i)] = buffer(i);
      }
      visit_compute(in.repr, [&](auto c) {
        using C = decltype(c);
        C* b = static_cast<C*>(buffer(i));
        std::fill(b + 1, b + kBlock, b[0]);
      });
    }
  }
};


}  // namespace tl::cpu::fused
