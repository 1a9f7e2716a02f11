// The extension module: exception mapping, dtype and device objects, memory and device
// functions. Tensor methods and ops are bound in bind_tensor.cpp and bind_ops.cpp.
#include <pybind11/stl.h>

#include "core/autotune.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/profiler.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_ops.h"
#include "metal/msl_kernels.h"
#include "python/convert.h"

namespace tlpy {
void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_reduce_ops(py::module_& m);
void bind_shape_ops(py::module_& m);
void bind_cuda(py::module_& m);

namespace {

void bind_errors(py::module_& m) {
  static py::object device_error = py::reinterpret_steal<py::object>(
      PyErr_NewException("tensorlogic.DeviceError", PyExc_RuntimeError, nullptr));
  py::tuple axis_bases = py::make_tuple(py::handle(PyExc_ValueError), py::handle(PyExc_IndexError));
  static py::object axis_error = py::reinterpret_steal<py::object>(
      PyErr_NewException("tensorlogic.AxisError", axis_bases.ptr(), nullptr));
  m.attr("DeviceError") = device_error;
  m.attr("AxisError") = axis_error;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tl::Error& e) {
      PyObject* type = PyExc_RuntimeError;
      switch (e.kind()) {
        case tl::ErrorKind::Value: type = PyExc_ValueError; break;
        case tl::ErrorKind::Type: type = PyExc_TypeError; break;
        case tl::ErrorKind::Index: type = PyExc_IndexError; break;
        case tl::ErrorKind::Axis: type = axis_error.ptr(); break;
        case tl::ErrorKind::Memory: type = PyExc_MemoryError; break;
        case tl::ErrorKind::Device: type = device_error.ptr(); break;
        case tl::ErrorKind::NotImplemented: type = PyExc_NotImplementedError; break;
      }
      PyErr_SetString(type, e.what());
    }
  });
}

void bind_dtypes(py::module_& m) {
  py::enum_<DType> dt(m, "DType", "A tensor element type.");
  for (int i = 0; i < tl::kNumDTypes; ++i) dt.value(tl::dtype_name(DType(i)), DType(i));
  dt.def_property_readonly("itemsize", [](DType t) { return tl::itemsize(t); });
  // Assigned, not def'd: a def would only add an overload behind the enum's own __repr__.
  dt.attr("__repr__") = py::cpp_function(
      [](DType t) { return std::string("tensorlogic.") + tl::dtype_name(t); }, py::is_method(dt));
  dt.attr("__str__") = py::cpp_function([](DType t) { return std::string(tl::dtype_name(t)); },
                                        py::is_method(dt));
  m.def("promote_types", [](py::handle a, py::handle b) { return tl::promote_types(to_dtype(a), to_dtype(b)); });
}

void bind_devices(py::module_& m) {
  py::class_<Device>(m, "Device", "A device: a backend type and an index.")
      .def(py::init([](const std::string& s) { return Device::parse(s); }), py::arg("name"))
      .def_property_readonly("type", [](const Device& d) { return tl::device_type_name(d.type); })
      .def_readonly("index", &Device::index)
      .def("__eq__", [](const Device& a, py::handle b) {
        if (py::isinstance<Device>(b)) return a == b.cast<Device>();
        if (!py::isinstance<py::str>(b)) return false;
        try {
          return a == Device::parse(b.cast<std::string>());
        } catch (const tl::Error&) {
          return false;  // not a device name
        }
      })
      // Equal to its name ("cpu", "cuda:0"), so it hashes like it.
      .def("__hash__", [](const Device& d) { return py::hash(py::str(d.str())); })
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) { return "device('" + d.str() + "')"; });
  m.def("devices", &tl::devices, "Every device present, best first.");
  m.def("default_device", &tl::default_device,
        "TENSORLOGIC_DEVICE if set, else the best device present.");
  m.def("synchronize", [](py::handle d) {
    std::optional<Device> dev = to_device_opt(d);
    nogil([&] { tl::synchronize(dev); });
  }, py::arg("device") = py::none());
  m.def("eval", [](const std::vector<Tensor>& ts) { nogil([&] { tl::graph::evaluate(ts); }); });
  m.def("flush", [] { nogil([] { tl::graph::flush(); }); });
  m.def("fusion_enabled", &tl::graph::fusion_enabled);
  m.def("set_fusion", &tl::graph::set_fusion);
  m.def("device_name", [](py::handle d) {
    Device dev = to_device(d);
    return tl::backend_for(dev).device_name(dev.index);
  }, "The device's name as its backend reports it (model, architecture, memory).");
  m.def("cuda_kernel_sources", &tl::cuda::static_kernel_sources,
        "(name, CUDA source) of each static CUDA kernel in one configuration: for nvcc checks.");
  m.def("cuda_sources_of_last_plan", [](int sms) {
    std::vector<std::string> out;
    for (const tl::ir::Kernel& k : tl::graph::last_kernels()) out.push_back(tl::cuda::fused_kernel_source(k, sms));
    return out;
  }, py::arg("sms") = 132,
        "The CUDA source of each fused kernel of the last evaluation, as a GPU of `sms` SMs "
        "would compile it (\"\" where the generator cannot print it): for nvcc checks.");
  m.def("cuda_matmul_sources_of_last_plan", [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, slot] : tl::graph::last_epilogues())
      for (auto& s : tl::cuda::matmul_epilogue_kernel_sources(k, slot)) out.push_back(std::move(s));
    return out;
  }, "(name, CUDA source) of the matmul kernels (one configuration of each kind) with each epilogue "
     "of the last evaluation folded in: for nvcc checks.");
  m.def("metal_sources_of_last_plan", [](bool wide) {
    py::list out;
    for (const tl::ir::Kernel& k : tl::graph::last_kernels()) {
      const tl::metal::Program p = tl::metal::fused_program(k, {}, wide);
      py::list bufs, steps;
      for (const auto& b : p.buffers) bufs.append(py::make_tuple(tl::dtype_name(b.dtype), b.written, b.elements));
      for (const auto& s : p.steps) steps.append(py::make_tuple(s.entry, s.grid, s.threadgroup));
      out.append(p.error.empty() ? py::object(py::dict(py::arg("source") = tl::metal::program_source(k, p),
          py::arg("entry") = p.entry, py::arg("key") = p.key, py::arg("grid") = p.launch.grid,
          py::arg("threadgroup") = p.launch.threadgroup, py::arg("buffers") = bufs,
          py::arg("params") = py::bytes(reinterpret_cast<const char*>(p.params.data()), p.params.size()),
          py::arg("steps") = steps, py::arg("scratch_bytes") = p.launch.scratch_bytes))
                                 : py::object(py::str(p.error)));
    }
    return out;
  }, py::arg("wide") = false,
        "Per fused kernel of the last evaluation, what a Metal host runs: {source, entry, key (the launch key "
        "its pipeline is cached by), grid, threadgroup, "
        "buffers: (dtype, written, elements) per slot, then the params bytes at buffer(len(buffers)); steps: "
        "the launches in order, (entry, grid, threadgroup) each (a split reduction: several, all binding a "
        "scratch buffer of scratch_bytes at buffer(len(buffers)) and the params after it)}, or why it cannot "
        "run on Metal. `wide` forces 64-bit index math. For the emulator tests.");
  m.def("fuses_matmul_epilogues", [](py::handle d) {
    return tl::backend_for(to_device(d)).matmul_takes_epilogue();
  }, "Whether the device's matmul applies elementwise consumers of its result in the same kernel.");
  m.def("backend_status", [](const std::string& type) {
    tl::Backend* b = tl::backend_for(Device::parse(type).type);
    if (!b) return std::string("not built");
    if (b->device_count() == 0) return "unavailable: " + b->unavailable_reason();
    return std::string(b->preview() ? "preview" : "available");
  });
}

