// Module functions: every elementwise op of the op table, creation, matmul, random.
#include <pybind11/stl.h>

#include "core/dlpack.h"
#include "cuda/cuda_stream.h"
#include "core/error.h"
#include "python/convert.h"

namespace tlpy {
namespace {

using tl::OpCode;
using tl::Scalar;

tl::Shape to_shape(py::handle h) {
  if (h.is_none()) return {};
  return to_int_list(h);
}

Scalar to_fill(py::handle h) {
  if (auto s = to_scalar(h)) return *s;
  Tensor t = to_tensor(h);
  py::object v = item(t);
  return *to_scalar(v);
}

DType fill_dtype(py::handle dtype, const Scalar& v) {
  return dtype.is_none() ? tl::default_scalar_dtype(v) : to_dtype(dtype);
}

void bind_elementwise(py::module_& m) {
  for (int i = 0; i < tl::kNumOps; ++i) {
    OpCode op = OpCode(i);
    const tl::OpInfo& info = tl::op_info(op);
    if (op == OpCode::identity || op == OpCode::where) continue;
    if (info.arity == 1) {
      m.def(info.name, [op](py::handle x) {
        Tensor t = to_tensor(x);
        return nogil([&] { return tl::unary(op, t); });
      }, py::arg("x"));
    } else {
      m.def(info.name, [op](py::handle a, py::handle b) {
        const auto near = tensor_device({a, b});
        tl::Operand oa = to_operand(a, near), ob = to_operand(b, near);
        return nogil([&] { return tl::binary(op, oa, ob); });
      }, py::arg("x1"), py::arg("x2"));
    }
  }
  m.def("where", [](py::handle c, py::handle x, py::handle y) {
    const auto near = tensor_device({c, x, y});
    return tl::where(to_operand(c, near), to_operand(x, near), to_operand(y, near));
  }, py::arg("condition"), py::arg("x1"), py::arg("x2"));
  m.def("clip", [](py::handle x, py::handle lo, py::handle hi) {
    const Tensor t = to_tensor(x);
    auto opt = [&](py::handle h) -> std::optional<tl::Operand> {
      if (h.is_none()) return std::nullopt;
      return to_operand(h, t.device());
    };
    return tl::clip(t, opt(lo), opt(hi));
  }, py::arg("x"), py::arg("min") = py::none(), py::arg("max") = py::none());
  m.def("astype", [](const Tensor& x, py::handle dtype, bool copy) {
    DType d = to_dtype(dtype);
    return (!copy && d == x.dtype()) ? x : tl::astype(x, d);
  }, py::arg("x"), py::arg("dtype"), py::kw_only(), py::arg("copy") = true);
  m.def("result_type", [](py::args args) {
    std::optional<DType> r;
    std::vector<Scalar> weak;
    for (py::handle a : args) {
      if (auto s = to_scalar(a)) {
        weak.push_back(*s);
        continue;
      }
      DType d = py::isinstance<Tensor>(a) ? a.cast<Tensor>().dtype() : to_dtype(a);
      r = r ? tl::promote_types(*r, d) : d;
    }
    if (!r) throw tl::Error(tl::ErrorKind::Value, "at least one array or dtype is required");
    for (const Scalar& s : weak) r = tl::weak_scalar_dtype(s, *r);  // Python scalars are weak
    return *r;
  });
}

void bind_creation(py::module_& m) {
  m.def("asarray", &asarray, py::arg("obj"), py::kw_only(), py::arg("dtype") = py::none(),
        py::arg("device") = py::none(), py::arg("copy") = py::none());
  m.def("empty", [](py::handle shape, py::handle dtype, py::handle device) {
    return tl::empty(to_shape(shape), dtype.is_none() ? DType::Float32 : to_dtype(dtype), to_device(device));
  }, py::arg("shape"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none());
  m.def("full", [](py::handle shape, py::handle value, py::handle dtype, py::handle device) {
    Scalar v = to_fill(value);
    return tl::full(to_shape(shape), v, fill_dtype(dtype, v), to_device(device));
  }, py::arg("shape"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none());
  m.def("arange", [](py::handle start, py::handle stop, py::handle step, py::handle dtype, py::handle device) {
    if (stop.is_none()) std::swap(start, stop), start = py::int_(0);
    auto is_int = [](py::handle h) { return PyIndex_Check(h.ptr()) && !PyBool_Check(h.ptr()); };
    bool all_int = is_int(start) && is_int(stop) && is_int(step);
    DType d = dtype.is_none() ? (all_int ? DType::Int64 : DType::Float32) : to_dtype(dtype);
    return tl::arange(start.cast<double>(), stop.cast<double>(), step.cast<double>(), d, to_device(device));
  }, py::arg("start"), py::arg("stop") = py::none(), py::arg("step") = 1, py::kw_only(),
     py::arg("dtype") = py::none(), py::arg("device") = py::none());
  m.def("linspace", [](double start, double stop, int64_t num, py::handle dtype, py::handle device, bool endpoint) {
    return tl::linspace(start, stop, num, endpoint, dtype.is_none() ? DType::Float32 : to_dtype(dtype),
                        to_device(device));
  }, py::arg("start"), py::arg("stop"), py::arg("num"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("endpoint") = true);
  m.def("eye", [](int64_t n, std::optional<int64_t> cols, int64_t k, py::handle dtype, py::handle device) {
    return tl::eye(n, cols.value_or(n), k, dtype.is_none() ? DType::Float32 : to_dtype(dtype), to_device(device));
  }, py::arg("n_rows"), py::arg("n_cols") = py::none(), py::kw_only(), py::arg("k") = 0,
     py::arg("dtype") = py::none(), py::arg("device") = py::none());
  m.def("from_dlpack", [](py::handle x) {
    // DLPack's stream protocol: a consumer on CUDA names the stream it will use (our current
    // stream); the producer orders its work before it.
    std::optional<int> cuda_index;
    if (py::hasattr(x, "__dlpack_device__")) {
      py::tuple dev = x.attr("__dlpack_device__")().cast<py::tuple>();
      if (dev[0].cast<int>() == kTlDLCUDA) cuda_index = dev[1].cast<int>();
    }
    py::object cap = cuda_index ? x.attr("__dlpack__")(py::arg("stream") = uintptr_t(
                                                           tl::cuda::current_stream(*cuda_index).handle()))
                                : x.attr("__dlpack__")();
    auto* mt = static_cast<TlDLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
    if (!mt) throw py::error_already_set();
    PyCapsule_SetName(cap.ptr(), "used_dltensor");
    return tl::from_dlpack(mt);
  }, py::arg("x"));
  m.def("matmul", [](py::handle a, py::handle b) {
    Tensor ta = to_tensor(a), tb = to_tensor(b);
    return nogil([&] { return tl::matmul(ta, tb); });
  },
        py::arg("x1"), py::arg("x2"));
  m.def("set_float32_matmul_precision", [](const std::string& p) {
    if (p != "highest" && p != "high")
      throw py::value_error("set_float32_matmul_precision: expected 'highest' or 'high', got '" + p + "'");
    tl::set_float32_matmul_precision(p == "high" ? tl::MatmulPrecision::High : tl::MatmulPrecision::Highest);
  }, py::arg("precision"),
        "How float32 matmuls recorded from now on may multiply: 'highest' (float32 products, the\n"
        "default) or 'high' (operands rounded to tf32, 10 mantissa bits, with float32 sums, on\n"
        "tensor cores where the device has them: CUDA on Hopper; elsewhere as 'highest').");
  m.def("get_float32_matmul_precision", [] {
    return tl::float32_matmul_precision() == tl::MatmulPrecision::High ? "high" : "highest";
  });
}

void bind_random(py::module_& m) {
  py::module_ r = m.def_submodule("random", "Philox random numbers, the same stream on every device.");
  r.def("seed", &tl::random_seed, py::arg("seed"));
  r.def("uniform", [](double low, double high, py::handle size, py::handle dtype, py::handle device) {
    return tl::random_uniform(low, high, to_shape(size), dtype.is_none() ? DType::Float32 : to_dtype(dtype),
                              to_device(device));
  }, py::arg("low") = 0.0, py::arg("high") = 1.0, py::arg("size") = py::none(), py::kw_only(),
     py::arg("dtype") = py::none(), py::arg("device") = py::none());
  r.def("normal", [](double loc, double scale, py::handle size, py::handle dtype, py::handle device) {
    return tl::random_normal(loc, scale, to_shape(size), dtype.is_none() ? DType::Float32 : to_dtype(dtype),
                             to_device(device));
  }, py::arg("loc") = 0.0, py::arg("scale") = 1.0, py::arg("size") = py::none(), py::kw_only(),
     py::arg("dtype") = py::none(), py::arg("device") = py::none());
  r.def("randint", [](int64_t low, std::optional<int64_t> high, py::handle size, py::handle dtype, py::handle device) {
    if (!high) high = low, low = 0;
    return tl::random_randint(low, *high, to_shape(size), dtype.is_none() ? DType::Int64 : to_dtype(dtype),
                              to_device(device));
  }, py::arg("low"), py::arg("high") = py::none(), py::arg("size") = py::none(), py::kw_only(),
     py::arg("dtype") = py::none(), py::arg("device") = py::none());
  r.def("permutation", [](py::handle x, py::handle device) {
    if (PyLong_Check(x.ptr())) return tl::random_permutation(x.cast<int64_t>(), DType::Int64, to_device(device));
    Tensor t = to_tensor(x);
    if (t.ndim() == 0) throw tl::Error(tl::ErrorKind::Value, "permutation: x must be an integer or an array");
    Tensor perm = tl::random_permutation(t.dim(0), DType::Int64, t.device());
    return tl::take(t, perm, 0);
  }, py::arg("x"), py::kw_only(), py::arg("device") = py::none());
}

}  // namespace

void bind_ops(py::module_& m) {
  bind_elementwise(m);
  bind_creation(m);
  bind_random(m);
}

}  // namespace tlpy
