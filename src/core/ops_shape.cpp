// Shape ops. Everything that can be expressed as new (shape, strides, offset) over the same
// buffer is a view; the rest allocates with tl::empty and copies through tl::copy_into.
#include <algorithm>
#include <numeric>
#include <string>

#include "core/error.h"
#include "core/ops.h"

namespace tl {
namespace {

// Strides that view x (numel > 0) as `shape` without a copy, or false when none exist
// (NumPy's rule: groups of old dims that map onto groups of new dims must be contiguous
// among themselves).
bool view_strides(const Tensor& x, const Shape& shape, Strides& out) {
  Shape od;
  Strides os;
  for (int i = 0; i < x.ndim(); ++i)
    if (x.dim(i) != 1) {
      od.push_back(x.dim(i));
      os.push_back(x.strides()[size_t(i)]);
    }
  const size_t on = od.size(), nn = shape.size();
  out.assign(nn, 1);
  size_t oi = 0, oj = 1, ni = 0, nj = 1;
  while (ni < nn && oi < on) {
    int64_t np = shape[ni], op = od[oi];
    while (np != op) {
      if (np < op) np *= shape[nj++];
      else op *= od[oj++];
    }
    for (size_t k = oi; k + 1 < oj; ++k)
      if (os[k] != od[k + 1] * os[k + 1]) return false;
    out[nj - 1] = os[oj - 1];
    for (size_t k = nj - 1; k > ni; --k) out[k - 1] = out[k] * shape[k];
    ni = nj++;
    oi = oj++;
  }
  for (size_t k = ni; k < nn; ++k) out[k] = ni > 0 ? out[ni - 1] : 1;  // trailing 1s
  return true;
}

Tensor copy_of(const Tensor& x) {
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (x.numel() > 0) copy_into(out, x);
  return out;
}

// A view of x with a new axis of size `n` and stride 0 inserted before dim `at`.
Tensor insert_broadcast_dim(const Tensor& x, int at, int64_t n) {
  Shape s = x.shape();
  Strides st = x.strides();
  s.insert(s.begin() + at, n);
  st.insert(st.begin() + at, 0);
  return x.view(s, st, x.offset());
}

// x's shape and strides without the dims marked in `drop`.
std::pair<Shape, Strides> kept_dims(const Tensor& x, const std::vector<bool>& drop) {
  std::pair<Shape, Strides> r;
  for (int i = 0; i < x.ndim(); ++i)
    if (!drop[size_t(i)]) {
      r.first.push_back(x.dim(i));
      r.second.push_back(x.strides()[size_t(i)]);
    }
  return r;
}

Tensor triangle(const Tensor& x, int64_t k, bool lower) {
  if (x.ndim() < 2)
    throw_value(std::string(lower ? "tril" : "triu") + " needs at least 2 dimensions, got shape " +
                shape_str(x.shape()));
  const int64_t m = x.dim(x.ndim() - 2), n = x.dim(x.ndim() - 1);
  Tensor rows = reshape(arange(0, double(m), 1, DType::Int64, x.device()), {m, 1});
  Tensor cols = reshape(arange(0, double(n), 1, DType::Int64, x.device()), {1, n});
  // Element (i, j) is kept in tril when j - i <= k, in triu when j - i >= k.
  Tensor diff = binary(OpCode::subtract, cols, rows);
  Tensor keep = binary(lower ? OpCode::less_equal : OpCode::greater_equal, diff, Scalar::from_int(k));
  return where(keep, x, Scalar::from_bool(false));  // a weak bool takes x's dtype
}

}  // namespace

Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape) {
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw_value("can only specify one unknown dimension");
      infer = int(i);
    } else if (s[i] < 0) {
      throw_value("negative dimensions not allowed in shape " + shape_str(shape));
    } else {
      known *= s[i];
    }
  }
  const int64_t size = x.numel();
  if (infer >= 0 && known != 0 && size % known == 0) s[size_t(infer)] = size / known;
  if ((infer >= 0 && s[size_t(infer)] == -1) || numel(s) != size)
    throw_value("cannot reshape array of size " + std::to_string(size) + " into shape " +
                shape_str(shape));
  if (size == 0) return x.view(s, contiguous_strides(s), x.offset());
  Strides st;
  if (view_strides(x, s, st)) return x.view(s, st, x.offset());
  Tensor c = copy_of(x);
  return c.view(s, contiguous_strides(s), c.offset());
}

