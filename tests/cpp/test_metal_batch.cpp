// The Metal backend's command-buffer batching (src/metal/metal_batch.h), driven by fake
// completions: commit bounds, out-of-order completion, errors surfacing at check(), waiting
// and the in-flight throttle.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/error.h"
#include "metal/metal_batch.h"

namespace {

using tl::metal::BatchLimits;
using tl::metal::CommandBatcher;

TEST(MetalBatch, KernelsShareTheOpenCommandBufferUntilABound) {
  CommandBatcher b({/*max_kernels=*/3, /*max_bytes=*/1000, /*max_in_flight=*/8}, nullptr);
  EXPECT_EQ(b.open(), 0u);
  EXPECT_EQ(b.close(), 0u);  // nothing open: nothing to commit
  EXPECT_EQ(b.add_kernel("E_add", 10), 1u);
  EXPECT_EQ(b.add_kernel("E_mul", 10), 1u);
  EXPECT_FALSE(b.full());
  EXPECT_EQ(b.add_kernel("R_sum", 10), 1u);
  EXPECT_TRUE(b.full());  // three kernels
  EXPECT_EQ(b.close(), 1u);
  EXPECT_EQ(b.open(), 0u);
  EXPECT_EQ(b.add_kernel("MM", 999), 2u);
  EXPECT_FALSE(b.full());
  b.add_kernel("E_exp", 1);
  EXPECT_TRUE(b.full());  // 1000 bytes
}

TEST(MetalBatch, CompletedThroughWaitsForEveryEarlierCommandBuffer) {
  std::vector<uint64_t> retired;
  CommandBatcher b({}, [&](uint64_t n) { retired.push_back(n); });
  for (int i = 0; i < 3; ++i) {
    b.add_kernel("k", 1);
    b.close();
  }
  b.completed(2, "");
  EXPECT_EQ(b.completed_through(), 0u);  // 1 still runs
  EXPECT_TRUE(retired.empty());
  b.completed(1, "");
  EXPECT_EQ(b.completed_through(), 2u);
  b.completed(3, "");
  b.completed(3, "");  // a repeated report changes nothing
  EXPECT_EQ(b.completed_through(), 3u);
  EXPECT_EQ(retired, (std::vector<uint64_t>{2, 3}));
}

TEST(MetalBatch, TheFirstErrorSurfacesOnceAndNamesTheKernels) {
  CommandBatcher b({}, nullptr);
  b.add_kernel("E_add_7_float32", 28);
  b.close();
  b.add_kernel("MM_4x4x4_b1_float32", 64);
  b.add_kernel("E_tanh_16_float32", 64);
  b.close();
  b.completed(1, "Execution of the command buffer was aborted (out of memory)");
  b.completed(2, "a later failure");
  try {
    b.check();
    FAIL() << "no DeviceError";
  } catch (const tl::Error& e) {
    EXPECT_EQ(e.kind(), tl::ErrorKind::Device);
    const std::string m = e.what();
    EXPECT_NE(m.find("kernel E_add_7_float32"), std::string::npos) << m;
    EXPECT_NE(m.find("aborted (out of memory)"), std::string::npos) << m;
    EXPECT_EQ(m.find("later"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(b.check());  // reported once; the queue keeps working
  b.add_kernel("A", 1);
  b.add_kernel("B", 1);
  b.close();
  b.completed(3, "GPU hang");
  try {
    b.check();
    FAIL();
  } catch (const tl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("one of the kernels A, B"), std::string::npos) << e.what();
  }
}

TEST(MetalBatch, WaitBlocksUntilCompletion) {
  CommandBatcher b({}, nullptr);
  b.add_kernel("k", 1);
  const uint64_t seq = b.close();
  std::atomic<bool> done{false};
  std::thread metal([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    done = true;
    b.completed(seq, "");
  });
  b.wait(seq);
  EXPECT_TRUE(done);
  metal.join();
  b.wait(0);  // nothing to wait for
  b.add_kernel("k", 1);
  EXPECT_THROW(b.wait(2), std::logic_error);  // still open: waiting would never end
}

TEST(MetalBatch, CloseWaitsWhileTooManyCommandBuffersRun) {
  CommandBatcher b({64, size_t(1) << 30, /*max_in_flight=*/1}, nullptr);
  b.add_kernel("k", 1);
  EXPECT_EQ(b.close(), 1u);
  b.add_kernel("k", 1);
  std::atomic<bool> completed{false};
  std::thread metal([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    completed = true;
    b.completed(1, "");
  });
  EXPECT_EQ(b.close(), 2u);
  EXPECT_TRUE(completed);  // close() returned only after command buffer 1 completed
  metal.join();
}

}  // namespace
