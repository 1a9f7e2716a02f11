#pragma once
// CUDA streams and events. Each device has a library-owned non-blocking stream as its
// default; each thread has a current stream per device (the default, unless a
// tl.cuda.stream(s) block made s current). Every kernel launch and copy of the backend goes on
// the calling thread's current stream; tl.synchronize() waits for every stream of the device.
//
// The pool (core/buffer_cache.h) tags each block with the id of the stream it was acquired
// on; once a device has a second stream, a freed block also gets an event on that stream, so
// other streams reuse it only after the work queued before the free completed.
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/buffer_cache.h"
#include "cuda/cuda_api.h"

namespace tl::cuda {

class Stream {
 public:
  // A new non-blocking stream on `device` (DeviceError when CUDA or the device is absent).
  static std::shared_ptr<Stream> create(int device);
  Stream(int device, CUstream handle, bool owned);  // (create() or default_stream())
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int device() const { return device_; }
  CUstream handle() const { return handle_; }
  uint64_t id() const { return id_; }  // unique in the process, never reused
  bool is_default() const;

  bool query() const;  // true once all work queued on it has completed
  void synchronize() const;
  // Work queued on this stream from now on runs after the work queued on `other` so far.
  void wait_stream(const Stream& other) const;
  // kCounters (cuda_module.h) zeroed counters for kernels on this stream: kernels on one
  // stream never overlap, so counting kernels of two streams never share them.
  unsigned* counters();

 private:
  int device_;
  CUstream handle_;
  bool owned_;
  uint64_t id_;
  std::once_flag counters_once_;
  unsigned long long counters_ = 0;
};
using StreamPtr = std::shared_ptr<Stream>;

// The device's default stream (created on first use).
Stream& default_stream(int device);
StreamPtr default_stream_ptr(int device);
// The calling thread's current stream on the device.
Stream& current_stream(int device);
StreamPtr current_stream_ptr(int device);
// Makes `s` (nullptr: the default) the calling thread's current stream on `device`; returns
// the previous one. Evaluates nothing.
StreamPtr set_current_stream(int device, StreamPtr s);
// A `with stream:` block. Work is lazy: entering evaluates pending work first (on the stream
// it was recorded under; if that fails nothing changes), leaving evaluates the block's work
// on the block's stream, then restores `previous` (also when that evaluation fails, which is
// then rethrown).
StreamPtr enter_stream(int device, StreamPtr s);
void leave_stream(int device, StreamPtr previous);
// Whether the device has had a stream besides its default (then freed blocks get events).
bool has_side_streams(int device);

class Event {
 public:
  Event(int device, bool timing);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  int device() const { return device_; }
  CUevent handle() const { return ev_; }
  bool recorded() const { return recorded_; }

  void record(const Stream& s);
  bool query() const;  // true once the work before the last record completed (or never recorded)
  void synchronize() const;
  void wait(const Stream& s) const;  // work queued on s from now on runs after the event
  float elapsed_ms(const Event& end) const;  // both recorded with timing

 private:
  int device_;
  CUevent ev_ = nullptr;
  bool timing_;
  bool recorded_ = false;
};

// Orders a stream that is no library stream (a raw handle, CU_STREAM_LEGACY or
// CU_STREAM_PER_THREAD included) after the work queued on `producer` so far: an event and
// cuStreamWaitEvent, no host sync. Nothing when consumer is producer.
void order_after(CUstream consumer, const Stream& producer);

// A timing-free event of the device from its free list (made when the list is empty), and
// its return. Re-recording an event leaves waits already queued on it as they were.
CUevent take_event(int device);
void give_event(int device, CUevent e) noexcept;

// DLPack's stream protocol, producer side: the consumer's stream `stream` (as __dlpack__
// receives it: 1 or None the legacy default stream, 2 the per-thread default stream, -1 no
// ordering, another value a raw CUstream) waits for the work queued so far on the calling
// thread's current stream of `device`; no host sync. 0 is a ValueError (ambiguous).
void order_dlpack_consumer(int device, int64_t stream);

// An event recorded on `s` now, as the pool takes it (done() queries, wait() blocks); events
// are recycled. nullptr when recording fails (at teardown): never throws.
StreamEventPtr record_pool_event(const Stream& s) noexcept;

}  // namespace tl::cuda
