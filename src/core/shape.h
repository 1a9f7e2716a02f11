#pragma once
// Shapes and strides (in elements) and the small rules on them: broadcasting, contiguity,
// axis normalization.
#include <cstdint>
#include <string>
#include <vector>

#include "core/dims.h"

namespace tl {

using Shape = Dims;
using Strides = Dims;

int64_t numel(const Shape& s);
Strides contiguous_strides(const Shape& s);
bool is_contiguous(const Shape& shape, const Strides& strides);
std::string shape_str(const Shape& s);  // "(2, 3)", "(5,)", "()"

// NumPy broadcasting; ValueError naming both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Strides that view `shape`/`strides` as `target` (stride 0 on broadcast dims).
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target);

// `dims` of a domain (outermost first) walked by several operands, each with its own strides
// over the domain: dims of size 1 dropped, and neighbours contiguous in every operand merged.
// Never empty: a domain of one element (or none) gives one dim of size 1 (or 0).
struct MergedDims {
  Shape shape;
  std::vector<std::vector<int64_t>> strides;  // per merged dim, per operand
};
MergedDims merge_dims(const Shape& domain, const std::vector<int>& dims,
                      const std::vector<const Strides*>& operand_strides);

// Axis in [-ndim, ndim) to [0, ndim); AxisError otherwise.
int normalize_axis(int64_t axis, int ndim);
// A set of axes (empty optional means all), normalized, sorted, checked for repeats.
std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int ndim);

}  // namespace tl
