// Reductions, scans and softmax, as functions and Tensor methods.
#include <pybind11/stl.h>

#include "core/error.h"
#include "python/convert.h"

namespace tlpy {
namespace {

// NumPy's np.sum(t) calls t.sum(axis=..., out=...): dtype= casts the input first (the
// accumulation type), out= is not supported.
Tensor numpy_style_input(py::handle x, py::handle dtype, py::handle out) {
  if (!out.is_none()) throw tl::Error(tl::ErrorKind::Type, "out= is not supported");
  Tensor t = to_tensor(x);
  std::optional<DType> d = to_dtype_opt(dtype);
  return d && *d != t.dtype() ? tl::astype(t, *d) : t;
}

}  // namespace

void bind_reduce_ops(py::module_& m) {
  py::class_<Tensor> t = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  using tl::ReduceOp;
  const std::pair<const char*, ReduceOp> reds[] = {
      {"sum", ReduceOp::Sum}, {"prod", ReduceOp::Prod}, {"max", ReduceOp::Max},
      {"min", ReduceOp::Min}, {"any", ReduceOp::Any},   {"all", ReduceOp::All}};
  for (auto [name, op] : reds) {
    auto f = [op = op](py::handle x, py::handle axis, bool keepdims, py::handle dtype, py::handle out) {
      Tensor t = numpy_style_input(x, dtype, out);
      tl::Axes ax = to_axes(axis);
      return nogil([&] { return tl::reduce(op, t, ax, keepdims); });
    };
    m.def(name, f, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false,
          py::kw_only(), py::arg("dtype") = py::none(), py::arg("out") = py::none());
    t.def(name, f, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(),
          py::arg("dtype") = py::none(), py::arg("out") = py::none());
  }
  auto mean = [](py::handle x, py::handle axis, bool keepdims, py::handle dtype, py::handle out) {
    Tensor t = numpy_style_input(x, dtype, out);
    tl::Axes ax = to_axes(axis);
    return nogil([&] { return tl::mean(t, ax, keepdims); });
  };
  m.def("mean", mean, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false,
        py::kw_only(), py::arg("dtype") = py::none(), py::arg("out") = py::none());
  t.def("mean", mean, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(),
        py::arg("dtype") = py::none(), py::arg("out") = py::none());
  auto var = [](py::handle x, py::handle axis, double correction, bool keepdims) {
    Tensor t = to_tensor(x);
    tl::Axes ax = to_axes(axis);
    return nogil([&] { return tl::var(t, ax, correction, keepdims); });
  };
  auto std_ = [](py::handle x, py::handle axis, double correction, bool keepdims) {
    Tensor t = to_tensor(x);
    tl::Axes ax = to_axes(axis);
    return nogil([&] { return tl::std_(t, ax, correction, keepdims); });
  };
  for (auto [name, f] : {std::pair{"var", +var}, std::pair{"std", +std_}}) {
    m.def(name, f, py::arg("x"), py::arg("axis") = py::none(), py::arg("correction") = 0.0,
          py::arg("keepdims") = false);
    t.def(name, f, py::arg("axis") = py::none(), py::kw_only(), py::arg("correction") = 0.0,
          py::arg("keepdims") = false);
  }
  m.def("logsumexp", [](py::handle x, py::handle axis, bool keepdims) {
    Tensor t = to_tensor(x);
    tl::Axes ax = to_axes(axis);
    return nogil([&] { return tl::logsumexp(t, ax, keepdims); });
  }, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false);
  for (auto [name, op] : {std::pair{"argmax", ReduceOp::ArgMax}, std::pair{"argmin", ReduceOp::ArgMin}}) {
    auto f = [op = op](py::handle x, std::optional<int64_t> axis, bool keepdims) {
      Tensor t = to_tensor(x);
      return nogil([&] { return tl::argreduce(op, t, axis, keepdims); });
    };
    m.def(name, f, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false);
    t.def(name, f, py::arg("axis") = py::none(), py::arg("keepdims") = false);
  }
  for (auto [name, op] : {std::pair{"cumsum", tl::ScanOp::CumSum}, std::pair{"cumprod", tl::ScanOp::CumProd}}) {
    auto f = [op = op](py::handle x, std::optional<int64_t> axis) {
      Tensor t = to_tensor(x);
      return nogil([&] { return tl::scan(op, t, axis); });
    };
    m.def(name, f, py::arg("x"), py::arg("axis") = py::none());
    t.def(name, f, py::arg("axis") = py::none());
  }
  m.def("softmax", [](py::handle x, int64_t axis) {
    Tensor t = to_tensor(x);
    return nogil([&] { return tl::softmax(t, axis); });
  },
        py::arg("x"), py::arg("axis") = -1);
  m.def("log_softmax", [](py::handle x, int64_t axis) {
    Tensor t = to_tensor(x);
    return nogil([&] { return tl::log_softmax(t, axis); });
  },
        py::arg("x"), py::arg("axis") = -1);
}

}  // namespace tlpy
