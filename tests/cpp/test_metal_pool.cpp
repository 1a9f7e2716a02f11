// The Metal pool (src/metal/metal_pool.h) over a fake allocator with fake completions: a
// block freed while a command buffer may use it is reused only after that command buffer
// completed; out of memory drains the queue before MemoryError; stats stay truthful.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <thread>
#include <vector>

#include "fake_allocator.h"
#include "core/error.h"
#include "metal/metal_batch.h"
#include "metal/metal_pool.h"

namespace {

using tl::BufferCache;
using tl::metal::DeferredPool;

using tl::test::FakeAllocator;

constexpr size_t kBlock = 4096;  // a size class of its own

TEST(MetalPool, ABlockReturnsOnlyAfterItsCommandBufferCompleted) {
  FakeAllocator raw(1 << 20);
  DeferredPool pool(raw, 1 << 20, [] { FAIL() << "no drain expected"; });
  BufferCache::Block a = pool.acquire(kBlock);
  pool.note_use(a.ptr, 1);
  pool.note_use(a.ptr, 3);
  pool.note_use(a.ptr, 2);  // the latest use counts, whatever the order of notes
  EXPECT_EQ(pool.last_use(a.ptr), 3u);
  pool.release(a);
  EXPECT_EQ(pool.pending_blocks(), 1u);
  EXPECT_EQ(pool.stats().bytes_in_use, int64_t(kBlock));  // the GPU may still use it
  EXPECT_EQ(pool.stats().bytes_cached, 0);

  BufferCache::Block b = pool.acquire(kBlock);
  EXPECT_NE(b.ptr, a.ptr);  // not reused while command buffer 3 may run
  pool.retire(2);
  EXPECT_EQ(pool.pending_blocks(), 1u);
  pool.retire(3);
  EXPECT_EQ(pool.pending_blocks(), 0u);
  EXPECT_EQ(pool.stats().bytes_cached, int64_t(kBlock));
  BufferCache::Block c = pool.acquire(kBlock);
  EXPECT_EQ(c.ptr, a.ptr);  // now it is
  EXPECT_EQ(pool.stats().pool_hits, 1);
  EXPECT_EQ(pool.stats().pool_misses, 2);
  pool.release(b);
  pool.release(c);
}

TEST(MetalPool, BlocksNeverUsedOrWhoseWorkIsDoneReturnAtOnce) {
  FakeAllocator raw(1 << 20);
  DeferredPool pool(raw, 1 << 20, nullptr);
  BufferCache::Block a = pool.acquire(kBlock), b = pool.acquire(kBlock);
  pool.note_use(b.ptr, 1);
  pool.retire(1);
  EXPECT_EQ(pool.last_use(b.ptr), 0u);
  pool.release(a);
  pool.release(b);
  EXPECT_EQ(pool.pending_blocks(), 0u);
  EXPECT_EQ(pool.stats().bytes_cached, int64_t(2 * kBlock));
  EXPECT_EQ(pool.stats().bytes_in_use, 0);
  pool.empty_cache();
  EXPECT_EQ(pool.stats().bytes_cached, 0);
  EXPECT_EQ(pool.stats().system_frees, 2);
  EXPECT_TRUE(raw.live.empty());
}

TEST(MetalPool, OutOfMemoryDrainsTheQueueThenRetries) {
  FakeAllocator raw(2 * kBlock);
  int drains = 0;
  DeferredPool* self = nullptr;
  DeferredPool pool(raw, 1 << 20, [&] {
    ++drains;
    self->retire(7);  // what committing and waiting for everything does
  });
  self = &pool;
  BufferCache::Block a = pool.acquire(kBlock), b = pool.acquire(kBlock);
  pool.note_use(a.ptr, 7);
  pool.note_use(b.ptr, 7);
  pool.release(a);
  pool.release(b);
  BufferCache::Block c = pool.acquire(2 * kBlock);  // only fits once a and b are back
  EXPECT_EQ(drains, 1);
  EXPECT_EQ(pool.stats().bytes_in_use, int64_t(2 * kBlock));
  EXPECT_EQ(pool.stats().system_frees, 2);  // the cache went back to make room
  try {
    pool.acquire(kBlock);  // nothing pending: no drain, MemoryError
    FAIL();
  } catch (const tl::Error& e) {
    EXPECT_EQ(e.kind(), tl::ErrorKind::Memory);
    EXPECT_NE(std::string(e.what()).find("metal out of memory"), std::string::npos) << e.what();
  }
  EXPECT_EQ(drains, 1);
  pool.release(c);
}

TEST(MetalPool, ADrainThatFreesTooLittleEndsInMemoryError) {
  FakeAllocator raw(3 * kBlock);
  int drains = 0;
  DeferredPool* self = nullptr;
  DeferredPool pool(raw, 1 << 20, [&] {
    ++drains;
    self->retire(1);
  });
  self = &pool;
  BufferCache::Block a = pool.acquire(kBlock), held = pool.acquire(2 * kBlock);
  pool.note_use(a.ptr, 1);
  pool.release(a);
  EXPECT_THROW(pool.acquire(3 * kBlock), tl::Error);
  EXPECT_EQ(drains, 1);
  EXPECT_EQ(pool.stats().bytes_in_use, int64_t(2 * kBlock));  // the failed request left no trace
  pool.release(held);
}

TEST(MetalPool, TheMemoryLimitCountsPendingBlocks) {
  FakeAllocator raw(1 << 20);
  int drains = 0;
  DeferredPool* self = nullptr;
  DeferredPool pool(raw, 1 << 20, [&] {
    ++drains;
    self->retire(1);
  });
  self = &pool;
  pool.set_memory_limit(2 * kBlock);
  EXPECT_EQ(pool.stats().memory_limit, int64_t(2 * kBlock));
  BufferCache::Block a = pool.acquire(kBlock), b = pool.acquire(kBlock);
  pool.note_use(a.ptr, 1);
  pool.release(a);
  BufferCache::Block c = pool.acquire(kBlock);  // over the limit until a's work is done
  EXPECT_EQ(drains, 1);
  EXPECT_EQ(c.ptr, a.ptr);
  EXPECT_EQ(pool.stats().peak_bytes_in_use, int64_t(2 * kBlock));
  pool.set_memory_limit(0);
  pool.release(b);
  pool.release(c);
}

TEST(MetalPool, CompletionsFromAnotherThreadRetireThroughTheBatcher) {
  FakeAllocator raw(1 << 24);
  DeferredPool* pool_ptr = nullptr;
  // Room for all ten command buffers in flight: nothing completes until they are committed.
  tl::metal::CommandBatcher batcher({64, size_t(1) << 30, /*max_in_flight=*/10},
                                    [&](uint64_t n) { pool_ptr->retire(n); });
  DeferredPool pool(raw, 1 << 24, [&] { batcher.wait(batcher.close()); });
  pool_ptr = &pool;
  std::vector<BufferCache::Block> blocks;
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 50; ++i) {
    BufferCache::Block blk = pool.acquire(kBlock * size_t(1 + i % 3));
    const uint64_t seq = batcher.add_kernel("k", blk.size);
    pool.note_use(blk.ptr, seq);
    pool.release(blk);  // freed right after encoding, as temporaries are
    if (i % 5 == 4) seqs.push_back(batcher.close());
  }
  std::thread metal([&] {
    for (auto it = seqs.rbegin(); it != seqs.rend(); ++it) batcher.completed(*it, "");  // out of order
  });
  batcher.wait(seqs.back());
  metal.join();
  EXPECT_EQ(pool.pending_blocks(), 0u);
  EXPECT_EQ(pool.stats().bytes_in_use, 0);
  const int64_t hits = pool.stats().pool_hits;
  pool.release(pool.acquire(kBlock));  // the cached blocks serve new requests
  EXPECT_EQ(pool.stats().pool_hits, hits + 1);
}

}  // namespace
