#pragma once
// Host memory with a capacity, standing in for a device's raw allocator in pool tests: out of
// memory past the capacity, and every block must be released by the end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "core/buffer_cache.h"

namespace tl::test {

class FakeAllocator final : public RawAllocator {
 public:
  explicit FakeAllocator(size_t capacity) : capacity_(capacity) {}
  ~FakeAllocator() override { EXPECT_TRUE(live.empty()); }
  void* allocate(size_t n) override {
    if (used_ + n > capacity_) return nullptr;
    used_ += n;
    void* p = std::malloc(n);
    live.insert(p);
    return p;
  }
  void release(void* p, size_t n) override {
    EXPECT_EQ(live.erase(p), 1u);
    used_ -= n;
    std::free(p);
  }
  std::set<void*> live;

 private:
  size_t capacity_, used_ = 0;
};

}  // namespace tl::test
