#pragma once
// Command-buffer batching for one Metal queue, as portable bookkeeping (the Objective-C++
// layer only encodes and commits). Kernels go into the open command buffer; it is committed
// when the host needs data, on synchronize, or once it holds `max_kernels` kernels or has
// touched `max_bytes` of operands (so the GPU starts before the host runs far ahead). Each
// command buffer has a sequence number, 1, 2, ...; completion handlers, on Metal's threads,
// report here, possibly out of order. `completed_through()` is the highest n such that 1..n
// have all completed: a pool block last used by command buffer n is free once it passes n.
// The first failure is kept, with the kernels of its command buffer, and thrown as
// DeviceError by the next check().
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tl::metal {

struct BatchLimits {
  int max_kernels = 64;                   // per command buffer
  size_t max_bytes = size_t(256) << 20;   // operand bytes per command buffer
  int max_in_flight = 8;                  // committed, not completed; close() waits past it
};

class CommandBatcher {
 public:
  // Called (under the batcher's lock, before waiters wake) whenever completed_through grows.
  using OnRetire = std::function<void(uint64_t completed_through)>;
  CommandBatcher(BatchLimits limits, OnRetire on_retire);

  // Records kernel `name`, touching `nbytes` of operands, in the open command buffer (opening
  // one) and returns its sequence number.
  uint64_t add_kernel(const std::string& name, size_t nbytes);
  // The open command buffer's number, 0 when none is open.
  uint64_t open() const;
  // Whether the open command buffer has reached a bound and should be committed now.
  bool full() const;
  // Closes the open command buffer for the caller to commit, first waiting while
  // max_in_flight others are still running (the throttle). Its number; 0 when none was open.
  uint64_t close();
  // A completion handler's report; `error` is empty on success.
  void completed(uint64_t seq, const std::string& error);
  uint64_t completed_through() const;
  // Blocks until command buffers 1..seq have completed; seq must be closed (or 0).
  void wait(uint64_t seq);
  // Throws DeviceError for the first failure since the last check, then forgets it.
  void check();

 private:
  struct Record {
    std::vector<std::string> kernels;
    size_t bytes = 0;
  };

  const BatchLimits limits_;
  const OnRetire on_retire_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t open_ = 0;            // 0: none
  uint64_t last_closed_ = 0;
  uint64_t done_through_ = 0;
  Record open_record_;
  std::map<uint64_t, Record> in_flight_;  // closed, not completed
  std::string first_error_;
};

}  // namespace tl::metal
