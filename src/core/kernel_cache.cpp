#include "core/kernel_cache.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tl::kernel_cache {

namespace fs = std::filesystem;

fs::path dir(const std::string& backend) {
  if (const char* d = std::getenv("TENSORLOGIC_CACHE_DIR"); d && *d) return fs::path(d) / backend;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "tensorlogic" / backend;
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "tensorlogic" / backend;
  return fs::temp_directory_path() / "tensorlogic-cache" / backend;
}

uint64_t stable_hash(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a offset basis and prime
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

fs::path file_for(const std::string& backend, std::string_view key, const std::string& extension) {
  char name[24];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(stable_hash(key)));
  return dir(backend) / (name + extension);
}

fs::path temporary_for(const fs::path& path) {
  static std::atomic<uint64_t> serial{0};
  return path.parent_path() / ("tmp-" + std::to_string(getpid()) + "-" + std::to_string(serial++) + "-" +
                               path.filename().string());
}

std::optional<std::string> read(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return std::move(s).str();
}

bool write(const fs::path& path, std::string_view bytes) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path tmp = temporary_for(path);
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
    if (!f) {
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
  return !ec;
}

}  // namespace tl::kernel_cache
