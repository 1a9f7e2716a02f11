#include "python/convert.h"

#include <pybind11/stl.h>

#include "core/error.h"

namespace tlpy {
namespace {

py::object ml_bfloat16() {
  static py::object* t = new py::object(py::module_::import("ml_dtypes").attr("bfloat16"));
  return *t;
}

DType from_numpy(const py::dtype& d) {
  switch (d.kind()) {
    case 'b':
      return DType::Bool;
    case 'i':
      if (d.itemsize() == 1) return DType::Int8;
      if (d.itemsize() <= 4) return DType::Int32;  // int16 widens
      return DType::Int64;
    case 'u':
      if (d.itemsize() == 1) return DType::UInt8;
      if (d.itemsize() == 2) return DType::Int32;
      return DType::Int64;  // uint32 widens; uint64 wraps above 2^63
    case 'f':
      if (d.itemsize() == 2) return DType::Float16;
      if (d.itemsize() == 4) return DType::Float32;
      if (d.itemsize() == 8) return DType::Float64;
      break;
    case 'V':
      if (d.is(py::dtype::from_args(ml_bfloat16()))) return DType::BFloat16;
      break;
  }
  if (py::str(d).cast<std::string>() == "bfloat16") return DType::BFloat16;
  throw tl::Error(tl::ErrorKind::Type, "unsupported dtype " + py::str(d).cast<std::string>());
}

}  // namespace

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::Bool: return py::dtype("bool");
    case DType::Int8: return py::dtype("int8");
    case DType::UInt8: return py::dtype("uint8");
    case DType::Int32: return py::dtype("int32");
    case DType::Int64: return py::dtype("int64");
    case DType::Float16: return py::dtype("float16");
    case DType::BFloat16: return py::dtype::from_args(ml_bfloat16());
    case DType::Float32: return py::dtype("float32");
    case DType::Float64: return py::dtype("float64");
  }
  return py::dtype("float32");
}

DType to_dtype(py::handle h) {
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  if (h.is_none()) throw tl::Error(tl::ErrorKind::Type, "dtype must not be None here");
  if (py::isinstance<py::str>(h)) return tl::dtype_from_name(h.cast<std::string>());
  if (h.is(py::type::of(py::bool_()))) return DType::Bool;
  if (h.is(py::type::of(py::int_()))) return DType::Int64;
  if (h.is(py::type::of(py::float_()))) return DType::Float32;
  try {
    return from_numpy(py::dtype::from_args(py::reinterpret_borrow<py::object>(h)));
  } catch (py::error_already_set&) {
    throw tl::Error(tl::ErrorKind::Type, "not a dtype: " + py::repr(h).cast<std::string>());
  }
}

std::optional<DType> to_dtype_opt(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return to_dtype(h);
}

Device to_device(py::handle h) {
  if (h.is_none()) return tl::default_device();
  if (py::isinstance<Device>(h)) return h.cast<Device>();
  if (py::isinstance<py::str>(h)) return Device::parse(h.cast<std::string>());
  throw tl::Error(tl::ErrorKind::Type, "not a device: " + py::repr(h).cast<std::string>());
}

std::optional<Device> to_device_opt(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return to_device(h);
}

std::vector<int64_t> to_int_list(py::handle h) {
  // A 0-d integer tensor is an int (it defines __index__ but also looks like a sequence).
  bool scalar_tensor = py::isinstance<Tensor>(h) && h.cast<Tensor>().ndim() == 0;
  if (PyLong_Check(h.ptr()) || (PyIndex_Check(h.ptr()) && (!PySequence_Check(h.ptr()) || scalar_tensor)))
    return {py::reinterpret_borrow<py::int_>(PyNumber_Index(h.ptr())).cast<int64_t>()};
  std::vector<int64_t> out;
  for (py::handle v : py::reinterpret_borrow<py::iterable>(h)) {
    if (!PyIndex_Check(v.ptr()) || PyBool_Check(v.ptr()))
      throw tl::Error(tl::ErrorKind::Type, "expected integers, got " + py::repr(v).cast<std::string>());
    out.push_back(py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr())).cast<int64_t>());
  }
  return out;
}

tl::Axes to_axes(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return to_int_list(h);
}

// Only Python's own bool, int and float are weak; NumPy scalars (np.float64 subclasses
// float) keep their dtype, as in NumPy 2.
std::optional<tl::Scalar> to_scalar(py::handle h) {
  if (PyBool_Check(h.ptr())) return tl::Scalar::from_bool(h.cast<bool>());
  if (PyLong_CheckExact(h.ptr())) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
    if (overflow) throw tl::Error(tl::ErrorKind::Value, "Python int too large for int64");
    return tl::Scalar::from_int(v);
  }
  if (PyFloat_CheckExact(h.ptr())) return tl::Scalar::from_float(h.cast<double>());
  return std::nullopt;
}

