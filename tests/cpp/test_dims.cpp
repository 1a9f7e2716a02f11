#include <gtest/gtest.h>

#include <vector>

#include "core/dims.h"

using tl::Dims;

namespace {

std::vector<int64_t> vec(const Dims& d) { return {d.begin(), d.end()}; }

TEST(Dims, GrowsPastInlineCapacityKeepingValues) {
  Dims d;
  for (int64_t i = 0; i < 20; ++i) d.push_back(3 * i - 7);
  ASSERT_EQ(d.size(), 20u);
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(d[size_t(i)], 3 * i - 7);
  d.resize(4);
  EXPECT_EQ(vec(d), (std::vector<int64_t>{-7, -4, -1, 2}));
  d.resize(9, 5);
  EXPECT_EQ(vec(d), (std::vector<int64_t>{-7, -4, -1, 2, 5, 5, 5, 5, 5}));
}

TEST(Dims, CopyAndMoveInlineAndHeap) {
  for (size_t n : {3u, 11u}) {
    Dims a(n, 9);
    a[0] = -2;
    Dims b = a;
    b[1] = 4;
    EXPECT_EQ(a[1], 9);  // a deep copy
    Dims c = std::move(b);
    EXPECT_EQ(c.size(), n);
    EXPECT_EQ(c[0], -2);
    EXPECT_EQ(c[1], 4);
    EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by design
    a = c;
    EXPECT_EQ(a, c);
    a = a;  // self-assignment keeps the values
    EXPECT_EQ(a, c);
  }
}

TEST(Dims, InsertAndEraseAnywhere) {
  Dims d{1, 2, 3, 4, 5};
  d.insert(d.begin() + 2, {7, 8, 9});
  EXPECT_EQ(vec(d), (std::vector<int64_t>{1, 2, 7, 8, 9, 3, 4, 5}));
  d.insert(d.begin(), d.begin() + 5, d.end());  // a range from itself
  EXPECT_EQ(vec(d), (std::vector<int64_t>{3, 4, 5, 1, 2, 7, 8, 9, 3, 4, 5}));
  d.erase(d.begin() + 1, d.begin() + 4);
  EXPECT_EQ(vec(d), (std::vector<int64_t>{3, 2, 7, 8, 9, 3, 4, 5}));
  d.erase(d.end() - 1);
  d.insert(d.end(), 6);
  EXPECT_EQ(vec(d), (std::vector<int64_t>{3, 2, 7, 8, 9, 3, 4, 6}));
}

TEST(Dims, ComparesLikeVectors) {
  EXPECT_EQ(Dims({2, 3}), Dims(std::vector<int64_t>{2, 3}));
  EXPECT_NE(Dims({2, 3}), Dims({2, 3, 1}));
  EXPECT_LT(Dims({2, 3}), Dims({2, 4}));
  EXPECT_LT(Dims({2}), Dims({2, 0}));
  EXPECT_FALSE(Dims({5}) < Dims({4, 9}));
  const std::vector<int64_t> v = Dims{8, -1};
  EXPECT_EQ(v, (std::vector<int64_t>{8, -1}));
}

}  // namespace
