#pragma once
// Measured kernel selection. A backend describes a problem by a key (everything that decides
// which kernel wins: shape, dtypes, layouts, alignment, arch) and offers named candidates,
// its heuristic's choice first. With autotuning on (tl.autotune(True) or
// TENSORLOGIC_AUTOTUNE=1), the first time a key is seen every candidate is timed and the
// fastest one's name is kept in memory and on disk, next to the kernel cache
// (<cache dir>/<backend>/<hash>.tune, holding the key and the winner), so that later
// processes pick it without measuring. Off, a winner found earlier (in memory or on disk) is
// still used; with none, the heuristic's choice stands.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tl::autotune {

bool enabled();
void set_enabled(bool on);

// The index in `names` of the candidate to run for `key`: the remembered winner when it is
// still a candidate; else, autotuning on, the fastest by `seconds(i)` (a candidate that
// throws or returns a negative or non-finite time is skipped), remembered; else 0.
int choose(const std::string& backend, const std::string& key, const std::vector<std::string>& names,
           const std::function<double(int)>& seconds);

struct Stats {
  int64_t memory_hits = 0;  // winners found in memory
  int64_t disk_hits = 0;    // winners read from disk
  int64_t tuned = 0;        // keys measured
};
Stats stats();

// Forgets the winners held in memory (the files stay): what a new process would see.
void forget_in_memory();

}  // namespace tl::autotune
