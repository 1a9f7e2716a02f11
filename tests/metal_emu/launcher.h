// The emulator's runtime interface: what the generated kernel wrappers and the Metal
// compatibility header need from the launcher (launcher.cpp), which runs every thread of a
// threadgroup as a fiber on one OS thread.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tl_emu {

struct u3 {
  uint32_t x, y, z;
};

constexpr uint32_t kSimdWidth = 32;
constexpr uint32_t kMaxThreadsPerThreadgroup = 1024;
constexpr size_t kThreadgroupMemoryLimit = 32 * 1024;

// Everything one emulated GPU thread can ask for through an [[attribute]].
struct ThreadCtx {
  u3 thread_position_in_grid;
  u3 threadgroup_position_in_grid;
  u3 thread_position_in_threadgroup;
  u3 threads_per_threadgroup;
  u3 threadgroups_per_grid;
  u3 threads_per_grid;
  uint32_t thread_index_in_threadgroup;
  uint32_t thread_index_in_simdgroup;
  uint32_t simdgroup_index_in_threadgroup;
  uint32_t threads_per_simdgroup;
  uint32_t simdgroups_per_threadgroup;
  void* const* threadgroup_args;  // the [[threadgroup(n)]] arguments
};

// A kernel as the preprocessor registers it: buffer_slots is one past the highest
// [[buffer(n)]], threadgroup_slots one past the highest [[threadgroup(n)]].
using Wrapper = void (*)(const ThreadCtx&, void* const* buffers);
struct KernelEntry {
  const char* name;
  Wrapper fn;
  int buffer_slots;
  int threadgroup_slots;
};

// Reports a kernel error (with the thread that hit it) and abandons the launch.
[[noreturn]] void fail(const char* file, unsigned line, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Threadgroup storage of the declaration numbered `site`: every thread of the threadgroup
// gets the same address; the first one to arrive places it (NaN-filled memory).
void* threadgroup_alloc(int site, size_t size, size_t align, const char* file, unsigned line);

void threadgroup_barrier(const char* file, unsigned line);

// SIMD-group collectives. Each live lane calls simd_arrive with its operand and result
// slots; every call returns false except in the lane that completes the rendezvous, which
// reads all lanes through simd_lanes, writes every lane's result and calls simd_release.
struct LaneCall {
  const void* in;
  void* out;
  uint64_t arg;
};
bool simd_arrive(const char* what, const char* file, unsigned line, const void* in, void* out,
                 uint64_t arg);
const LaneCall* simd_lanes(uint32_t* live_lanes);
void simd_release();

}  // namespace tl_emu

// Defined by each generated translation unit (see preprocess.py).
extern const tl_emu::KernelEntry tl_emu_kernel_table[];
extern const int tl_emu_kernel_count;
extern const int tl_emu_threadgroup_sites;
