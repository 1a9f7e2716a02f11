// The Metal calls behind MetalDevice: shared buffers, libraries and pipelines, encoding into
// the open command buffer, commit with a completion handler, and device discovery.
#include "metal/metal_device.h"

#include <TargetConditionals.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/profiler.h"

namespace tl::metal {
namespace {

constexpr size_t kDefaultCacheLimit = size_t(1) << 30;
constexpr size_t kSetBytesLimit = 4096;  // Metal's bound for setBytes

std::string ns_str(NSString* s) { return s ? std::string(s.UTF8String) : std::string(); }

}  // namespace

void* SharedAllocator::allocate(size_t nbytes) {
  @autoreleasepool {
    id<MTLBuffer> b = [device_ newBufferWithLength:nbytes options:MTLResourceStorageModeShared];
    if (!b) return nullptr;  // out of memory: the pool frees its cache and retries
    std::lock_guard lock(mu_);
    buffers_[b.contents] = b;
    return b.contents;
  }
}

void SharedAllocator::release(void* ptr, size_t) {
  std::lock_guard lock(mu_);
  buffers_.erase(ptr);  // the last reference: ARC frees the MTLBuffer
}

id<MTLBuffer> SharedAllocator::find(const void* contents) const {
  std::lock_guard lock(mu_);
  auto it = buffers_.find(contents);
  return it == buffers_.end() ? nil : it->second;
}

MetalDevice::MetalDevice(id<MTLDevice> device, int index)
    : device_(device),
      queue_([device newCommandQueue]),
      index_(index),
      raw_(device),
      batcher_(BatchLimits{}, [this](uint64_t through) { pool_.retire(through); }),
      pool_(raw_, kDefaultCacheLimit, [this] { drain(); }) {
  if (!queue_) throw_device("Metal: could not create a command queue on " + name());
}

std::string MetalDevice::name() const { return ns_str(device_.name); }

BufferPtr MetalDevice::allocate(size_t nbytes) {
  BufferCache::Block b = pool_.acquire(nbytes);
  DeferredPool* pool = &pool_;
  // The block goes back through the pool, which holds it until its command buffers completed.
  return std::make_shared<Buffer>(b.ptr, nbytes, tl::Device{DeviceType::Metal, index_},
                                  [pool, b] { pool->release(b); });
}

id<MTLLibrary> MetalDevice::compile(const std::string& source, const std::string& what, bool show_source) {
  @autoreleasepool {
    MTLCompileOptions* options = [MTLCompileOptions new];
    options.fastMathEnabled = NO;  // the CPU's numerics: NaN tests, exact comparisons
    options.languageVersion = MTLLanguageVersion3_1;  // bfloat
    NSError* error = nil;
    id<MTLLibrary> library = [device_ newLibraryWithSource:@(source.c_str()) options:options error:&error];
    if (!library)
      throw_device("Metal: " + what + " does not compile: " + ns_str(error.localizedDescription) +
                   (show_source ? "\n--- source ---\n" + source : std::string()));
    return library;
  }
}

id<MTLComputePipelineState> MetalDevice::make_pipeline(id<MTLLibrary> library, const std::string& function) {
  @autoreleasepool {
    id<MTLFunction> fn = [library newFunctionWithName:@(function.c_str())];
    if (!fn) throw_device("Metal: no function " + function + " in its library");
    NSError* error = nil;
    id<MTLComputePipelineState> p = [device_ newComputePipelineStateWithFunction:fn error:&error];
    if (!p)
      throw_device("Metal: no pipeline for " + function + ": " + ns_str(error.localizedDescription));
    return p;
  }
}

id<MTLComputePipelineState> MetalDevice::pipeline(const char* source, const std::string& function) {
  return pipelines_.get(PipelineKey{reinterpret_cast<uintptr_t>(source), function},
                        [&]() -> id<MTLComputePipelineState> {
    id<MTLLibrary> library = static_libraries_[source];  // under pipelines_' lock
    if (!library)
      library = static_libraries_[source] = compile(source, "the static kernel library of " + function, false);
    return make_pipeline(library, function);
  });
}

id<MTLComputePipelineState> MetalDevice::fused_pipeline(const std::string& key, const std::string& entry,
                                                        const std::function<std::string()>& source) {
  // Library 0: generated kernels (static libraries are keyed by their source's address).
  return pipelines_.get(PipelineKey{0, key + "/" + entry}, [&]() -> id<MTLComputePipelineState> {
    if (!generated_library_ || generated_key_ != key) {
      const std::string text = source();
      if (profiler::debug_level() >= 3) std::fprintf(stderr, "[tensorlogic] Metal source:\n%s\n", text.c_str());
      generated_library_ = compile(text, "the generated kernel " + entry, true);
      generated_key_ = key;
    }
    return make_pipeline(generated_library_, entry);
  });
}

void MetalDevice::launch(const KernelLaunch& l) {
  const NSUInteger group = l.threadgroup.width * l.threadgroup.height * l.threadgroup.depth;
  if (group > l.pipeline.maxTotalThreadsPerThreadgroup)
    throw_device("Metal kernel " + l.name + " needs " + std::to_string(group) +
                 " threads per threadgroup; this GPU allows " +
                 std::to_string(l.pipeline.maxTotalThreadsPerThreadgroup));
  // Byte blocks too large for setBytes go through pool buffers, allocated before encoding
  // starts (an allocation may drain the queue). They die at the end of this call; the pool
  // keeps their blocks until the command buffer completes.
  std::vector<BufferPtr> staged;
  for (const auto& block : l.bytes) {
    if (block.size() <= kSetBytesLimit) continue;
    staged.push_back(allocate(block.size()));
    std::memcpy(staged.back()->data(), block.data(), block.size());
  }
  size_t touched = 0;
  for (const BoundBuffer& b : l.buffers) touched += b.buffer->nbytes();
  std::lock_guard lock(mu_);
  @autoreleasepool {
    if (!cb_) {
      // Unretained: the pool, not the command buffer, keeps every bound buffer alive.
      cb_ = [queue_ commandBufferWithUnretainedReferences];
      encoder_ = [cb_ computeCommandEncoder];  // serial dispatch: kernels see earlier writes
    }
    const uint64_t seq = batcher_.add_kernel(l.name, touched);
    [encoder_ setComputePipelineState:l.pipeline];
    NSUInteger index = 0;
    auto bind = [&](const void* contents, size_t offset) {
      id<MTLBuffer> mb = raw_.find(contents);
      if (!mb) throw_value("Metal kernel " + l.name + ": an operand is not in Metal memory");
      [encoder_ setBuffer:mb offset:offset atIndex:index++];
      pool_.note_use(contents, seq);
    };
    for (const BoundBuffer& b : l.buffers) bind(b.buffer->data(), b.offset);
    size_t next_staged = 0;
    for (const auto& block : l.bytes) {
      if (block.size() <= kSetBytesLimit)
        [encoder_ setBytes:block.data() length:block.size() atIndex:index++];
      else
        bind(staged[next_staged++]->data(), 0);
    }
    if (l.dispatch_threads)
      [encoder_ dispatchThreads:l.grid threadsPerThreadgroup:l.threadgroup];
    else
      [encoder_ dispatchThreadgroups:l.grid threadsPerThreadgroup:l.threadgroup];
    if (batcher_.full()) commit_locked();
  }
}

void MetalDevice::commit_locked() {
  if (!cb_) return;
  @autoreleasepool {
    [encoder_ endEncoding];
    const uint64_t seq = batcher_.close();  // waits while too many command buffers run
    CommandBatcher* batcher = &batcher_;    // devices live as long as the process
    [cb_ addCompletedHandler:^(id<MTLCommandBuffer> done) {
      std::string error;
      if (done.status == MTLCommandBufferStatusError)
        error = done.error ? ns_str(done.error.localizedDescription) : "unknown error";
      batcher->completed(seq, error);
    }];
    [cb_ commit];
    last_committed_ = seq;
    cb_ = nil;
    encoder_ = nil;
  }
}

void MetalDevice::wait_for(const Buffer& b) {
  const uint64_t seq = pool_.last_use(b.data());
  if (seq) {
    {
      std::lock_guard lock(mu_);
      if (seq == batcher_.open()) commit_locked();
    }
    batcher_.wait(seq);
  }
  batcher_.check();
}

void MetalDevice::drain() {
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    commit_locked();
    seq = last_committed_;
  }
  batcher_.wait(seq);
}

