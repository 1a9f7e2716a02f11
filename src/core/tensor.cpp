#include "core/tensor.h"

namespace tl {

Tensor::Tensor(BufferPtr buffer, Shape shape, Strides strides, int64_t offset, DType dtype)
    : impl_(std::make_shared<Impl>(
          Impl{std::move(buffer), std::move(shape), std::move(strides), offset, dtype})) {}

Tensor Tensor::view(Shape shape, Strides strides, int64_t offset) const {
  (void)tl::numel(shape);  // a broadcast view may not claim more than 2^63 elements
  return Tensor(impl_->buffer, std::move(shape), std::move(strides), offset, impl_->dtype);
}

Tensor Tensor::with_dtype(DType dtype) const {
  return Tensor(impl_->buffer, impl_->shape, impl_->strides, impl_->offset, dtype);
}

}  // namespace tl
