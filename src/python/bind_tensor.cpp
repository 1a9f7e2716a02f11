// The Tensor class: properties, operators, indexing, NumPy and DLPack interop.
#include <pybind11/stl.h>

#include <algorithm>

#include "core/dlpack.h"
#include "cuda/cuda_stream.h"
#include "core/error.h"
#include "python/convert.h"

namespace tlpy {
namespace {

using tl::OpCode;

// A Python integer as int64, saturated at +-2^62: slice bounds beyond int64 clamp as Python's
// own slices do, and an index that large is out of bounds anyway.
int64_t saturated_index(py::handle v) {
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  long long r = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  constexpr int64_t kLimit = int64_t(1) << 62;
  if (overflow) return overflow > 0 ? kLimit : -kLimit;
  return std::clamp<int64_t>(r, -kLimit, kLimit);
}

std::vector<tl::IndexItem> to_index_key(py::handle key) {
  std::vector<tl::IndexItem> items;
  auto add = [&](py::handle k) {
    tl::IndexItem it{tl::IndexItem::Kind::Ellipsis};
    if (k.is_none()) {
      it.kind = tl::IndexItem::Kind::NewAxis;
    } else if (k.ptr() == Py_Ellipsis) {
      it.kind = tl::IndexItem::Kind::Ellipsis;
    } else if (PySlice_Check(k.ptr())) {
      it.kind = tl::IndexItem::Kind::Slice;
      auto part = [&](const char* name) -> std::optional<int64_t> {
        py::object v = k.attr(name);
        if (v.is_none()) return std::nullopt;
        if (!PyIndex_Check(v.ptr()))
          throw tl::Error(tl::ErrorKind::Type, "slice indices must be integers or None");
        return saturated_index(v);
      };
      it.start = part("start");
      it.stop = part("stop");
      it.step = part("step");
    } else if (PyIndex_Check(k.ptr()) && !PyBool_Check(k.ptr()) && !py::isinstance<Tensor>(k) &&
               !py::isinstance<py::array>(k)) {
      it.kind = tl::IndexItem::Kind::Int;
      it.i = saturated_index(k);
    } else if (py::isinstance<Tensor>(k) || py::isinstance<py::array>(k) ||
               py::isinstance<py::list>(k) || PyBool_Check(k.ptr())) {
      it.kind = tl::IndexItem::Kind::Array;
      // An empty list is an empty integer index, as in NumPy.
      it.array = py::isinstance<py::list>(k) && py::len(k) == 0
                     ? tl::empty({0}, DType::Int64, tl::default_device())
                     : to_tensor(k);
      if (it.array.dtype() != DType::Bool && !tl::is_integer(it.array.dtype()))
        throw tl::Error(tl::ErrorKind::Index,
                        "arrays used as indices must be of integer or boolean type");
    } else {
      throw tl::Error(tl::ErrorKind::Index,
                      "only integers, slices (`:`), ellipsis (`...`), None and integer or boolean "
                      "arrays are valid indices, got " + py::repr(k).cast<std::string>());
    }
    items.push_back(std::move(it));
  };
  if (py::isinstance<py::tuple>(key)) {
    for (py::handle k : key) add(k);
  } else {
    add(key);
  }
  return items;
}

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

// Binary operators return NotImplemented for operands they cannot take, so Python can try
// the other operand's reflected method.
template <bool Reflected>
auto binary_op(OpCode op) {
  return [op](const Tensor& self, py::handle other) -> py::object {
    std::optional<tl::Operand> direct = direct_operand(other);
    if (!direct && !is_operand(other)) return not_implemented();
    const tl::Operand o = direct ? std::move(*direct) : to_operand(other, self.device());
    return py::cast(nogil([&] { return Reflected ? tl::binary(op, o, self) : tl::binary(op, self, o); }));
  };
}

auto inplace_op(OpCode op) {
  return [op](const Tensor& self, py::handle other) -> py::object {
    if (!is_operand(other)) return not_implemented();
    tl::Operand o = to_operand(other, self.device());
    nogil([&] { tl::binary_inplace(op, self, o); });  // (may evaluate what reads self first)
    return py::cast(self);
  };
}

void require_single(const Tensor& x, const char* what) {
  if (x.numel() != 1)
    throw tl::Error(tl::ErrorKind::Value,
                    std::string("the ") + what + " of a tensor with more than one element is ambiguous");
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::class_<Tensor> t(m, "Tensor", "An n-dimensional array on a device.");
  t.def_property_readonly("shape", [](const Tensor& x) { return py::tuple(py::cast(x.shape())); })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", &Tensor::device)
      .def_property_readonly("ndim", &Tensor::ndim)
      .def_property_readonly("size", &Tensor::numel)
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def_property_readonly("strides", [](const Tensor& x) { return py::tuple(py::cast(x.strides())); },
                             "Strides in elements.")
      .def_property_readonly("T", &tl::transpose)
      .def_property_readonly("mT", &tl::matrix_transpose)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("numpy", &to_numpy)
      .def("__array__", [](const Tensor& x, py::handle dtype, py::handle copy) {
             py::object a = to_numpy(x);
             if (!dtype.is_none()) a = a.attr("astype")(dtype, py::arg("copy") = false);
             if (!copy.is_none() && copy.cast<bool>()) a = a.attr("copy")();
             return a;
           }, py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def_property_readonly("__array_priority__", [](const Tensor&) { return 1000; })
      .def("item", &item)
      .def("tolist", [](const Tensor& x) {
        Tensor v = x;
        if (x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16) v = tl::astype(x, DType::Float32);
        return to_numpy(v).attr("tolist")();
      })
      .def("astype", [](const Tensor& x, py::handle dtype, bool copy) {
             DType d = to_dtype(dtype);
             return (!copy && d == x.dtype()) ? x : nogil([&] { return tl::astype(x, d); });
           }, py::arg("dtype"), py::arg("copy") = true)
      .def("to", [](const Tensor& x, py::handle device) {
        tl::Device d = to_device(device);
        return nogil([&] { return tl::to_device(x, d); });
      })
      .def("copy", [](const Tensor& x) { return nogil([&] { return tl::copy(x); }); })
      .def("contiguous", [](const Tensor& x) { return nogil([&] { return tl::contiguous(x); }); })
      .def("__len__", [](const Tensor& x) {
        if (x.ndim() == 0) throw tl::Error(tl::ErrorKind::Type, "len() of a 0-d tensor");
        return x.dim(0);
      })
      .def("__iter__", [](const Tensor& x) {
        if (x.ndim() == 0) throw tl::Error(tl::ErrorKind::Type, "iteration over a 0-d tensor");
        py::list rows;
        for (int64_t i = 0; i < x.dim(0); ++i)
          rows.append(tl::index(x, {tl::IndexItem{tl::IndexItem::Kind::Int, i}}));
        return py::iter(rows);
      })
      .def("__bool__", [](const Tensor& x) {
        require_single(x, "truth value");
        return item(x).attr("__bool__")();
      })
      .def("__float__", [](const Tensor& x) {
        require_single(x, "float value");
        return py::float_(item(x));
      })
      .def("__int__", [](const Tensor& x) {
        require_single(x, "int value");
        return py::int_(item(x));
      })
      .def("__index__", [](const Tensor& x) {
        if (!tl::is_integer(x.dtype()) || x.numel() != 1)
          throw tl::Error(tl::ErrorKind::Type,
                          "only integer tensors with one element can be converted to an index");
        return py::int_(item(x));
      })
      .def("__getitem__", [](const Tensor& x, py::handle key) {
        auto k = to_index_key(key);
        return nogil([&] { return tl::index(x, k); });
      })
      .def("__setitem__", [](const Tensor& x, py::handle key, py::handle value) {
        auto k = to_index_key(key);
        tl::Operand v = to_operand(value, x.device());
        nogil([&] { tl::index_put(x, k, v); });  // (may evaluate what reads x first)
      })
      .def("__dlpack__", [](const Tensor& x, py::handle stream, py::handle max_version,
                            py::handle dl_device, py::handle copy) {
             if (!copy.is_none() && copy.cast<bool>())
               throw tl::Error(tl::ErrorKind::NotImplemented, "__dlpack__(copy=True) is not supported");
             // CUDA: DLPack's stream protocol (the consumer's stream waits for ours, no host
             // sync); other devices finish their work first.
             const bool cuda = x.device().type == tl::DeviceType::CUDA;
             const int64_t consumer = stream.is_none() ? 1 : stream.cast<int64_t>();
             nogil([&] {
               (void)x.buffer();
               if (cuda)
                 tl::cuda::order_dlpack_consumer(x.device().index, consumer);
               else
                 tl::synchronize(x.device());
             });
             TlDLManagedTensor* mt = tl::to_dlpack(x);
             return py::capsule(mt, "dltensor", [](PyObject* cap) {
               if (PyCapsule_IsValid(cap, "dltensor")) {
                 auto* p = static_cast<TlDLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
                 if (p && p->deleter) p->deleter(p);
               }
             });
           }, py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
           py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack_device__", [](const Tensor& x) {
        TlDLDevice d = tl::dlpack_device(x);
        return py::make_tuple(d.device_type, d.device_id);
      })
      .def("__array_namespace__", [](const Tensor&, py::handle) {
        return py::module_::import("tensorlogic");
      }, py::kw_only(), py::arg("api_version") = py::none());
  t.attr("__array_ufunc__") = py::none();  // NumPy defers to our reflected operators
  t.attr("__hash__") = py::none();

  const std::pair<const char*, OpCode> ops[] = {
      {"add", OpCode::add}, {"sub", OpCode::subtract}, {"mul", OpCode::multiply},
      {"truediv", OpCode::divide}, {"floordiv", OpCode::floor_divide},
      {"mod", OpCode::remainder}, {"pow", OpCode::pow}, {"and", OpCode::bitwise_and},
      {"or", OpCode::bitwise_or}, {"xor", OpCode::bitwise_xor},
      {"lshift", OpCode::bitwise_left_shift}, {"rshift", OpCode::bitwise_right_shift}};
  for (auto [name, op] : ops) {
    std::string n(name);
    t.def(("__" + n + "__").c_str(), binary_op<false>(op), py::is_operator());
    t.def(("__r" + n + "__").c_str(), binary_op<true>(op), py::is_operator());
    t.def(("__i" + n + "__").c_str(), inplace_op(op), py::is_operator());
  }
  const std::pair<const char*, OpCode> cmps[] = {
      {"__eq__", OpCode::equal}, {"__ne__", OpCode::not_equal}, {"__lt__", OpCode::less},
      {"__le__", OpCode::less_equal}, {"__gt__", OpCode::greater}, {"__ge__", OpCode::greater_equal}};
  for (auto [name, op] : cmps) t.def(name, binary_op<false>(op), py::is_operator());
  t.def("__matmul__", [](const Tensor& a, py::handle b) -> py::object {
    if (!is_operand(b)) return not_implemented();
    Tensor tb = to_tensor(b);
    return py::cast(nogil([&] { return tl::matmul(a, tb); }));
  }, py::is_operator());
  t.def("__rmatmul__", [](const Tensor& a, py::handle b) -> py::object {
    if (!is_operand(b)) return not_implemented();
    Tensor ta = to_tensor(b);
    return py::cast(nogil([&] { return tl::matmul(ta, a); }));
  }, py::is_operator());
  // (A record may evaluate the graph past its bound: without the GIL, as every op here.)
  t.def("__neg__", [](const Tensor& x) { return nogil([&] { return tl::unary(OpCode::negative, x); }); });
  t.def("__pos__", [](const Tensor& x) { return nogil([&] { return tl::copy(x); }); });
  t.def("__abs__", [](const Tensor& x) { return nogil([&] { return tl::unary(OpCode::abs, x); }); });
  t.def("__invert__", [](const Tensor& x) { return nogil([&] { return tl::unary(OpCode::bitwise_invert, x); }); });
}

}  // namespace tlpy
