#pragma once
// The one buffer-cache algorithm shared by every device pool: blocks rounded to byte size
// classes, reuse of a cached block when the waste stays bounded, LRU eviction down to a cache
// limit, an optional limit on all memory held, and stats. The backend supplies the raw
// allocator (aligned host memory, cuMemAlloc, MTLBuffer) and decides when a freed block is
// safe to recycle (e.g. after its command buffer completed) before calling recycle().
//
// Stream order (CUDA): a block remembers the stream it was acquired on. Freed, it is reused at
// once by later requests on that same stream (the stream runs them after every earlier use),
// and by another stream only once the event recorded on its stream when it was freed has
// completed (queried in acquire, never waited on). Devices without streams (CPU, Metal) pass
// stream 0 and no event: one stream, immediate reuse.
#include <cstddef>
#include <cstdint>
#include <list>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

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

// A point in one stream's queued work (a CUDA event recorded when a block was freed).
class StreamEvent {
 public:
  virtual ~StreamEvent() = default;
  virtual bool done() = 0;  // whether the work before it has completed; never waits
  virtual void wait() = 0;  // blocks until it has
};
using StreamEventPtr = std::shared_ptr<StreamEvent>;

class BufferCache {
 public:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;      // the rounded size
    uint64_t stream = 0;  // the stream it was acquired on (0: devices without streams)
  };
  // A block recycled with this stream is reused by no stream before its event completes
  // (a buffer used on several streams).
  static constexpr uint64_t kNoStream = ~uint64_t(0);

  BufferCache(RawAllocator& raw, size_t cache_limit, const char* device_name);
  ~BufferCache();

  static size_t round_size(size_t nbytes);

  // A block of at least nbytes for work on `stream`: one freed on that stream, else one
  // freed on another stream whose event has completed, else new memory. Out of memory (or
  // over the limit): frees the cache (the raw allocator's release waits for pending work),
  // retries, then throws MemoryError naming the request and the pool state.
  Block acquire(size_t nbytes, uint64_t stream = 0);
  // Gives a block back for reuse; evicts least recently freed blocks past the cache limit.
  // `freed`: an event on b.stream at the free, after which any stream may reuse the block;
  // without one only b.stream reuses it.
  void recycle(Block b, StreamEventPtr freed = nullptr);
  // Gives every cached block that has no event one, from record(its stream) (one per
  // stream): when a device starts using a second stream. A null result leaves them as they are.
  void fence(const std::function<StreamEventPtr(uint64_t stream)>& record);

  void empty_cache();
  void set_memory_limit(size_t bytes);  // 0 removes the limit
  void set_cache_limit(size_t bytes);
  PoolStats stats() const;

 private:
  struct Cached {
    Block block;
    StreamEventPtr freed;
  };
  using Lru = std::list<Cached>;
  using BySize = std::multimap<size_t, Lru::iterator>;

  bool take_cached(size_t size, uint64_t stream, Block& out);
  void take(std::unordered_map<uint64_t, BySize>::iterator index, BySize::iterator it, Block& out);
  void evict_until(size_t cached_target);

  RawAllocator& raw_;
  const char* device_name_;
  mutable std::mutex mu_;
  Lru lru_;  // most recently freed at the front
  std::unordered_map<uint64_t, BySize> by_stream_;  // cached blocks of each stream, by size
  // The index of the stream seen last (most requests come from one stream): no hashing.
  uint64_t hot_stream_ = 0;
  BySize* hot_ = nullptr;
  BySize& index_of(uint64_t stream);  // made if absent
  void drop_index(std::unordered_map<uint64_t, BySize>::iterator index);
  PoolStats stats_;
};

}  // namespace tl
