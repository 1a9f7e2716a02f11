// Runs a registered kernel over a grid: threadgroups one after another, the threads of a
// threadgroup as fibers that switch only at barriers and SIMD-group collectives. Exported
// to Python (ctypes) as tl_emu_launch and tl_emu_kernels.
#include "launcher.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fiber.h"

#ifdef TL_EMU_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace tl_emu {
namespace {

constexpr size_t kStackSize = 64 * 1024;  // plus a guard page below each stack
constexpr size_t kGuard = 4096;
#ifdef TL_EMU_ASAN
constexpr size_t kRedzone = 64;  // poisoned gap after each threadgroup allocation
#else
constexpr size_t kRedzone = 0;
#endif
constexpr size_t kArena = 2 * kThreadgroupMemoryLimit;  // room for the redzones

enum class State : uint8_t { Ready, AtBarrier, AtSimd, Done };
enum Order { kForward = 0, kReverse = 1, kRandom = 2 };

struct Thread {
  Fiber fiber;
  ThreadCtx ctx;
  State state;
  const char* what;  // where it waits
  const char* file;
  unsigned line;
  LaneCall call;
};

bool same_site(const Thread& a, const Thread& b) {
  return a.line == b.line && std::strcmp(a.what, b.what) == 0 && std::strcmp(a.file, b.file) == 0;
}

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Launch {
  const KernelEntry* kernel = nullptr;
  void* const* buffers = nullptr;
  int order = kForward;
  uint64_t rng = 0;
  std::vector<uint32_t> tg_lengths;

  std::vector<Thread> threads;
  uint32_t nthreads = 0, done = 0, barrier_arrived = 0;
  bool released = false;  // a barrier or collective made waiting threads ready
  std::vector<uint32_t> simd_arrived;
  Thread* current = nullptr;
  Fiber scheduler;
  unsigned char* stacks = nullptr;
  size_t stacks_bytes = 0;
  unsigned char* arena = nullptr;
  size_t tg_used = 0, arena_cursor = 0;
  std::vector<long> site_offset;
  std::vector<void*> tg_args;
  LaneCall lanes[kSimdWidth];
  std::string error;

  ~Launch() {
    if (stacks) munmap(stacks, stacks_bytes);
    std::free(arena);
  }

  // Forward, reverse or a fresh random permutation of 0..n-1.
  void permutation(std::vector<uint32_t>& p, uint32_t n) {
    p.resize(n);
    for (uint32_t i = 0; i < n; ++i) p[i] = order == kReverse ? n - 1 - i : i;
    if (order == kRandom)
      for (uint32_t i = n; i > 1; --i) std::swap(p[i - 1], p[splitmix64(rng) % i]);
  }

  // Places `size` bytes of threadgroup memory; nullptr past the 32 KiB limit.
  void* place(size_t size, size_t align) {
    if (align < 16) align = 16;
    size_t at = (arena_cursor + align - 1) & ~(align - 1);
    if (tg_used + size > kThreadgroupMemoryLimit || at + size > kArena) return nullptr;
    tg_used += size;
    arena_cursor = at + size + kRedzone;
#ifdef TL_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(arena + at, size);
#endif
    return arena + at;
  }

  void wait(State s) {
    Thread& t = *current;
    t.state = s;
    fiber_switch(t.fiber, scheduler);
  }

  uint32_t live_lanes(uint32_t simdgroup) const {
    uint32_t first = simdgroup * kSimdWidth;
    return nthreads - first < kSimdWidth ? nthreads - first : kSimdWidth;
  }

  std::string where(const Thread& t) const {
    char buf[160];
    const u3 &p = t.ctx.thread_position_in_threadgroup, &g = t.ctx.threadgroup_position_in_grid;
    std::snprintf(buf, sizeof buf, "thread (%u,%u,%u) of threadgroup (%u,%u,%u)", p.x, p.y, p.z,
                  g.x, g.y, g.z);
    return buf;
  }

  // Nobody can run: some threads wait at a barrier or collective that others never reach.
  std::string deadlock() const {
    struct Site {
      const Thread* first;
      uint32_t count;
    };
    std::vector<Site> sites;
    uint32_t returned = 0;
    for (uint32_t i = 0; i < nthreads; ++i) {
      const Thread& t = threads[i];
      if (t.state == State::Done) {
        ++returned;
        continue;
      }
      bool found = false;
      for (Site& s : sites)
        if (same_site(*s.first, t)) found = (++s.count, true);
      if (!found) sites.push_back({&t, 1});
    }
    const Thread& f = *sites.front().first;
    std::string msg = std::string(f.file) + ":" + std::to_string(f.line) + ": " + f.what +
                      " is not reached by all threads of its group (" + where(f) + "):";
    for (const Site& s : sites)
      msg += " " + std::to_string(s.count) + " at " + s.first->what + " (" + s.first->file + ":" +
             std::to_string(s.first->line) + ");";
    return msg + " " + std::to_string(returned) + " returned";
  }

  void run_group(u3 pos, u3 size, u3 full, u3 groups, u3 grid);
};

thread_local Launch* g_launch = nullptr;  // the launch running on this OS thread

void thread_entry() {
  Launch& l = *g_launch;
  Thread& t = *l.current;
  fiber_started(l.scheduler);
  l.kernel->fn(t.ctx, l.buffers);
  t.state = State::Done;
  ++l.done;
  fiber_exit(t.fiber, l.scheduler);
}

// `size` is this threadgroup's, smaller than `full` at the edges of a dispatch_threads grid.
void Launch::run_group(u3 pos, u3 size, u3 full, u3 groups, u3 grid) {
  nthreads = size.x * size.y * size.z;
#ifdef TL_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(arena, kArena);
#endif
  std::memset(arena, 0xff, kArena);  // NaN in every float type: reads before writes show
#ifdef TL_EMU_ASAN
  ASAN_POISON_MEMORY_REGION(arena, kArena);
#endif
  tg_used = arena_cursor = 0;
  site_offset.assign(site_offset.size(), -1);
  for (size_t i = 0; i < tg_lengths.size(); ++i) tg_args[i] = place(tg_lengths[i], 16);

  uint32_t nsimd = (nthreads + kSimdWidth - 1) / kSimdWidth;
  simd_arrived.assign(nsimd, 0);
  barrier_arrived = done = 0;
  for (uint32_t i = 0; i < nthreads; ++i) {
    Thread& t = threads[i];
    ThreadCtx& c = t.ctx;
    c.thread_position_in_threadgroup = {i % size.x, i / size.x % size.y, i / (size.x * size.y)};
    c.threadgroup_position_in_grid = pos;
    c.threads_per_threadgroup = size;
    c.threadgroups_per_grid = groups;
    c.threads_per_grid = grid;
    c.thread_position_in_grid = {pos.x * full.x + c.thread_position_in_threadgroup.x,
                                 pos.y * full.y + c.thread_position_in_threadgroup.y,
                                 pos.z * full.z + c.thread_position_in_threadgroup.z};
    c.thread_index_in_threadgroup = i;
    c.thread_index_in_simdgroup = i % kSimdWidth;
    c.simdgroup_index_in_threadgroup = i / kSimdWidth;
    c.threads_per_simdgroup = kSimdWidth;
    c.simdgroups_per_threadgroup = nsimd;
    c.threadgroup_args = tg_args.data();
    t.state = State::Ready;
    unsigned char* stack = stacks + i * (kStackSize + kGuard) + kGuard;
    fiber_init(t.fiber, stack, kStackSize, thread_entry);
  }

  // Always resume the first ready thread in the order, so that a SIMD-group runs ahead of
  // the others up to its next barrier (forward: SIMD-group 0 first; reverse: the last one
  // first; random: a new order at every release). A missing barrier then shows up as a
  // difference between orders instead of being hidden by lockstep progress.
  std::vector<uint32_t> perm;
  permutation(perm, nthreads);
  for (size_t k = 0; k < nthreads; ++k) {
    Thread& t = threads[perm[k]];
    if (t.state != State::Ready) continue;
    current = &t;
    released = false;
    fiber_switch(scheduler, t.fiber);
    if (!error.empty()) return;
    if (released) {
      if (order == kRandom) permutation(perm, nthreads);
      k = size_t(-1);  // start over from the first thread in the order
    }
  }
  if (done != nthreads) error = deadlock();  // nobody is ready, yet some wait
}

}  // namespace

