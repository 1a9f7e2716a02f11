#pragma once
// The narrow interface every backend implements: memory (through its BufferCache pool),
// host transfers, synchronization, and a small set of kernels. Every tensor passed to a
// kernel lives on the backend's device; outputs are preallocated by the caller (src/core
// ops infer shapes and dtypes and check arguments before calling in).
#include <span>
#include <string>

#include "core/buffer_cache.h"
#include "core/op_table.h"
#include "core/tensor.h"

namespace tl {
namespace ir {
struct Kernel;
}

// A fused elementwise kernel a matmul applies to its result before the result is read by
// anything else (bias, activation, residual, scale, cast): the matmul's output is binding
// `acc_slot` of the kernel, read with the output's own contiguous strides.
struct Epilogue {
  const ir::Kernel& kernel;
  std::span<const BufferPtr> bindings;
  int acc_slot;
};

// How float32 matmuls may multiply (tl.set_float32_matmul_precision): Highest in float32;
// High with the operands rounded to tf32 (10 mantissa bits, float32 sums) where the backend
// has tensor cores for it, else as Highest. Other dtypes ignore it.
enum class MatmulPrecision : uint8_t { Highest, High };

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Any, All, ArgMax, ArgMin };
enum class ScanOp : uint8_t { CumSum, CumProd };
enum class RandomDist : uint8_t { Uniform, Normal, Bits };

class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceType type() const = 0;
  virtual int device_count() const = 0;  // 0 when unavailable
  virtual std::string device_name(int index) const = 0;
  virtual std::string unavailable_reason() const { return ""; }
  // A backend still being built: its devices are listed and usable by name, but never the
  // default device, and tl._core.backend_status() says "preview".
  virtual bool preview() const { return false; }

  // Memory. The pool hands out every buffer.
  virtual BufferPtr allocate(int index, size_t nbytes) = 0;
  virtual PoolStats memory_stats(int index) = 0;
  virtual void empty_cache(int index) = 0;
  virtual void set_memory_limit(int index, size_t bytes) = 0;
  // Whether the host may read and write a buffer's memory directly (CPU, unified memory).
  virtual bool host_visible() const = 0;
  // The contract of host-visible memory: returns once no device work queued or running uses
  // `b` (reads or writes it), so that the host may read and write its bytes in place; throws
  // the device's pending error, if any. Core code calls it before every direct access to a
  // host-visible buffer (host_data() in ops.h, DLPack export): a backend that queues work
  // (Metal's command buffers) waits here. The default suits backends that finish each call
  // before returning (CPU). Never called for backends that are not host_visible().
  virtual void before_host_access(const Buffer& b) { (void)b; }
  virtual void write(const Buffer& dst, size_t offset, const void* src, size_t nbytes) = 0;
  virtual void read(const Buffer& src, size_t offset, void* dst, size_t nbytes) = 0;
  virtual void synchronize(int index) = 0;

  // Kernels. Each public call is counted (and, on request, timed, named and recorded) by
  // the profiler, then runs the backend's *_impl below.
  //
  // out = op(inputs...) computed in `compute` (float32, float64 or int64); inputs already
  // broadcast to out's shape (stride 0 on broadcast dims), any dtype and strides; out may be
  // a strided view.
  void elementwise(OpCode op, DType compute, std::span<const Tensor> inputs, const Tensor& out);
  // Reduce `in` over `axes` (sorted, unique) into out (shape of `in` without those axes).
  // ArgMax/ArgMin take exactly one axis and write int64 indices.
  void reduce(ReduceOp op, const Tensor& in, std::span<const int> axes, const Tensor& out);
  void scan(ScanOp op, const Tensor& in, int axis, const Tensor& out);
  // out[..., m, n] = sum_k a[..., m, k] * b[..., k, n]; batch dims already broadcast. With
  // an epilogue (only where matmul_takes_epilogue()), runs it on each finished block of out.
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* epilogue = nullptr,
              MatmulPrecision precision = MatmulPrecision::Highest);
  virtual bool matmul_takes_epilogue() const { return false; }
  // Which of its matmul kernels the calling thread's last matmul ran, for the profiler ("" for
  // a backend with one).
  virtual std::string last_matmul_kernel() const { return ""; }
  // out[p, i, q] = element at src.offset + p.src_strides[:split] + offsets[i] +
  // q.src_strides[split:]; p and q span src's dims before and after `split`, i spans
  // offsets' shape. scatter is the reverse, writing values (shaped like out) into dst.
  void gather(const Tensor& src, int split, const Tensor& offsets, const Tensor& out);
  void scatter(const Tensor& dst, int split, const Tensor& offsets, const Tensor& values);
  // Fill out (contiguous) from the Philox stream: element i uses counter `counter + i`.
  void random(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
              const Tensor& out);
  void arange(double start, double step, const Tensor& out);
  // Runs one fused kernel of the fusion IR; bindings[slot] is the buffer of each Load/Store
  // slot (outputs freshly allocated, nothing else writes them).
  void fused(const ir::Kernel& kernel, std::span<const BufferPtr> bindings);

 protected:
  virtual void elementwise_impl(OpCode op, DType compute, std::span<const Tensor> inputs,
                                const Tensor& out) = 0;
  virtual void reduce_impl(ReduceOp op, const Tensor& in, std::span<const int> axes,
                           const Tensor& out) = 0;
  virtual void scan_impl(ScanOp op, const Tensor& in, int axis, const Tensor& out) = 0;
  virtual void matmul_impl(const Tensor& a, const Tensor& b, const Tensor& out,
                           const Epilogue* epilogue, MatmulPrecision precision) = 0;
  virtual void gather_impl(const Tensor& src, int split, const Tensor& offsets,
                           const Tensor& out) = 0;
  virtual void scatter_impl(const Tensor& dst, int split, const Tensor& offsets,
                            const Tensor& values) = 0;
  virtual void random_impl(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
                           const Tensor& out) = 0;
  virtual void arange_impl(double start, double step, const Tensor& out) = 0;
  virtual void fused_impl(const ir::Kernel& kernel, std::span<const BufferPtr> bindings) = 0;
};

// The backend serving a device type; nullptr when none is compiled in.
Backend* backend_for(DeviceType type);
// Throws DeviceError when the device is absent (naming the reason).
Backend& backend_for(Device device);

}  // namespace tl