void bind_memory(py::module_& m) {
  m.def("memory_stats", [](py::handle d) {
    Device dev = to_device(d);
    tl::PoolStats s = tl::backend_for(dev).memory_stats(dev.index);
    py::dict r;
    r["bytes_in_use"] = s.bytes_in_use;
    r["bytes_cached"] = s.bytes_cached;
    r["peak_bytes_in_use"] = s.peak_bytes_in_use;
    r["pool_hits"] = s.pool_hits;
    r["pool_misses"] = s.pool_misses;
    r["system_allocations"] = s.system_allocations;
    r["system_frees"] = s.system_frees;
    r["cache_limit"] = s.cache_limit;
    r["memory_limit"] = s.memory_limit;
    return r;
  }, py::arg("device") = py::none());
  m.def("empty_cache", [](py::handle d) {
    Device dev = to_device(d);
    tl::backend_for(dev).empty_cache(dev.index);
  }, py::arg("device") = py::none());
  m.def("set_memory_limit", [](int64_t bytes, py::handle d) {
    if (bytes < 0) throw tl::Error(tl::ErrorKind::Value, "memory limit must be >= 0");
    Device dev = to_device(d);
    tl::backend_for(dev).set_memory_limit(dev.index, size_t(bytes));
  }, py::arg("bytes"), py::arg("device") = py::none());
}

void bind_profiler(py::module_& m) {
  namespace prof = tl::profiler;
  m.def("profiler_counters", [] {
    prof::Counters c = prof::counters();
    py::dict launches, seconds;
    for (int i = 0; i < prof::kNumKinds; ++i) {
      launches[prof::kind_name(prof::Kind(i))] = c.launches[size_t(i)];
      seconds[prof::kind_name(prof::Kind(i))] = c.seconds[size_t(i)];
    }
    return py::make_tuple(launches, seconds, c.kernels_compiled, c.cache_hits);
  });
  m.def("last_plan", &tl::graph::last_plan);
  m.def("autotune_enabled", &tl::autotune::enabled);
  m.def("set_autotune", &tl::autotune::set_enabled, py::arg("enabled"));
  m.def("autotune_stats", [] {
    const tl::autotune::Stats s = tl::autotune::stats();
    return py::dict(py::arg("memory_hits") = s.memory_hits, py::arg("disk_hits") = s.disk_hits,
                    py::arg("tuned") = s.tuned);
  });
  m.def("profiler_set", [](bool timing, bool recording) {
    prof::set_timing(timing);
    prof::set_recording(recording);
  }, py::arg("timing"), py::arg("recording"));
  m.def("profiler_take_events", [] {
    py::list out;
    for (const prof::Event& e : prof::take_events())
      out.append(py::make_tuple(e.name, prof::kind_name(e.kind), e.device.str(), e.seconds));
    return out;
  });
}

}  // namespace
}  // namespace tlpy

PYBIND11_MODULE(_core, m) {
  using namespace tlpy;
  m.doc() = "tensorlogic native core";
  m.attr("__version__") = TL_VERSION;
  bind_errors(m);
  bind_dtypes(m);
  bind_devices(m);
  bind_memory(m);
  bind_profiler(m);
  bind_tensor(m);
  bind_ops(m);
  bind_reduce_ops(m);
  bind_shape_ops(m);
  bind_cuda(m);
}
