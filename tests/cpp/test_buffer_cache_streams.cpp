// The stream rule of the shared BufferCache (src/core/buffer_cache.h), with fake events: a
// block freed on stream S is reused at once by S, by another stream only once the event
// recorded at its free has completed (queried, never waited on), and never by another stream
// without an event; fence() gives eventless blocks one; CPU/Metal-style use (stream 0, no
// events) keeps reusing at once; out of memory frees the cache and retries; stats stay truthful.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <set>

#include "fake_allocator.h"
#include "core/buffer_cache.h"
#include "core/error.h"

namespace {

using tl::BufferCache;

using tl::test::FakeAllocator;

// An event the test completes by hand; counts queries and forbids waits.
struct FakeEvent final : tl::StreamEvent {
  bool complete = false;
  int queries = 0;
  bool done() override {
    ++queries;
    return complete;
  }
  void wait() override { ADD_FAILURE() << "acquire must never wait on an event"; }
};

constexpr size_t kBlock = 4096;
constexpr uint64_t kS1 = 11, kS2 = 22;

TEST(BufferCacheStreams, SameStreamReusesAtOnce) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 1 << 20, "fake");
  BufferCache::Block a = pool.acquire(kBlock, kS1);
  EXPECT_EQ(a.stream, kS1);
  auto ev = std::make_shared<FakeEvent>();
  pool.recycle(a, ev);
  BufferCache::Block b = pool.acquire(kBlock, kS1);
  EXPECT_EQ(b.ptr, a.ptr);     // stream order makes it safe: no event consulted
  EXPECT_EQ(ev->queries, 0);
  pool.recycle(b);
  EXPECT_EQ(pool.stats().pool_hits, 1);
}

TEST(BufferCacheStreams, OtherStreamWaitsForTheEvent) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 1 << 20, "fake");
  BufferCache::Block a = pool.acquire(kBlock, kS1);
  auto ev = std::make_shared<FakeEvent>();
  pool.recycle(a, ev);

  BufferCache::Block b = pool.acquire(kBlock, kS2);  // S1's work may still use a
  EXPECT_NE(b.ptr, a.ptr);
  EXPECT_GE(ev->queries, 1);
  EXPECT_EQ(pool.stats().pool_misses, 2);

  ev->complete = true;                               // S1 got past the free
  BufferCache::Block c = pool.acquire(kBlock, kS2);
  EXPECT_EQ(c.ptr, a.ptr);
  EXPECT_EQ(c.stream, kS2);                          // now S2's block
  pool.recycle(b);
  pool.recycle(c);
  const tl::PoolStats s = pool.stats();
  EXPECT_EQ(s.bytes_in_use, 0);
  EXPECT_EQ(s.bytes_cached, int64_t(2 * kBlock));
  EXPECT_EQ(s.pool_hits, 1);
}

TEST(BufferCacheStreams, NoEventMeansOnlyItsOwnStream) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 1 << 20, "fake");
  BufferCache::Block a = pool.acquire(kBlock, kS1);
  pool.recycle(a);                                   // freed without an event
  BufferCache::Block b = pool.acquire(kBlock, kS2);
  EXPECT_NE(b.ptr, a.ptr);
  pool.recycle(b);
  BufferCache::Block c = pool.acquire(kBlock, kS1);
  EXPECT_EQ(c.ptr, a.ptr);
  pool.recycle(c);
}

TEST(BufferCacheStreams, OwnStreamBlockIsPreferred) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 1 << 20, "fake");
  BufferCache::Block a = pool.acquire(kBlock, kS1);
  BufferCache::Block b = pool.acquire(kBlock, kS2);
  auto done = std::make_shared<FakeEvent>();
  done->complete = true;
  pool.recycle(a, done);
  pool.recycle(b, std::make_shared<FakeEvent>());
  BufferCache::Block c = pool.acquire(kBlock, kS2);
  EXPECT_EQ(c.ptr, b.ptr);
  EXPECT_EQ(done->queries, 0);
  pool.recycle(c);
}

TEST(BufferCacheStreams, NoStreamBlockWaitsEvenForItsOwnStream) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 1 << 20, "fake");
  BufferCache::Block a = pool.acquire(kBlock, kS1);
  a.stream = BufferCache::kNoStream;                 // used on several streams
  auto ev = std::make_shared<FakeEvent>();
  pool.recycle(a, ev);
  BufferCache::Block b = pool.acquire(kBlock, kS1);
  EXPECT_NE(b.ptr, a.ptr);
  ev->complete = true;
  BufferCache::Block c = pool.acquire(kBlock, kS1);
  EXPECT_EQ(c.ptr, a.ptr);
  pool.recycle(b);
  pool.recycle(c);
}

