// Host side of the static kernels: parameter blocks laid out as the .metal structs declare
// them, merged dims for strided walks, and the launch geometry of each kernel.
#include "metal/metal_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "metal/metal_device.h"
#include "metal/metal_sources.h"

namespace tl::metal {
namespace {

// The .metal parameter structs, byte for byte.
struct GatherParams {
  uint32_t rank, serial_rank, scatter, unused;
  uint64_t parallel, serial;
  int64_t offset[3];
};
struct ScanParams {
  uint32_t rank, prod;
  uint64_t n;
  int64_t in_offset, out_offset, in_stride, out_stride;
};
struct ArgParams {
  uint32_t rank, argmin;
  uint64_t n;
  int64_t axis_stride, in_offset, out_offset;
};
struct RandomParams {
  uint64_t n, seed, counter;
  float scale, shift, bound;
  uint32_t normal;
  int64_t low;
  uint64_t range;
};
struct MatmulParams {
  uint32_t M, N, K, lda, ldb, ldc, ldc_col, z0;
  int64_t batch_a, batch_b, batch_c;
  uint32_t vec_flags, pad;
};
static_assert(sizeof(GatherParams) == 56 && sizeof(ScanParams) == 48 && sizeof(ArgParams) == 40 &&
              sizeof(RandomParams) == 56 && sizeof(MatmulParams) == 64);

template <class T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

// A walk's `dims` block: the merged shape, then each operand's strides over it.
std::vector<uint8_t> dims_of(const MergedDims& m) {
  std::vector<int64_t> v(m.shape.begin(), m.shape.end());
  for (size_t j = 0; j < m.strides[0].size(); ++j)
    for (size_t d = 0; d < m.shape.size(); ++d) v.push_back(m.strides[d][j]);
  std::vector<uint8_t> b(v.size() * sizeof(int64_t));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

const char* suffix(DType t) {
  switch (t) {
    case DType::Float32: return "f32";
    case DType::Float16: return "f16";
    case DType::BFloat16: return "bf16";
    case DType::Int8: return "i8";
    case DType::UInt8: return "u8";
    case DType::Int32: return "i32";
    case DType::Int64: return "i64";
    case DType::Bool: return "bool";
    case DType::Float64: break;
  }
  throw_type("Metal has no float64 kernels");
}

std::vector<int> all_but(int ndim, int axis) {
  std::vector<int> dims;
  for (int d = 0; d < ndim; ++d)
    if (d != axis) dims.push_back(d);
  return dims;
}

uint32_t u32(int64_t v, const char* what) {
  if (v < 0 || v > int64_t(std::numeric_limits<uint32_t>::max()))
    throw_value(std::string("Metal: ") + what + " of " + std::to_string(v) + " exceeds the grid");
  return uint32_t(v);
}

// Threads of a one-dimensional grid-stride launch: enough for n, capped (threads stride past).
MTLSize grid_threads(int64_t n) { return MTLSizeMake(NSUInteger(std::min<int64_t>(n, int64_t(1) << 30)), 1, 1); }

}  // namespace

void argreduce(MetalDevice& d, ReduceOp op, const Tensor& in, int axis, const Tensor& out) {
  Strides out_st = out.strides();
  out_st.insert(out_st.begin() + axis, 0);
  const MergedDims kept = merge_dims(in.shape(), all_but(in.ndim(), axis), {&in.strides(), &out_st});
  const int64_t outputs = numel(kept.shape), n = in.dim(axis);
  if (outputs == 0) return;
  uint32_t threads = 32;
  while (threads < n && threads < 256) threads *= 2;  // a power of two for the tree
  const ArgParams p{uint32_t(kept.shape.size()), op == ReduceOp::ArgMin, uint64_t(n),
                    in.strides()[size_t(axis)], in.offset(), out.offset()};
  const std::string fn = std::string("argreduce_") + suffix(in.dtype());
  d.launch({d.pipeline(sources::kArgReduce, fn), fn, {{in.buffer().get()}, {out.buffer().get()}},
            {bytes_of(p), dims_of(kept)}, MTLSizeMake(u32(outputs, "outputs"), 1, 1),
            MTLSizeMake(threads, 1, 1)});
}

void scan(MetalDevice& d, ScanOp op, const Tensor& in, int axis, const Tensor& out) {
  const DType want = is_float(in.dtype()) ? in.dtype() : DType::Int64;
  if (out.dtype() != want)
    throw_type(std::string("Metal scan: ") + dtype_name(in.dtype()) + " scans into " +
               dtype_name(want) + ", not " + dtype_name(out.dtype()));
  const MergedDims lines = merge_dims(in.shape(), all_but(in.ndim(), axis), {&in.strides(), &out.strides()});
  const int64_t count = numel(lines.shape), n = in.dim(axis);
  if (count == 0 || n == 0) return;
  const ScanParams p{uint32_t(lines.shape.size()), op == ScanOp::CumProd, uint64_t(n), in.offset(),
                     out.offset(), in.strides()[size_t(axis)], out.strides()[size_t(axis)]};
  const std::string fn = std::string("scan_") + suffix(in.dtype());
  d.launch({d.pipeline(sources::kScan, fn), fn, {{in.buffer().get()}, {out.buffer().get()}},
            {bytes_of(p), dims_of(lines)}, MTLSizeMake(u32(count, "lines"), 1, 1),
            MTLSizeMake(256, 1, 1)});  // kScanThreads
}

void gather(MetalDevice& d, const Tensor& indexed, int split, const Tensor& offsets,
            const Tensor& dense, bool scatter) {
  if (dense.numel() == 0) return;
  // Each operand's strides over the dense domain (P..., I..., Q...).
  const size_t s = size_t(split), ni = size_t(offsets.ndim()), nd = size_t(dense.ndim());
  Strides ist(nd, 0), ost(nd, 0);
  for (size_t k = 0; k < s; ++k) ist[k] = indexed.strides()[k];
  for (size_t k = s; k < size_t(indexed.ndim()); ++k) ist[k + ni] = indexed.strides()[k];
  for (size_t k = 0; k < ni; ++k) ost[s + k] = offsets.strides()[k];
  std::vector<int> pq, i, all;
  for (size_t k = 0; k < nd; ++k) {
    (k >= s && k < s + ni ? i : pq).push_back(int(k));
    all.push_back(int(k));
  }
  const std::vector<const Strides*> ops{&ist, &ost, &dense.strides()};
  // A scatter walks I in order in each thread, so that the last of repeated writes wins.
  const MergedDims parallel = merge_dims(dense.shape(), scatter ? pq : all, ops);
  const MergedDims serial = merge_dims(dense.shape(), scatter ? i : std::vector<int>{}, ops);
  const GatherParams p{uint32_t(parallel.shape.size()), uint32_t(serial.shape.size()), scatter, 0,
                       uint64_t(numel(parallel.shape)), uint64_t(numel(serial.shape)),
                       {indexed.offset(), offsets.offset(), dense.offset()}};
  const std::string fn = "gather_x" + std::to_string(itemsize(dense.dtype()) * 8);
  d.launch({d.pipeline(sources::kGather, fn), fn,
            {{indexed.buffer().get()}, {offsets.buffer().get()}, {dense.buffer().get()}},
            {bytes_of(p), dims_of(parallel), dims_of(serial)}, grid_threads(numel(parallel.shape)),
            MTLSizeMake(256, 1, 1), true});
}

void random(MetalDevice& d, RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
            const Tensor& out) {
  const DType t = out.dtype();
  const bool want_float = dist != RandomDist::Bits;
  if (t == DType::Bool || want_float != is_float(t))
    throw_type(std::string("random: cannot draw ") + (want_float ? "floats" : "integers") +
               " into a " + dtype_name(t) + " tensor");
  const int64_t n = out.numel();
  if (n == 0) return;
  RandomParams p{uint64_t(n), seed, counter, 0, 0, 0, 0, 0, 0};
  if (dist == RandomDist::Normal) {
    p.scale = float(b), p.shift = float(a), p.normal = 1;
  } else if (dist == RandomDist::Uniform) {
    p.scale = float(b - a), p.shift = float(a);
    // The smallest float >= b: a float value is >= b exactly when it is >= this.
    p.bound = float(b);
    if (double(p.bound) < b) p.bound = std::nextafter(p.bound, std::numeric_limits<float>::infinity());
  } else {
    p.low = int64_t(a);
    p.range = uint64_t(int64_t(b)) - uint64_t(p.low);
  }
  const std::string fn = std::string("random_") + suffix(t);
  d.launch({d.pipeline(sources::kRandom, fn), fn,
            {{out.buffer().get(), size_t(out.offset() * itemsize(t))}}, {bytes_of(p)},
            grid_threads(n), MTLSizeMake(256, 1, 1), true});
}

void matmul(MetalDevice& d, const MatmulPlan& plan, const Tensor& a, const Tensor& b, const Tensor& c,
            const EpilogueProgram* ep, const Epilogue* epilogue) {
  const char* const library = plan.gemv ? sources::kGemv : sources::kMatmul;  // metal/<plan.library()>.metal
  const id<MTLComputePipelineState> pipeline =
      ep ? d.fused_pipeline(ep->key, ep->entry,
                            [&] { return epilogue_program_source(library, epilogue->kernel, epilogue->acc_slot, plan, *ep); })
         : d.pipeline(library, plan.kernel);
  const std::string name = ep ? plan.kernel + "+" + epilogue->kernel.name() : plan.kernel;
  if (ep) {
    if (epilogue->bindings.size() != ep->buffers.size())
      throw_value("Metal kernel " + name + ": " + std::to_string(epilogue->bindings.size()) +
                  " buffers bound to an epilogue of " + std::to_string(ep->buffers.size()) + " slots");
    for (size_t s = 0; s < ep->buffers.size(); ++s)  // never let the epilogue past a buffer
      if (size_t(ep->buffers[s].elements * itemsize(ep->buffers[s].dtype)) > epilogue->bindings[s]->nbytes())
        throw_value("Metal kernel " + name + ": epilogue slot " + std::to_string(s) + " reaches past its buffer");
  }
  const size_t item = size_t(itemsize(c.dtype()));
  // Buffers 0 and 1 are b and a when the plan swapped them (GEMV with N <= 16).
  const Buffer* x = (plan.swap ? b : a).buffer().get();
  const Buffer* y = (plan.swap ? a : b).buffer().get();
  for (const MatmulDispatch& m : plan.dispatches) {
    const MatmulParams p{plan.M, plan.N, plan.K, plan.a.ld, plan.b.ld, plan.ldc, plan.ldc_col, m.z0,
                         plan.batch_stride[0], plan.batch_stride[1], plan.batch_stride[2], plan.vec, 0};
    KernelLaunch l{pipeline, name,
                   {{x, size_t(m.offset[0]) * item}, {y, size_t(m.offset[1]) * item},
                    {c.buffer().get(), size_t(m.offset[2]) * item}},
                   {bytes_of(p)}, MTLSizeMake(plan.groups[0], plan.groups[1], m.batches),
                   MTLSizeMake(kMatmulThreads, 1, 1)};
    if (ep) {  // slot n at buffer 3 + n, then the matmul's and the epilogue's params
      for (const BufferPtr& b : epilogue->bindings) l.buffers.push_back({b.get()});
      l.bytes.push_back(ep->params);
    }
    d.launch(l);
  }
}

}  // namespace tl::metal
