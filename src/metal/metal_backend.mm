// The Metal backend: tl::Backend over MetalDevice. Elementwise ops, plain reductions and fused
// kernels run as MSL from the generator (msl_kernels.h); argmax/argmin, scans, indexing,
// random and matmul run the static kernels of metal/*.metal (metal_ops.h); a matmul with an
// epilogue runs the generated kernel of msl_matmul.h. Metal has no float64: such work runs
// on the CPU backend over the same unified memory, once the GPU is done with it, and so does
// arange (exact double arithmetic, as the CPU computes it).
#include "metal/metal_backend.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <optional>
#include <vector>

#include "core/autotune.h"
#include "core/error.h"
#include "core/fusion_ir.h"
#include "core/ops.h"
#include "metal/matmul_plan.h"
#include "metal/metal_device.h"
#include "metal/metal_ops.h"
#include "metal/msl_kernels.h"
#include "metal/msl_matmul.h"
#include "core/single_op_ir.h"

namespace tl::metal {
namespace {

// The same memory seen as a CPU tensor (it keeps the Metal buffer alive).
BufferPtr host_alias(const BufferPtr& b) {
  return std::make_shared<Buffer>(b->data(), b->nbytes(), tl::Device{DeviceType::CPU, 0}, [b] {});
}
Tensor host_view(const Tensor& t) {
  return Tensor(host_alias(t.buffer()), t.shape(), t.strides(), t.offset(), t.dtype());
}

bool any_f64(std::initializer_list<DType> ts) {
  for (DType t : ts)
    if (t == DType::Float64) return true;
  return false;
}

class MetalBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::Metal; }
  // Never yet run on Apple hardware by us: usable by name, not the default device.
  bool preview() const override { return true; }
  int device_count() const override { return int(devices().size()); }
  std::string device_name(int index) const override { return dev(index).name(); }
  std::string unavailable_reason() const override { return "no Metal device found"; }

  BufferPtr allocate(int index, size_t nbytes) override { return dev(index).allocate(nbytes); }
  PoolStats memory_stats(int index) override { return dev(index).pool().stats(); }
  void empty_cache(int index) override { dev(index).pool().empty_cache(); }
  void set_memory_limit(int index, size_t bytes) override { dev(index).pool().set_memory_limit(bytes); }
  // Unified memory: the host reads and writes shared MTLBuffers in place (zero-copy NumPy
  // arrays, DLPack) once the command buffers that use the buffer have completed.
  bool host_visible() const override { return true; }
  void before_host_access(const Buffer& b) override { dev(b.device().index).wait_for(b); }
  void write(const Buffer& dst, size_t offset, const void* src, size_t n) override {
    if (!n) return;
    dev(dst.device().index).wait_for(dst);  // the GPU may still read or write it
    std::memcpy(static_cast<char*>(dst.data()) + offset, src, n);
  }
  void read(const Buffer& src, size_t offset, void* dst, size_t n) override {
    if (!n) return;
    dev(src.device().index).wait_for(src);
    std::memcpy(dst, static_cast<const char*>(src.data()) + offset, n);
  }
  void synchronize(int index) override { dev(index).synchronize(); }
  // Elementwise consumers of a product (bias, activation, residual, scale, cast) run in the
  // matmul's kernel (msl_matmul.h); one the generator cannot print runs right after it.
  bool matmul_takes_epilogue() const override { return true; }