TEST(BufferCacheStreams, FenceGivesEventlessBlocksOnePerStream) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 1 << 20, "fake");
  BufferCache::Block a = pool.acquire(kBlock, kS1);
  BufferCache::Block b = pool.acquire(kBlock, kS1);
  BufferCache::Block c = pool.acquire(2 * kBlock, kS2);
  pool.recycle(a);
  pool.recycle(b);
  pool.recycle(c);
  std::set<uint64_t> recorded;
  std::shared_ptr<FakeEvent> s1_event;
  pool.fence([&](uint64_t stream) -> tl::StreamEventPtr {
    EXPECT_TRUE(recorded.insert(stream).second);    // one event per stream
    auto e = std::make_shared<FakeEvent>();
    if (stream == kS1) s1_event = e;
    return e;
  });
  EXPECT_EQ(recorded, (std::set<uint64_t>{kS1, kS2}));
  const uint64_t kS3 = 33;
  BufferCache::Block d = pool.acquire(kBlock, kS3);
  EXPECT_NE(d.ptr, a.ptr);
  EXPECT_NE(d.ptr, b.ptr);
  s1_event->complete = true;
  BufferCache::Block e = pool.acquire(kBlock, kS3);
  EXPECT_TRUE(e.ptr == a.ptr || e.ptr == b.ptr);
  pool.fence([&](uint64_t) -> tl::StreamEventPtr {  // every block has an event now
    ADD_FAILURE() << "nothing left to fence";
    return nullptr;
  });
  pool.recycle(d);
  pool.recycle(e);
}

TEST(BufferCacheStreams, StreamZeroWithoutEventsReusesAsBefore) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 1 << 20, "fake");
  for (int i = 0; i < 100; ++i) pool.recycle(pool.acquire(kBlock));
  const tl::PoolStats s = pool.stats();
  EXPECT_EQ(s.system_allocations, 1);
  EXPECT_EQ(s.pool_hits, 99);
}

TEST(BufferCacheStreams, OutOfMemoryFreesOtherStreamsBlocksAndRetries) {
  FakeAllocator raw(4 * kBlock);
  BufferCache pool(raw, 1 << 20, "fake");
  BufferCache::Block a = pool.acquire(2 * kBlock, kS1);
  BufferCache::Block b = pool.acquire(2 * kBlock, kS1);
  pool.recycle(a, std::make_shared<FakeEvent>());    // still pending on S1
  pool.recycle(b);
  // S2 can take neither; the system is full: the cache is released and the request retried.
  BufferCache::Block c = pool.acquire(4 * kBlock, kS2);
  EXPECT_NE(c.ptr, nullptr);
  EXPECT_EQ(pool.stats().bytes_cached, 0);
  EXPECT_EQ(pool.stats().system_frees, 2);
  try {
    pool.acquire(kBlock, kS1);
    FAIL() << "expected MemoryError";
  } catch (const tl::Error& e) {
    EXPECT_EQ(e.kind(), tl::ErrorKind::Memory);
    EXPECT_NE(std::string(e.what()).find("could not allocate 4096 bytes"), std::string::npos);
  }
  pool.recycle(c);
}

TEST(BufferCacheStreams, EvictionKeepsTheIndexConsistent) {
  FakeAllocator raw(1 << 20);
  BufferCache pool(raw, 3 * kBlock, "fake");        // cache at most three blocks
  BufferCache::Block bs[6];
  for (int i = 0; i < 6; ++i) bs[i] = pool.acquire(kBlock, uint64_t(i % 3));
  for (auto& b : bs) pool.recycle(b, std::make_shared<FakeEvent>());
  EXPECT_EQ(pool.stats().bytes_cached, int64_t(3 * kBlock));
  EXPECT_EQ(pool.stats().system_frees, 3);
  for (uint64_t s = 0; s < 3; ++s) pool.recycle(pool.acquire(kBlock, s));  // still findable
  EXPECT_EQ(pool.stats().pool_hits, 3);
  pool.empty_cache();
  EXPECT_EQ(pool.stats().bytes_cached, 0);
}

}  // namespace
