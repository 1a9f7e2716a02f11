#include "core/shape.h"

#include <algorithm>

#include "core/error.h"

namespace tl {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n))
      throw_value("array is too big: shape " + shape_str(s) + " has more than 2^63 elements");
  return n;
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

bool is_contiguous(const Shape& shape, const Strides& strides) {
  int64_t expect = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] != 1 && strides[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

std::string shape_str(const Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  if (s.size() == 1) r += ",";
  return r + ")";
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw_value("shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  if (shape.size() > target.size())
    throw_value("cannot broadcast shape " + shape_str(shape) + " to " + shape_str(target));
  Strides out(target.size(), 0);
  size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == target[lead + i]) {
      out[lead + i] = strides[i];
    } else if (shape[i] != 1) {
      throw_value("cannot broadcast shape " + shape_str(shape) + " to " + shape_str(target));
    }
  }
  return out;
}

int normalize_axis(int64_t axis, int ndim) {
  if (axis < -ndim || axis >= ndim)
    throw_axis("axis " + std::to_string(axis) + " is out of bounds for array of dimension " +
               std::to_string(ndim));
  return int(axis < 0 ? axis + ndim : axis);
}

std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int ndim) {
  std::vector<int> out;
  for (int64_t a : axes) out.push_back(normalize_axis(a, ndim));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) throw_value("repeated axis");
  return out;
}

MergedDims merge_dims(const Shape& domain, const std::vector<int>& dims,
                      const std::vector<const Strides*>& st) {
  MergedDims m;
  const size_t k = st.size();
  int64_t n = 1;
  for (int d : dims) {
    n *= domain[size_t(d)];
    if (domain[size_t(d)] == 1) continue;
    std::vector<int64_t> row(k);
    for (size_t j = 0; j < k; ++j) row[j] = (*st[j])[size_t(d)];
    if (!m.shape.empty()) {
      bool merge = true;
      for (size_t j = 0; j < k; ++j) merge &= m.strides.back()[j] == row[j] * domain[size_t(d)];
      if (merge) {
        m.shape.back() *= domain[size_t(d)];
        m.strides.back() = row;
        continue;
      }
    }
    m.shape.push_back(domain[size_t(d)]);
    m.strides.push_back(row);
  }
  if (m.shape.empty()) {
    m.shape.push_back(n == 0 ? 0 : 1);
    m.strides.push_back(std::vector<int64_t>(k, 0));
  }
  return m;
}

}  // namespace tl
