// Views (strides, offsets, shared buffers) and indexing through the C++ API.
#include <gtest/gtest.h>

#include <functional>
#include <numeric>

#include "core/error.h"
#include "core/ops.h"

namespace {

using tl::IndexItem;
using tl::Tensor;
using Kind = IndexItem::Kind;

Tensor iota(const tl::Shape& shape) {
  std::vector<float> v(size_t(tl::numel(shape)));
  std::iota(v.begin(), v.end(), 1.0f);
  return tl::from_host(v.data(), shape, tl::DType::Float32, tl::Device{});
}

std::vector<float> values(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  tl::to_host(t, v.data());
  return v;
}

IndexItem int_item(int64_t i) {
  IndexItem it;
  it.kind = Kind::Int;
  it.i = i;
  return it;
}

IndexItem slice_item(std::optional<int64_t> start, std::optional<int64_t> stop,
                     std::optional<int64_t> step) {
  IndexItem it;
  it.kind = Kind::Slice;
  it.start = start;
  it.stop = stop;
  it.step = step;
  return it;
}

IndexItem array_item(std::vector<int64_t> idx) {
  IndexItem it;
  it.kind = Kind::Array;
  it.array = tl::from_host(idx.data(), {int64_t(idx.size())}, tl::DType::Int64, tl::Device{});
  return it;
}

tl::ErrorKind error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const tl::Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error thrown";
  return tl::ErrorKind::NotImplemented;
}

TEST(ShapeViews, ReshapeOfContiguousIsAView) {
  Tensor x = iota({2, 3, 4});
  Tensor r = tl::reshape(x, {4, -1});
  EXPECT_EQ(r.shape(), (tl::Shape{4, 6}));
  EXPECT_EQ(r.strides(), (tl::Strides{6, 1}));
  EXPECT_EQ(r.buffer(), x.buffer());
}

TEST(ShapeViews, ReshapeOfTransposeSplittingADimIsAView) {
  Tensor t = tl::transpose(iota({6, 4}));  // shape (4, 6), strides (1, 4)
  Tensor r = tl::reshape(t, {4, 2, 3});
  EXPECT_EQ(r.buffer(), t.buffer());
  EXPECT_EQ(r.strides(), (tl::Strides{1, 12, 4}));
  Tensor merged = tl::reshape(t, {24});  // no view merges non-adjacent memory: a copy
  EXPECT_NE(merged.buffer(), t.buffer());
  EXPECT_EQ(values(merged)[1], 5.0f);
}

TEST(ShapeViews, ReshapeErrors) {
  Tensor x = iota({6});
  EXPECT_EQ(error_kind([&] { tl::reshape(x, {4}); }), tl::ErrorKind::Value);
  EXPECT_EQ(error_kind([&] { tl::reshape(x, {-1, -1}); }), tl::ErrorKind::Value);
  try {
    tl::reshape(x, {4});
  } catch (const tl::Error& e) {
    EXPECT_STREQ(e.what(), "cannot reshape array of size 6 into shape (4,)");
  }
}

TEST(ShapeViews, FlipDiagonalAndSliceStrides) {
  Tensor x = iota({3, 4});
  Tensor f = tl::flip(x, std::vector<int64_t>{1});
  EXPECT_EQ(f.strides(), (tl::Strides{4, -1}));
  EXPECT_EQ(f.offset(), x.offset() + 3);
  EXPECT_EQ(values(f)[0], 4.0f);

  Tensor d = tl::diagonal(x, 1, 0, 1);
  EXPECT_EQ(d.shape(), (tl::Shape{3}));
  EXPECT_EQ(d.strides(), (tl::Strides{5}));
  EXPECT_EQ(values(d), (std::vector<float>{2, 7, 12}));

  Tensor s = tl::slice(x, 1, 3, -1, -2);  // x[:, 3::-2]
  EXPECT_EQ(s.shape(), (tl::Shape{3, 2}));
  EXPECT_EQ(s.strides(), (tl::Strides{4, -2}));
  EXPECT_EQ(values(s), (std::vector<float>{4, 2, 8, 6, 12, 10}));
}

