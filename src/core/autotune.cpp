#include "core/autotune.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "core/kernel_cache.h"

namespace tl::autotune {
namespace {

bool env_on() {
  const char* v = std::getenv("TENSORLOGIC_AUTOTUNE");
  return v && *v && std::string(v) != "0";
}

std::atomic<bool> on{env_on()};

struct Memory {
  std::mutex mu;
  // (backend + key) -> the winner's name, or "" where the disk held none (looked up once:
  // a matmul must not cost a file lookup each time).
  std::unordered_map<std::string, std::string> winners;
  Stats stats;
};
Memory& memory() {
  static Memory* m = new Memory();  // used until exit, as the devices are
  return *m;
}

int index_of(const std::vector<std::string>& names, const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : int(it - names.begin());
}

}  // namespace

bool enabled() { return on.load(); }
void set_enabled(bool v) { on.store(v); }

int choose(const std::string& backend, const std::string& key, const std::vector<std::string>& names,
           const std::function<double(int)>& seconds) {
  if (names.size() < 2) return 0;
  Memory& m = memory();
  const std::string id = backend + "\n" + key;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (auto it = m.winners.find(id); it != m.winners.end()) {
      if (const int i = index_of(names, it->second); i >= 0) {
        ++m.stats.memory_hits;
        return i;
      }
      if (it->second.empty() && !enabled()) return 0;
    }
  }
  // A file names its key on the first line (a hash collision or a stale file is no winner)
  // and the winner on the second.
  const auto path = kernel_cache::file_for(backend, key, ".tune");
  if (const auto text = kernel_cache::read(path)) {
    const size_t nl = text->find('\n');
    if (nl != std::string::npos && text->compare(0, nl, key) == 0) {
      std::string name = text->substr(nl + 1);
      while (!name.empty() && name.back() == '\n') name.pop_back();
      if (const int i = index_of(names, name); i >= 0) {
        std::lock_guard<std::mutex> lock(m.mu);
        m.winners[id] = name;
        ++m.stats.disk_hits;
        return i;
      }
    }
  }
  if (!enabled()) {
    std::lock_guard<std::mutex> lock(m.mu);
    m.winners.emplace(id, "");
    return 0;
  }
  int best = -1;
  double best_s = 0;
  for (int i = 0; i < int(names.size()); ++i) {
    double s = -1;
    try {
      s = seconds(i);
    } catch (...) {  // a candidate that cannot run here (resources, arch) is no winner
      continue;
    }
    if (!std::isfinite(s) || s < 0) continue;
    if (best < 0 || s < best_s) best = i, best_s = s;
  }
  if (best < 0) return 0;
  kernel_cache::write(path, key + "\n" + names[size_t(best)] + "\n");
  std::lock_guard<std::mutex> lock(m.mu);
  m.winners[id] = names[size_t(best)];
  ++m.stats.tuned;
  return best;
}

Stats stats() {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  return m.stats;
}

void forget_in_memory() {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mu);
  m.winners.clear();
}

}  // namespace tl::autotune
