#pragma once
// Tensor: a cheap handle (one shared pointer) to shape, strides (elements), offset, dtype,
// device and either the Buffer holding the data (materialized) or the graph Node that will
// compute it (pending). Views share the Buffer, or the Node, and cost no copy. Reading the
// buffer of a pending tensor evaluates its graph (see core/graph.h). Copies of a Tensor are
// the same tensor.
#include <atomic>
#include <memory>

#include "core/buffer.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace tl {

struct Node;
using NodePtr = std::shared_ptr<Node>;

// How something reads a tensor: its buffer, or a pending node's contiguous output, through a
// view (shape, element strides, offset).
struct Source {
  BufferPtr buffer;  // set when materialized
  NodePtr node;      // set when pending
  Shape shape;
  Strides strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;
};

// What a source reads, whatever its view: its buffer, or the node that computes it. Sources
// with one key share a kernel slot.
inline const void* memory_of(const Source& s) {
  return s.buffer ? static_cast<const void*>(s.buffer.get()) : static_cast<const void*>(s.node.get());
}

class Tensor {
 public:
  Tensor() = default;
  Tensor(BufferPtr buffer, Shape shape, Strides strides, int64_t offset, DType dtype);
  // A pending tensor: a view of `node`'s contiguous output, on `device`.
  Tensor(NodePtr node, Shape shape, Strides strides, int64_t offset, DType dtype, Device device);

  bool defined() const { return bool(impl_); }
  const Shape& shape() const { return impl_->shape; }
  const Strides& strides() const { return impl_->strides; }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->device; }
  // The buffer; computes a pending tensor first.
  const BufferPtr& buffer() const {
    if (!impl_->ready.load(std::memory_order_acquire)) materialize();
    return impl_->buffer;
  }
  bool pending() const { return !impl_->ready.load(std::memory_order_acquire); }
  // The buffer or the pending node, read consistently (another thread may be computing it).
  Source source() const;
  int ndim() const { return int(impl_->shape.size()); }
  int64_t dim(int i) const { return impl_->shape[size_t(i)]; }
  int64_t numel() const { return tl::numel(impl_->shape); }
  int64_t nbytes() const { return numel() * itemsize(dtype()); }
  bool is_contiguous() const { return tl::is_contiguous(shape(), strides()); }
  // Address of element 0, for backends whose memory the host can address.
  void* data_ptr() const {
    return static_cast<char*>(buffer()->data()) + impl_->offset * itemsize(dtype());
  }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }
  // Same buffer seen through other geometry: reading one while writing the other needs a
  // copy first (equal geometry is safe, element i only meets element i).
  bool overlaps_differently(const Tensor& o) const {
    return buffer() == o.buffer() &&
           !(offset() == o.offset() && strides() == o.strides() && shape() == o.shape());
  }

  // A view of the same buffer (or pending node) with new geometry.
  Tensor view(Shape shape, Strides strides, int64_t offset) const;
  // A view with a different dtype of the same size (bitcast), used by copies.
  Tensor with_dtype(DType dtype) const;

 private:
  struct Impl {
    Impl(BufferPtr b, NodePtr n, Shape s, Strides st, int64_t o, DType d, Device dev);
    ~Impl();
    BufferPtr buffer;
    NodePtr node;  // while pending; guarded by the graph mutex
    Shape shape;
    Strides strides;
    int64_t offset;
    DType dtype;
    Device device;
    std::atomic<bool> ready;
  };
  void materialize() const;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tl