Tensor permute_dims(const Tensor& x, const std::vector<int64_t>& axes) {
  if (int(axes.size()) != x.ndim())
    throw_value("axes don't match array: got " + std::to_string(axes.size()) +
                " axes for an array of shape " + shape_str(x.shape()));
  std::vector<bool> seen(size_t(x.ndim()), false);
  Shape s;
  Strides st;
  for (int64_t a : axes) {
    int ax = normalize_axis(a, x.ndim());
    if (seen[size_t(ax)]) throw_value("repeated axis in permutation");
    seen[size_t(ax)] = true;
    s.push_back(x.dim(ax));
    st.push_back(x.strides()[size_t(ax)]);
  }
  return x.view(s, st, x.offset());
}

Tensor transpose(const Tensor& x) {
  std::vector<int64_t> axes(size_t(x.ndim()));
  std::iota(axes.rbegin(), axes.rend(), 0);
  return permute_dims(x, axes);
}

Tensor matrix_transpose(const Tensor& x) {
  if (x.ndim() < 2)
    throw_value("matrix transpose needs at least 2 dimensions, got shape " + shape_str(x.shape()));
  return swapaxes(x, -1, -2);
}

Tensor swapaxes(const Tensor& x, int64_t a, int64_t b) {
  std::vector<int64_t> axes(size_t(x.ndim()));
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[size_t(normalize_axis(a, x.ndim()))], axes[size_t(normalize_axis(b, x.ndim()))]);
  return permute_dims(x, axes);
}

Tensor moveaxis(const Tensor& x, int64_t src, int64_t dst) {
  int s = normalize_axis(src, x.ndim()), d = normalize_axis(dst, x.ndim());
  std::vector<int64_t> axes;
  for (int i = 0; i < x.ndim(); ++i)
    if (i != s) axes.push_back(i);
  axes.insert(axes.begin() + d, s);
  return permute_dims(x, axes);
}

Tensor expand_dims(const Tensor& x, const std::vector<int64_t>& axes) {
  Tensor v = x;
  // Ascending positions of the result: each insert lands where the result wants it.
  for (int a : normalize_axes(axes, x.ndim() + int(axes.size()))) v = insert_broadcast_dim(v, a, 1);
  return v;
}

Tensor squeeze(const Tensor& x, const Axes& axes) {
  std::vector<bool> drop(size_t(x.ndim()), false);
  if (!axes) {
    for (int i = 0; i < x.ndim(); ++i) drop[size_t(i)] = x.dim(i) == 1;
  } else {
    for (int ax : normalize_axes(*axes, x.ndim())) {
      if (x.dim(ax) != 1)
        throw_value("cannot select an axis to squeeze out which has size not equal to one (axis " +
                    std::to_string(ax) + " of shape " + shape_str(x.shape()) + ")");
      drop[size_t(ax)] = true;
    }
  }
  auto [s, st] = kept_dims(x, drop);
  return x.view(s, st, x.offset());
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw_value("negative dimensions not allowed in shape " + shape_str(shape));
  return x.view(shape, broadcast_strides(x.shape(), x.strides(), shape), x.offset());
}

std::vector<Tensor> broadcast_tensors(const std::vector<Tensor>& xs) {
  Shape common;
  for (const Tensor& t : xs) common = broadcast_shapes(common, t.shape());
  std::vector<Tensor> out;
  for (const Tensor& t : xs) out.push_back(broadcast_to(t, common));
  return out;
}

// Always a new tensor, like ndarray.flatten (reshape(x, {-1}) is the view-when-possible form).
Tensor flatten(const Tensor& x) {
  Tensor c = copy_of(x);
  return c.view({x.numel()}, {1}, c.offset());
}

Tensor flip(const Tensor& x, const Axes& axes) {
  std::vector<int> ax;
  if (axes) ax = normalize_axes(*axes, x.ndim());
  else for (int i = 0; i < x.ndim(); ++i) ax.push_back(i);
  Strides st = x.strides();
  int64_t off = x.offset();
  for (int a : ax) {
    if (x.dim(a) > 0) off += (x.dim(a) - 1) * st[size_t(a)];
    st[size_t(a)] = -st[size_t(a)];
  }
  return x.view(x.shape(), st, off);
}

