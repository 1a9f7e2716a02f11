#include "cpu/jit.h"

#include <dlfcn.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/codegen_c.h"
#include "core/embedded_sources.h"
#include "core/kernel_cache.h"
#include "core/profiler.h"

namespace tl::cpu {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kAutoMinElements = 1 << 20;
// -ffp-contract=off: no multiply-add fused across two ops, so results match the interpreter.
constexpr const char* kFlags = "-O3 -march=native -std=c++20 -fPIC -shared -ffp-contract=off -fno-math-errno";

enum class Mode { Off, Auto, Always };

Mode mode() {
  static const Mode m = [] {
    const char* s = std::getenv("TENSORLOGIC_CPU_JIT");
    if (!s) return Mode::Auto;
    return s[0] == '0' ? Mode::Off : s[0] == '1' ? Mode::Always : Mode::Auto;
  }();
  return m;
}

std::string compiler() {
  const char* s = std::getenv("TENSORLOGIC_CXX");
  if (!s) s = std::getenv("CXX");
  return s && *s ? s : "c++";
}

std::string strip_pragma_once(std::string s) {
  const std::string p = "#pragma once";
  if (auto at = s.find(p); at != std::string::npos) s.erase(at, p.size());
  return s;
}

std::string source_of(const ir::Kernel& k, const std::vector<int>& instrs, int inner) {
  std::string s = "#include <cstdint>\n";
  s += strip_pragma_once(embedded::kScalarMath);
  s += strip_pragma_once(embedded::kVecMath);
  // As in the interpreter: float takes vec_math's overloads, double scalar_math's templates.
  s += "using namespace tl::sm;\n";
  for (const char* f : {"tl_exp", "tl_log", "tl_expm1", "tl_log1p", "tl_softplus", "tl_tanh",
                        "tl_sigmoid", "tl_silu", "tl_gelu_tanh"})
    s += std::string("using tl::sm::") + f + ";\nusing tl::cpu::vm::" + f + ";\n";
  s += codegen::cast_prelude();
  s += "#define TL_RESTRICT __restrict\n";
  s += codegen::block_function(k, instrs, inner, "tl_block", "extern \"C\"");
  return s;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<std::string, BlockFn> loaded;  // by source; nullptr: failed, interpret
  int usable = -1;  // whether the compiler runs at all, probed once
};

Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

BlockFn load(const fs::path& so) {
  void* h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept open for the process
  return h ? reinterpret_cast<BlockFn>(dlsym(h, "tl_block")) : nullptr;
}

// Builds the shared object; written under a temporary name and renamed into place, so a
// reader never sees a partial file.
bool build(const std::string& src, const fs::path& so) {
  std::error_code ec;
  const fs::path tmp = kernel_cache::temporary_for(so);
  const fs::path cpp = fs::path(tmp).replace_extension(".cpp");
  if (!kernel_cache::write(cpp, src)) return false;
  const std::string cmd = compiler() + " " + kFlags + " -o '" + tmp.string() + "' '" + cpp.string() +
                          "' 2>'" + cpp.string() + ".err'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    if (profiler::debug_level() >= 1)
      std::fprintf(stderr, "[tensorlogic] CPU kernel compile failed (%s); see %s.err\n", cmd.c_str(),
                   cpp.string().c_str());
    return false;
  }
  fs::rename(tmp, so, ec);
  fs::remove(cpp, ec);
  fs::remove(cpp.string() + ".err", ec);
  return !ec;
}

}  // namespace

BlockFn jit_block(const ir::Kernel& kernel, const std::vector<int>& instrs, int inner) {
  const Mode m = mode();
  if (m == Mode::Off || !codegen::printable(kernel, instrs)) return nullptr;
  if (m == Mode::Auto && numel(kernel.domain) < kAutoMinElements) return nullptr;
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  if (c.usable < 0) c.usable = std::system((compiler() + " --version >/dev/null 2>&1").c_str()) == 0;
  if (!c.usable) return nullptr;
  const std::string src = source_of(kernel, instrs, inner);
  if (auto it = c.loaded.find(src); it != c.loaded.end()) return it->second;
  const fs::path so = kernel_cache::file_for("cpu", src + compiler() + kFlags + TL_VERSION, ".so");
  BlockFn fn = fs::exists(so) ? load(so) : nullptr;  // a corrupt file fails to load: rebuilt
  if (!fn && build(src, so)) fn = load(so);
  c.loaded[src] = fn;
  return fn;
}

}  // namespace tl::cpu
