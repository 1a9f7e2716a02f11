#pragma once
// The DLPack ABI (v1.0, data layout only, written from the public specification) and
// conversions between it and Tensor. Export shares the buffer; import wraps the producer's
// memory without a copy and calls its deleter when the last tensor using it dies.
#include <cstdint>

#include "core/tensor.h"

extern "C" {
enum TlDLDeviceType : int32_t { kTlDLCPU = 1, kTlDLCUDA = 2, kTlDLMetal = 8 };
struct TlDLDevice {
  int32_t device_type;
  int32_t device_id;
};
enum TlDLTypeCode : uint8_t { kTlDLInt = 0, kTlDLUInt = 1, kTlDLFloat = 2, kTlDLBfloat = 4, kTlDLBool = 6 };
struct TlDLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct TlDLTensor {
  void* data;
  TlDLDevice device;
  int32_t ndim;
  TlDLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; may be null for compact row-major
  uint64_t byte_offset;
};
struct TlDLManagedTensor {
  TlDLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(TlDLManagedTensor* self);
};
}

namespace tl {

TlDLManagedTensor* to_dlpack(const Tensor& x);
// Takes ownership of `m` (its deleter runs when the returned tensor's buffer dies).
Tensor from_dlpack(TlDLManagedTensor* m);
TlDLDevice dlpack_device(const Tensor& x);

}  // namespace tl