Tensor diagonal(const Tensor& x, int64_t offset, int64_t axis1, int64_t axis2) {
  if (x.ndim() < 2) throw_value("diagonal needs at least 2 dimensions, got shape " + shape_str(x.shape()));
  int a = normalize_axis(axis1, x.ndim()), b = normalize_axis(axis2, x.ndim());
  if (a == b) throw_value("axis1 and axis2 cannot be the same");
  const int64_t n1 = x.dim(a), n2 = x.dim(b), s1 = x.strides()[size_t(a)], s2 = x.strides()[size_t(b)];
  int64_t len = offset >= 0 ? std::min(n1, n2 - offset) : std::min(n1 + offset, n2);
  len = std::max<int64_t>(len, 0);
  int64_t off = x.offset();
  if (len > 0) off += offset >= 0 ? offset * s2 : -offset * s1;
  std::vector<bool> drop(size_t(x.ndim()), false);
  drop[size_t(a)] = drop[size_t(b)] = true;
  auto [s, st] = kept_dims(x, drop);
  s.push_back(len);
  st.push_back(s1 + s2);
  return x.view(s, st, off);
}

Tensor slice(const Tensor& x, int axis, int64_t start, int64_t stop, int64_t step) {
  if (step == 0) throw_value("slice step cannot be zero");
  int ax = normalize_axis(axis, x.ndim());
  int64_t len = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0)
                         : (start > stop ? (start - stop - 1) / -step + 1 : 0);
  Shape s = x.shape();
  Strides st = x.strides();
  int64_t off = x.offset() + (len > 0 ? start * st[size_t(ax)] : 0);
  s[size_t(ax)] = len;
  st[size_t(ax)] *= step;
  return x.view(s, st, off);
}

