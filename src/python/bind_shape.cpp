// Shape ops and indexing functions, and their Tensor methods.
#include <pybind11/stl.h>

#include "core/error.h"
#include "python/convert.h"

namespace tlpy {
namespace {

std::vector<Tensor> to_tensor_list(py::handle seq) {
  std::vector<Tensor> out;
  for (py::handle h : py::reinterpret_borrow<py::iterable>(seq)) out.push_back(to_tensor(h));
  return out;
}

// reshape(2, 3) and reshape((2, 3)) both work, as in NumPy's methods.
std::vector<int64_t> shape_args(const py::args& args) {
  if (args.size() == 1) return to_int_list(args[0]);
  return to_int_list(args);
}

std::vector<std::pair<int64_t, int64_t>> to_pad_width(py::handle h, int ndim) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (PyLong_Check(h.ptr())) {
    int64_t p = h.cast<int64_t>();
    return std::vector<std::pair<int64_t, int64_t>>(size_t(ndim), {p, p});
  }
  py::sequence s = py::reinterpret_borrow<py::sequence>(h);
  auto is_seq = [](py::handle e) {
    return py::isinstance<py::sequence>(e) && !(py::isinstance<Tensor>(e) && e.cast<Tensor>().ndim() == 0);
  };
  bool pairs = s.size() > 0 && is_seq(s[0]);
  if (!pairs) {
    std::vector<int64_t> v = to_int_list(h);
    if (v.size() == 1) v.push_back(v[0]);
    if (v.size() != 2) throw tl::Error(tl::ErrorKind::Value, "pad_width must be an int, a pair, or one pair per axis");
    return std::vector<std::pair<int64_t, int64_t>>(size_t(ndim), {v[0], v[1]});
  }
  for (size_t i = 0; i < s.size(); ++i) {
    py::object p = s[i];  // owned: a Tensor's items are new objects
    std::vector<int64_t> v = to_int_list(p);
    if (v.size() == 1) v.push_back(v[0]);
    if (v.size() != 2) throw tl::Error(tl::ErrorKind::Value, "pad_width pairs must have two entries");
    out.emplace_back(v[0], v[1]);
  }
  if (out.size() == 1 && ndim > 1) out.resize(size_t(ndim), out[0]);
  return out;
}

}  // namespace

