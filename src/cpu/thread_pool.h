#pragma once
// A fixed pool of worker threads for splitting large CPU ops. Size = hardware cores;
// TENSORLOGIC_NUM_THREADS overrides. Nested parallel_for calls run serially.
#include <cstdint>
#include <functional>

namespace tl::cpu {

int num_threads();

// Runs fn(begin, end) over [0, n) in chunks of at least `grain` items, across the pool.
// Blocks until all chunks finish. Small ranges (n <= grain) run inline on the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tl::cpu
