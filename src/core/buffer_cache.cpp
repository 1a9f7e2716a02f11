#include "core/buffer_cache.h"

#include <algorithm>
#include <bit>
#include <string>

#include "core/error.h"

namespace tl {

BufferCache::BufferCache(RawAllocator& raw, size_t cache_limit, const char* device_name)
    : raw_(raw), device_name_(device_name) {
  stats_.cache_limit = int64_t(cache_limit);
}

BufferCache::~BufferCache() { empty_cache(); }

size_t BufferCache::round_size(size_t n) {
  if (n <= 512) return ((std::max<size_t>(n, 1) + 63) / 64) * 64;
  // Four classes per power of two: at most 25% waste from rounding.
  size_t step = std::bit_floor(n) / 4;
  return ((n + step - 1) / step) * step;
}

BufferCache::BySize& BufferCache::index_of(uint64_t stream) {
  if (hot_ && hot_stream_ == stream) return *hot_;
  hot_ = &by_stream_[stream];  // (element addresses survive rehashing)
  hot_stream_ = stream;
  return *hot_;
}

void BufferCache::drop_index(std::unordered_map<uint64_t, BySize>::iterator index) {
  if (&index->second == hot_) hot_ = nullptr;
  by_stream_.erase(index);
}

void BufferCache::take(std::unordered_map<uint64_t, BySize>::iterator index, BySize::iterator it, Block& out) {
  out = it->second->block;
  lru_.erase(it->second);
  index->second.erase(it);
  if (index->second.empty()) drop_index(index);
  stats_.bytes_cached -= int64_t(out.size);
}

bool BufferCache::take_cached(size_t size, uint64_t stream, Block& out) {
  // Bounded waste: reuse a block at most one size class (25%) larger than asked.
  const size_t most = size + size / 4;
  if (hot_ && hot_stream_ == stream) {
    auto it = hot_->lower_bound(size);
    if (it != hot_->end() && it->first <= most) {
      out = it->second->block;
      lru_.erase(it->second);
      hot_->erase(it);  // (an empty index stays: it is the hot one)
      stats_.bytes_cached -= int64_t(out.size);
      return true;
    }
  } else if (auto own = by_stream_.find(stream); own != by_stream_.end()) {
    auto it = own->second.lower_bound(size);
    if (it != own->second.end() && it->first <= most) {
      take(own, it, out);
      return true;
    }
  }
  // Another stream's block, once the work queued on that stream before its free completed.
  // Queries are bounded: a stream far ahead of the others should not slow every request.
  int queries = 0;
  for (auto index = by_stream_.begin(); index != by_stream_.end(); ++index) {
    if (index->first == stream) continue;
    for (auto it = index->second.lower_bound(size); it != index->second.end() && it->first <= most; ++it) {
      const StreamEventPtr& ev = it->second->freed;
      if (!ev) continue;
      if (!ev->done()) {
        if (++queries >= 8) return false;
        continue;
      }
      take(index, it, out);  // (index may be gone: return at once)
      return true;
    }
  }
  return false;
}

void BufferCache::evict_until(size_t cached_target) {
  while (size_t(stats_.bytes_cached) > cached_target && !lru_.empty()) {
    const auto last = std::prev(lru_.end());
    const Block b = last->block;
    auto index = by_stream_.find(b.stream);
    auto range = index->second.equal_range(b.size);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == last) {
        index->second.erase(it);
        break;
      }
    }
    if (index->second.empty()) drop_index(index);
    lru_.pop_back();
    stats_.bytes_cached -= int64_t(b.size);
    raw_.release(b.ptr, b.size);
    ++stats_.system_frees;
  }
}

BufferCache::Block BufferCache::acquire(size_t nbytes, uint64_t stream) {
  if (nbytes > (size_t(1) << 56))  // far beyond any device; also keeps rounding from wrapping
    throw_memory(std::string(device_name_) + " out of memory: cannot allocate " +
                 std::to_string(nbytes) + " bytes");
  size_t size = round_size(nbytes);
  std::lock_guard lock(mu_);
  Block b;
  if (take_cached(size, stream, b)) {
    ++stats_.pool_hits;
  } else {
    ++stats_.pool_misses;
    auto over_limit = [&] {
      return stats_.memory_limit > 0 &&
             stats_.bytes_in_use + stats_.bytes_cached + int64_t(size) > stats_.memory_limit;
    };
    if (over_limit()) evict_until(0);
    void* p = over_limit() ? nullptr : raw_.allocate(size);
    if (!p) {
      evict_until(0);  // give the cache back to the system and retry once
      p = over_limit() ? nullptr : raw_.allocate(size);
    }
    if (!p)
      throw_memory(std::string(device_name_) + " out of memory: could not allocate " +
                   std::to_string(nbytes) + " bytes (in use " +
                   std::to_string(stats_.bytes_in_use) + " bytes, limit " +
                   (stats_.memory_limit ? std::to_string(stats_.memory_limit) + " bytes"
                                        : std::string("none")) +
                   ")");
    ++stats_.system_allocations;
    b = Block{p, size, stream};
  }
  b.stream = stream;
  stats_.bytes_in_use += int64_t(b.size);
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return b;
}

void BufferCache::recycle(Block b, StreamEventPtr freed) {
  std::lock_guard lock(mu_);
  stats_.bytes_in_use -= int64_t(b.size);
  lru_.push_front(Cached{b, std::move(freed)});
  index_of(b.stream).emplace(b.size, lru_.begin());
  stats_.bytes_cached += int64_t(b.size);
  evict_until(size_t(stats_.cache_limit));
}

void BufferCache::fence(const std::function<StreamEventPtr(uint64_t stream)>& record) {
  std::lock_guard lock(mu_);
  std::unordered_map<uint64_t, StreamEventPtr> made;
  for (Cached& c : lru_) {
    if (c.freed) continue;
    auto [it, fresh] = made.try_emplace(c.block.stream);
    if (fresh) it->second = record(c.block.stream);
    c.freed = it->second;
  }
}

void BufferCache::empty_cache() {
  std::lock_guard lock(mu_);
  evict_until(0);
}

void BufferCache::set_memory_limit(size_t bytes) {
  std::lock_guard lock(mu_);
  stats_.memory_limit = int64_t(bytes);
}

void BufferCache::set_cache_limit(size_t bytes) {
  std::lock_guard lock(mu_);
  stats_.cache_limit = int64_t(bytes);
  evict_until(bytes);
}

PoolStats BufferCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace tl
