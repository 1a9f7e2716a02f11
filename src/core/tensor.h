#pragma once
// Tensor: a cheap handle (one shared pointer) to shape, strides (elements), offset, dtype and
// the device Buffer holding the data. Views share the Buffer and cost no copy. Copies of a
// Tensor are the same tensor.
#include <memory>

#include "core/buffer.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace tl {

class Tensor {
 public:
  Tensor() = default;
  Tensor(BufferPtr buffer, Shape shape, Strides strides, int64_t offset, DType dtype);

  bool defined() const { return bool(impl_); }
  const Shape& shape() const { return impl_->shape; }
  const Strides& strides() const { return impl_->strides; }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->buffer->device(); }
  const BufferPtr& buffer() const { return impl_->buffer; }
  int ndim() const { return int(impl_->shape.size()); }
  int64_t dim(int i) const { return impl_->shape[size_t(i)]; }
  int64_t numel() const { return tl::numel(impl_->shape); }
  int64_t nbytes() const { return numel() * itemsize(dtype()); }
  bool is_contiguous() const { return tl::is_contiguous(shape(), strides()); }
  // Address of element 0, for backends whose memory the host can address.
  void* data_ptr() const {
    return static_cast<char*>(impl_->buffer->data()) + impl_->offset * itemsize(dtype());
  }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }
  // Same buffer seen through other geometry: reading one while writing the other needs a
  // copy first (equal geometry is safe, element i only meets element i).
  bool overlaps_differently(const Tensor& o) const {
    return buffer() == o.buffer() &&
           !(offset() == o.offset() && strides() == o.strides() && shape() == o.shape());
  }

  // A view of the same buffer with new geometry.
  Tensor view(Shape shape, Strides strides, int64_t offset) const;
  // A view with a different dtype of the same size (bitcast), used by copies.
  Tensor with_dtype(DType dtype) const;

 private:
  struct Impl {
    BufferPtr buffer;
    Shape shape;
    Strides strides;
    int64_t offset;
    DType dtype;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace tl