void fail(const char* file, unsigned line, const char* fmt, ...) {
  Launch& l = *g_launch;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  l.error = std::string(file) + ":" + std::to_string(line) + ": " + msg + " (" +
            l.where(*l.current) + ")";
  fiber_exit(l.current->fiber, l.scheduler);  // the launch is abandoned
}

void* threadgroup_alloc(int site, size_t size, size_t align, const char* file, unsigned line) {
  Launch& l = *g_launch;
  if (l.site_offset[site] < 0) {
    void* p = l.place(size, align);
    if (!p)
      fail(file, line, "threadgroup memory: %zu more bytes exceed the %zu-byte limit (%zu in use)",
           size, kThreadgroupMemoryLimit, l.tg_used);
    l.site_offset[site] = static_cast<unsigned char*>(p) - l.arena;
  }
  return l.arena + l.site_offset[site];
}

void threadgroup_barrier(const char* file, unsigned line) {
  Launch& l = *g_launch;
  Thread& t = *l.current;
  t.what = "threadgroup_barrier";
  t.file = file;
  t.line = line;
  if (++l.barrier_arrived < l.nthreads) return l.wait(State::AtBarrier);
  l.barrier_arrived = 0;
  for (uint32_t i = 0; i < l.nthreads; ++i) {
    Thread& o = l.threads[i];
    if (!same_site(o, t))
      fail(file, line, "threadgroup_barrier: other threads wait at the one at %s:%u", o.file,
           o.line);
    o.state = State::Ready;
  }
  l.released = true;
}

