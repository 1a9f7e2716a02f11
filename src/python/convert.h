#pragma once
// Conversions between Python objects and the core's types. Binding code only: the rules
// themselves (promotion, weak scalars, broadcasting) live in src/core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/ops.h"

// Shapes and strides go to Python as tuples of ints and come from any sequence of ints.
namespace pybind11::detail {
template <>
struct type_caster<tl::Dims> {
  PYBIND11_TYPE_CASTER(tl::Dims, const_name("tuple[int, ...]"));
  bool load(handle src, bool convert) {
    make_caster<std::vector<int64_t>> ints;
    if (!ints.load(src, convert)) return false;
    value = tl::Dims(cast_op<std::vector<int64_t>&>(ints));
    return true;
  }
  static handle cast(const tl::Dims& d, return_value_policy, handle) {
    PyObject* t = PyTuple_New(Py_ssize_t(d.size()));
    if (!t) return nullptr;
    for (size_t i = 0; i < d.size(); ++i) PyTuple_SET_ITEM(t, Py_ssize_t(i), PyLong_FromLongLong(d[i]));
    return t;
  }
};
}  // namespace pybind11::detail

namespace tlpy {

namespace py = pybind11;
using tl::Device;
using tl::DType;
using tl::Tensor;

DType to_dtype(py::handle h);                        // DType, str, NumPy dtype or type
std::optional<DType> to_dtype_opt(py::handle h);     // None -> nullopt
Device to_device(py::handle h);                      // Device, str; None -> default device
std::optional<Device> to_device_opt(py::handle h);
tl::Axes to_axes(py::handle h);                      // None, int or sequence of ints
std::vector<int64_t> to_int_list(py::handle h);      // int or sequence of ints
std::optional<tl::Scalar> to_scalar(py::handle h);   // Python bool/int/float, else nullopt
// A tensor or a weak Python scalar; anything else (NumPy arrays, lists) goes through
// asarray, onto `near` when given: host data next to a tensor joins that tensor's device.
tl::Operand to_operand(py::handle h, std::optional<Device> near = std::nullopt);
// A tensor or a Python bool/int/float as an operand without conversion; nullopt otherwise.
std::optional<tl::Operand> direct_operand(py::handle h);
// The device of the first tl.Tensor among hs, if any.
std::optional<Device> tensor_device(std::initializer_list<py::handle> hs);
// Whether h can take part in arithmetic with a tensor (else operators return NotImplemented).
bool is_operand(py::handle h);

Tensor asarray(py::handle obj, py::handle dtype, py::handle device, py::handle copy);
Tensor to_tensor(py::handle h);  // asarray with defaults; a Tensor passes through

py::dtype numpy_dtype(DType t);
// A NumPy view of a host-visible tensor (zero-copy), else a host copy.
py::array to_numpy(const Tensor& x);
py::object item(const Tensor& x);

// Runs f with the GIL released: long kernels let other Python threads run. Arguments must
// already be converted to C++ values. Not py::gil_scoped_release: at interpreter exit a
// daemon thread re-taking the GIL is ended by a forced unwind, which must not pass through a
// noexcept destructor (std::terminate); this one may let it through.
template <class F>
auto nogil(F&& f) {
  struct Reacquire {
    PyThreadState* state;
    ~Reacquire() noexcept(false) { PyEval_RestoreThread(state); }
  } reacquire{PyEval_SaveThread()};
  return f();
}

}  // namespace tlpy
