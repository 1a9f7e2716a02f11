#pragma once
// Compiled compute pipelines of one device, kept in a bounded LRU map. A pipeline is named by
// its library (the address of a metal/*.metal file's embedded source, or 0 for generated
// kernels) and a name in it: a static kernel's function name (specialized by template
// instantiation, so it carries the dtypes and layout: `matmul_f16_nt`), or a generated
// kernel's launch key and function (msl_kernels.h: a split kernel's steps are several
// functions of one source). Portable: the value type is whatever the host layer
// stores (an id<MTLComputePipelineState> under ARC, an int in the tests). Thread-safe; `make`
// runs under the lock, so two threads never compile the same pipeline twice.
#include <cstdint>
#include <cstdio>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace tl::metal {

struct PipelineKey {
  uint64_t library = 0;
  std::string function;
  std::string str() const {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(library));
    return std::string(hex) + "/" + function;
  }
};

template <class V>
class PipelineCache {
 public:
  explicit PipelineCache(size_t capacity) : capacity_(capacity) {}

  template <class Make>
  V get(const PipelineKey& key, Make&& make) {
    const std::string k = key.str();
    std::lock_guard lock(mu_);
    if (auto it = index_.find(k); it != index_.end()) {
      ++hits_;
      order_.splice(order_.begin(), order_, it->second);  // most recently used first
      return it->second->second;
    }
    ++misses_;
    V v = make();  // may throw: nothing is inserted then
    order_.emplace_front(k, v);
    index_[k] = order_.begin();
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return v;
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return order_.size();
  }
  int64_t hits() const {
    std::lock_guard lock(mu_);
    return hits_;
  }
  int64_t misses() const {
    std::lock_guard lock(mu_);
    return misses_;
  }

 private:
  using Entry = std::pair<std::string, V>;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> order_;
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
  int64_t hits_ = 0, misses_ = 0;
};

}  // namespace tl::metal
