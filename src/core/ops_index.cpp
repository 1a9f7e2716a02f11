// NumPy indexing. Basic items (ints, slices, None, Ellipsis) become a view. Advanced items
// (integer arrays, boolean masks) become int64 element offsets, one contribution per item
// broadcast together, which the backend's gather / scatter apply over the remaining dims.
#include <string>

#include "core/error.h"
#include "core/ops.h"

namespace tl {
namespace {

using Kind = IndexItem::Kind;

struct Plan {
  Shape shape;  // the dims kept by basic indexing, in result order
  Strides strides;
  int64_t offset = 0;
  std::vector<Tensor> parts;  // offset contributions of the advanced items
  int split = 0;              // where the broadcast advanced dims go among `shape`
  bool advanced() const { return !parts.empty(); }
};

std::string out_of_bounds(int64_t i, int axis, int64_t n) {
  return "index " + std::to_string(i) + " is out of bounds for axis " + std::to_string(axis) +
         " with size " + std::to_string(n);
}

int64_t read_scalar(const Tensor& t) {
  int64_t v = 0;
  to_host(t, &v);
  return v;
}

// Python's slice.indices(n): the first index, the count and the step.
void slice_range(const IndexItem& it, int64_t n, int64_t& start, int64_t& len, int64_t& step) {
  step = it.step.value_or(1);
  if (step == 0) throw_value("slice step cannot be zero");
  auto norm = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t i = *v < 0 ? *v + n : *v;
    if (i < 0) return step < 0 ? int64_t(-1) : int64_t(0);
    if (i >= n) return step < 0 ? n - 1 : n;
    return i;
  };
  start = norm(it.start, step < 0 ? n - 1 : 0);
  int64_t stop = norm(it.stop, step < 0 ? int64_t(-1) : n);
  len = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0)
                 : (start > stop ? (start - stop - 1) / -step + 1 : 0);
}

// Offsets of an integer index array on an axis of size n: bounds-checked, negatives wrapped.
Tensor int_part(const Tensor& arr, int axis, int64_t n, int64_t stride) {
  Tensor idx = arr.dtype() == DType::Int64 ? arr : astype(arr, DType::Int64);
  if (idx.numel() > 0) {
    int64_t lo = read_scalar(reduce(ReduceOp::Min, idx, std::nullopt, false));
    int64_t hi = read_scalar(reduce(ReduceOp::Max, idx, std::nullopt, false));
    if (hi >= n) throw_index(out_of_bounds(hi, axis, n));
    if (lo < -n) throw_index(out_of_bounds(lo, axis, n));
    if (lo < 0) idx = binary(OpCode::remainder, idx, Scalar::from_int(n));
  }
  if (stride != 1) idx = binary(OpCode::multiply, idx, Scalar::from_int(stride));
  return idx;
}

// Offsets of the true elements of a mask laid over x's dims [axis, axis + mask.ndim()).
Tensor mask_part(const Tensor& mask, const Tensor& x, int axis) {
  for (int j = 0; j < mask.ndim(); ++j)
    if (mask.dim(j) != x.dim(axis + j))
      throw_index("boolean index did not match indexed array along axis " +
                  std::to_string(axis + j) + "; size of axis is " + std::to_string(x.dim(axis + j)) +
                  " but size of corresponding boolean axis is " + std::to_string(mask.dim(j)));
  std::vector<uint8_t> m(size_t(mask.numel()));
  if (!m.empty()) to_host(mask, m.data());
  std::vector<int64_t> offs, coord(size_t(mask.ndim()), 0);
  int64_t off = 0;  // offset of the element at `coord`, kept up to date as coord advances
  for (uint8_t v : m) {
    if (v) offs.push_back(off);
    for (int j = mask.ndim() - 1; j >= 0; --j) {
      const int64_t s = x.strides()[size_t(axis + j)];
      off += s;
      if (++coord[size_t(j)] < mask.dim(j)) break;
      off -= s * mask.dim(j);
      coord[size_t(j)] = 0;
    }
  }
  return from_host(offs.data(), {int64_t(offs.size())}, DType::Int64, x.device());
}

