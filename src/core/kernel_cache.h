#pragma once
// The on-disk cache of compiled kernels every source-generating backend shares:
// ~/.cache/tensorlogic/<backend> (TENSORLOGIC_CACHE_DIR, then XDG_CACHE_HOME, override it).
// Files are named by a stable hash of everything that decides their contents and are written
// under a temporary name and renamed into place, so a reader never sees a partial file.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace tl::kernel_cache {

std::filesystem::path dir(const std::string& backend);

// FNV-1a, 64 bits: the same value in every process and build (std::hash promises neither).
uint64_t stable_hash(std::string_view bytes);

// `dir(backend)/<16 hex digits of stable_hash(key)><extension>`.
std::filesystem::path file_for(const std::string& backend, std::string_view key,
                               const std::string& extension);

// A temporary path next to `path`, unique to this process and call.
std::filesystem::path temporary_for(const std::filesystem::path& path);

std::optional<std::string> read(const std::filesystem::path& path);
// False when the cache cannot be written (the kernel still runs; it is just not kept).
bool write(const std::filesystem::path& path, std::string_view bytes);

}  // namespace tl::kernel_cache
