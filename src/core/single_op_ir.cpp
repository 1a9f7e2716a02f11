#include "core/single_op_ir.h"

#include "core/error.h"

namespace tl::ir {
namespace {

// A Load or Store of tensor t through its own strides over the domain, bound to a new slot.
Instr memory(BoundKernel& b, Op kind, const Tensor& t, DType repr) {
  Instr m{kind, t.dtype(), repr};
  m.slot = int(b.bindings.size());
  m.strides = t.strides();
  m.offset = t.offset();
  b.bindings.push_back(t.buffer());
  b.kernel.slots.push_back(t.dtype());
  return m;
}

}  // namespace

BoundKernel elementwise_kernel(OpCode op, DType compute, std::span<const Tensor> in,
                               const Tensor& out) {
  BoundKernel b;
  Kernel& k = b.kernel;
  k.domain = out.shape();
  k.reduced.assign(k.domain.size(), false);
  Instr alu{Op::Alu, compute, compute};
  alu.alu = op;
  for (size_t i = 0; i < in.size(); ++i) {
    k.instrs.push_back(memory(b, Op::Load, in[i], compute_dtype(in[i].dtype())));
    Instr cast{Op::Cast, in[i].dtype(), compute};
    cast.args[0] = int(k.instrs.size() - 1);
    k.instrs.push_back(cast);
    alu.args[i] = int(k.instrs.size() - 1);
  }
  k.instrs.push_back(alu);
  Instr store = memory(b, Op::Store, out, compute);
  store.args[0] = int(k.instrs.size() - 1);
  k.instrs.push_back(store);
  return b;
}

BoundKernel reduce_kernel(ReduceOp op, const Tensor& in, std::span<const int> axes,
                          const Tensor& out) {
  if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin)
    throw_value("reduce_kernel: argmax/argmin are not reductions of the fusion IR");
  BoundKernel b;
  Kernel& k = b.kernel;
  k.domain = in.shape();
  k.reduced.assign(k.domain.size(), false);
  for (int a : axes) k.reduced[size_t(a)] = true;
  // Any/All reduce truth values: compare in the input's own compute type, yield bool.
  const bool logical = op == ReduceOp::Any || op == ReduceOp::All;
  const DType load_repr = compute_dtype(in.dtype());
  const DType repr = logical ? load_repr : compute_dtype(out.dtype());
  Instr load = memory(b, Op::Load, in, load_repr);
  Instr cast{Op::Cast, in.dtype(), repr};
  cast.args[0] = 0;
  Instr red{Op::Reduce, logical ? DType::Bool : repr, repr};
  red.rop = op;
  red.args[0] = 1;
  red.level = 1;
  red.row = true;
  Instr store = memory(b, Op::Store, out, repr);
  store.args[0] = 2;
  store.level = 1;
  store.row = true;
  // The output has no reduced dims: stride 0 along them.
  Strides st;
  for (size_t d = 0, kept = 0; d < k.domain.size(); ++d)
    st.push_back(k.reduced[d] ? 0 : out.strides()[kept++]);
  store.strides = st;
  k.instrs = {load, cast, red, store};
  return b;
}

}  // namespace tl::ir
