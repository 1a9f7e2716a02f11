#pragma once
// For gtests that run generated MSL in the CPU emulation harness (tests/metal_emu): builds a
// source with emu.py (after its lint) through python3, loads the library and launches
// kernels through tl_emu_launch. Header-only, test code only.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "metal/msl_kernels.h"

namespace tl_test {

namespace fs = std::filesystem;

// The repository root, from this file's path (CMake passes sources by absolute path).
inline fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

inline std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The text of metal/<stem>.metal as the build embeds it: each line `#include "name.h"` replaced
// by the header metal/name.h (CMakeLists.txt, Apple builds; the emulator does the same in
// tests/metal_emu/preprocess.py).
inline std::string metal_library_text(const std::string& stem) {
  const fs::path dir = repo_root() / "metal";
  std::istringstream in(read_text(dir / (stem + ".metal")));
  std::string out, line;
  while (std::getline(in, line)) {
    const std::string prefix = "#include \"";
    if (line.starts_with(prefix) && line.size() > prefix.size() + 1 && line.back() == '"')
      out += read_text(dir / line.substr(prefix.size(), line.size() - prefix.size() - 1));
    else
      out += line + "\n";
  }
  return out;
}

// Runs a command, returning its stdout; empty with a nonzero status.
inline std::string run(const std::string& cmd, int& status) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    status = -1;
    return out;
  }
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  status = pclose(f);
  return out;
}

using LaunchFn = int (*)(const char*, void* const*, const uint64_t*, int, const uint32_t*, const uint32_t*, int,
                         const uint32_t*, int, int, uint64_t, char*, size_t);

// The emulator library of one .metal source (built by emu.py, cached by it on disk).
struct Emulator {
  void* dll = nullptr;
  LaunchFn launch = nullptr;
  std::string error;
};

inline Emulator load(const std::string& source, const std::string& name) {
  Emulator e;
  const fs::path emu_dir = repo_root() / "tests" / "metal_emu";
  if (!fs::exists(emu_dir / "emu.py")) {
    e.error = "no tests/metal_emu next to this test's source";
    return e;
  }
  const fs::path dir = fs::temp_directory_path() / "tl_metal_gtest";
  fs::create_directories(dir);
  const fs::path file = dir / (name + ".metal");
  std::ofstream(file) << source;
  int status = 0;
  // First the lint: what Metal's compiler would reject but g++ accepts.
  const std::string lint = run("python3 " + (emu_dir / "lint.py").string() + " " + file.string() + " 2>&1", status);
  if (status != 0) {
    e.error = "lint: " + lint;
    return e;
  }
  const std::string cmd = "python3 -c \"import sys; sys.path.insert(0, '" + emu_dir.string() +
                          "'); import emu; print(emu.build('" + file.string() + "'))\" 2>&1";
  std::string out = run(cmd, status);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (status != 0) {
    e.error = "emu.build failed: " + out;
    return e;
  }
  e.dll = dlopen(out.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!e.dll) {
    e.error = std::string("dlopen: ") + dlerror();
    return e;
  }
  e.launch = reinterpret_cast<LaunchFn>(dlsym(e.dll, "tl_emu_launch"));
  if (!e.launch) e.error = "no tl_emu_launch";
  return e;
}

// Runs every step of program p over `slots` (followed by its scratch buffer, filled with NaN
// so that a value read before it is written shows, and its params) under the forward, reverse
// and random thread orders: slot `out` after each run, or "" with `error` set.
inline std::vector<std::vector<uint8_t>> run_steps(const Emulator& emu, const tl::metal::Program& p,
                                                   const std::vector<std::vector<uint8_t>>& slots, int out,
                                                   std::string& error) {
  std::vector<std::vector<uint8_t>> results;
  for (int order = 0; order < 3; ++order) {
    std::vector<std::vector<uint8_t>> bufs = slots;
    bufs.emplace_back(size_t(p.launch.scratch_bytes), 0xFF);
    bufs.push_back(p.params);
    std::vector<void*> ptrs;
    std::vector<uint64_t> sizes;
    for (auto& b : bufs) ptrs.push_back(b.data()), sizes.push_back(b.size());
    char err[2048] = {0};
    for (const tl::metal::Step& st : p.steps)
      if (emu.launch(st.entry.c_str(), ptrs.data(), sizes.data(), int(ptrs.size()), st.grid.data(),
                     st.threadgroup.data(), 0, nullptr, 0, order, 5, err, sizeof err) != 0) {
        error = st.entry + ": " + err;
        return {};
      }
    results.push_back(bufs[size_t(out)]);
  }
  return results;
}

// "" when python3 with NumPy and a C++ compiler are there (checked once).
inline const std::string& emulator_missing() {
  static const std::string why = [] {
    int status = 0;
    run("python3 -c \"import numpy\" 2>&1", status);
    if (status != 0) return std::string("python3 with NumPy is needed to build the emulator");
    run("(g++ --version || clang++ --version) >/dev/null 2>&1", status);
    if (status != 0) return std::string("no C++ compiler for the emulator");
    return std::string();
  }();
  return why;
}

}  // namespace tl_test