void bind_shape_ops(py::module_& m) {
  py::class_<Tensor> t = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  m.def("reshape", [](py::handle x, py::handle shape) { return tl::reshape(to_tensor(x), to_int_list(shape)); },
        py::arg("x"), py::arg("shape"));
  t.def("reshape", [](const Tensor& x, py::args a) { return tl::reshape(x, shape_args(a)); });
  m.def("permute_dims", [](py::handle x, py::handle axes) { return tl::permute_dims(to_tensor(x), to_int_list(axes)); },
        py::arg("x"), py::arg("axes"));
  m.def("transpose", [](py::handle x, py::handle axes) {
    Tensor v = to_tensor(x);
    return axes.is_none() ? tl::transpose(v) : tl::permute_dims(v, to_int_list(axes));
  }, py::arg("x"), py::arg("axes") = py::none());
  t.def("transpose", [](const Tensor& x, py::args a) {
    return a.size() == 0 ? tl::transpose(x) : tl::permute_dims(x, shape_args(a));
  });
  m.def("matrix_transpose", [](py::handle x) { return tl::matrix_transpose(to_tensor(x)); }, py::arg("x"));
  m.def("swapaxes", [](py::handle x, int64_t a, int64_t b) { return tl::swapaxes(to_tensor(x), a, b); },
        py::arg("x"), py::arg("axis1"), py::arg("axis2"));
  t.def("swapaxes", &tl::swapaxes, py::arg("axis1"), py::arg("axis2"));
  m.def("moveaxis", [](py::handle x, int64_t s, int64_t d) { return tl::moveaxis(to_tensor(x), s, d); },
        py::arg("x"), py::arg("source"), py::arg("destination"));
  m.def("expand_dims", [](py::handle x, py::handle axis) { return tl::expand_dims(to_tensor(x), to_int_list(axis)); },
        py::arg("x"), py::arg("axis") = 0);
  auto squeeze = [](py::handle x, py::handle axis) { return tl::squeeze(to_tensor(x), to_axes(axis)); };
  m.def("squeeze", squeeze, py::arg("x"), py::arg("axis") = py::none());
  t.def("squeeze", squeeze, py::arg("axis") = py::none());
  m.def("broadcast_to", [](py::handle x, py::handle shape) { return tl::broadcast_to(to_tensor(x), to_int_list(shape)); },
        py::arg("x"), py::arg("shape"));
  m.def("broadcast_arrays", [](py::args xs) { return tl::broadcast_tensors(to_tensor_list(xs)); });
  m.def("flatten", [](py::handle x) { return tl::flatten(to_tensor(x)); }, py::arg("x"));
  t.def("flatten", &tl::flatten);
  t.def("ravel", [](const Tensor& x) { return tl::reshape(x, {-1}); });  // a view when possible
  m.def("flip", [](py::handle x, py::handle axis) { return tl::flip(to_tensor(x), to_axes(axis)); },
        py::arg("x"), py::arg("axis") = py::none());
  m.def("diagonal", [](py::handle x, int64_t off, int64_t a1, int64_t a2) {
    return tl::diagonal(to_tensor(x), off, a1, a2);
  }, py::arg("x"), py::arg("offset") = 0, py::arg("axis1") = 0, py::arg("axis2") = 1);
  t.def("diagonal", &tl::diagonal, py::arg("offset") = 0, py::arg("axis1") = 0, py::arg("axis2") = 1);
  m.def("concat", [](py::handle xs, std::optional<int64_t> axis) { return tl::concat(to_tensor_list(xs), axis); },
        py::arg("arrays"), py::arg("axis") = 0);
  m.def("stack", [](py::handle xs, int64_t axis) { return tl::stack(to_tensor_list(xs), axis); },
        py::arg("arrays"), py::arg("axis") = 0);
  m.def("split", [](py::handle x, py::handle how, int64_t axis) {
    std::variant<int64_t, std::vector<int64_t>> h;
    if (PyLong_Check(how.ptr())) h = how.cast<int64_t>();
    else h = to_int_list(how);
    return tl::split(to_tensor(x), h, axis);
  }, py::arg("x"), py::arg("indices_or_sections"), py::arg("axis") = 0);
  m.def("tile", [](py::handle x, py::handle reps) { return tl::tile(to_tensor(x), to_int_list(reps)); },
        py::arg("x"), py::arg("reps"));
  m.def("repeat", [](py::handle x, py::handle repeats, std::optional<int64_t> axis) {
    std::variant<int64_t, Tensor> r;
    if (PyLong_Check(repeats.ptr())) r = repeats.cast<int64_t>();
    else r = to_tensor(repeats);
    return tl::repeat(to_tensor(x), r, axis);
  }, py::arg("x"), py::arg("repeats"), py::arg("axis") = py::none());
  m.def("pad", [](py::handle x, py::handle width, py::handle value) {
    Tensor v = to_tensor(x);
    auto s = to_scalar(value);
    if (!s) throw tl::Error(tl::ErrorKind::Type, "pad: constant_values must be a number");
    return tl::pad(v, to_pad_width(width, v.ndim()), *s);
  }, py::arg("x"), py::arg("pad_width"), py::arg("constant_values") = 0);
  m.def("tril", [](py::handle x, int64_t k) { return tl::tril(to_tensor(x), k); }, py::arg("x"), py::arg("k") = 0);
  m.def("triu", [](py::handle x, int64_t k) { return tl::triu(to_tensor(x), k); }, py::arg("x"), py::arg("k") = 0);
  m.def("take", [](py::handle x, py::handle idx, std::optional<int64_t> axis) {
    return tl::take(to_tensor(x), to_tensor(idx), axis);
  }, py::arg("x"), py::arg("indices"), py::arg("axis") = py::none());
  m.def("nonzero_flat", [](py::handle x) {  // (reads x: may wait on the device)
    Tensor t = to_tensor(x);
    return nogil([&] { return tl::nonzero_flat(t); });
  }, py::arg("x"));
}

}  // namespace tlpy
