#pragma once
// A device is a backend type plus an index. Backends register themselves in the registry;
// src/core never includes a backend header.
#include <cstdint>
#include <string>

namespace tl {

enum class DeviceType : uint8_t { CPU, CUDA, Metal };
constexpr int kNumDeviceTypes = 3;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string str() const;  // "cpu", "cuda:0", "metal"
  static Device parse(const std::string& s);  // ValueError for an unknown name
};

const char* device_type_name(DeviceType t);

}  // namespace tl
