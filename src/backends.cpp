// The backends compiled into this library. The only place that knows them all, so that
// src/core includes no backend header.
#include "core/backend.h"
#include "core/error.h"
#include "cpu/cpu_backend.h"
#include "cuda/cuda_backend.h"
#if TL_HAVE_METAL
#include "metal/metal_backend.h"
#endif

namespace tl {

Backend* backend_for(DeviceType type) {
  switch (type) {
    case DeviceType::CPU:
      return &cpu::cpu_backend();
    case DeviceType::CUDA:
      return &cuda::cuda_backend();
    case DeviceType::Metal:
#if TL_HAVE_METAL
      return &metal::metal_backend();
#else
      return nullptr;  // built on Apple platforms only (CMake option TL_METAL)
#endif
  }
  return nullptr;
}

Backend& backend_for(Device device) {
  Backend* b = backend_for(device.type);
  if (!b)
    throw_device(std::string("the ") + device_type_name(device.type) +
                 " backend is not built into this version of tensorlogic");
  int n = b->device_count();
  if (n == 0)
    throw_device(std::string(device_type_name(device.type)) + " is unavailable: " +
                 b->unavailable_reason());
  if (device.index < 0 || device.index >= n)
    throw_device("device " + device.str() + " does not exist (" + std::to_string(n) + " present)");
  return *b;
}

}  // namespace tl