bool is_operand(py::handle h) {
  return py::isinstance<Tensor>(h) || PyBool_Check(h.ptr()) || PyLong_Check(h.ptr()) ||
         PyFloat_Check(h.ptr()) || py::isinstance<py::array>(h) || py::isinstance<py::list>(h) ||
         py::hasattr(h, "__array_priority__") ||
         py::isinstance<py::tuple>(h) || py::hasattr(h, "__array_interface__") ||
         py::hasattr(h, "__dlpack__");
}

std::optional<tl::Operand> direct_operand(py::handle h) {
  if (auto s = to_scalar(h)) return *s;  // plain C-API checks first: the common case, cheapest
  if (py::isinstance<Tensor>(h)) return h.cast<Tensor>();
  return std::nullopt;
}

tl::Operand to_operand(py::handle h, std::optional<Device> near) {
  if (auto o = direct_operand(h)) return *o;
  if (near) return asarray(h, py::none(), py::cast(near->str()), py::none());
  return to_tensor(h);
}

std::optional<Device> tensor_device(std::initializer_list<py::handle> hs) {
  for (py::handle h : hs)
    if (py::isinstance<Tensor>(h)) return h.cast<Tensor>().device();
  return std::nullopt;
}

Tensor to_tensor(py::handle h) {
  if (py::isinstance<Tensor>(h)) return h.cast<Tensor>();
  return asarray(h, py::none(), py::none(), py::none());
}

Tensor asarray(py::handle obj, py::handle dtype_h, py::handle device_h, py::handle copy_h) {
  std::optional<DType> dtype = to_dtype_opt(dtype_h);
  std::optional<Device> device = to_device_opt(device_h);
  bool force_copy = !copy_h.is_none() && copy_h.cast<bool>();
  if (!copy_h.is_none() && !copy_h.cast<bool>() && !py::isinstance<Tensor>(obj))
    throw tl::Error(tl::ErrorKind::Value, "asarray(copy=False): a copy is needed for this input");
  Tensor t;
  if (py::isinstance<Tensor>(obj)) {
    t = obj.cast<Tensor>();
    Tensor src = t;
    if (device) t = tl::to_device(t, *device);
    if (dtype && *dtype != t.dtype()) t = tl::astype(t, *dtype);
    if (force_copy && t.same(src)) t = tl::copy(t);
    if (!copy_h.is_none() && !force_copy && !t.same(src))
      throw tl::Error(tl::ErrorKind::Value, "asarray(copy=False): a copy is needed");
    return t;
  }
  Device dev = device ? *device : tl::default_device();
  if (auto s = to_scalar(obj)) return tl::scalar_tensor(*s, dtype ? *dtype : tl::default_scalar_dtype(*s), dev);
  py::module_ np = py::module_::import("numpy");
  py::object arr;
  if (py::isinstance<py::array>(obj)) {
    arr = py::reinterpret_borrow<py::object>(obj);
  } else {
    arr = np.attr("asarray")(obj);
    // Python floats default to float32, as in PyTorch and MLX.
    if (!dtype && (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) &&
        arr.attr("dtype").attr("kind").cast<std::string>() == "f")
      arr = arr.attr("astype")("float32");
  }
  py::dtype ndt = arr.attr("dtype").cast<py::dtype>();
  DType src = from_numpy(ndt);
  if (!ndt.is(numpy_dtype(src))) arr = arr.attr("astype")(numpy_dtype(src));
  py::array c = np.attr("require")(arr, py::arg("requirements") = "C");  // keeps 0-d
  std::vector<int64_t> shape(c.shape(), c.shape() + c.ndim());
  // (c keeps the data alive; the copy may wait on the device: not holding the GIL)
  const void* data = c.data();
  t = nogil([&] { return tl::from_host(data, shape, src, dev); });
  if (dtype && *dtype != src) t = tl::astype(t, *dtype);
  return t;
}

py::array to_numpy(const Tensor& x) {
  // Computes a pending tensor, and waits for its device, without holding the GIL.
  void* data = nogil([&] {
    (void)x.buffer();
    return tl::host_data(x);
  });
  py::dtype dt = numpy_dtype(x.dtype());
  const int64_t sz = tl::itemsize(x.dtype());
  std::vector<py::ssize_t> shape(x.shape().begin(), x.shape().end());
  if (data) {  // host-visible memory (CPU, Metal's unified memory): zero-copy
    std::vector<py::ssize_t> strides;
    for (int64_t s : x.strides()) strides.push_back(s * sz);
    auto* keep = new Tensor(x);
    py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
    return py::array(dt, shape, strides, data, owner);
  }
  py::array out(dt, shape);
  void* dst = out.mutable_data();
  nogil([&] { tl::to_host(x, dst); });
  return out;
}

py::object item(const Tensor& x) {
  if (x.numel() != 1)
    throw tl::Error(tl::ErrorKind::Value, "can only convert an array of size 1 to a Python scalar");
  Tensor v = x;
  if (x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16) v = tl::astype(x, DType::Float32);
  return to_numpy(v).attr("reshape")(py::tuple()).attr("item")();
}

}  // namespace tlpy