void MetalDevice::synchronize() {
  drain();
  batcher_.check();
}

double MetalDevice::time_kernels(const std::function<void()>& encode) {
  synchronize();
  encode();  // into a fresh command buffer (nothing else is open now)
  id<MTLCommandBuffer> cb = nil;
  uint64_t seq = 0;
  {
    std::lock_guard lock(mu_);
    cb = cb_;
    commit_locked();
    seq = last_committed_;
  }
  if (!cb) return -1;
  batcher_.wait(seq);
  batcher_.check();
  return cb.GPUEndTime - cb.GPUStartTime;
}

std::vector<MetalDevice*>& devices() {
  // Never destroyed: buffers held by Python objects may outlive static destructors.
  static std::vector<MetalDevice*>* all = [] {
    auto* v = new std::vector<MetalDevice*>();
    @autoreleasepool {
      id<MTLDevice> first = MTLCreateSystemDefaultDevice();  // "metal:0"
      if (!first) return v;
      v->push_back(new MetalDevice(first, 0));
#if TARGET_OS_OSX
      for (id<MTLDevice> d in MTLCopyAllDevices())
        if (d.registryID != first.registryID) v->push_back(new MetalDevice(d, int(v->size())));
#endif
    }
    return v;
  }();
  return *all;
}

}  // namespace tl::metal
