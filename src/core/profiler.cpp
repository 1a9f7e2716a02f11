#include "core/profiler.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_set>

namespace tl::profiler {
namespace {

constexpr size_t kMaxEvents = 1 << 20;  // recording never grows without bound

struct State {
  std::array<std::atomic<int64_t>, kNumKinds> launches{};
  std::array<std::atomic<int64_t>, kNumKinds> nanos{};
  std::atomic<bool> timing{false};
  std::atomic<bool> recording{false};
  std::atomic<int64_t> compiled{0}, hits{0};
  std::mutex mu;
  std::vector<Event> events;
  std::unordered_set<uint64_t> seen;  // fused kernel hashes, bounded
};

State& state() {
  static State* s = new State();  // never destroyed: kernels may run during static teardown
  return *s;
}

}  // namespace

const char* kind_name(Kind k) {
  static const char* names[kNumKinds] = {"elementwise", "copy", "reduction", "matmul", "index", "random"};
  return names[int(k)];
}

Counters counters() {
  Counters c;
  for (int i = 0; i < kNumKinds; ++i) {
    c.launches[size_t(i)] = state().launches[size_t(i)].load();
    c.seconds[size_t(i)] = double(state().nanos[size_t(i)].load()) * 1e-9;
  }
  c.kernels_compiled = state().compiled.load();
  c.cache_hits = state().hits.load();
  return c;
}

void set_timing(bool on) { state().timing = on; }
bool timing() { return state().timing; }
void set_recording(bool on) { state().recording = on; }

std::vector<Event> take_events() {
  std::lock_guard lock(state().mu);
  return std::move(state().events);
}

int debug_level() {
  static const int level = [] {
    const char* s = std::getenv("TENSORLOGIC_DEBUG");
    return s ? std::atoi(s) : 0;
  }();
  return level;
}

bool wants_names() { return state().recording || debug_level() > 0; }

void note_kernel(uint64_t hash) {
  State& s = state();
  std::lock_guard lock(s.mu);
  if (s.seen.count(hash)) {
    ++s.hits;
    return;
  }
  if (s.seen.size() >= 4096) s.seen.clear();
  s.seen.insert(hash);
  ++s.compiled;
}

void record(Kind kind, std::string name, Device device, double seconds) {
  State& s = state();
  s.launches[size_t(kind)].fetch_add(1, std::memory_order_relaxed);
  if (seconds > 0) s.nanos[size_t(kind)].fetch_add(int64_t(seconds * 1e9), std::memory_order_relaxed);
  if (debug_level() > 0) {
    if (seconds > 0)
      std::fprintf(stderr, "[tensorlogic] %s on %s (%.3f ms)\n", name.c_str(), device.str().c_str(), seconds * 1e3);
    else
      std::fprintf(stderr, "[tensorlogic] %s on %s\n", name.c_str(), device.str().c_str());
  }
  if (s.recording) {
    std::lock_guard lock(s.mu);
    if (s.events.size() < kMaxEvents) s.events.push_back({std::move(name), kind, device, seconds});
  }
}

}  // namespace tl::profiler
