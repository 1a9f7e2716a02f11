#include "metal/metal_batch.h"

#include <stdexcept>
#include <utility>

#include "core/error.h"

namespace tl::metal {
namespace {

// "kernel E_add_7_float32" or "one of the kernels A, B, C (and 5 more)": Metal reports a
// failed command buffer, not a failed dispatch.
std::string kernels_str(const std::vector<std::string>& k) {
  if (k.size() == 1) return "kernel " + k[0];
  constexpr size_t kShown = 6;
  std::string s = "one of the kernels ";
  for (size_t i = 0; i < k.size() && i < kShown; ++i) s += (i ? ", " : "") + k[i];
  if (k.size() > kShown) s += " (and " + std::to_string(k.size() - kShown) + " more)";
  return s;
}

}  // namespace

CommandBatcher::CommandBatcher(BatchLimits limits, OnRetire on_retire)
    : limits_(limits), on_retire_(std::move(on_retire)) {}

uint64_t CommandBatcher::add_kernel(const std::string& name, size_t nbytes) {
  std::lock_guard lock(mu_);
  if (!open_) open_ = last_closed_ + 1;
  open_record_.kernels.push_back(name);
  open_record_.bytes += nbytes;
  return open_;
}

uint64_t CommandBatcher::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

bool CommandBatcher::full() const {
  std::lock_guard lock(mu_);
  return open_ && (int(open_record_.kernels.size()) >= limits_.max_kernels ||
                   open_record_.bytes >= limits_.max_bytes);
}

uint64_t CommandBatcher::close() {
  std::unique_lock lock(mu_);
  if (!open_) return 0;
  cv_.wait(lock, [&] { return int(in_flight_.size()) < limits_.max_in_flight; });
  const uint64_t seq = open_;
  in_flight_.emplace(seq, std::move(open_record_));
  open_record_ = Record{};
  last_closed_ = seq;
  open_ = 0;
  return seq;
}

void CommandBatcher::completed(uint64_t seq, const std::string& error) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find(seq);
  if (it == in_flight_.end()) return;  // reported twice: the first report counted
  if (!error.empty() && first_error_.empty())
    first_error_ = "Metal command buffer " + std::to_string(seq) + " failed in " +
                   kernels_str(it->second.kernels) + ": " + error;
  in_flight_.erase(it);
  const uint64_t through = in_flight_.empty() ? last_closed_ : in_flight_.begin()->first - 1;
  if (through > done_through_) {
    done_through_ = through;
    if (on_retire_) on_retire_(through);
  }
  cv_.notify_all();  // also wakes close() waiting on the in-flight bound
}

uint64_t CommandBatcher::completed_through() const {
  std::lock_guard lock(mu_);
  return done_through_;
}

void CommandBatcher::wait(uint64_t seq) {
  std::unique_lock lock(mu_);
  if (seq > last_closed_)
    throw std::logic_error("CommandBatcher::wait: command buffer " + std::to_string(seq) +
                           " was never committed");
  cv_.wait(lock, [&] { return done_through_ >= seq; });
}

void CommandBatcher::check() {
  std::unique_lock lock(mu_);
  if (first_error_.empty()) return;
  std::string message = std::move(first_error_);
  first_error_.clear();
  lock.unlock();
  throw_device(message);
}

}  // namespace tl::metal
