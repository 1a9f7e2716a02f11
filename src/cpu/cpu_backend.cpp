#include "cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cpu/elementwise.h"
#include "cpu/fused.h"
#include "cpu/gather.h"
#include "cpu/matmul.h"
#include "cpu/random.h"
#include "cpu/reduce.h"
#include "cpu/scan.h"

namespace tl::cpu {
namespace {

// 64-byte aligned host memory. Blocks of 2 MiB and more are aligned to 2 MiB and offered to
// the kernel as transparent huge pages: large streaming kernels then take far fewer TLB
// misses (a 64 MB scan ran about 25% faster).
class AlignedAllocator final : public RawAllocator {
 public:
  void* allocate(size_t nbytes) override {
    if (nbytes < kHugePage) return std::aligned_alloc(64, nbytes);
    void* p = std::aligned_alloc(kHugePage, (nbytes + kHugePage - 1) / kHugePage * kHugePage);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) madvise(p, nbytes, MADV_HUGEPAGE);
#endif
    return p;
  }
  void release(void* p, size_t) override { std::free(p); }

 private:
  static constexpr size_t kHugePage = size_t(2) << 20;
};

constexpr size_t kDefaultCacheLimit = size_t(1) << 30;

class CpuBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CPU; }
  int device_count() const override { return 1; }
  std::string device_name(int) const override { return "cpu"; }

  BufferPtr allocate(int, size_t nbytes) override {
    BufferCache::Block b = pool_.acquire(nbytes);
    return std::make_shared<Buffer>(b.ptr, nbytes, Device{DeviceType::CPU, 0},
                                    [this, b] { pool_.recycle(b); });
  }
  PoolStats memory_stats(int) override { return pool_.stats(); }
  void empty_cache(int) override { pool_.empty_cache(); }
  void set_memory_limit(int, size_t bytes) override { pool_.set_memory_limit(bytes); }
  bool host_visible() const override { return true; }
  void write(const Buffer& dst, size_t off, const void* src, size_t n) override {
    if (n) std::memcpy(static_cast<char*>(dst.data()) + off, src, n);
  }
  void read(const Buffer& src, size_t off, void* dst, size_t n) override {
    if (n) std::memcpy(dst, static_cast<const char*>(src.data()) + off, n);
  }
  void synchronize(int) override {}

 protected:

  void elementwise_impl(OpCode op, DType compute, std::span<const Tensor> in, const Tensor& out) override {
    cpu::elementwise(op, compute, in, out);
  }
  void reduce_impl(ReduceOp op, const Tensor& in, std::span<const int> axes, const Tensor& out) override {
    cpu::reduce(op, in, axes, out);
  }
  void scan_impl(ScanOp op, const Tensor& in, int axis, const Tensor& out) override {
    cpu::scan(op, in, axis, out);
  }
  bool matmul_takes_epilogue() const override { return true; }
  // (float32 products in float32 at every precision: the CPU has no tf32 arithmetic)
  void matmul_impl(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* epilogue,
                   MatmulPrecision) override {
    cpu::matmul(a, b, out, epilogue);
  }
  void gather_impl(const Tensor& src, int split, const Tensor& offsets, const Tensor& out) override {
    cpu::gather(src, split, offsets, out);
  }
  void scatter_impl(const Tensor& dst, int split, const Tensor& offsets, const Tensor& values) override {
    cpu::scatter(dst, split, offsets, values);
  }
  void random_impl(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
              const Tensor& out) override {
    cpu::random(dist, seed, counter, a, b, out);
  }
  void arange_impl(double start, double step, const Tensor& out) override {
    cpu::arange(start, step, out);
  }
  void fused_impl(const ir::Kernel& kernel, std::span<const BufferPtr> bindings) override {
    cpu::run_fused(kernel, bindings);
  }

 private:
  AlignedAllocator raw_;
  BufferCache pool_{raw_, kDefaultCacheLimit, "cpu"};
};

}  // namespace

Backend& cpu_backend() {
  // Never destroyed: buffers held by Python objects may outlive static destructors.
  static CpuBackend* b = new CpuBackend();
  return *b;
}

}  // namespace tl::cpu
