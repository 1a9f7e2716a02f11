#pragma once
// Compiling and launching CUDA kernels: the source every kernel starts with, NVRTC for the
// device's exact architecture, a cache in memory and on disk (cubins, see
// core/kernel_cache.h), and the by-value argument block each kernel takes.
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "cuda/cuda_api.h"

namespace tl::cuda {

struct Target {
  int cc_major, cc_minor, sms;
  CUcontext ctx;
  std::function<BufferPtr(size_t)> scratch;  // device memory from the pool, for partials
  int device = 0;
  // The stream work goes on: the calling thread's current stream on the device (cuda_stream.h).
  CUstream stream() const;
  // kCounters zeroed 32-bit counters of that stream: a kernel that counts in them leaves them
  // zero again (kernels on one stream never overlap).
  unsigned* counters() const;
};
constexpr size_t kCounters = 1 << 16;

// A header of the library (plain C++ marked TL_HD) as NVRTC takes it: its standard includes
// dropped and std:: math calls routed to CUDA's.
std::string header_for_nvrtc(const char* header);

// Fixed-width types, the scalar math of src/core/scalar_math.h, the float16/bfloat16
// storage types tl_f16 and tl_bf16, tl_from<S, C> (storage conversions), and tl_unravel.
const std::string& common_source();

// The kernel `entry` of `source`, compiled for the target (once per process and arch; the
// cubin is kept on disk too). DeviceError, with NVRTC's log, when it does not compile.
// arch_specific: for the target's architecture-specific variant (sm_90a: wgmma, setmaxnreg),
// whose code runs on that architecture only.
CUfunction kernel_function(const Target& target, const std::string& source, const char* entry,
                           bool arch_specific = false);

// The same, found by `key` (whatever decides the source, short to build) before `source()` is
// called to print it: a kernel seen before costs no code generation.
CUfunction kernel_function_by_key(const Target& target, const std::string& key,
                                  const std::function<std::string()>& source, const char* entry,
                                  bool arch_specific = false);

// A kernel's single by-value struct argument, every field 8 bytes wide.
class ArgPack {
 public:
  template <class T>
  void put(T v) {
    static_assert(sizeof(T) <= 8);
    uint64_t w = 0;
    std::memcpy(&w, &v, sizeof(T));
    words_.push_back(w);
  }
  // Each tensor's buffer address, then each tensor's offset (in elements).
  void tensors(std::initializer_list<const Tensor*> ts);
  // int64_t st[operands][rank] (operand j's stride along each merged dim), then
  // int64_t shape[rank]: as tl_unravel reads them.
  void dims(const MergedDims& m, size_t operands);
  // smem: dynamic shared memory bytes (past 48 KiB only once the kernel's limit was raised).
  void launch(const Target& t, CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned threads,
              unsigned threads_y = 1, unsigned smem = 0) const;

 private:
  std::vector<uint64_t> words_;
};

}  // namespace tl::cuda