 protected:
  void elementwise_impl(OpCode op, DType compute, std::span<const Tensor> in, const Tensor& out) override {
    ir::BoundKernel k = ir::elementwise_kernel(op, compute, in, out);
    run_fused(k.kernel, k.bindings);
  }
  void reduce_impl(ReduceOp op, const Tensor& in, std::span<const int> axes, const Tensor& out) override {
    if (op != ReduceOp::ArgMax && op != ReduceOp::ArgMin) {
      ir::BoundKernel k = ir::reduce_kernel(op, in, axes, out);
      return run_fused(k.kernel, k.bindings);
    }
    if (any_f64({in.dtype()}))
      return on_host(in, [&](Backend& cpu) { cpu.reduce(op, host_view(in), axes, host_view(out)); });
    metal::argreduce(dev_of(in), op, in, axes[0], out);
  }
  void scan_impl(ScanOp op, const Tensor& in, int axis, const Tensor& out) override {
    if (any_f64({in.dtype(), out.dtype()}))
      return on_host(in, [&](Backend& cpu) { cpu.scan(op, host_view(in), axis, host_view(out)); });
    metal::scan(dev_of(in), op, in, axis, out);
  }
  // (float32 products in float32 at every precision)
  void matmul_impl(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* ep,
                   MatmulPrecision) override {
    if (any_f64({a.dtype(), b.dtype(), out.dtype()}))
      return on_host(out, [&](Backend& cpu) {
        if (!ep) return cpu.matmul(host_view(a), host_view(b), host_view(out));
        std::vector<BufferPtr> host;
        for (const BufferPtr& x : ep->bindings) host.push_back(host_alias(x));
        const Epilogue on_cpu{ep->kernel, host, ep->acc_slot};
        cpu.matmul(host_view(a), host_view(b), host_view(out), &on_cpu);
      });
    const int nd = out.ndim();
    std::vector<int> copy;
    Tensor ops[3] = {a, b, out};
    std::optional<MatmulPlan> plan;
    for (int attempt = 0; !(plan = plan_matmul(out.shape(), a.dim(nd - 1), out.dtype(),
                                              {&ops[0].strides(), ops[0].offset()},
                                              {&ops[1].strides(), ops[1].offset()},
                                              {&ops[2].strides(), ops[2].offset()}, copy));
         ++attempt) {
      if (attempt) throw_value("Metal matmul: contiguous operands of these shapes exceed the kernel");
      // Operands the kernel cannot address in place are copied to contiguous memory once.
      for (int i : copy) {
        Tensor c = empty(ops[i].shape(), ops[i].dtype(), ops[i].device());
        if (i < 2) strided_copy(ops[i], c);
        ops[i] = c;
      }
    }
    if (!plan->gemv) tune_tile(*plan, ops, out);
    if (ep && ops[2].same(out)) {
      const EpilogueProgram e = epilogue_program(ep->kernel, ep->acc_slot, *plan);
      if (e.error.empty()) return metal::matmul(dev_of(out), *plan, ops[0], ops[1], ops[2], &e, ep);
    }
    metal::matmul(dev_of(out), *plan, ops[0], ops[1], ops[2]);
    if (!ops[2].same(out)) strided_copy(ops[2], out);
    if (ep) run_fused(ep->kernel, ep->bindings);
  }
  void gather_impl(const Tensor& src, int split, const Tensor& offsets, const Tensor& out) override {
    metal::gather(dev_of(out), src, split, offsets, out, false);
  }
  void scatter_impl(const Tensor& dst, int split, const Tensor& offsets, const Tensor& values) override {
    metal::gather(dev_of(dst), dst, split, offsets, values, true);
  }
  void random_impl(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
                   const Tensor& out) override {
    if (any_f64({out.dtype()}))
      return on_host(out, [&](Backend& cpu) { cpu.random(dist, seed, counter, a, b, host_view(out)); });
    metal::random(dev_of(out), dist, seed, counter, a, b, out);
  }
  void arange_impl(double start, double step, const Tensor& out) override {
    before_host_access(*out.buffer());  // the GPU is done with the memory, if it ever used it
    backend_for(DeviceType::CPU)->arange(start, step, host_view(out));
  }
  void fused_impl(const ir::Kernel& kernel, std::span<const BufferPtr> bindings) override {
    run_fused(kernel, bindings);
  }

 private:
  static MetalDevice& dev(int index) { return *devices().at(size_t(index)); }
  static MetalDevice& dev_of(const Tensor& t) { return dev(t.device().index); }

  // Runs `body` with the CPU backend once the device has finished all its work, so that
  // the CPU neither reads results still being computed nor overwrites operands in use.
  template <class Body>
  void on_host(const Tensor& any_operand, Body&& body) {
    dev_of(any_operand).synchronize();
    body(*backend_for(DeviceType::CPU));
  }

