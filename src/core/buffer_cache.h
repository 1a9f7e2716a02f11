#pragma once
// The one buffer-cache algorithm shared by every device pool: blocks rounded to byte size
// classes, reuse of a cached block when the waste stays bounded, LRU eviction down to a cache
// limit, an optional limit on all memory held, and stats. The backend supplies the raw
// allocator (aligned host memory, cuMemAlloc, MTLBuffer) and decides when a freed block is
// safe to recycle (e.g. after its stream work completed) before calling recycle().
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>

namespace tl {

struct PoolStats {
  int64_t bytes_in_use = 0;       // handed out to live buffers (rounded sizes)
  int64_t bytes_cached = 0;       // held by the pool, free for reuse
  int64_t peak_bytes_in_use = 0;
  int64_t pool_hits = 0;          // requests served from the cache
  int64_t pool_misses = 0;        // requests that went to the system allocator
  int64_t system_allocations = 0;
  int64_t system_frees = 0;
  int64_t cache_limit = 0;
  int64_t memory_limit = 0;       // 0: no limit
};

class RawAllocator {
 public:
  virtual ~RawAllocator() = default;
  virtual void* allocate(size_t nbytes) = 0;  // nullptr when the system is out of memory
  virtual void release(void* ptr, size_t nbytes) = 0;
};

class BufferCache {
 public:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;  // the rounded size
  };

  BufferCache(RawAllocator& raw, size_t cache_limit, const char* device_name);
  ~BufferCache();

  static size_t round_size(size_t nbytes);

  // A block of at least nbytes. Out of memory (or over the limit): frees the cache, retries,
  // then throws MemoryError naming the request and the pool state.
  Block acquire(size_t nbytes);
  // Gives a block back for reuse; evicts least recently freed blocks past the cache limit.
  void recycle(Block b);

  void empty_cache();
  void set_memory_limit(size_t bytes);  // 0 removes the limit
  void set_cache_limit(size_t bytes);
  PoolStats stats() const;

 private:
  bool take_cached(size_t size, Block& out);
  void evict_until(size_t cached_target);

  RawAllocator& raw_;
  const char* device_name_;
  mutable std::mutex mu_;
  using Lru = std::list<Block>;
  Lru lru_;  // most recently freed at the front
  std::multimap<size_t, Lru::iterator> by_size_;
  PoolStats stats_;
};

}  // namespace tl
