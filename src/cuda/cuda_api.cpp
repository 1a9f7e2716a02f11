#include "cuda/cuda_api.h"

#include <dlfcn.h>

#include <cstdlib>

#include "core/error.h"

namespace tl::cuda {
namespace {

void* open_first(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (n && *n)
      if (void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) return h;
  return nullptr;
}

// Resolves `name` (or, for driver calls whose ABI was versioned, name + "_v2") into fn.
template <class F>
bool bind(void* lib, F& fn, const char* name, bool v2 = false) {
  void* p = v2 ? dlsym(lib, (std::string(name) + "_v2").c_str()) : nullptr;
  if (!p) p = dlsym(lib, name);
  fn = reinterpret_cast<F>(p);
  return p != nullptr;
}

Api load() {
  Api a{};
  void* cu = open_first({"libcuda.so.1", "libcuda.so"});
  if (!cu) {
    a.reason = "no NVIDIA driver (libcuda.so.1 not found)";
    return a;
  }
  void* rtc = open_first({std::getenv("TENSORLOGIC_NVRTC"), "libnvrtc.so", "libnvrtc.so.13",
                          "libnvrtc.so.12"});
  if (!rtc) {
    a.reason = "NVRTC not found (install the nvidia-cuda-nvrtc wheel, e.g. pip install "
               "'tensorlogic[cuda]', or set TENSORLOGIC_NVRTC to libnvrtc.so)";
    return a;
  }
  bool ok = bind(cu, a.cuInit, "cuInit") && bind(cu, a.cuDriverGetVersion, "cuDriverGetVersion") &&
            bind(cu, a.cuDeviceGetCount, "cuDeviceGetCount") && bind(cu, a.cuDeviceGet, "cuDeviceGet") &&
            bind(cu, a.cuDeviceGetName, "cuDeviceGetName") &&
            bind(cu, a.cuDeviceGetAttribute, "cuDeviceGetAttribute") &&
            bind(cu, a.cuDeviceTotalMem, "cuDeviceTotalMem", true) &&
            bind(cu, a.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
            bind(cu, a.cuCtxSetCurrent, "cuCtxSetCurrent") &&
            bind(cu, a.cuCtxSynchronize, "cuCtxSynchronize") &&
            bind(cu, a.cuMemAlloc, "cuMemAlloc", true) && bind(cu, a.cuMemFree, "cuMemFree", true) &&
            bind(cu, a.cuMemGetInfo, "cuMemGetInfo", true) &&
            bind(cu, a.cuMemcpyHtoD, "cuMemcpyHtoD", true) &&
            bind(cu, a.cuMemcpyDtoH, "cuMemcpyDtoH", true) &&
            bind(cu, a.cuMemsetD8, "cuMemsetD8", true) &&
            bind(cu, a.cuGetErrorString, "cuGetErrorString") &&
            bind(cu, a.cuModuleLoadData, "cuModuleLoadData") &&
            bind(cu, a.cuModuleGetFunction, "cuModuleGetFunction") &&
            bind(cu, a.cuLaunchKernel, "cuLaunchKernel");
  ok = ok && bind(cu, a.cuStreamCreate, "cuStreamCreate") &&
       bind(cu, a.cuStreamDestroy, "cuStreamDestroy", true) &&
       bind(cu, a.cuStreamSynchronize, "cuStreamSynchronize") && bind(cu, a.cuStreamQuery, "cuStreamQuery") &&
       bind(cu, a.cuStreamWaitEvent, "cuStreamWaitEvent") && bind(cu, a.cuEventCreate, "cuEventCreate") &&
       bind(cu, a.cuEventRecord, "cuEventRecord") && bind(cu, a.cuEventQuery, "cuEventQuery") &&
       bind(cu, a.cuEventSynchronize, "cuEventSynchronize") &&
       bind(cu, a.cuEventDestroy, "cuEventDestroy", true) &&
       bind(cu, a.cuEventElapsedTime, "cuEventElapsedTime") &&
       bind(cu, a.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync", true) &&
       bind(cu, a.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync", true) &&
       bind(cu, a.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync", true) &&
       bind(cu, a.cuMemsetD8Async, "cuMemsetD8Async") &&
       bind(cu, a.cuMemHostAlloc, "cuMemHostAlloc") && bind(cu, a.cuMemFreeHost, "cuMemFreeHost");
  bind(cu, a.cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled");  // optional (see cuda_api.h)
  bind(cu, a.cuFuncSetAttribute, "cuFuncSetAttribute");
  ok = ok && bind(rtc, a.nvrtcVersion, "nvrtcVersion") &&
       bind(rtc, a.nvrtcCreateProgram, "nvrtcCreateProgram") &&
       bind(rtc, a.nvrtcCompileProgram, "nvrtcCompileProgram") &&
       bind(rtc, a.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize") &&
       bind(rtc, a.nvrtcGetProgramLog, "nvrtcGetProgramLog") &&
       bind(rtc, a.nvrtcGetCUBINSize, "nvrtcGetCUBINSize") && bind(rtc, a.nvrtcGetCUBIN, "nvrtcGetCUBIN") &&
       bind(rtc, a.nvrtcDestroyProgram, "nvrtcDestroyProgram");
  if (!ok) {
    a.reason = "the NVIDIA driver or NVRTC lacks an entry point tensorlogic needs (too old?)";
    return a;
  }
  if (CUresult r = a.cuInit(0); r != CUDA_SUCCESS) {
    const char* msg = nullptr;
    a.cuGetErrorString(r, &msg);
    a.reason = std::string("cuInit failed: ") + (msg ? msg : "unknown error");
    return a;
  }
  a.loaded = true;
  return a;
}

}  // namespace

const Api& api() {
  static const Api a = load();  // never unloaded: buffers may be freed during teardown
  return a;
}

void check(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  const char* msg = nullptr;
  if (api().cuGetErrorString) api().cuGetErrorString(r, &msg);
  throw_device(std::string(what) + " failed: " + (msg ? msg : "CUDA error " + std::to_string(r)));
}

}  // namespace tl::cuda