  // The tile of a tiled product, measured (core/autotune.h): with autotuning on, the first
  // product of its kind times each candidate tile on the GPU; the winner is kept in memory
  // and on disk. Off, an earlier winner still counts; with none the heuristic's tile stands.
  // ops: the operands as planned (in place); their product is written by each candidate.
  void tune_tile(MatmulPlan& plan, const Tensor (&ops)[3], const Tensor& out) {
    const int nd = out.ndim();
    const int64_t M = out.dim(nd - 2), N = out.dim(nd - 1), K = ops[0].dim(nd - 1);
    const int64_t batch = out.numel() / std::max<int64_t>(1, M * N);
    const std::vector<MatmulTile> tiles = tile_candidates(M, N, batch);
    if (tiles.size() < 2 || M * N == 0) return;
    const auto plan_with = [&](int i) {
      std::vector<int> copy;
      return *plan_matmul(out.shape(), K, out.dtype(), {&ops[0].strides(), ops[0].offset()},
                          {&ops[1].strides(), ops[1].offset()}, {&ops[2].strides(), ops[2].offset()}, copy, 64,
                          &tiles[size_t(i)]);
    };
    std::vector<std::string> names;
    for (const MatmulTile& t : tiles) names.push_back(tile_name(t));
    MetalDevice& d = dev_of(out);
    // An error of earlier work surfaces when measuring starts: it is the caller's, not a
    // failed candidate's (autotune::choose skips candidates that throw).
    std::exception_ptr earlier;
    const int pick = autotune::choose("metal", tile_tune_key(d.name(), plan.kernel, M, N, K, batch), names,
                                      [&](int i) {
                                        try {
                                          d.synchronize();
                                        } catch (...) {
                                          earlier = std::current_exception();
                                          return -1.0;
                                        }
                                        const MatmulPlan p = plan_with(i);
                                        return d.time_kernels([&] { metal::matmul(d, p, ops[0], ops[1], ops[2]); });
                                      });
    if (earlier) std::rethrow_exception(earlier);
    if (pick > 0) plan = plan_with(pick);
  }

  // dst = src through the generator's copy kernel (any strides and dtype).
  void strided_copy(const Tensor& src, const Tensor& dst) {
    const Tensor in[] = {src};
    elementwise_impl(OpCode::identity, compute_dtype(src.dtype()), in, dst);
  }

  void run_fused(const ir::Kernel& k, std::span<const BufferPtr> bindings) {
    if (bindings.empty()) return;  // a kernel that stores nothing
    MetalDevice& d = dev(bindings[0]->device().index);
    const Program p = fused_program(k);
    if (!p.error.empty()) {  // float64 (no Metal type), or a cut the generator lacks
      std::vector<BufferPtr> host;
      for (const BufferPtr& b : bindings) host.push_back(host_alias(b));
      d.synchronize();
      return backend_for(DeviceType::CPU)->fused(k, host);
    }
    if (p.launch.grid[0] == 0) return;  // nothing to compute
    const auto source = [&] { return program_source(k, p); };  // printed only for a new key
    // (A split kernel's pipelines are its steps', below.)
    KernelLaunch l{p.launch.cut.split ? nil : d.fused_pipeline(p.key, p.entry, source), k.name(), {}, {p.params},
                   MTLSizeMake(p.launch.grid[0], p.launch.grid[1], p.launch.grid[2]),
                   MTLSizeMake(p.launch.threadgroup[0], p.launch.threadgroup[1], p.launch.threadgroup[2])};
    if (p.buffers.size() != bindings.size())
      throw_value("Metal kernel " + l.name + ": " + std::to_string(bindings.size()) +
                  " buffers bound to a kernel of " + std::to_string(p.buffers.size()) + " slots");
    for (size_t s = 0; s < bindings.size(); ++s) {
      // The generator says how far each slot reaches: never let a kernel past its buffer.
      const Binding& need = p.buffers[s];
      if (size_t(need.elements * itemsize(need.dtype)) > bindings[s]->nbytes())
        throw_value("Metal kernel " + l.name + ": slot " + std::to_string(s) + " reaches " +
                    std::to_string(need.elements) + " elements, past its buffer");
      l.buffers.push_back({bindings[s].get()});
    }
    if (!p.launch.cut.split) return d.launch(l);
    // A split reduction: its steps in order (one pass: the partials kernel, then `l` folds
    // them; several passes: per pass a chunked kernel, then where it reduces a fold into
    // totals), all binding the scratch buffer after the slots (the pool keeps it until the
    // command buffer completed).
    const BufferPtr scratch = d.allocate(size_t(p.launch.scratch_bytes));
    l.buffers.push_back({scratch.get()});
    for (const Step& st : p.steps) {
      KernelLaunch step{d.fused_pipeline(p.key, st.entry, source),
                        l.name + st.entry.substr(p.entry.size()), l.buffers, {p.params},
                        MTLSizeMake(st.grid[0], st.grid[1], st.grid[2]),
                        MTLSizeMake(st.threadgroup[0], st.threadgroup[1], st.threadgroup[2])};
      d.launch(step);
    }
  }
};

}  // namespace

Backend& metal_backend() {
  static MetalBackend* b = new MetalBackend();  // never destroyed, as the CPU backend
  return *b;
}

}  // namespace tl::metal