bool simd_arrive(const char* what, const char* file, unsigned line, const void* in, void* out,
                 uint64_t arg) {
  Launch& l = *g_launch;
  Thread& t = *l.current;
  t.what = what;
  t.file = file;
  t.line = line;
  t.call = {in, out, arg};
  uint32_t sg = t.ctx.simdgroup_index_in_threadgroup, live = l.live_lanes(sg);
  if (++l.simd_arrived[sg] < live) {
    l.wait(State::AtSimd);
    return false;
  }
  l.simd_arrived[sg] = 0;
  for (uint32_t j = 0; j < live; ++j) {
    const Thread& o = l.threads[sg * kSimdWidth + j];
    if (!same_site(o, t))
      fail(file, line, "%s: lane %u of the SIMD-group is at %s (%s:%u)", what, j, o.what, o.file,
           o.line);
    l.lanes[j] = o.call;
  }
  return true;
}

const LaneCall* simd_lanes(uint32_t* live) {
  Launch& l = *g_launch;
  *live = l.live_lanes(l.current->ctx.simdgroup_index_in_threadgroup);
  return l.lanes;
}

void simd_release() {
  Launch& l = *g_launch;
  uint32_t sg = l.current->ctx.simdgroup_index_in_threadgroup;
  for (uint32_t j = 0; j < l.live_lanes(sg); ++j)
    l.threads[sg * kSimdWidth + j].state = State::Ready;
  l.released = true;
}

}  // namespace tl_emu

using namespace tl_emu;

static int report(char* err, size_t len, const std::string& msg) {
  std::snprintf(err, len, "%s", msg.c_str());
  return 1;
}