Plan plan_index(const Tensor& x, const std::vector<IndexItem>& key) {
  int consumed = 0, ellipses = 0;
  bool any_array = false;
  for (const IndexItem& it : key) {
    if (it.kind == Kind::Int || it.kind == Kind::Slice) ++consumed;
    if (it.kind == Kind::Ellipsis) ++ellipses;
    if (it.kind == Kind::Array) {
      DType t = it.array.dtype();
      if (t != DType::Bool && !is_integer(t))
        throw_index(std::string("arrays used as indices must be of integer (or boolean) type, got ") +
                    dtype_name(t));
      consumed += t == DType::Bool ? it.array.ndim() : 1;
      any_array = true;
    }
  }
  if (ellipses > 1) throw_index("an index can only have a single ellipsis ('...')");
  if (consumed > x.ndim())
    throw_index("too many indices for array: array is " + std::to_string(x.ndim()) +
                "-dimensional, but " + std::to_string(consumed) + " were indexed");

  Plan p;
  p.offset = x.offset();
  int d = 0;  // the next dim of x
  auto keep = [&](int64_t n, int64_t stride) {
    p.shape.push_back(n);
    p.strides.push_back(stride);
  };
  // NumPy's rule: advanced items (ints count once any array is present) that sit next to each
  // other put their dims where the first one was; otherwise the dims go first.
  enum { kNone, kOpen, kClosed, kApart } run = kNone;
  for (const IndexItem& it : key) {
    const bool adv = it.kind == Kind::Array || (it.kind == Kind::Int && any_array);
    if (adv && run == kNone) {
      p.split = int(p.shape.size());
      run = kOpen;
    } else if (adv && run == kClosed) {
      run = kApart;
    } else if (!adv && run == kOpen) {
      run = kClosed;
    }

    switch (it.kind) {
      case Kind::Int: {
        const int64_t n = x.dim(d);
        if (it.i < -n || it.i >= n) throw_index(out_of_bounds(it.i, d, n));
        p.offset += (it.i < 0 ? it.i + n : it.i) * x.strides()[size_t(d)];
        ++d;
        break;
      }
      case Kind::Slice: {
        int64_t start, len, step;
        slice_range(it, x.dim(d), start, len, step);
        if (len > 0) p.offset += start * x.strides()[size_t(d)];
        keep(len, x.strides()[size_t(d)] * step);
        ++d;
        break;
      }
      case Kind::NewAxis:
        keep(1, 0);
        break;
      case Kind::Ellipsis:
        for (int e = x.ndim() - consumed; e > 0; --e, ++d) keep(x.dim(d), x.strides()[size_t(d)]);
        break;
      case Kind::Array: {
        Tensor a = it.array.device() == x.device() ? it.array : to_device(it.array, x.device());
        if (a.dtype() == DType::Bool) {
          p.parts.push_back(mask_part(a, x, d));
          d += a.ndim();
        } else {
          p.parts.push_back(int_part(a, d, x.dim(d), x.strides()[size_t(d)]));
          ++d;
        }
        break;
      }
    }
  }
  for (; d < x.ndim(); ++d) keep(x.dim(d), x.strides()[size_t(d)]);
  if (run == kApart) p.split = 0;
  return p;
}

// The summed offsets, shaped like the advanced items broadcast together.
Tensor combine(const Plan& p) {
  Shape b;
  for (const Tensor& t : p.parts) {
    try {
      b = broadcast_shapes(b, t.shape());
    } catch (const Error&) {
      std::string shapes;
      for (const Tensor& u : p.parts) shapes += " " + shape_str(u.shape());
      throw_index("shape mismatch: indexing arrays could not be broadcast together with shapes" +
                  shapes);
    }
  }
  Tensor sum = p.parts[0];
  for (size_t i = 1; i < p.parts.size(); ++i) sum = binary(OpCode::add, sum, p.parts[i]);
  return sum;
}

