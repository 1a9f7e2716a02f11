// Core unit tests: shapes and strides, dtype promotion, the buffer cache, CPU elementwise.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/buffer_cache.h"
#include "core/error.h"
#include "core/half.h"
#include "core/ops.h"

namespace {

using tl::DType;
using tl::Shape;

TEST(Shape, ContiguousStridesAndBroadcast) {
  EXPECT_EQ(tl::contiguous_strides({2, 3, 4}), (tl::Strides{12, 4, 1}));
  EXPECT_EQ(tl::broadcast_shapes({7, 1, 5}, {3, 1}), (Shape{7, 3, 5}));
  EXPECT_EQ(tl::broadcast_shapes({}, {4}), (Shape{4}));
  EXPECT_EQ(tl::broadcast_shapes({0, 1}, {1, 3}), (Shape{0, 3}));
  EXPECT_TRUE(tl::is_contiguous({2, 3}, {3, 1}));
  EXPECT_FALSE(tl::is_contiguous({2, 3}, {1, 2}));
  EXPECT_TRUE(tl::is_contiguous({1, 3}, {99, 1}));  // size-1 dims may have any stride
  try {
    tl::broadcast_shapes({2, 3}, {4});
    FAIL();
  } catch (const tl::Error& e) {
    EXPECT_EQ(e.kind(), tl::ErrorKind::Value);
    EXPECT_NE(std::string(e.what()).find("(2, 3)"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("(4,)"), std::string::npos);
  }
  EXPECT_EQ(tl::normalize_axis(-1, 3), 2);
  EXPECT_THROW(tl::normalize_axis(3, 3), tl::Error);
}

TEST(DType, PromotionTable) {
  EXPECT_EQ(tl::promote_types(DType::Int8, DType::UInt8), DType::Int32);
  EXPECT_EQ(tl::promote_types(DType::Int32, DType::Int64), DType::Int64);
  EXPECT_EQ(tl::promote_types(DType::Float16, DType::BFloat16), DType::Float32);
  EXPECT_EQ(tl::promote_types(DType::Int64, DType::Float16), DType::Float16);
  EXPECT_EQ(tl::promote_types(DType::Bool, DType::UInt8), DType::UInt8);
  for (int a = 0; a < tl::kNumDTypes; ++a)
    for (int b = 0; b < tl::kNumDTypes; ++b)
      EXPECT_EQ(tl::promote_types(DType(a), DType(b)), tl::promote_types(DType(b), DType(a)));
  EXPECT_EQ(tl::weak_scalar_dtype(tl::Scalar::from_float(1.5), DType::Float16), DType::Float16);
  EXPECT_EQ(tl::weak_scalar_dtype(tl::Scalar::from_float(1.5), DType::Int32), DType::Float32);
  EXPECT_EQ(tl::weak_scalar_dtype(tl::Scalar::from_int(2), DType::UInt8), DType::UInt8);
  EXPECT_EQ(tl::weak_scalar_dtype(tl::Scalar::from_int(2), DType::Bool), DType::Int64);
}

TEST(Half, RoundTripsAndRounding) {
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = tl::half_to_float(uint16_t(b));
    if (!std::isnan(f)) EXPECT_EQ(tl::float_to_half(f), uint16_t(b));
    float g = tl::bf16_to_float(uint16_t(b));
    if (!std::isnan(g)) EXPECT_EQ(tl::float_to_bf16(g), uint16_t(b));
  }
  EXPECT_EQ(tl::float_to_half(65520.f), 0x7c00);  // rounds to inf
  EXPECT_EQ(tl::float_to_bf16(1.00390625f), 0x3f80);  // ties to even
}

class CountingAllocator : public tl::RawAllocator {
 public:
  void* allocate(size_t n) override {
    if (fail) return nullptr;
    ++allocs;
    return ::operator new(n);
  }
  void release(void* p, size_t) override {
    ++frees;
    ::operator delete(p);
  }
  int allocs = 0, frees = 0;
  bool fail = false;
};

TEST(BufferCache, SizeClassesReuseAndEviction) {
  EXPECT_EQ(tl::BufferCache::round_size(1), 64u);
  EXPECT_EQ(tl::BufferCache::round_size(513), 640u);
  EXPECT_EQ(tl::BufferCache::round_size(1000), 1024u);
  CountingAllocator raw;
  tl::BufferCache cache(raw, 4096, "test");
  auto a = cache.acquire(1000);
  cache.recycle(a);
  auto b = cache.acquire(900);  // same class, reused
  EXPECT_EQ(b.ptr, a.ptr);
  EXPECT_EQ(cache.stats().pool_hits, 1);
  auto c = cache.acquire(100);  // much smaller: bounded waste forbids reusing b's class
  cache.recycle(b);
  auto d = cache.acquire(64);
  EXPECT_NE(d.ptr, b.ptr);
  cache.recycle(c);
  cache.recycle(d);
  EXPECT_EQ(cache.stats().bytes_in_use, 0);
  auto big = cache.acquire(8192);  // freed past the 4096 cache limit: evicted at once
  cache.recycle(big);
  EXPECT_LE(cache.stats().bytes_cached, 4096);
  cache.empty_cache();
  EXPECT_EQ(cache.stats().bytes_cached, 0);
  EXPECT_EQ(raw.allocs, raw.frees);
}

TEST(BufferCache, OutOfMemoryFreesCacheThenThrows) {
  CountingAllocator raw;
  tl::BufferCache cache(raw, 1 << 20, "test");
  cache.recycle(cache.acquire(4096));
  EXPECT_GT(cache.stats().bytes_cached, 0);
  cache.set_memory_limit(2048);
  try {
    cache.acquire(4096 * 2);
    FAIL();
  } catch (const tl::Error& e) {
    EXPECT_EQ(e.kind(), tl::ErrorKind::Memory);
  }
  EXPECT_EQ(cache.stats().bytes_cached, 0);  // the cache was released before giving up
  cache.set_memory_limit(0);
  raw.fail = true;
  EXPECT_THROW(cache.acquire(100), tl::Error);
}

std::vector<float> host(const tl::Tensor& t) {
  std::vector<float> out(size_t(t.numel()));
  tl::to_host(tl::astype(t, DType::Float32), out.data());
  return out;
}

TEST(CpuElementwise, BroadcastStridedAndCast) {
  tl::Device cpu{tl::DeviceType::CPU, 0};
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> dist(-2, 2);
  std::vector<float> a(6 * 5), b(5);
  for (float& v : a) v = dist(gen);
  for (float& v : b) v = dist(gen);
  tl::Tensor ta = tl::from_host(a.data(), {6, 5}, DType::Float32, cpu);
  tl::Tensor tb = tl::from_host(b.data(), {5}, DType::Float32, cpu);
  // a transposed float16 view times a broadcast float32 column
  tl::Tensor t = tl::permute_dims(ta, {1, 0});
  tl::Tensor r = tl::binary(tl::OpCode::multiply, tl::astype(t, DType::Float16),
                            tl::reshape(tb, {5, 1}));
  EXPECT_EQ(r.dtype(), DType::Float32);  // f16 with f32 promotes to f32
  EXPECT_EQ(r.shape(), (Shape{5, 6}));
  auto got = host(r);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 6; ++j) {
      float want = tl::half_to_float(tl::float_to_half(a[size_t(j * 5 + i)])) * b[size_t(i)];
      EXPECT_NEAR(got[size_t(i * 6 + j)], want, std::abs(want) * 1e-6 + 1e-7);
    }
}

TEST(CpuElementwise, LargeThreadedMatchesSerialReference) {
  tl::Device cpu{tl::DeviceType::CPU, 0};
  const int64_t n = 1 << 18;
  std::vector<float> a(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) a[size_t(i)] = float(std::sin(double(i)));
  tl::Tensor t = tl::from_host(a.data(), {n}, DType::Float32, cpu);
  auto got = host(tl::unary(tl::OpCode::tanh, t));
  for (int64_t i = 0; i < n; i += 997) EXPECT_NEAR(got[size_t(i)], std::tanh(a[size_t(i)]), 1e-6);
}

}  // namespace
