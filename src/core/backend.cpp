// The public kernel entry points of every backend: profile, then run the backend's kernel.
#include "core/backend.h"

#include <chrono>

#include "core/fusion_ir.h"
#include "core/graph.h"
#include "core/profiler.h"

namespace tl {
namespace {

using profiler::Kind;

std::string dims(const Tensor& t) { return std::to_string(t.numel()) + "_" + dtype_name(t.dtype()); }

const char* reduce_name(ReduceOp op) {
  static const char* names[] = {"sum", "prod", "max", "min", "any", "all", "argmax", "argmin"};
  return names[int(op)];
}

// Runs body and reports it: a name only when someone reads names, a time only when timing
// (which waits for the device so the time covers the kernel, not its launch).
template <class Name, class Body>
void launch(Backend& be, Kind kind, Device device, Name&& name, Body&& body) {
  const bool timed = profiler::timing();
  const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  body();
  double seconds = 0;
  if (timed) {
    be.synchronize(device.index);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  profiler::record(kind, profiler::wants_names() ? name() : std::string(), device, seconds);
}

// Kernels read memory, so pending inputs are computed first (never inside a kernel's
// threads); a pending node that still reads the output's buffer is computed before the write.
void prepare(std::initializer_list<const Tensor*> inputs, const Tensor& out) {
  for (const Tensor* t : inputs) (void)t->buffer();
  graph::before_write(*out.buffer());
}

}  // namespace

void Backend::elementwise(OpCode op, DType compute, std::span<const Tensor> in, const Tensor& out) {
  for (const Tensor& t : in) (void)t.buffer();
  prepare({}, out);
  const bool copy = op == OpCode::identity;
  launch(*this, copy ? Kind::Copy : Kind::Elementwise, out.device(), [&] {
    return copy ? "C_" + dims(out) + "_from_" + dtype_name(in[0].dtype())
                : std::string("E_") + op_info(op).name + "_" + dims(out);
  }, [&] { elementwise_impl(op, compute, in, out); });
}

void Backend::reduce(ReduceOp op, const Tensor& in, std::span<const int> axes, const Tensor& out) {
  prepare({&in}, out);
  launch(*this, Kind::Reduction, in.device(), [&] {
    return std::string("R_") + reduce_name(op) + "_" + dims(in) + "_to_" + std::to_string(out.numel());
  }, [&] { reduce_impl(op, in, axes, out); });
}

void Backend::scan(ScanOp op, const Tensor& in, int axis, const Tensor& out) {
  prepare({&in}, out);
  launch(*this, Kind::Reduction, in.device(), [&] {
    return std::string(op == ScanOp::CumSum ? "S_cumsum_" : "S_cumprod_") + dims(in);
  }, [&] { scan_impl(op, in, axis, out); });
}

void Backend::matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* epilogue,
                     MatmulPrecision precision) {
  prepare({&a, &b}, out);
  launch(*this, Kind::Matmul, out.device(), [&] {
    const int n = out.ndim();
    std::string name = "MM_" + std::to_string(out.dim(n - 2)) + "x" + std::to_string(out.dim(n - 1)) +
                       "x" + std::to_string(a.dim(n - 1)) + "_b" +
                       std::to_string(out.numel() / std::max<int64_t>(1, out.dim(n - 2) * out.dim(n - 1))) +
                       "_" + dtype_name(out.dtype());
    if (const std::string k = last_matmul_kernel(); !k.empty()) name += "_" + k;
    return epilogue ? name + "_epilogue" + epilogue->kernel.op_names() : name;
  }, [&] { matmul_impl(a, b, out, epilogue, precision); });
}

void Backend::gather(const Tensor& src, int split, const Tensor& offsets, const Tensor& out) {
  prepare({&src, &offsets}, out);
  launch(*this, Kind::Index, out.device(), [&] { return "G_" + dims(out); },
         [&] { gather_impl(src, split, offsets, out); });
}

void Backend::scatter(const Tensor& dst, int split, const Tensor& offsets, const Tensor& values) {
  prepare({&offsets, &values}, dst);
  launch(*this, Kind::Index, dst.device(), [&] { return "SC_" + dims(values); },
         [&] { scatter_impl(dst, split, offsets, values); });
}

void Backend::random(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
                     const Tensor& out) {
  prepare({}, out);
  launch(*this, Kind::Random, out.device(), [&] { return "RNG_" + dims(out); },
         [&] { random_impl(dist, seed, counter, a, b, out); });
}

void Backend::arange(double start, double step, const Tensor& out) {
  prepare({}, out);
  launch(*this, Kind::Copy, out.device(), [&] { return "A_" + dims(out); },
         [&] { arange_impl(start, step, out); });
}

void Backend::fused(const ir::Kernel& kernel, std::span<const BufferPtr> bindings) {
  profiler::note_kernel(kernel.hash());
  bool alu = false;
  for (const ir::Instr& i : kernel.instrs) alu |= i.op == ir::Op::Alu;
  const Kind kind = kernel.has_reduction() ? Kind::Reduction : alu ? Kind::Elementwise : Kind::Copy;
  const Device device = bindings.empty() ? Device{} : bindings[0]->device();
  launch(*this, kind, device, [&] { return kernel.name(); },
         [&] { fused_impl(kernel, bindings); });
}

}  // namespace tl
