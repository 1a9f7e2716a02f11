#pragma once
// The public C++ API: every op infers and checks shapes and dtypes at the call site, then
// calls the device's backend. Python's `tensorlogic` module binds these one to one.
#include <optional>
#include <variant>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace tl {

using Operand = std::variant<Tensor, Scalar>;
using Axes = std::optional<std::vector<int64_t>>;  // nullopt: all axes

// ---- creation and transfer (ops_creation.cpp) ----
Tensor empty(const Shape& shape, DType dtype, Device device);
Tensor full(const Shape& shape, const Scalar& value, DType dtype, Device device);
Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device);
Tensor scalar_tensor(const Scalar& value, DType dtype, Device device);  // 0-d
Tensor arange(double start, double stop, double step, DType dtype, Device device);
Tensor linspace(double start, double stop, int64_t num, bool endpoint, DType dtype, Device device);
Tensor eye(int64_t n, int64_t m, int64_t k, DType dtype, Device device);
Tensor to_device(const Tensor& x, Device device);
Tensor astype(const Tensor& x, DType dtype);  // always a new tensor
Tensor contiguous(const Tensor& x);           // x itself when already contiguous
Tensor copy(const Tensor& x);
// dst[...] = src, broadcasting src to dst's shape and casting to dst's dtype.
void copy_into(const Tensor& dst, const Operand& src);
// Writes x's elements in row-major order, contiguous, to host memory.
void to_host(const Tensor& x, void* dst);
// The host address of x's first element (x materialized, strides as x's), valid for reading
// and writing in place once this returns: its device has finished all work on the memory
// (Backend::before_host_access). nullptr when the device's memory is not host-visible: go
// through to_host/from_host then. Core and the bindings reach a tensor's bytes through it
// (DLPack export, which hands out the buffer's base address, calls the hook itself).
void* host_data(const Tensor& x);

// ---- elementwise (ops_elementwise.cpp) ----
DType result_dtype(OpCode op, std::span<const DType> operand_dtypes);
Tensor unary(OpCode op, const Tensor& x);
Tensor binary(OpCode op, const Operand& a, const Operand& b);
Tensor where(const Operand& cond, const Operand& x, const Operand& y);
Tensor clip(const Tensor& x, const std::optional<Operand>& lo, const std::optional<Operand>& hi);
// x = op(x, b) in place (x's dtype must hold the result: TypeError otherwise).
void binary_inplace(OpCode op, const Tensor& x, const Operand& b);

// ---- reductions and scans (ops_reduce.cpp) ----
// sum/prod of bool and integers give int64; mean of integers gives float32.
Tensor reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims);
Tensor mean(const Tensor& x, const Axes& axes, bool keepdims);
Tensor var(const Tensor& x, const Axes& axes, double correction, bool keepdims);
Tensor std_(const Tensor& x, const Axes& axes, double correction, bool keepdims);
Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdims);
// axis nullopt: over the flattened tensor.
Tensor argreduce(ReduceOp op, const Tensor& x, std::optional<int64_t> axis, bool keepdims);
Tensor scan(ScanOp op, const Tensor& x, std::optional<int64_t> axis);
Tensor softmax(const Tensor& x, int64_t axis);
Tensor log_softmax(const Tensor& x, int64_t axis);

// ---- linear algebra (ops_linalg.cpp) ----
Tensor matmul(const Tensor& a, const Tensor& b);
// The precision float32 matmuls recorded from now on may run at (process-wide, like
// PyTorch's torch.set_float32_matmul_precision); Highest at start.
void set_float32_matmul_precision(MatmulPrecision p);
MatmulPrecision float32_matmul_precision();

// ---- shape ops: views where possible (ops_shape.cpp) ----
Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape);  // one -1 allowed; copies
                                                                      // only when no view fits
Tensor permute_dims(const Tensor& x, const std::vector<int64_t>& axes);
Tensor transpose(const Tensor& x);  // reverses all axes (x.T)
Tensor matrix_transpose(const Tensor& x);  // swaps the last two (x.mT)
Tensor swapaxes(const Tensor& x, int64_t a, int64_t b);
Tensor moveaxis(const Tensor& x, int64_t src, int64_t dst);
Tensor expand_dims(const Tensor& x, const std::vector<int64_t>& axes);
Tensor squeeze(const Tensor& x, const Axes& axes);
Tensor broadcast_to(const Tensor& x, const Shape& shape);
std::vector<Tensor> broadcast_tensors(const std::vector<Tensor>& xs);
Tensor flatten(const Tensor& x);
Tensor flip(const Tensor& x, const Axes& axes);
Tensor diagonal(const Tensor& x, int64_t offset, int64_t axis1, int64_t axis2);
Tensor slice(const Tensor& x, int axis, int64_t start, int64_t stop, int64_t step);  // normalized
Tensor concat(const std::vector<Tensor>& xs, std::optional<int64_t> axis);  // nullopt: flatten
Tensor stack(const std::vector<Tensor>& xs, int64_t axis);
// Split into `sections` equal parts, or at the given indices.
std::vector<Tensor> split(const Tensor& x, const std::variant<int64_t, std::vector<int64_t>>& how,
                          int64_t axis);
Tensor tile(const Tensor& x, const std::vector<int64_t>& reps);
Tensor repeat(const Tensor& x, const std::variant<int64_t, Tensor>& repeats,
              std::optional<int64_t> axis);
// pad_width: (before, after) per axis; constant mode.
Tensor pad(const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& pad_width,
           const Scalar& value);
Tensor tril(const Tensor& x, int64_t k);
Tensor triu(const Tensor& x, int64_t k);

// ---- indexing (ops_index.cpp) ----
struct IndexItem {
  enum class Kind : uint8_t { Int, Slice, NewAxis, Ellipsis, Array } kind;
  int64_t i = 0;                                // Int
  std::optional<int64_t> start, stop, step;     // Slice
  Tensor array;                                 // Array: integer or bool tensor
};
Tensor index(const Tensor& x, const std::vector<IndexItem>& key);
void index_put(const Tensor& x, const std::vector<IndexItem>& key, const Operand& value);
Tensor take(const Tensor& x, const Tensor& indices, std::optional<int64_t> axis);
Tensor nonzero_flat(const Tensor& mask);  // int64 flat indices of true elements

// ---- random: one Philox stream, the same on every backend (ops_random.cpp) ----
void random_seed(uint64_t seed);
Tensor random_uniform(double low, double high, const Shape& shape, DType dtype, Device device);
Tensor random_normal(double loc, double scale, const Shape& shape, DType dtype, Device device);
Tensor random_randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Device device);
Tensor random_permutation(int64_t n, DType dtype, Device device);

// ---- devices and memory (ops_device.cpp) ----
std::vector<Device> devices();          // every device present, best first
Device default_device();               // TENSORLOGIC_DEVICE, else the best present
void synchronize(std::optional<Device> device);

}  // namespace tl