Shape result_shape(const Plan& p, const Shape& adv) {
  Shape s(p.shape.begin(), p.shape.begin() + p.split);
  s.insert(s.end(), adv.begin(), adv.end());
  s.insert(s.end(), p.shape.begin() + p.split, p.shape.end());
  return s;
}

// `v` on x's device, safe to read while x is written, with leading 1s beyond `ndim` dropped
// (NumPy accepts x[0] = ones((1, n))).
Tensor prepare_value(const Tensor& v, const Tensor& x, int ndim) {
  Tensor t = v.device() == x.device() ? v : to_device(v, x.device());
  if (t.buffer() == x.buffer()) t = copy(t);
  int drop = 0;
  while (t.ndim() - drop > ndim && t.dim(drop) == 1) ++drop;
  if (drop == 0) return t;
  return t.view(Shape(t.shape().begin() + drop, t.shape().end()),
                Strides(t.strides().begin() + drop, t.strides().end()), t.offset());
}

}  // namespace

Tensor index(const Tensor& x, const std::vector<IndexItem>& key) {
  Plan p = plan_index(x, key);
  Tensor src = x.view(p.shape, p.strides, p.offset);
  if (!p.advanced()) return src;
  Tensor offsets = combine(p);
  Tensor out = empty(result_shape(p, offsets.shape()), x.dtype(), x.device());
  if (out.numel() > 0) backend_for(x.device()).gather(src, p.split, offsets, out);
  return out;
}

void index_put(const Tensor& x, const std::vector<IndexItem>& key, const Operand& value) {
  Plan p = plan_index(x, key);
  Tensor dst = x.view(p.shape, p.strides, p.offset);
  if (!p.advanced()) {
    if (const Tensor* v = std::get_if<Tensor>(&value)) copy_into(dst, prepare_value(*v, x, dst.ndim()));
    else copy_into(dst, value);
    return;
  }
  Tensor offsets = combine(p);
  const Shape shape = result_shape(p, offsets.shape());
  Tensor v;
  if (const Tensor* t = std::get_if<Tensor>(&value)) {
    v = prepare_value(*t, x, int(shape.size()));
    if (v.dtype() != x.dtype()) v = astype(v, x.dtype());
  } else {
    v = scalar_tensor(std::get<Scalar>(value), x.dtype(), x.device());
  }
  try {
    v = broadcast_to(v, shape);
  } catch (const Error&) {
    throw_value("shape mismatch: value array of shape " + shape_str(v.shape()) +
                " could not be broadcast to indexing result of shape " + shape_str(shape));
  }
  if (v.numel() > 0) backend_for(x.device()).scatter(dst, p.split, offsets, v);
}

Tensor take(const Tensor& x, const Tensor& indices, std::optional<int64_t> axis) {
  Tensor v = axis ? x : reshape(x, {-1});
  const int ax = normalize_axis(axis.value_or(0), v.ndim());
  IndexItem all, arr;
  all.kind = Kind::Slice;
  arr.kind = Kind::Array;
  arr.array = indices.dtype() == DType::Bool ? astype(indices, DType::Int64) : indices;
  std::vector<IndexItem> key(size_t(ax), all);
  key.push_back(arr);
  return index(v, key);
}

Tensor nonzero_flat(const Tensor& mask) {
  Tensor m = mask.dtype() == DType::Bool ? mask : astype(mask, DType::Bool);
  std::vector<uint8_t> host(size_t(m.numel()));
  if (!host.empty()) to_host(m, host.data());
  std::vector<int64_t> idx;
  for (size_t i = 0; i < host.size(); ++i)
    if (host[i]) idx.push_back(int64_t(i));
  return from_host(idx.data(), {int64_t(idx.size())}, DType::Int64, mask.device());
}

}  // namespace tl
