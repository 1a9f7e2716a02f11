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

bool BufferCache::take_cached(size_t size, Block& out) {
  auto it = by_size_.lower_bound(size);
  // Bounded waste: reuse a block at most one size class (25%) larger than asked.
  if (it == by_size_.end() || it->first > size + size / 4) return false;
  out = *it->second;
  lru_.erase(it->second);
  by_size_.erase(it);
  stats_.bytes_cached -= int64_t(out.size);
  return true;
}

void BufferCache::evict_until(size_t cached_target) {
  while (size_t(stats_.bytes_cached) > cached_target && !lru_.empty()) {
    Block b = lru_.back();
    auto range = by_size_.equal_range(b.size);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == std::prev(lru_.end())) {
        by_size_.erase(it);
        break;
      }
    }
    lru_.pop_back();
    stats_.bytes_cached -= int64_t(b.size);
    raw_.release(b.ptr, b.size);
    ++stats_.system_frees;
  }
}

BufferCache::Block BufferCache::acquire(size_t nbytes) {
  if (nbytes > (size_t(1) << 56))  // far beyond any device; also keeps rounding from wrapping
    throw_memory(std::string(device_name_) + " out of memory: cannot allocate " +
                 std::to_string(nbytes) + " bytes");
  size_t size = round_size(nbytes);
  std::lock_guard lock(mu_);
  Block b;
  if (take_cached(size, b)) {
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
    b = Block{p, size};
  }
  stats_.bytes_in_use += int64_t(b.size);
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return b;
}

void BufferCache::recycle(Block b) {
  std::lock_guard lock(mu_);
  stats_.bytes_in_use -= int64_t(b.size);
  lru_.push_front(b);
  by_size_.emplace(b.size, lru_.begin());
  stats_.bytes_cached += int64_t(b.size);
  evict_until(size_t(stats_.cache_limit));
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
