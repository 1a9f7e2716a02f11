#include "cuda/cuda_backend.h"

#include <memory>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "core/fusion_ir.h"
#include "core/ops.h"
#include "core/single_op_ir.h"
#include "cuda/cuda_api.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_ops.h"

namespace tl::cuda {
namespace {

constexpr size_t kDefaultCacheLimit = size_t(4) << 30;

struct DeviceInfo {
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  std::string name;
  int cc_major = 0, cc_minor = 0, sms = 0;
  size_t total_memory = 0;
};

// Device memory from cuMemAlloc in the device's primary context.
class DeviceAllocator final : public RawAllocator {
 public:
  explicit DeviceAllocator(const DeviceInfo& d) : d_(d) {}
  void* allocate(size_t nbytes) override {
    check(api().cuCtxSetCurrent(d_.ctx), "cuCtxSetCurrent");
    CUdeviceptr p = 0;
    const CUresult r = api().cuMemAlloc(&p, nbytes);
    if (r == CUDA_ERROR_OUT_OF_MEMORY) return nullptr;
    check(r, "cuMemAlloc");
    return reinterpret_cast<void*>(p);
  }
  void release(void* ptr, size_t) override {
    api().cuCtxSetCurrent(d_.ctx);
    api().cuMemFree(reinterpret_cast<CUdeviceptr>(ptr));  // at teardown the driver may be gone
  }

 private:
  const DeviceInfo& d_;
};

struct Device_ {
  DeviceInfo info;
  std::unique_ptr<DeviceAllocator> raw;
  std::unique_ptr<BufferCache> pool;
  std::unique_ptr<Target> target;  // see CudaBackend::target
  std::once_flag target_once;
};

class CudaBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CUDA; }
  bool preview() const override { return true; }
  int device_count() const override { return int(devices().size()); }
  std::string device_name(int index) const override {
    const DeviceInfo& d = at(index).info;
    return d.name + " (sm_" + std::to_string(d.cc_major) + std::to_string(d.cc_minor) + ", " +
           std::to_string(d.sms) + " SMs, " + std::to_string(d.total_memory >> 20) + " MiB)";
  }
  std::string unavailable_reason() const override {
    if (!api().loaded) return api().reason;
    return devices().empty() ? "no CUDA device found" : "";
  }

  BufferPtr allocate(int index, size_t nbytes) override {
    Device_& d = at(index);
    BufferCache::Block b = d.pool->acquire(nbytes);
    BufferCache* pool = d.pool.get();
    // One stream per device so far: a freed block is reused only by later work on that
    // stream, which runs after everything that used it.
    return std::make_shared<Buffer>(b.ptr, nbytes, tl::Device{DeviceType::CUDA, index},
                                    [pool, b] { pool->recycle(b); });
  }
  PoolStats memory_stats(int index) override { return at(index).pool->stats(); }
  void empty_cache(int index) override { at(index).pool->empty_cache(); }
  void set_memory_limit(int index, size_t bytes) override { at(index).pool->set_memory_limit(bytes); }
  bool host_visible() const override { return false; }
  void write(const Buffer& dst, size_t offset, const void* src, size_t n) override {
    if (!n) return;
    activate(dst.device().index);
    check(api().cuMemcpyHtoD(reinterpret_cast<CUdeviceptr>(dst.data()) + offset, src, n), "cuMemcpyHtoD");
  }
  void read(const Buffer& src, size_t offset, void* dst, size_t n) override {
    if (!n) return;
    activate(src.device().index);
    check(api().cuMemcpyDtoH(dst, reinterpret_cast<CUdeviceptr>(src.data()) + offset, n), "cuMemcpyDtoH");
  }
  void synchronize(int index) override {
    activate(index);
    check(api().cuCtxSynchronize(), "cuCtxSynchronize");
  }

