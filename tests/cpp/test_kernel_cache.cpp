// The on-disk kernel cache shared by the CPU JIT and CUDA: stable names, where files go, and
// writes that a reader never sees half done.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/kernel_cache.h"

namespace {

namespace fs = std::filesystem;
namespace kc = tl::kernel_cache;

TEST(KernelCache, StableHashIsFnv1a) {
  EXPECT_EQ(kc::stable_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(kc::stable_hash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_NE(kc::stable_hash("sm_90\nsource"), kc::stable_hash("sm_80\nsource"));
}

TEST(KernelCache, FilesLiveUnderTheOverrideAndRoundTrip) {
  const fs::path root = fs::temp_directory_path() / ("tl-kc-test-" + std::to_string(::getpid()));
  ::setenv("TENSORLOGIC_CACHE_DIR", root.c_str(), 1);
  const fs::path f = kc::file_for("cuda", "key one", ".cubin");
  EXPECT_EQ(f.parent_path(), root / "cuda");
  EXPECT_EQ(f.filename().string().size(), 16u + 6u);  // 16 hex digits + ".cubin"
  EXPECT_NE(f, kc::file_for("cuda", "key two", ".cubin"));
  EXPECT_FALSE(kc::read(f).has_value());
  const std::string bytes("\x7f" "ELF\0 binary", 11);
  ASSERT_TRUE(kc::write(f, bytes));
  EXPECT_EQ(kc::read(f).value(), bytes);
  ASSERT_TRUE(kc::write(f, "second"));  // replaced whole
  EXPECT_EQ(kc::read(f).value(), "second");
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(root / "cuda")) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary left behind
  ::unsetenv("TENSORLOGIC_CACHE_DIR");
  fs::remove_all(root);
}

}  // namespace