Tensor concat(const std::vector<Tensor>& xs, std::optional<int64_t> axis) {
  if (xs.empty()) throw_value("need at least one array to concatenate");
  if (!axis) {
    std::vector<Tensor> flat;
    for (const Tensor& t : xs) flat.push_back(reshape(t, {-1}));
    return concat(flat, 0);
  }
  const Tensor& first = xs[0];
  if (first.ndim() == 0) throw_value("zero-dimensional arrays cannot be concatenated");
  const int ax = normalize_axis(*axis, first.ndim());
  DType dt = first.dtype();
  Shape out_shape = first.shape();
  out_shape[size_t(ax)] = 0;
  for (const Tensor& t : xs) {
    bool ok = t.ndim() == first.ndim();
    for (int i = 0; ok && i < t.ndim(); ++i) ok = i == ax || t.dim(i) == first.dim(i);
    if (!ok)
      throw_value("concat: shapes " + shape_str(first.shape()) + " and " + shape_str(t.shape()) +
                  " must match except along axis " + std::to_string(ax));
    if (!(t.device() == first.device()))
      throw_value("concat: tensors on different devices (" + first.device().str() + ", " +
                  t.device().str() + ")");
    dt = promote_types(dt, t.dtype());
    out_shape[size_t(ax)] += t.dim(ax);
  }
  Tensor out = empty(out_shape, dt, first.device());
  int64_t at = 0;
  for (const Tensor& t : xs) {
    if (t.numel() > 0) copy_into(slice(out, ax, at, at + t.dim(ax), 1), t);
    at += t.dim(ax);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw_value("need at least one array to stack");
  const int ax = normalize_axis(axis, xs[0].ndim() + 1);
  std::vector<Tensor> parts;
  for (const Tensor& t : xs) {
    if (t.shape() != xs[0].shape())
      throw_value("all input arrays must have the same shape, got " + shape_str(xs[0].shape()) +
                  " and " + shape_str(t.shape()));
    parts.push_back(expand_dims(t, {ax}));
  }
  return concat(parts, ax);
}

std::vector<Tensor> split(const Tensor& x, const std::variant<int64_t, std::vector<int64_t>>& how,
                          int64_t axis) {
  const int ax = normalize_axis(axis, x.ndim());
  const int64_t n = x.dim(ax);
  std::vector<int64_t> cuts;
  if (const int64_t* sections = std::get_if<int64_t>(&how)) {
    if (*sections <= 0) throw_value("number of sections must be larger than 0");
    if (n % *sections != 0)
      throw_value("array split does not result in an equal division: " + std::to_string(n) +
                  " into " + std::to_string(*sections) + " sections");
    for (int64_t i = 1; i < *sections; ++i) cuts.push_back(i * (n / *sections));
  } else {
    cuts = std::get<std::vector<int64_t>>(how);
  }
  // Each piece is x[prev:cut] along the axis, with Python's slice clamping.
  auto clamp = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  std::vector<Tensor> out;
  int64_t prev = 0;
  for (int64_t c : cuts) {
    int64_t end = clamp(c);
    out.push_back(slice(x, ax, prev, std::max(prev, end), 1));
    prev = end;
  }
  out.push_back(slice(x, ax, prev, std::max(prev, n), 1));
  return out;
}

Tensor tile(const Tensor& x, const std::vector<int64_t>& reps) {
  for (int64_t r : reps)
    if (r < 0) throw_value("tile: negative repetition count");
  const size_t nd = std::max(reps.size(), size_t(x.ndim()));
  std::vector<int64_t> r(nd - reps.size(), 1);
  r.insert(r.end(), reps.begin(), reps.end());
  Shape padded(nd - size_t(x.ndim()), 1);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  Tensor v = reshape(x, padded);
  // View as (r0, d0, r1, d1, ...) with stride 0 on each r, copy, then merge pairs.
  Shape s, final_shape;
  Strides st;
  for (size_t i = 0; i < nd; ++i) {
    s.insert(s.end(), {r[i], v.dim(int(i))});
    st.insert(st.end(), {0, v.strides()[i]});
    final_shape.push_back(r[i] * v.dim(int(i)));
  }
  return reshape(copy_of(v.view(s, st, v.offset())), final_shape);
}

Tensor repeat(const Tensor& x, const std::variant<int64_t, Tensor>& repeats,
              std::optional<int64_t> axis) {
  Tensor v = axis ? x : reshape(x, {-1});
  const int ax = normalize_axis(axis.value_or(0), v.ndim());
  const int64_t n = v.dim(ax);
  int64_t count = 0;
  if (const Tensor* rt = std::get_if<Tensor>(&repeats)) {
    if (!is_integer(rt->dtype()) && rt->dtype() != DType::Bool)
      throw_type(std::string("repeats must be integers, got ") + dtype_name(rt->dtype()));
    if (rt->ndim() > 1 || (rt->numel() != 1 && rt->numel() != n))
      throw_value("repeats of shape " + shape_str(rt->shape()) + " do not match axis of size " +
                  std::to_string(n));
    std::vector<int64_t> r(size_t(rt->numel()));
    to_host(astype(*rt, DType::Int64), r.data());
    if (r.size() == 1 && rt->ndim() == 0) {
      count = r[0];
    } else {
      // Per-element counts: gather the repeated positions along the axis.
      std::vector<int64_t> idx;
      for (int64_t i = 0; i < n; ++i) {
        int64_t c = r.size() == 1 ? r[0] : r[size_t(i)];
        if (c < 0) throw_value("repeats may not contain negative values");
        idx.insert(idx.end(), size_t(c), i);
      }
      Tensor it = from_host(idx.data(), {int64_t(idx.size())}, DType::Int64, x.device());
      return take(v, it, ax);
    }
  } else {
    count = std::get<int64_t>(repeats);
  }
  if (count < 0) throw_value("repeats may not contain negative values");
  Shape s = v.shape();
  s[size_t(ax)] *= count;
  return reshape(copy_of(insert_broadcast_dim(v, ax + 1, count)), s);
}

Tensor pad(const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& pad_width,
           const Scalar& value) {
  // One pair applies to every axis, as NumPy's broadcasting of pad_width does.
  if (pad_width.size() != size_t(x.ndim()) && pad_width.size() != 1)
    throw_value("pad: " + std::to_string(pad_width.size()) + " (before, after) pairs for shape " +
                shape_str(x.shape()));
  Shape s = x.shape();
  std::vector<std::pair<int64_t, int64_t>> pw(size_t(x.ndim()));
  for (int i = 0; i < x.ndim(); ++i) {
    pw[size_t(i)] = pad_width.size() == 1 ? pad_width[0] : pad_width[size_t(i)];
    if (pw[size_t(i)].first < 0 || pw[size_t(i)].second < 0)
      throw_value("pad: index can't contain negative values");
    s[size_t(i)] += pw[size_t(i)].first + pw[size_t(i)].second;
  }
  Tensor out = empty(s, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  copy_into(out, value);
  Tensor inner = out;
  for (int i = 0; i < x.ndim(); ++i)
    inner = slice(inner, i, pw[size_t(i)].first, pw[size_t(i)].first + x.dim(i), 1);
  if (x.numel() > 0) copy_into(inner, x);
  return out;
}

Tensor tril(const Tensor& x, int64_t k) { return triangle(x, k, true); }
Tensor triu(const Tensor& x, int64_t k) { return triangle(x, k, false); }

}  // namespace tl
