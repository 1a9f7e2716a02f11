#pragma once
// The pool of one Metal device: src/core's BufferCache over shared (unified-memory)
// MTLBuffers, plus the one thing the GPU adds: a block whose last reference dies while a
// command buffer that uses it may still run goes to a pending list keyed by that command
// buffer's sequence number, and into the cache only once every command buffer up to that
// number has completed (retire()). Pending blocks count as in use in the stats: the GPU is
// still using them. Out of memory: BufferCache frees its cache and retries; if that fails
// and blocks are pending, `drain` (commit everything, wait for it) returns them, and the
// request is tried once more before the MemoryError goes to the caller. Thread-safe.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/buffer_cache.h"

namespace tl::metal {

class DeferredPool {
 public:
  using Drain = std::function<void()>;
  DeferredPool(RawAllocator& raw, size_t cache_limit, Drain drain);

  BufferCache::Block acquire(size_t nbytes);
  // The block at `ptr` is used by command buffer `seq` (called as kernels are encoded).
  void note_use(const void* ptr, uint64_t seq);
  // The block's last reference died.
  void release(BufferCache::Block b);
  // Command buffers 1..completed_through have completed.
  void retire(uint64_t completed_through);
  // The command buffer that last used the block at `ptr` (0: none, or all completed).
  uint64_t last_use(const void* ptr) const;
  size_t pending_blocks() const;

  PoolStats stats() const { return cache_.stats(); }
  // Frees cached blocks; pending ones follow the cache once their command buffers complete.
  void empty_cache() { cache_.empty_cache(); }
  void set_memory_limit(size_t bytes) { cache_.set_memory_limit(bytes); }

 private:
  BufferCache cache_;
  const Drain drain_;
  mutable std::mutex mu_;
  uint64_t retired_ = 0;
  std::unordered_map<const void*, uint64_t> last_use_;  // only while possibly in flight
  std::multimap<uint64_t, BufferCache::Block> pending_;
};

}  // namespace tl::metal
