#include "cuda/cuda_staging.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda/cuda_backend.h"

namespace tl::cuda {
namespace {

class Ring {
 public:
  explicit Ring(int device) : device_(device) {}

  void write(CUdeviceptr dst, const char* src, size_t n, const Stream& s) {
    std::lock_guard lock(mu_);
    check(api().cuCtxSetCurrent(device_context(device_)), "cuCtxSetCurrent");
    if (!base_ && !failed_) {
      void* p = nullptr;
      if (api().cuMemHostAlloc(&p, kStagingBytes, CU_MEMHOSTALLOC_PORTABLE) == CUDA_SUCCESS)
        base_ = static_cast<char*>(p);  // kept for the process
      else
        failed_ = true;
    }
    if (!base_) {  // no pinned memory to be had: the driver stages it (and may wait)
      check(api().cuMemcpyHtoDAsync(dst, src, n, s.handle()), "cuMemcpyHtoDAsync");
      return;
    }
    for (size_t done = 0; done < n;) {
      const size_t m = std::min(kStagingChunk, n - done);
      const size_t at = reserve(m);
      std::memcpy(base_ + at, src + done, m);
      check(api().cuMemcpyHtoDAsync(dst + done, base_ + at, m, s.handle()), "cuMemcpyHtoDAsync");
      CUevent e = take_event(device_);
      if (CUresult r = api().cuEventRecord(e, s.handle()); r != CUDA_SUCCESS) {
        give_event(device_, e);
        check(r, "cuEventRecord");
      }
      inflight_.push_back(Span{at, at + m, e});
      head_ = at + m;
      done += m;
    }
  }

 private:
  struct Span {
    size_t begin, end;
    CUevent done;  // recorded after the copy out of [begin, end)
  };

  void pop() {
    give_event(device_, inflight_.front().done);
    inflight_.pop_front();
  }

  // The offset of m free bytes (m <= kStagingChunk). Spans are taken in order round the ring
  // and retired in order; the newest never ends where the oldest begins, so head_ == tail
  // only when nothing is in flight.
  size_t reserve(size_t m) {
    while (!inflight_.empty() && api().cuEventQuery(inflight_.front().done) != CUDA_ERROR_NOT_READY) pop();
    for (;;) {
      if (inflight_.empty()) return head_ = 0;
      const size_t tail = inflight_.front().begin;
      if (head_ >= tail) {  // in flight: [tail, head_)
        if (kStagingBytes - head_ >= m) return head_;
        if (m < tail) return 0;
      } else if (tail - head_ > m) {  // in flight: [tail, end) and [0, head_)
        return head_;
      }
      check(api().cuEventSynchronize(inflight_.front().done), "cuEventSynchronize");  // ring full
      pop();
    }
  }

  int device_;
  std::mutex mu_;
  char* base_ = nullptr;
  bool failed_ = false;
  size_t head_ = 0;
  std::deque<Span> inflight_;
};

Ring& ring(int device) {
  static std::mutex mu;
  static auto* rings = new std::vector<std::unique_ptr<Ring>>();  // never destroyed
  std::lock_guard lock(mu);
  if (rings->size() <= size_t(device)) rings->resize(size_t(device) + 1);
  auto& r = (*rings)[size_t(device)];
  if (!r) r = std::make_unique<Ring>(device);
  return *r;
}

}  // namespace

void staged_write(CUdeviceptr dst, const void* src, size_t n, const Stream& s) {
  ring(s.device()).write(dst, static_cast<const char*>(src), n, s);
}

}  // namespace tl::cuda
