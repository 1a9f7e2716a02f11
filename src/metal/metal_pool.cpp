#include "metal/metal_pool.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace tl::metal {

DeferredPool::DeferredPool(RawAllocator& raw, size_t cache_limit, Drain drain)
    : cache_(raw, cache_limit, "metal"), drain_(std::move(drain)) {}

BufferCache::Block DeferredPool::acquire(size_t nbytes) {
  try {
    return cache_.acquire(nbytes);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Memory || pending_blocks() == 0) throw;
  }
  drain_();  // without our lock: completion handlers take it to retire blocks
  return cache_.acquire(nbytes);
}

void DeferredPool::note_use(const void* ptr, uint64_t seq) {
  std::lock_guard lock(mu_);
  uint64_t& last = last_use_[ptr];
  last = std::max(last, seq);
}

void DeferredPool::release(BufferCache::Block b) {
  {
    std::lock_guard lock(mu_);
    auto it = last_use_.find(b.ptr);
    if (it != last_use_.end()) {
      const uint64_t seq = it->second;
      last_use_.erase(it);
      if (seq > retired_) {
        pending_.emplace(seq, b);
        return;
      }
    }
  }
  cache_.recycle(b);
}

void DeferredPool::retire(uint64_t completed_through) {
  std::lock_guard lock(mu_);
  retired_ = std::max(retired_, completed_through);
  const auto end = pending_.upper_bound(retired_);
  for (auto it = pending_.begin(); it != end; ++it) cache_.recycle(it->second);
  pending_.erase(pending_.begin(), end);
  // Live blocks whose work is done need no entry: keeps the map as small as the work in flight.
  std::erase_if(last_use_, [&](const auto& kv) { return kv.second <= retired_; });
}

uint64_t DeferredPool::last_use(const void* ptr) const {
  std::lock_guard lock(mu_);
  auto it = last_use_.find(ptr);
  return it == last_use_.end() || it->second <= retired_ ? 0 : it->second;
}

size_t DeferredPool::pending_blocks() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace tl::metal
