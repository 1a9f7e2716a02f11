#include "core/tensor.h"


#include "core/graph.h"

namespace tl {

Tensor::Impl::Impl(BufferPtr b, NodePtr n, Shape s, Strides st, int64_t o, DType d, Device dev)
    : buffer(std::move(b)), node(std::move(n)), shape(std::move(s)), strides(std::move(st)),
      offset(o), dtype(d), device(dev), ready(node == nullptr) {
  if (node) node->handles.fetch_add(1, std::memory_order_relaxed);
}

Tensor::Impl::~Impl() {
  if (node) node->handles.fetch_sub(1, std::memory_order_relaxed);
}

Tensor::Tensor(BufferPtr buffer, Shape shape, Strides strides, int64_t offset, DType dtype) {
  Device dev = buffer->device();
  impl_ = std::make_shared<Impl>(std::move(buffer), nullptr, std::move(shape), std::move(strides),
                                 offset, dtype, dev);
}

Tensor::Tensor(NodePtr node, Shape shape, Strides strides, int64_t offset, DType dtype,
               Device device)
    : impl_(std::make_shared<Impl>(nullptr, std::move(node), std::move(shape), std::move(strides),
                                   offset, dtype, device)) {}

void Tensor::materialize() const {
  graph::Lock lock;
  if (impl_->ready.load(std::memory_order_relaxed)) return;
  graph::compute(impl_->node);
  impl_->buffer = impl_->node->result;
  impl_->node->handles.fetch_sub(1, std::memory_order_relaxed);
  impl_->node.reset();
  impl_->ready.store(true, std::memory_order_release);
}

Source Tensor::source() const {
  if (!pending()) return {impl_->buffer, nullptr, shape(), strides(), offset(), dtype()};
  graph::Lock lock;
  if (!pending()) return {impl_->buffer, nullptr, shape(), strides(), offset(), dtype()};
  return {nullptr, impl_->node, shape(), strides(), offset(), dtype()};
}

Tensor Tensor::view(Shape shape, Strides strides, int64_t offset) const {
  (void)tl::numel(shape);  // a broadcast view may not claim more than 2^63 elements
  Source s = source();
  if (s.node) return Tensor(std::move(s.node), std::move(shape), std::move(strides), offset, dtype(), device());
  return Tensor(std::move(s.buffer), std::move(shape), std::move(strides), offset, impl_->dtype);
}

Tensor Tensor::with_dtype(DType dtype) const {
  return Tensor(buffer(), impl_->shape, impl_->strides, impl_->offset, dtype);
}

}  // namespace tl
