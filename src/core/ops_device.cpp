// Device discovery, the default device and synchronization.
#include <cstdlib>

#include "core/error.h"
#include "core/ops.h"

namespace tl {

std::vector<Device> devices() {
  std::vector<Device> out;
  for (DeviceType t : {DeviceType::CUDA, DeviceType::Metal, DeviceType::CPU}) {
    Backend* b = backend_for(t);
    int n = b ? b->device_count() : 0;
    for (int i = 0; i < n; ++i) out.push_back(Device{t, i});
  }
  return out;
}

Device default_device() {
  if (const char* env = std::getenv("TENSORLOGIC_DEVICE"); env && *env) {
    Device d = Device::parse(env);
    backend_for(d);  // DeviceError when it is absent
    return d;
  }
  for (Device d : devices())
    if (!backend_for(d.type)->preview()) return d;
  return Device{DeviceType::CPU, 0};
}

void synchronize(std::optional<Device> device) {
  if (device) return backend_for(*device).synchronize(device->index);
  for (Device d : devices()) backend_for(d).synchronize(d.index);
}

}  // namespace tl
