#pragma once
// Counts (and optionally times and records) every kernel a backend launches, by kind. The
// Backend base class reports each launch here, so every backend is observed the same way.
// TENSORLOGIC_DEBUG=1 prints each kernel launched with its name (kind and shape, e.g.
// E_add_4096_float32, R_sum_..., MM_...) to stderr.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/device.h"

namespace tl::profiler {

enum class Kind : uint8_t { Elementwise, Copy, Reduction, Matmul, Index, Random, count_ };
constexpr int kNumKinds = int(Kind::count_);
const char* kind_name(Kind k);

struct Counters {
  std::array<int64_t, kNumKinds> launches{};
  std::array<double, kNumKinds> seconds{};  // only while timing is on
  int64_t kernels_compiled = 0;  // fused kernels seen for the first time (by IR hash)
  int64_t cache_hits = 0;        // fused kernels seen before
};

struct Event {
  std::string name;
  Kind kind;
  Device device;
  double seconds;  // 0 unless timing is on
};

Counters counters();
void set_timing(bool on);     // time each kernel; waits for the device after each launch
bool timing();
void set_recording(bool on);  // keep an Event per launch (bounded), see take_events()
std::vector<Event> take_events();
int debug_level();            // TENSORLOGIC_DEBUG, read once
bool wants_names();           // recording or debug output on: kernel names are needed

// A fused kernel with this IR hash is about to run: counts a compile or a cache hit.
void note_kernel(uint64_t hash);
void record(Kind kind, std::string name, Device device, double seconds);

}  // namespace tl::profiler