// Runs kernel `name`. grid counts threads (dispatch_threads, edge threadgroups shrink) or
// threadgroups; order: 0 forward, 1 reverse, 2 random(seed) for threads and threadgroups.
extern "C" __attribute__((visibility("default"))) int tl_emu_launch(
    const char* name, void* const* buffers, const uint64_t* sizes, int nbuffers,
    const uint32_t* grid, const uint32_t* tg, int dispatch_threads, const uint32_t* tg_lengths,
    int n_tg_lengths, int order, uint64_t seed, char* err, size_t errlen) {
  Launch l;
  for (int i = 0; i < tl_emu_kernel_count; ++i)
    if (std::strcmp(tl_emu_kernel_table[i].name, name) == 0) l.kernel = &tl_emu_kernel_table[i];
  if (!l.kernel) return report(err, errlen, std::string("no kernel named ") + name);
  if (nbuffers < l.kernel->buffer_slots || n_tg_lengths < l.kernel->threadgroup_slots)
    return report(err, errlen, std::string(name) + ": too few buffers or threadgroup lengths");
  uint64_t per_group = uint64_t(tg[0]) * tg[1] * tg[2];
  if (per_group == 0 || per_group > kMaxThreadsPerThreadgroup || !grid[0] || !grid[1] || !grid[2])
    return report(err, errlen, "bad grid or threadgroup size");
  size_t tg_total = 0;
  for (int i = 0; i < n_tg_lengths; ++i) {
    if (tg_lengths[i] % 16)
      return report(err, errlen, "threadgroup lengths must be multiples of 16");
    tg_total += tg_lengths[i];
  }
  if (tg_total > kThreadgroupMemoryLimit)
    return report(err, errlen, "threadgroup memory arguments exceed the 32 KiB limit");

  std::vector<void*> bufs(buffers, buffers + nbuffers);
#ifdef TL_EMU_ASAN
  // Exact-size heap copies, so that a read past a buffer's end hits an ASan redzone.
  for (int i = 0; i < nbuffers; ++i) {
    bufs[i] = std::malloc(sizes[i] ? sizes[i] : 1);
    std::memcpy(bufs[i], buffers[i], sizes[i]);
  }
#else
  (void)sizes;
#endif
  l.buffers = bufs.data();
  l.order = order;
  l.rng = seed;
  l.tg_lengths.assign(tg_lengths, tg_lengths + n_tg_lengths);
  l.tg_args.resize(n_tg_lengths);
  l.site_offset.assign(tl_emu_threadgroup_sites, -1);
  l.threads.resize(per_group);
  l.stacks_bytes = per_group * (kStackSize + kGuard);
  l.stacks = static_cast<unsigned char*>(
      mmap(nullptr, l.stacks_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  for (uint64_t i = 0; i < per_group; ++i)  // an overflowing stack faults instead of corrupting
    mprotect(l.stacks + i * (kStackSize + kGuard), kGuard, PROT_NONE);
  l.arena = static_cast<unsigned char*>(std::aligned_alloc(64, kArena));

  u3 size{tg[0], tg[1], tg[2]}, groups, threads;
  if (dispatch_threads) {
    threads = {grid[0], grid[1], grid[2]};
    groups = {(grid[0] + tg[0] - 1) / tg[0], (grid[1] + tg[1] - 1) / tg[1],
              (grid[2] + tg[2] - 1) / tg[2]};
  } else {
    groups = {grid[0], grid[1], grid[2]};
    threads = {grid[0] * tg[0], grid[1] * tg[1], grid[2] * tg[2]};
  }
  g_launch = &l;
  std::vector<uint32_t> perm;
  l.permutation(perm, groups.x * groups.y * groups.z);
  for (uint32_t g : perm) {
    u3 pos{g % groups.x, g / groups.x % groups.y, g / (groups.x * groups.y)};
    u3 actual = size;
    if (dispatch_threads) {
      actual.x = std::min(size.x, threads.x - pos.x * size.x);
      actual.y = std::min(size.y, threads.y - pos.y * size.y);
      actual.z = std::min(size.z, threads.z - pos.z * size.z);
    }
    l.run_group(pos, actual, size, groups, threads);
    if (!l.error.empty()) break;
  }
  g_launch = nullptr;
#ifdef TL_EMU_ASAN
  for (int i = 0; i < nbuffers; ++i) {
    std::memcpy(buffers[i], bufs[i], sizes[i]);
    std::free(bufs[i]);
  }
#endif
  return l.error.empty() ? 0 : report(err, errlen, l.error);
}

// Writes "name buffer_slots threadgroup_slots" lines; returns the length needed.
extern "C" __attribute__((visibility("default"))) size_t tl_emu_kernels(char* out, size_t len) {
  std::string s;
  for (int i = 0; i < tl_emu_kernel_count; ++i) {
    const KernelEntry& k = tl_emu_kernel_table[i];
    s += std::string(k.name) + " " + std::to_string(k.buffer_slots) + " " +
         std::to_string(k.threadgroup_slots) + "\n";
  }
  if (len) std::snprintf(out, len, "%s", s.c_str());
  return s.size() + 1;
}
