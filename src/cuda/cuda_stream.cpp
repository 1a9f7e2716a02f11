#include "cuda/cuda_stream.h"

#include <atomic>
#include <exception>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "core/graph.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_module.h"

namespace tl::cuda {
namespace {

// What each device keeps of its streams: the default stream, whether another one was ever
// made, and recycled (timing-free) events for the pool and for ordering.
struct DeviceStreams {
  std::once_flag once;
  StreamPtr def;
  std::atomic<bool> side{false};
  std::mutex mu;
  std::vector<CUevent> free_events;
};

DeviceStreams& state(int device) {
  static const std::vector<std::unique_ptr<DeviceStreams>>* all = [] {
    auto* v = new std::vector<std::unique_ptr<DeviceStreams>>();  // never destroyed
    const int n = cuda_backend().device_count();
    for (int i = 0; i < n; ++i) v->push_back(std::make_unique<DeviceStreams>());
    return v;
  }();
  if (device < 0 || size_t(device) >= all->size()) {
    backend_for(Device{DeviceType::CUDA, device});  // DeviceError naming why CUDA is absent
    throw_device("no CUDA device " + std::to_string(device));
  }
  return *(*all)[size_t(device)];
}

void activate(int device) { check(api().cuCtxSetCurrent(device_context(device)), "cuCtxSetCurrent"); }

// A pool event: returned to the device's free list when the last block using it lets go.
// (Re-recording an event does not change waits already queued on it.)
class PoolEvent final : public StreamEvent {
 public:
  PoolEvent(int device, CUevent e) : device_(device), e_(e) {}
  ~PoolEvent() override { give_event(device_, e_); }
  bool done() override {
    // Any answer but "not ready" (an error of a broken context too) lets the block go.
    return api().cuEventQuery(e_) != CUDA_ERROR_NOT_READY;
  }
  void wait() override { api().cuEventSynchronize(e_); }