TEST(ShapeViews, BroadcastAndExpandUseZeroStrides) {
  Tensor x = iota({3});
  Tensor b = tl::broadcast_to(x, {2, 3});
  EXPECT_EQ(b.strides(), (tl::Strides{0, 1}));
  Tensor e = tl::expand_dims(x, {0, -1});
  EXPECT_EQ(e.shape(), (tl::Shape{1, 3, 1}));
  EXPECT_EQ(tl::squeeze(e, std::nullopt).shape(), (tl::Shape{3}));
  EXPECT_EQ(error_kind([&] { tl::squeeze(b, std::vector<int64_t>{0}); }), tl::ErrorKind::Value);
}

TEST(Indexing, BasicKeyIsAView) {
  Tensor x = iota({3, 4});
  Tensor v = tl::index(x, {int_item(-1), slice_item(std::nullopt, std::nullopt, -1)});
  EXPECT_EQ(v.buffer(), x.buffer());
  EXPECT_EQ(v.offset(), x.offset() + 11);
  EXPECT_EQ(v.strides(), (tl::Strides{-1}));
  EXPECT_EQ(values(v), (std::vector<float>{12, 11, 10, 9}));
}

TEST(Indexing, IntegerArraysGather) {
  Tensor x = iota({3, 4});
  // x[[2, -3], 1:3]: adjacent advanced dims stay in place
  Tensor g = tl::index(x, {array_item({2, -3}), slice_item(1, 3, std::nullopt)});
  EXPECT_EQ(g.shape(), (tl::Shape{2, 2}));
  EXPECT_EQ(values(g), (std::vector<float>{10, 11, 2, 3}));
  // x[[0, 2], [3, 0]] picks single elements
  Tensor p = tl::index(x, {array_item({0, 2}), array_item({3, 0})});
  EXPECT_EQ(values(p), (std::vector<float>{4, 9}));
}

TEST(Indexing, SeparatedArraysGoFirst) {
  Tensor x = iota({2, 3, 4});
  Tensor g = tl::index(x, {array_item({1, 0}), slice_item(std::nullopt, std::nullopt, std::nullopt),
                           int_item(2)});
  EXPECT_EQ(g.shape(), (tl::Shape{2, 3}));
  EXPECT_EQ(values(g)[0], 15.0f);  // x[1, 0, 2]
}

TEST(Indexing, BooleanMask) {
  Tensor x = iota({2, 3});
  bool m[6] = {true, false, true, false, false, true};
  IndexItem it;
  it.kind = Kind::Array;
  it.array = tl::from_host(m, {2, 3}, tl::DType::Bool, tl::Device{});
  EXPECT_EQ(values(tl::index(x, {it})), (std::vector<float>{1, 3, 6}));
}

TEST(Indexing, ScatterLastWriteWinsAndBroadcasts) {
  Tensor x = iota({4});
  float v[2] = {-1, -2};
  tl::index_put(x, {array_item({1, 1})}, tl::from_host(v, {2}, tl::DType::Float32, tl::Device{}));
  EXPECT_EQ(values(x), (std::vector<float>{1, -2, 3, 4}));
  tl::index_put(x, {array_item({0, 3})}, tl::Scalar::from_int(7));
  EXPECT_EQ(values(x), (std::vector<float>{7, -2, 3, 7}));
}

TEST(Indexing, Errors) {
  Tensor x = iota({3});
  EXPECT_EQ(error_kind([&] { tl::index(x, {int_item(5)}); }), tl::ErrorKind::Index);
  EXPECT_EQ(error_kind([&] { tl::index(x, {array_item({0, 3})}); }), tl::ErrorKind::Index);
  EXPECT_EQ(error_kind([&] { tl::index(x, {int_item(0), int_item(0)}); }), tl::ErrorKind::Index);
  try {
    tl::index(x, {int_item(5)});
  } catch (const tl::Error& e) {
    EXPECT_STREQ(e.what(), "index 5 is out of bounds for axis 0 with size 3");
  }
}

TEST(ShapeCopies, ConcatSplitRoundTrip) {
  Tensor x = iota({4, 3});
  std::vector<Tensor> parts = tl::split(x, std::vector<int64_t>{1, 3}, 0);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].shape(), (tl::Shape{2, 3}));
  EXPECT_EQ(parts[1].buffer(), x.buffer());
  Tensor y = tl::concat(parts, 0);
  EXPECT_EQ(values(y), values(x));
  EXPECT_EQ(error_kind([&] { tl::concat({x, iota({4, 2})}, 0); }), tl::ErrorKind::Value);
  EXPECT_EQ(error_kind([&] { tl::split(x, int64_t(3), 0); }), tl::ErrorKind::Value);
}

}  // namespace
