#pragma once
// A reference-counted allocation on one device. Pool buffers give their block back to the
// pool when the last reference dies; external buffers (DLPack, NumPy) run their deleter.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

#include "core/device.h"

namespace tl {

class Buffer {
 public:
  Buffer(void* data, size_t nbytes, Device device, std::function<void()> on_release)
      : data_(data), nbytes_(nbytes), device_(device), on_release_(std::move(on_release)) {}
  ~Buffer() {
    if (on_release_) on_release_();
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Pending graph nodes that read this buffer: a write into it computes them first.
  std::atomic<int> pending_readers{0};

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void()> on_release_;
};

using BufferPtr = std::shared_ptr<Buffer>;

}  // namespace tl
