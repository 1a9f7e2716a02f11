// Measured kernel selection: the fastest candidate wins, is remembered in memory and on disk,
// and a later process (memory forgotten) reads it back without measuring.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/autotune.h"
#include "core/kernel_cache.h"

namespace {

namespace fs = std::filesystem;
namespace at = tl::autotune;

class Autotune : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("tl-tune-test-" + std::to_string(::getpid()));
    ::setenv("TENSORLOGIC_CACHE_DIR", root_.c_str(), 1);
    at::forget_in_memory();
    at::set_enabled(true);
  }
  void TearDown() override {
    at::set_enabled(false);
    at::forget_in_memory();
    ::unsetenv("TENSORLOGIC_CACHE_DIR");
    fs::remove_all(root_);
  }
  fs::path root_;
};

const std::vector<std::string> kNames{"mma_128", "mma_64", "wgmma_128x256"};

TEST_F(Autotune, FastestWinsAndIsRememberedOnDisk) {
  int calls = 0;
  const auto time = [&](int i) { return ++calls, std::vector<double>{3e-3, 1e-3, 2e-3}[size_t(i)]; };
  const at::Stats before = at::stats();
  EXPECT_EQ(at::choose("cuda", "M=4096 N=4096 K=4096 bf16", kNames, time), 1);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(at::stats().tuned, before.tuned + 1);
  EXPECT_EQ(at::choose("cuda", "M=4096 N=4096 K=4096 bf16", kNames, time), 1);  // from memory
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(at::stats().memory_hits, before.memory_hits + 1);

  at::forget_in_memory();  // a new process
  at::set_enabled(false);  // a winner on disk is used even with tuning off
  EXPECT_EQ(at::choose("cuda", "M=4096 N=4096 K=4096 bf16", kNames, time), 1);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(at::stats().disk_hits, before.disk_hits + 1);
  const auto text = tl::kernel_cache::read(tl::kernel_cache::file_for("cuda", "M=4096 N=4096 K=4096 bf16", ".tune"));
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "M=4096 N=4096 K=4096 bf16\nmma_64\n");
}

TEST_F(Autotune, OffWithNothingRememberedTakesTheHeuristicsChoice) {
  at::set_enabled(false);
  int calls = 0;
  EXPECT_EQ(at::choose("cuda", "never tuned", kNames, [&](int) { return ++calls, 1.0; }), 0);
  EXPECT_EQ(calls, 0);
}

TEST_F(Autotune, TurningItOnLaterMeasuresWhatWasLookedUpOff) {
  at::set_enabled(false);
  int calls = 0;
  const auto time = [&](int i) { return ++calls, i == 1 ? 1e-3 : 2e-3; };
  EXPECT_EQ(at::choose("cuda", "k", kNames, time), 0);  // (the disk is looked up once)
  EXPECT_EQ(at::choose("cuda", "k", kNames, time), 0);
  EXPECT_EQ(calls, 0);
  at::set_enabled(true);
  EXPECT_EQ(at::choose("cuda", "k", kNames, time), 1);
  EXPECT_EQ(calls, 3);
}

TEST_F(Autotune, FailingCandidatesAreSkipped) {
  const auto time = [](int i) -> double {
    if (i == 0) throw std::runtime_error("too many resources requested for launch");
    if (i == 1) return std::numeric_limits<double>::infinity();
    return 5e-3;
  };
  EXPECT_EQ(at::choose("cuda", "odd shape", kNames, time), 2);
  // None can run: the heuristic's choice, and nothing remembered.
  EXPECT_EQ(at::choose("cuda", "hopeless", kNames, [](int) { return -1.0; }), 0);
  at::forget_in_memory();
  at::set_enabled(false);
  EXPECT_FALSE(tl::kernel_cache::read(tl::kernel_cache::file_for("cuda", "hopeless", ".tune")).has_value());
}

TEST_F(Autotune, StaleOrForeignFilesAreIgnored) {
  // A winner that is no longer a candidate (an older library), and a file of another key
  // under the same name (a hash collision), are measured again.
  const auto path = tl::kernel_cache::file_for("cuda", "key a", ".tune");
  ASSERT_TRUE(tl::kernel_cache::write(path, "key a\nmma_256_removed\n"));
  int calls = 0;
  const auto time = [&](int i) { return ++calls, i == 2 ? 1e-3 : 2e-3; };
  EXPECT_EQ(at::choose("cuda", "key a", kNames, time), 2);
  EXPECT_EQ(calls, 3);
  const auto other = tl::kernel_cache::file_for("cuda", "key b", ".tune");
  ASSERT_TRUE(tl::kernel_cache::write(other, "key c\nmma_64\n"));
  EXPECT_EQ(at::choose("cuda", "key b", kNames, time), 2);
  EXPECT_EQ(calls, 6);
}

TEST_F(Autotune, OneCandidateIsNeverMeasured) {
  int calls = 0;
  EXPECT_EQ(at::choose("cuda", "gemv", {"gemv_dot"}, [&](int) { return ++calls, 1.0; }), 0);
  EXPECT_EQ(calls, 0);
}

}  // namespace
