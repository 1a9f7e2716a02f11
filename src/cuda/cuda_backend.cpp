#include "cuda/cuda_backend.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/fusion_ir.h"
#include "core/ops.h"
#include "core/single_op_ir.h"
#include "cuda/cuda_api.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_staging.h"
#include "cuda/cuda_stream.h"

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
    // A cached block may still be used by queued work (freed blocks are recycled in stream
    // order, not after completion): wait for every stream first. At teardown the driver may
    // be gone: errors are ignored.
    api().cuCtxSetCurrent(d_.ctx);
    api().cuCtxSynchronize();
    api().cuMemFree(reinterpret_cast<CUdeviceptr>(ptr));
  }

 private:
  const DeviceInfo& d_;
};

// Done when all of its events are: a block used on several streams.
class AllEvents final : public StreamEvent {
 public:
  explicit AllEvents(std::vector<StreamEventPtr> events) : events_(std::move(events)) {}
  bool done() override {
    for (const StreamEventPtr& e : events_)
      if (!e->done()) return false;
    return true;
  }
  void wait() override {
    for (const StreamEventPtr& e : events_) e->wait();
  }

 private:
  std::vector<StreamEventPtr> events_;
};

struct Device_ {
  int index = 0;
  DeviceInfo info;
  std::unique_ptr<DeviceAllocator> raw;
  std::unique_ptr<BufferCache> pool;
  std::unique_ptr<Target> target;  // see CudaBackend::target
  std::once_flag target_once;
  // Streams other than its own that a pool block was used on (t.record_stream), by address.
  std::mutex recorded_mu;
  std::unordered_map<void*, std::vector<StreamPtr>> recorded;
  std::atomic<bool> any_recorded{false};

  // A pool buffer's block comes back: on a device with one stream, reused at once by that
  // stream; with several, with an event on the stream it was used on (and on each stream
  // recorded for it), after which other streams may take it. Never throws.
  void free(BufferCache::Block b, const Stream& s) noexcept {
    std::vector<StreamPtr> extra;
    if (any_recorded.load(std::memory_order_relaxed)) {
      std::lock_guard lock(recorded_mu);
      if (auto it = recorded.find(b.ptr); it != recorded.end()) {
        extra = std::move(it->second);
        recorded.erase(it);
      }
    }
    StreamEventPtr freed;
    if (!extra.empty()) {
      std::vector<StreamEventPtr> all{record_pool_event(s)};
      for (const StreamPtr& x : extra) all.push_back(record_pool_event(*x));
      bool ok = true;
      for (const StreamEventPtr& e : all) ok = ok && e;
      if (ok) {
        freed = std::make_shared<AllEvents>(std::move(all));
        b.stream = BufferCache::kNoStream;  // not even s reuses it before the others are done
      } else {
        api().cuCtxSetCurrent(info.ctx);  // teardown or a broken context: be safe
        api().cuCtxSynchronize();
      }
    } else if (has_side_streams(index)) {
      freed = record_pool_event(s);
    }
    try {
      pool->recycle(b, std::move(freed));
    } catch (...) {
    }
  }
};

class CudaBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CUDA; }
  bool preview() const override { return true; }
  // The matmul kernels apply it before their store (cuda_matmul.h).
  bool matmul_takes_epilogue() const override { return true; }
  std::string last_matmul_kernel() const override { return cuda::last_matmul_kernel(); }
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
    Stream& s = current_stream(index);
    BufferCache::Block b = d.pool->acquire(nbytes, s.id());
    Device_* dev = &d;
    // A stream the buffer's work was queued on outlives the buffer (its free records an
    // event on it); the default stream lives as long as the process.
    if (&s == &default_stream(index))
      return std::make_shared<Buffer>(b.ptr, nbytes, tl::Device{DeviceType::CUDA, index},
                                      [dev, b, &s] { dev->free(b, s); });
    return std::make_shared<Buffer>(b.ptr, nbytes, tl::Device{DeviceType::CUDA, index},
                                    [dev, b, keep = current_stream_ptr(index)] { dev->free(b, *keep); });
  }
  PoolStats memory_stats(int index) override { return at(index).pool->stats(); }
  void empty_cache(int index) override { at(index).pool->empty_cache(); }
  void set_memory_limit(int index, size_t bytes) override { at(index).pool->set_memory_limit(bytes); }
  bool host_visible() const override { return false; }
  // Copies go on the calling thread's current stream, as kernels do. A write returns once
  // the bytes are in pinned staging memory: it does not wait for the GPU's queue.
  void write(const Buffer& dst, size_t offset, const void* src, size_t n) override {
    if (!n) return;
    staged_write(reinterpret_cast<CUdeviceptr>(dst.data()) + offset, src, n, current_stream(dst.device().index));
  }
  // Waits for the current stream only (work of other streams is ordered by the caller).
  void read(const Buffer& src, size_t offset, void* dst, size_t n) override {
    if (!n) return;
    const int index = src.device().index;
    activate(index);
    const Stream& s = current_stream(index);
    check(api().cuMemcpyDtoHAsync(dst, reinterpret_cast<CUdeviceptr>(src.data()) + offset, n, s.handle()),
          "cuMemcpyDtoHAsync");
    check(api().cuStreamSynchronize(s.handle()), "cuStreamSynchronize");
  }
  // Every stream of the device.
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
  void matmul_impl(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* epilogue,
                   MatmulPrecision precision) override {
    cuda::matmul(target(out.device().index), a, b, out, epilogue, precision == MatmulPrecision::High);
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
        d->index = int(v->size());
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

 public:
  Device_& at(int index) const { return *devices().at(size_t(index)); }

 private:
  // Fills a host tensor shaped like `out` (contiguous) and copies it into out.
  template <class Fill>
  void via_host(const Tensor& out, Fill&& fill) {
    const Tensor h = empty(out.shape(), out.dtype(), tl::Device{DeviceType::CPU, 0});
    fill(h);
    write(*out.buffer(), size_t(out.offset() * itemsize(out.dtype())), h.data_ptr(), size_t(out.nbytes()));
  }
  // What the kernels need of a device, made once (its stream and counters are the calling
  // thread's current stream's: cuda_stream.h).
  const Target& target(int index) const {
    Device_& dev = at(index);
    std::call_once(dev.target_once, [&] {
      const DeviceInfo& d = dev.info;
      dev.target = std::make_unique<Target>(Target{
          d.cc_major, d.cc_minor, d.sms, d.ctx,
          [this, index](size_t n) { return const_cast<CudaBackend*>(this)->allocate(index, n); }, index});
    });
    return *dev.target;
  }
  void activate(int index) const { check(api().cuCtxSetCurrent(at(index).info.ctx), "cuCtxSetCurrent"); }
};

CudaBackend& backend() {
  static CudaBackend* b = new CudaBackend();  // never destroyed, as the CPU backend
  return *b;
}

}  // namespace

Backend& cuda_backend() { return backend(); }

CUcontext device_context(int index) {
  if (index < 0 || index >= backend().device_count()) {
    backend_for(tl::Device{DeviceType::CUDA, index});  // DeviceError naming why CUDA is absent
    throw_device("no CUDA device " + std::to_string(index));
  }
  return backend().at(index).info.ctx;
}

void on_side_stream(int index) {
  Device_& d = backend().at(index);
  Stream& def = default_stream(index);
  d.pool->fence([&](uint64_t stream) { return stream == def.id() ? record_pool_event(def) : nullptr; });
}

void record_stream(const Buffer& b, StreamPtr s) {
  if (b.device().type != DeviceType::CUDA || b.nbytes() == 0) return;  // not the pool's (DLPack)
  if (s->device() != b.device().index)
    throw_value("record_stream: the stream is on cuda:" + std::to_string(s->device()) + ", the tensor on " +
                b.device().str());
  Device_& d = backend().at(b.device().index);
  std::lock_guard lock(d.recorded_mu);
  std::vector<StreamPtr>& streams = d.recorded[b.data()];
  for (const StreamPtr& x : streams)
    if (x == s) return;
  streams.push_back(std::move(s));
  d.any_recorded.store(true);
}

}  // namespace tl::cuda