 private:
  int device_;
  CUevent e_;
};

std::atomic<uint64_t> next_id{1};

thread_local std::vector<StreamPtr> t_current;  // per device; null: the default stream

}  // namespace

CUevent take_event(int device) {
  DeviceStreams& d = state(device);
  {
    std::lock_guard lock(d.mu);
    if (!d.free_events.empty()) {
      CUevent e = d.free_events.back();
      d.free_events.pop_back();
      return e;
    }
  }
  activate(device);
  CUevent e = nullptr;
  check(api().cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  return e;
}

void give_event(int device, CUevent e) noexcept {
  DeviceStreams& d = state(device);
  std::lock_guard lock(d.mu);
  d.free_events.push_back(e);
}

Stream::Stream(int device, CUstream handle, bool owned)
    : device_(device), handle_(handle), owned_(owned), id_(next_id.fetch_add(1)) {}

Stream::~Stream() {
  if (!owned_) return;
  // Errors ignored: at teardown the driver may be gone.
  api().cuCtxSetCurrent(device_context(device_));
  if (counters_) {
    api().cuStreamSynchronize(handle_);  // its kernels may still count in them
    api().cuMemFree(counters_);
  }
  api().cuStreamDestroy(handle_);  // returns at once; pending work still completes
}

StreamPtr Stream::create(int device) {
  DeviceStreams& d = state(device);
  default_stream(device);
  activate(device);
  CUstream h = nullptr;
  check(api().cuStreamCreate(&h, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  StreamPtr s(new Stream(device, h, true));
  if (!d.side.exchange(true)) on_side_stream(device);
  return s;
}

bool Stream::is_default() const { return &default_stream(device_) == this; }

bool Stream::query() const {
  const CUresult r = api().cuStreamQuery(handle_);
  if (r == CUDA_ERROR_NOT_READY) return false;
  check(r, "cuStreamQuery");
  return true;
}

void Stream::synchronize() const {
  activate(device_);
  check(api().cuStreamSynchronize(handle_), "cuStreamSynchronize");
}

void Stream::wait_stream(const Stream& other) const {
  if (&other == this) return;
  if (other.device_ != device_) activate(other.device_);
  CUevent e = take_event(other.device_);
  CUresult r = api().cuEventRecord(e, other.handle_);
  if (r == CUDA_SUCCESS) r = api().cuStreamWaitEvent(handle_, e, 0);
  give_event(other.device_, e);
  check(r, "cuStreamWaitEvent");
}

unsigned* Stream::counters() {
  std::call_once(counters_once_, [this] {
    activate(device_);
    CUdeviceptr p = 0;
    check(api().cuMemAlloc(&p, kCounters * 4), "cuMemAlloc");
    check(api().cuMemsetD8Async(p, 0, kCounters * 4, handle_), "cuMemsetD8Async");
    counters_ = p;
  });
  return reinterpret_cast<unsigned*>(counters_);
}

namespace {
DeviceStreams& with_default(int device) {
  DeviceStreams& d = state(device);
  std::call_once(d.once, [&] {
    activate(device);
    CUstream h = nullptr;
    check(api().cuStreamCreate(&h, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    // Kept for the process (buffers may be freed during teardown): never destroyed.
    d.def = StreamPtr(new Stream(device, h, true), [](Stream*) {});
  });
  return d;
}
}  // namespace

Stream& default_stream(int device) { return *with_default(device).def; }

StreamPtr default_stream_ptr(int device) { return with_default(device).def; }

Stream& current_stream(int device) {
  if (size_t(device) < t_current.size())
    if (Stream* s = t_current[size_t(device)].get()) return *s;
  return default_stream(device);
}

StreamPtr current_stream_ptr(int device) {
  if (size_t(device) < t_current.size())
    if (const StreamPtr& s = t_current[size_t(device)]) return s;
  return default_stream_ptr(device);
}

StreamPtr set_current_stream(int device, StreamPtr s) {
  if (s && s->device() != device)
    throw_value("the stream is on cuda:" + std::to_string(s->device()) + ", not cuda:" + std::to_string(device));
  StreamPtr previous = current_stream_ptr(device);
  if (s && s->is_default()) s = nullptr;
  if (t_current.size() <= size_t(device)) t_current.resize(size_t(device) + 1);
  t_current[size_t(device)] = std::move(s);
  return previous;
}

StreamPtr enter_stream(int device, StreamPtr s) {
  if (s && s->device() != device)
    throw_value("the stream is on cuda:" + std::to_string(s->device()) + ", not cuda:" + std::to_string(device));
  graph::flush();  // work recorded before runs where it was recorded
  return set_current_stream(device, std::move(s));
}

void leave_stream(int device, StreamPtr previous) {
  std::exception_ptr failed;
  try {
    graph::flush();  // the block's work runs on the block's stream
  } catch (...) {
    failed = std::current_exception();
  }
  set_current_stream(device, std::move(previous));
  if (failed) std::rethrow_exception(failed);
}

bool has_side_streams(int device) { return state(device).side.load(std::memory_order_relaxed); }

Event::Event(int device, bool timing) : device_(device), timing_(timing) {
  state(device);
  activate(device);
  check(api().cuEventCreate(&ev_, timing ? 0u : CU_EVENT_DISABLE_TIMING), "cuEventCreate");
}

Event::~Event() {
  if (ev_) api().cuEventDestroy(ev_);  // released once pending work reaches it
}

void Event::record(const Stream& s) {
  if (s.device() != device_)
    throw_value("the event is on cuda:" + std::to_string(device_) + ", the stream on cuda:" +
                std::to_string(s.device()));
  check(api().cuEventRecord(ev_, s.handle()), "cuEventRecord");
  recorded_ = true;
}

bool Event::query() const {
  if (!recorded_) return true;
  const CUresult r = api().cuEventQuery(ev_);
  if (r == CUDA_ERROR_NOT_READY) return false;
  check(r, "cuEventQuery");
  return true;
}

void Event::synchronize() const {
  if (recorded_) check(api().cuEventSynchronize(ev_), "cuEventSynchronize");
}

void Event::wait(const Stream& s) const {
  if (recorded_) check(api().cuStreamWaitEvent(s.handle(), ev_, 0), "cuStreamWaitEvent");
}

float Event::elapsed_ms(const Event& end) const {
  if (!timing_ || !end.timing_) throw_value("elapsed_time needs two events made with enable_timing=True");
  if (!recorded_ || !end.recorded_) throw_value("elapsed_time needs two recorded events");
  float ms = 0;
  check(api().cuEventElapsedTime(&ms, ev_, end.ev_), "cuEventElapsedTime");
  return ms;
}

void order_after(CUstream consumer, const Stream& producer) {
  if (consumer == producer.handle()) return;
  activate(producer.device());
  CUevent e = take_event(producer.device());
  CUresult r = api().cuEventRecord(e, producer.handle());
  if (r == CUDA_SUCCESS) r = api().cuStreamWaitEvent(consumer, e, 0);
  give_event(producer.device(), e);
  check(r, "cuStreamWaitEvent");
}

void order_dlpack_consumer(int device, int64_t stream) {
  if (stream == -1) return;
  if (stream == 0) throw_value("__dlpack__: stream=0 is ambiguous for CUDA (1 names the legacy default stream)");
  if (stream < -1) throw_value("__dlpack__: invalid CUDA stream " + std::to_string(stream));
  order_after(reinterpret_cast<CUstream>(uintptr_t(stream)), current_stream(device));
}

StreamEventPtr record_pool_event(const Stream& s) noexcept {
  try {
    CUevent e = take_event(s.device());
    if (api().cuEventRecord(e, s.handle()) != CUDA_SUCCESS) {
      give_event(s.device(), e);
      return nullptr;
    }
    return std::make_shared<PoolEvent>(s.device(), e);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace tl::cuda
