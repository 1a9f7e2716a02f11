#pragma once
// One Metal device as the backend uses it (Objective-C++; include from .mm files only): its
// command queue, the pool of shared MTLBuffers, the open command buffer with its one compute
// encoder, and compiled pipelines. Policy lives in portable classes (CommandBatcher,
// DeferredPool, PipelineCache); this class only makes the Metal calls they decide on.
// Thread-safe: encoding and committing hold `mu_`; completion handlers run on Metal's
// threads and touch only the batcher (and through it the pool).
#import <Metal/Metal.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "metal/metal_batch.h"
#include "metal/metal_pool.h"
#include "metal/pipeline_cache.h"

namespace tl::metal {

// Shared-storage MTLBuffers (unified memory): the pool hands out their contents pointers,
// and finds the MTLBuffer again when a kernel binds one.
class SharedAllocator final : public RawAllocator {
 public:
  explicit SharedAllocator(id<MTLDevice> device) : device_(device) {}
  void* allocate(size_t nbytes) override;
  void release(void* ptr, size_t nbytes) override;
  id<MTLBuffer> find(const void* contents) const;

 private:
  id<MTLDevice> device_;
  mutable std::mutex mu_;
  std::unordered_map<const void*, id<MTLBuffer>> buffers_;
};

// A buffer bound at a byte offset (aligned to the element type, as Metal requires).
struct BoundBuffer {
  const Buffer* buffer;
  size_t offset = 0;
};

// One kernel launch: buffers bind at indices 0.., then the byte blocks (setBytes, or a
// pool buffer past 4 KiB) at the following indices.
struct KernelLaunch {
  id<MTLComputePipelineState> pipeline;
  std::string name;  // for errors and the batch's bound
  std::vector<BoundBuffer> buffers;
  std::vector<std::vector<uint8_t>> bytes;
  MTLSize grid;        // threads (dispatch_threads) or threadgroups
  MTLSize threadgroup;
  bool dispatch_threads = false;
};

class MetalDevice {
 public:
  MetalDevice(id<MTLDevice> device, int index);
  std::string name() const;
  int index() const { return index_; }

  BufferPtr allocate(size_t nbytes);
  DeferredPool& pool() { return pool_; }
  // The pipeline of function `function` in a static .metal file's `source` (embedded, told
  // apart by its address), the file compiled once on first use. DeviceError with the
  // compiler's message when it does not compile.
  id<MTLComputePipelineState> pipeline(const char* source, const std::string& function);
  // The pipeline of function `entry` of a generated kernel, found by its launch key
  // (msl_kernels.h) before `source()` is called to print its MSL: a kernel seen before costs
  // no code generation, and the steps of a split kernel share one compiled library.
  // DeviceError with the compiler's message and the source.
  id<MTLComputePipelineState> fused_pipeline(const std::string& key, const std::string& entry,
                                             const std::function<std::string()>& source);
  void launch(const KernelLaunch& l);
  // Returns once the GPU is done with `b` (committing the open command buffer if it uses b);
  // throws the first command-buffer error since the last check.
  void wait_for(const Buffer& b);
  // Commits and waits for everything; throws the first error since the last check.
  void synchronize();
  // The GPU's seconds for the kernels `encode` launches, run in a command buffer of their own
  // once everything before has completed (for autotuning); negative when nothing ran.
  double time_kernels(const std::function<void()>& encode);

 private:
  void commit_locked();
  id<MTLLibrary> compile(const std::string& source, const std::string& what, bool show_source);
  id<MTLComputePipelineState> make_pipeline(id<MTLLibrary> library, const std::string& function);
  void drain();  // commit and wait, no error check (the pool's out-of-memory path)

  id<MTLDevice> device_;
  id<MTLCommandQueue> queue_;
  const int index_;
  SharedAllocator raw_;
  CommandBatcher batcher_;
  DeferredPool pool_;
  PipelineCache<id<MTLComputePipelineState>> pipelines_{512};
  // Each metal/*.metal file compiled once; touched only under pipelines_' lock.
  std::unordered_map<const char*, id<MTLLibrary>> static_libraries_;
  // The generated library compiled last, and its launch key: a split kernel's steps are
  // functions of one source, looked up one after another. Under pipelines_' lock.
  std::string generated_key_;
  id<MTLLibrary> generated_library_ = nil;
  std::recursive_mutex mu_;  // the open command buffer and its encoder
  id<MTLCommandBuffer> cb_ = nil;
  id<MTLComputeCommandEncoder> encoder_ = nil;
  uint64_t last_committed_ = 0;
};

// Every Metal device, found once (empty where Metal has none).
std::vector<MetalDevice*>& devices();

}  // namespace tl::metal
