#pragma once
// The lazy graph. Ops record a Node (shape and dtype already inferred and checked) and return
// a pending Tensor; the graph is cut into kernels by the planner (core/planner.h) and run when
// a value is needed: a buffer is read, tl.eval, a write into memory that a pending node reads,
// or a graph past its size bound. Computed nodes drop their inputs, so the graph is released.
#include <atomic>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/fusion_ir.h"
#include "core/tensor.h"

namespace tl {

enum class NodeKind : uint8_t { Const, Elementwise, Reduce, Matmul };

struct Node {
  NodeKind kind;
  Shape shape;  // the output, contiguous
  DType dtype;
  Device device;
  OpCode op{};                 // Elementwise
  DType compute{};             // Elementwise: the type it computes in
  ReduceOp rop{};              // Reduce: over `axes` of inputs[0] (sorted; no keepdims)
  std::vector<int> axes;
  MatmulPrecision precision{};  // Matmul: float32 products' precision when it was recorded
  Scalar value{};              // Const
  std::vector<Source> inputs;  // each read with the node's own shape (Reduce: the input's)
  BufferPtr result;            // set once computed
  std::atomic<int> handles{0};    // live Tensors of this node: their values must be stored
  std::atomic<int> consumers{0};  // pending nodes reading this one
  int64_t pending = 1;            // pending nodes below and including this one (bounded)

  ~Node();
  void release_inputs();  // after computing: the graph below is no longer needed
};

namespace graph {

// Largest pending graph an op may leave behind before it is evaluated.
constexpr int64_t kMaxPending = 512;

// Holds the graph's (recursive) lock. When a thread's outermost Lock lets go, it runs what
// after_unlock deferred.
class Lock {
 public:
  Lock();
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
};
// Runs f now where the calling thread holds no Lock, else once its outermost Lock lets go: for
// work that must not wait under the graph's lock. A foreign DLPack deleter (NumPy's, CuPy's)
// takes Python's GIL, which a thread waiting for the graph's lock may hold.
void after_unlock(std::function<void()> f);

// A pending tensor for a new node (contiguous view of its output). Evaluates at once when
// fusion is off or the graph is past its bound.
Tensor record(NodePtr node);
// A pending 0-d constant: folded into the kernels that read it.
Tensor constant(const Scalar& value, DType dtype, Device device);

// Computes the node (and whatever pending graph it needs) into node->result.
void compute(const NodePtr& node);
// Computes several tensors in one plan.
void evaluate(std::span<const Tensor> tensors);
// Computes every pending tensor a live handle holds.
void flush();
// Before writing into `buffer`: a pending node that still reads it must see the old values.
void before_write(const Buffer& buffer);

bool fusion_enabled();  // TENSORLOGIC_NO_FUSION=1 turns it off at start
void set_fusion(bool on);

// A readable description of how the last evaluation was cut into kernels.
std::string last_plan();
// The fused kernels of the last evaluation (matmul epilogues included): for tests that
// print them for another backend.
std::vector<ir::Kernel> last_kernels();
// The matmul epilogues of the last evaluation: each kernel and the product's slot in it.
std::vector<std::pair<ir::Kernel, int>> last_epilogues();

}  // namespace graph
}  // namespace tl
