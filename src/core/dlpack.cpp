#include "core/dlpack.h"

#include "core/backend.h"
#include "core/error.h"
#include "core/graph.h"

namespace tl {
namespace {

struct ExportCtx {
  Tensor tensor;  // keeps the buffer alive
  Shape shape;
  Strides strides;
  TlDLManagedTensor managed;
};

TlDLDataType to_dl(DType t) {
  uint8_t bits = uint8_t(itemsize(t) * 8);
  switch (t) {
    case DType::Bool: return {kTlDLBool, 8, 1};
    case DType::Int8: case DType::Int32: case DType::Int64: return {kTlDLInt, bits, 1};
    case DType::UInt8: return {kTlDLUInt, 8, 1};
    case DType::BFloat16: return {kTlDLBfloat, 16, 1};
    default: return {kTlDLFloat, bits, 1};
  }
}

DType from_dl(TlDLDataType t) {
  if (t.lanes != 1) throw_type("DLPack: vector types (lanes != 1) are not supported");
  switch (t.code) {
    case kTlDLBool: if (t.bits == 8) return DType::Bool; break;
    case kTlDLInt:
      if (t.bits == 8) return DType::Int8;
      if (t.bits == 32) return DType::Int32;
      if (t.bits == 64) return DType::Int64;
      break;
    case kTlDLUInt: if (t.bits == 8) return DType::UInt8; break;
    case kTlDLFloat:
      if (t.bits == 16) return DType::Float16;
      if (t.bits == 32) return DType::Float32;
      if (t.bits == 64) return DType::Float64;
      break;
    case kTlDLBfloat: if (t.bits == 16) return DType::BFloat16; break;
  }
  throw_type("DLPack: unsupported dtype (code " + std::to_string(t.code) + ", " +
             std::to_string(t.bits) + " bits)");
}

}  // namespace

TlDLDevice dlpack_device(const Tensor& x) {
  switch (x.device().type) {
    case DeviceType::CPU: return {kTlDLCPU, 0};
    case DeviceType::CUDA: return {kTlDLCUDA, x.device().index};
    case DeviceType::Metal: return {kTlDLMetal, x.device().index};
  }
  return {kTlDLCPU, 0};
}

TlDLManagedTensor* to_dlpack(const Tensor& x) {
  auto* ctx = new ExportCtx{x, x.shape(), x.strides(), {}};
  TlDLTensor& t = ctx->managed.dl_tensor;
  // The consumer reads (and may write) the memory in place: a host-visible device must be
  // done with it first. Other devices order their work by DLPack's stream protocol.
  if (Backend& be = backend_for(x.device()); be.host_visible()) be.before_host_access(*x.buffer());
  t.data = x.buffer()->data();
  t.device = dlpack_device(x);
  t.ndim = x.ndim();
  t.dtype = to_dl(x.dtype());
  t.shape = ctx->shape.data();
  t.strides = ctx->strides.data();
  t.byte_offset = uint64_t(x.offset() * itemsize(x.dtype()));
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = [](TlDLManagedTensor* self) {
    delete static_cast<ExportCtx*>(self->manager_ctx);
  };
  return &ctx->managed;
}

Tensor from_dlpack(TlDLManagedTensor* m) {
  const TlDLTensor& t = m->dl_tensor;
  Device dev;
  try {
    if (t.device.device_type == kTlDLCPU) dev = Device{DeviceType::CPU, 0};
    else if (t.device.device_type == kTlDLCUDA) dev = Device{DeviceType::CUDA, t.device.device_id};
    else if (t.device.device_type == kTlDLMetal) dev = Device{DeviceType::Metal, t.device.device_id};
    else throw_device("DLPack: unsupported device type " + std::to_string(t.device.device_type));
    DType dtype = from_dl(t.dtype);
    Shape shape(t.shape, t.shape + t.ndim);
    Strides strides = t.strides ? Strides(t.strides, t.strides + t.ndim) : contiguous_strides(shape);
    if (t.byte_offset % uint64_t(itemsize(dtype)))
      throw_value("DLPack: byte_offset is not a multiple of the element size");
    // (The producer's deleter may take Python's GIL: never under the graph's lock.)
    auto buf = std::make_shared<Buffer>(t.data, 0, dev, [m] {
      graph::after_unlock([m] {
        if (m->deleter) m->deleter(m);
      });
    });
    return Tensor(std::move(buf), shape, strides, int64_t(t.byte_offset) / itemsize(dtype), dtype);
  } catch (...) {
    if (m->deleter) m->deleter(m);
    throw;
  }
}

}  // namespace tl