 protected:
  // One op over strided operands (copies, casts, in-place updates): a one-op fused kernel.
  void elementwise_impl(OpCode op, DType compute, std::span<const Tensor> in, const Tensor& out) override {
    const ir::BoundKernel k = ir::elementwise_kernel(op, compute, in, out);
    launch_fused(target(out.device().index), k.kernel, k.bindings);
  }
  // A reduction of a stored tensor: load -> reduce -> store as a fused kernel.
  void reduce_impl(ReduceOp op, const Tensor& in, std::span<const int> axes, const Tensor& out) override {
    if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin)
      return cuda::argreduce(target(in.device().index), op, in, axes[0], out);
    const ir::BoundKernel k = ir::reduce_kernel(op, in, axes, out);
    launch_fused(target(out.device().index), k.kernel, k.bindings);
  }
  void scan_impl(ScanOp op, const Tensor& in, int axis, const Tensor& out) override {
    cuda::scan(target(in.device().index), op, in, axis, out);
  }
  void matmul_impl(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue*) override {
    cuda::matmul(target(out.device().index), a, b, out);
  }
  void gather_impl(const Tensor& src, int split, const Tensor& offsets, const Tensor& out) override {
    cuda::gather(target(src.device().index), src, split, offsets, out, false);
  }
  void scatter_impl(const Tensor& dst, int split, const Tensor& offsets, const Tensor& values) override {
    cuda::gather(target(dst.device().index), dst, split, offsets, values, true);
  }
  void random_impl(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
                   const Tensor& out) override {
    cuda::random(target(out.device().index), dist, seed, counter, a, b, out);
  }
  void arange_impl(double start, double step, const Tensor& out) override {
    via_host(out, [&](const Tensor& h) { backend_for(h.device()).arange(start, step, h); });
  }
  void fused_impl(const ir::Kernel& kernel, std::span<const BufferPtr> bindings) override {
    launch_fused(target(bindings.empty() ? 0 : bindings[0]->device().index), kernel, bindings);
  }

 private:
  // Every device, found and set up once (thread-safe); empty when CUDA is unavailable.
  const std::vector<std::unique_ptr<Device_>>& devices() const {
    static const std::vector<std::unique_ptr<Device_>>* all = [] {
      auto* v = new std::vector<std::unique_ptr<Device_>>();
      const Api& a = api();
      int n = 0;
      if (!a.loaded || a.cuDeviceGetCount(&n) != CUDA_SUCCESS) return v;
      for (int i = 0; i < n; ++i) {
        auto d = std::make_unique<Device_>();
        DeviceInfo& info = d->info;
        char name[256] = {};
        if (a.cuDeviceGet(&info.dev, i) != CUDA_SUCCESS ||
            a.cuDevicePrimaryCtxRetain(&info.ctx, info.dev) != CUDA_SUCCESS)
          continue;
        a.cuDeviceGetName(name, sizeof name, info.dev);
        info.name = name;
        a.cuDeviceGetAttribute(&info.cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, info.dev);
        a.cuDeviceGetAttribute(&info.cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, info.dev);
        a.cuDeviceGetAttribute(&info.sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, info.dev);
        a.cuDeviceTotalMem(&info.total_memory, info.dev);
        d->raw = std::make_unique<DeviceAllocator>(d->info);
        d->pool = std::make_unique<BufferCache>(*d->raw, kDefaultCacheLimit, "cuda");
        v->push_back(std::move(d));
      }
      return v;
    }();
    return *all;
  }
  Device_& at(int index) const { return *devices().at(size_t(index)); }
  // Fills a host tensor shaped like `out` (contiguous) and copies it into out.
  template <class Fill>
  void via_host(const Tensor& out, Fill&& fill) {
    const Tensor h = empty(out.shape(), out.dtype(), tl::Device{DeviceType::CPU, 0});
    fill(h);
    write(*out.buffer(), size_t(out.offset() * itemsize(out.dtype())), h.data_ptr(), size_t(out.nbytes()));
  }
  // What the kernels need of a device, made once (with its counters, which live outside the
  // pool as long as the process).
  const Target& target(int index) const {
    Device_& dev = at(index);
    std::call_once(dev.target_once, [&] {
      const DeviceInfo& d = dev.info;
      CUdeviceptr counters = 0;
      check(api().cuCtxSetCurrent(d.ctx), "cuCtxSetCurrent");
      check(api().cuMemAlloc(&counters, kCounters * 4), "cuMemAlloc");
      check(api().cuMemsetD8(counters, 0, kCounters * 4), "cuMemsetD8");
      dev.target = std::make_unique<Target>(Target{
          d.cc_major, d.cc_minor, d.sms, d.ctx,
          [this, index](size_t n) { return const_cast<CudaBackend*>(this)->allocate(index, n); },
          reinterpret_cast<unsigned*>(counters)});
    });
    return *dev.target;
  }
  void activate(int index) const { check(api().cuCtxSetCurrent(at(index).info.ctx), "cuCtxSetCurrent"); }
};

}  // namespace

Backend& cuda_backend() {
  static CudaBackend* b = new CudaBackend();  // never destroyed, as the CPU backend
  return *b;
}

}  // namespace tl::cuda
