// tl.cuda's streams and events (python/tensorlogic/_cuda.py wraps them): thin bindings of
// src/cuda/cuda_stream.h. Without CUDA every entry point raises tl.DeviceError.
#include <pybind11/stl.h>

#include <cstdio>
#include <vector>

#include "core/error.h"
#include "core/graph.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_stream.h"
#include "python/convert.h"

namespace tlpy {
namespace {

using tl::cuda::Event;
using tl::cuda::Stream;
using tl::cuda::StreamPtr;

// The CUDA device index of `d` (None: cuda:0).
int cuda_index(py::handle d) {
  if (d.is_none()) return 0;
  const Device dev = py::isinstance<py::int_>(d) ? Device{tl::DeviceType::CUDA, d.cast<int>()} : to_device(d);
  if (dev.type != tl::DeviceType::CUDA) throw tl::Error(tl::ErrorKind::Value, "not a CUDA device: " + dev.str());
  return dev.index;
}

// The streams a `with stream:` block replaced, innermost last (per thread).
thread_local std::vector<StreamPtr> t_entered;

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#zx", size_t(p));
  return buf;
}

}  // namespace

void bind_cuda(py::module_& m) {
  py::class_<Stream, StreamPtr>(m, "CudaStream",
                                "A CUDA stream: work evaluated while it is current (`with s:` or "
                                "`with tl.cuda.stream(s):`) is queued on it.")
      .def(py::init([](py::handle device) { return Stream::create(cuda_index(device)); }),
           py::arg("device") = py::none())
      .def_property_readonly("device", [](const Stream& s) { return Device{tl::DeviceType::CUDA, s.device()}; })
      .def_property_readonly("cuda_stream", [](const Stream& s) { return uintptr_t(s.handle()); },
                             "The raw CUstream handle (as an int).")
      .def_property_readonly("ptr", [](const Stream& s) { return uintptr_t(s.handle()); })
      .def("query", &Stream::query, "Whether all work queued on the stream has completed.")
      .def("synchronize", [](const Stream& s) {
        nogil([&] {
          tl::graph::flush();
          s.synchronize();
        });
      }, "Evaluates pending work, then waits until the stream's work has completed.")
      .def("wait_stream", [](const Stream& s, const Stream& other) {
        nogil([&] {
          tl::graph::flush();
          s.wait_stream(other);
        });
      }, py::arg("stream"), "Work queued on this stream from now on runs after the work queued on `stream` so far "
                            "(no host wait).")
      .def("wait_event", [](const Stream& s, const Event& e) { e.wait(s); }, py::arg("event"))
      .def("record_event", [](const Stream& s, py::handle event) {
        std::shared_ptr<Event> e = event.is_none() ? std::make_shared<Event>(s.device(), false)
                                                   : event.cast<std::shared_ptr<Event>>();
        nogil([] { tl::graph::flush(); });
        e->record(s);
        return e;
      }, py::arg("event") = py::none())
      .def("__enter__", [](const StreamPtr& s) {
        t_entered.push_back(nogil([&] { return tl::cuda::enter_stream(s->device(), s); }));
        return s;
      })
      .def("__exit__", [](const StreamPtr& s, py::args) {
        if (t_entered.empty()) return;
        StreamPtr previous = std::move(t_entered.back());
        t_entered.pop_back();
        nogil([&] { tl::cuda::leave_stream(s->device(), std::move(previous)); });
      })
      .def("__eq__", [](const Stream& a, py::handle b) {
        return py::isinstance<Stream>(b) && a.handle() == b.cast<const Stream&>().handle();
      })
      .def("__hash__", [](const Stream& s) { return py::hash(py::int_(uintptr_t(s.handle()))); })
      .def("__repr__", [](const Stream& s) {
        return "<tensorlogic.cuda.Stream cuda:" + std::to_string(s.device()) + " " + hex(s.handle()) +
               (s.is_default() ? " (default)>" : ">");
      });

  py::class_<Event, std::shared_ptr<Event>>(m, "CudaEvent", "A CUDA event: a point in a stream's work.")
      .def(py::init([](bool enable_timing, py::handle device) {
             return std::make_shared<Event>(cuda_index(device), enable_timing);
           }),
           py::arg("enable_timing") = false, py::arg("device") = py::none())
      .def("record", [](Event& e, py::handle stream) {
        nogil([] { tl::graph::flush(); });
        e.record(stream.is_none() ? tl::cuda::current_stream(e.device()) : stream.cast<const Stream&>());
      }, py::arg("stream") = py::none(), "Records the event on `stream` (default: the current stream).")
      .def("query", &Event::query, "Whether the work before the last record has completed.")
      .def("synchronize", [](const Event& e) { nogil([&] { e.synchronize(); }); })
      .def("wait", [](const Event& e, py::handle stream) {
        e.wait(stream.is_none() ? tl::cuda::current_stream(e.device()) : stream.cast<const Stream&>());
      }, py::arg("stream") = py::none(), "Work queued on `stream` (default: current) from now on runs after the event.")
      .def("elapsed_time", [](const Event& e, const Event& end) { return e.elapsed_ms(end); }, py::arg("end_event"),
           "Milliseconds between this event and `end_event` (both recorded, made with enable_timing=True).")
      .def_property_readonly("device", [](const Event& e) { return Device{tl::DeviceType::CUDA, e.device()}; })
      .def("__repr__", [](const Event& e) {
        return "<tensorlogic.cuda.Event cuda:" + std::to_string(e.device()) + " " + hex(e.handle()) + ">";
      });

  m.def("cuda_current_stream", [](py::handle device) { return tl::cuda::current_stream_ptr(cuda_index(device)); },
        py::arg("device") = py::none());
  m.def("cuda_default_stream", [](py::handle device) { return tl::cuda::default_stream_ptr(cuda_index(device)); },
        py::arg("device") = py::none());

  // Tensor.record_stream(s): the tensor's memory is not reused before the work queued on s
  // (when the tensor dies) has completed.
  py::object tensor = m.attr("Tensor");
  tensor.attr("record_stream") = py::cpp_function(
      [](const Tensor& t, const StreamPtr& s) {
        if (t.device().type != tl::DeviceType::CUDA)
          throw tl::Error(tl::ErrorKind::Value, "record_stream: the tensor is on " + t.device().str() + ", not CUDA");
        tl::BufferPtr b = nogil([&] { return t.buffer(); });  // evaluates it if pending
        tl::cuda::record_stream(*b, s);
      },
      py::is_method(tensor), py::arg("stream"),
      "Marks the tensor as used on `stream`: its memory is reused only after the work queued there "
      "before the tensor is freed has completed.");
}

}  // namespace tlpy
