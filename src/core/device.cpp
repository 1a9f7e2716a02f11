#include "core/device.h"

#include "core/error.h"

namespace tl {

const char* device_type_name(DeviceType t) {
  switch (t) {
    case DeviceType::CPU:
      return "cpu";
    case DeviceType::CUDA:
      return "cuda";
    case DeviceType::Metal:
      return "metal";
  }
  return "?";
}

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return std::string(device_type_name(type)) + ":" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  std::string kind = s, idx;
  if (auto colon = s.find(':'); colon != std::string::npos) {
    kind = s.substr(0, colon);
    idx = s.substr(colon + 1);
  }
  Device d;
  if (kind == "cpu") d.type = DeviceType::CPU;
  else if (kind == "cuda" || kind == "gpu") d.type = DeviceType::CUDA;
  else if (kind == "metal" || kind == "mps") d.type = DeviceType::Metal;
  else throw_value("unknown device '" + s + "' (expected cpu, cuda[:N] or metal[:N])");
  if (!idx.empty()) {
    if (idx.empty() || idx.size() > 6 || idx.find_first_not_of("0123456789") != std::string::npos)
      throw_value("bad device index in '" + s + "'");
    d.index = std::stoi(idx);
  }
  return d;
}

}  // namespace tl
