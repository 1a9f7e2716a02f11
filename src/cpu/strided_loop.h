#pragma once
// Walks N operands that share one logical shape, each with its own element strides, as a
// sequence of 1-d rows: the loop every CPU kernel is built on. Dims that are contiguous in
// every operand are merged first, so a contiguous tensor is one long row.
#include <array>
#include <cstdint>
#include <vector>

#include "core/shape.h"

namespace tl::cpu {

template <int N>
struct StridedLoop {
  Shape shape;                              // merged dims, outermost first; never empty
  std::vector<std::array<int64_t, N>> strides;  // per dim, per operand

  StridedLoop(const Shape& s, const std::array<const Strides*, N>& st) {
    for (size_t d = 0; d < s.size(); ++d) {
      if (s[d] == 1) continue;
      std::array<int64_t, N> row;
      for (int k = 0; k < N; ++k) row[k] = (*st[k])[d];
      if (!shape.empty()) {
        bool merge = true;
        for (int k = 0; k < N; ++k) merge &= strides.back()[k] == row[k] * s[d];
        if (merge) {
          shape.back() *= s[d];
          strides.back() = row;
          continue;
        }
      }
      shape.push_back(s[d]);
      strides.push_back(row);
    }
    if (shape.empty()) {
      shape.push_back(numel(s) == 0 ? 0 : 1);
      strides.push_back({});
    }
  }

  int64_t size() const { return numel(shape); }
  int64_t inner() const { return shape.back(); }
  const std::array<int64_t, N>& inner_strides() const { return strides.back(); }

  // Calls fn(offsets, n) for every row piece covering linear indices [begin, end):
  // offsets are each operand's element offset of the piece's first element.
  template <class F>
  void for_each_row(int64_t begin, int64_t end, F&& fn) const {
    const int nd = int(shape.size());
    std::vector<int64_t> idx(size_t(nd), 0);
    int64_t rest = begin;
    for (int d = nd - 1; d >= 0; --d) {
      idx[size_t(d)] = rest % shape[size_t(d)];
      rest /= shape[size_t(d)];
    }
    std::array<int64_t, N> off{};
    for (int d = 0; d < nd; ++d)
      for (int k = 0; k < N; ++k) off[k] += idx[size_t(d)] * strides[size_t(d)][k];
    int64_t pos = begin;
    while (pos < end) {
      int64_t n = std::min(inner() - idx[size_t(nd - 1)], end - pos);
      fn(off, n);
      pos += n;
      // advance the multi-index by n along the innermost dim, carrying outward
      idx[size_t(nd - 1)] += n;
      for (int k = 0; k < N; ++k) off[k] += n * strides[size_t(nd - 1)][k];
      for (int d = nd - 1; d > 0 && idx[size_t(d)] == shape[size_t(d)]; --d) {
        idx[size_t(d)] = 0;
        ++idx[size_t(d - 1)];
        for (int k = 0; k < N; ++k)
          off[k] += strides[size_t(d - 1)][k] - shape[size_t(d)] * strides[size_t(d)][k];
      }
    }
  }
};

}  // namespace tl::cpu
