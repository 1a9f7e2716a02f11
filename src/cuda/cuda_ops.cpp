#include "cuda/cuda_ops.h"

#include <algorithm>

#include "core/codegen_c.h"
#include "core/error.h"
#include "cuda/cuda_matmul.h"
#include "cuda/kernel_sources.h"

namespace tl::cuda {

std::string configured(const Defines& defines, const char* body, const std::string& headers) {
  std::string s = common_source() + headers;
  for (const auto& [name, value] : defines) s += "#define " + name + " " + value + "\n";
  return s + body;
}

CUfunction static_kernel(const Target& t, const char* entry, const Defines& defines, const char* body,
                         const Headers& headers, bool arch_specific) {
  std::string key;
  for (const auto& [name, value] : defines) key += name + "=" + value + ";";
  return kernel_function_by_key(t, key, [&] { return configured(defines, body, headers ? headers() : ""); }, entry, arch_specific);
}

namespace {

std::string rank_of(const MergedDims& m) { return std::to_string(m.shape.size()); }

// double for floats, int64_t for integers and bool: exact for every stored value.
const char* wide_type(DType t) { return is_float(t) ? "double" : "int64_t"; }

unsigned threads_for(int64_t n, int64_t most) {
  return unsigned(std::clamp<int64_t>((n + 31) / 32 * 32, 32, most));
}

unsigned blocks_for(const Target& t, int64_t work) {
  return unsigned(std::clamp<int64_t>(work, 1, int64_t(t.sms) * 16));
}

// `strides` of a tensor lacking dim `axis` of a domain, with 0 there.
Strides with_zero_at(const Strides& strides, int axis) {
  Strides s = strides;
  s.insert(s.begin() + axis, 0);
  return s;
}

std::vector<int> all_but(int ndim, int axis) {
  std::vector<int> dims;
  for (int d = 0; d < ndim; ++d)
    if (d != axis) dims.push_back(d);
  return dims;
}

Defines argreduce_defines(ReduceOp op, DType in, const MergedDims& kept) {
  return {{"TL_RANK", rank_of(kept)}, {"TL_S", codegen::ctype(in)}, {"TL_C", wide_type(in)},
          {"TL_BETTER(a, b)", op == ReduceOp::ArgMax ? "((a) > (b))" : "((a) < (b))"}};
}

Defines scan_defines(ScanOp op, DType in, DType out, const MergedDims& lines) {
  const bool integer = !is_float(out);
  return {{"TL_RANK", rank_of(lines)}, {"TL_S", codegen::ctype(in)}, {"TL_O", codegen::ctype(out)},
          {"TL_C", integer ? "int64_t" : out == DType::Float64 ? "double" : "float"},
          {"TL_INTEGER", integer ? "1" : "0"}, {"TL_PROD", op == ScanOp::CumProd ? "1" : "0"}};
}

Defines gather_defines(size_t itemsize, const MergedDims& parallel, const MergedDims& serial, bool scatter) {
  const char* t = itemsize == 1 ? "uint8_t" : itemsize == 2 ? "uint16_t" : itemsize == 4 ? "uint32_t" : "uint64_t";
  return {{"TL_RANK", rank_of(parallel)}, {"TL_SERIAL_RANK", rank_of(serial)}, {"TL_T", t},
          {"TL_SCATTER", scatter ? "1" : "0"}};
}

Defines random_defines(RandomDist dist, DType t) {
  return {{"TL_S", codegen::ctype(t)}, {"TL_C", t == DType::Float64 ? "double" : "float"},
          {"TL_DIST", dist == RandomDist::Uniform ? "0" : dist == RandomDist::Normal ? "1" : "2"}};
}

// src/core/philox.h, which random.cu needs before it.
const std::string& philox_header() {
  static const std::string philox = header_for_nvrtc(sources::kPhilox);
  return philox;
}

}  // namespace

void argreduce(const Target& t, ReduceOp op, const Tensor& in, int axis, const Tensor& out) {
  const Strides out_st = with_zero_at(out.strides(), axis);
  const MergedDims kept = merge_dims(in.shape(), all_but(in.ndim(), axis), {&in.strides(), &out_st});
  const int64_t outputs = numel(kept.shape), n = in.shape()[size_t(axis)];
  const CUfunction fn = static_kernel(t, "tl_argreduce", argreduce_defines(op, in.dtype(), kept), sources::kArgReduce);
  ArgPack args;
  args.tensors({&in, &out});
  args.dims(kept, 2);
  args.put(n);
  args.put(in.strides()[size_t(axis)]);
  args.put(outputs);
  args.launch(t, fn, blocks_for(t, outputs), 1, 1, threads_for(n, 256));
}

void scan(const Target& t, ScanOp op, const Tensor& in, int axis, const Tensor& out) {
  const MergedDims lines = merge_dims(in.shape(), all_but(in.ndim(), axis), {&in.strides(), &out.strides()});
  const int64_t count = numel(lines.shape), n = in.shape()[size_t(axis)];
  const CUfunction fn = static_kernel(t, "tl_scan", scan_defines(op, in.dtype(), out.dtype(), lines), sources::kScan);
  ArgPack args;
  args.tensors({&in, &out});
  args.dims(lines, 2);
  args.put(n);
  args.put(in.strides()[size_t(axis)]);
  args.put(out.strides()[size_t(axis)]);
  args.put(count);
  args.launch(t, fn, blocks_for(t, count), 1, 1, threads_for(n, 512));
}

void gather(const Target& t, const Tensor& indexed, int split, const Tensor& offsets, const Tensor& dense,
            bool scatter) {
  if (dense.numel() == 0) return;
  // Each operand's strides over the dense domain (P..., I..., Q...).
  const size_t s = size_t(split), ni = size_t(offsets.ndim()), nd = size_t(dense.ndim());
  Strides ist(nd, 0), ost(nd, 0);
  for (size_t d = 0; d < s; ++d) ist[d] = indexed.strides()[d];
  for (size_t d = s; d < size_t(indexed.ndim()); ++d) ist[d + ni] = indexed.strides()[d];
  for (size_t d = 0; d < ni; ++d) ost[s + d] = offsets.strides()[d];
  std::vector<int> pq, i;
  for (size_t d = 0; d < nd; ++d) (d >= s && d < s + ni ? i : pq).push_back(int(d));
  std::vector<int> all(nd);
  for (size_t d = 0; d < nd; ++d) all[d] = int(d);
  const std::vector<const Strides*> ops{&ist, &ost, &dense.strides()};
  // A scatter walks I in order in each thread, so that the last of repeated writes wins.
  const MergedDims parallel = merge_dims(dense.shape(), scatter ? pq : all, ops);
  const MergedDims serial = merge_dims(dense.shape(), scatter ? i : std::vector<int>{}, ops);
  const CUfunction fn = static_kernel(
      t, "tl_gather", gather_defines(size_t(itemsize(dense.dtype())), parallel, serial, scatter), sources::kGather);
  ArgPack args;
  args.tensors({&indexed, &offsets, &dense});
  args.dims(parallel, 3);
  args.dims(serial, 3);
  const int64_t work = numel(parallel.shape);
  args.put(work);
  args.put(numel(serial.shape));
  args.launch(t, fn, blocks_for(t, (work + 255) / 256), 1, 1, 256);
}

void random(const Target& t, RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
            const Tensor& out) {
  const DType dt = out.dtype();
  if (dt == DType::Bool || (dist != RandomDist::Bits) != is_float(dt))
    throw_type(std::string("random: cannot draw ") + (dist != RandomDist::Bits ? "floats" : "integers") +
               " into a " + dtype_name(dt) + " tensor");
  const int64_t n = out.numel();
  if (n == 0) return;
  const CUfunction fn = static_kernel(t, "tl_random", random_defines(dist, dt), sources::kRandom, philox_header);
  ArgPack args;
  args.tensors({&out});
  args.put(n);
  args.put(seed);
  args.put(counter);
  args.put(a);
  args.put(b);
  args.launch(t, fn, blocks_for(t, (n + 255) / 256), 1, 1, 256);
}

std::vector<std::pair<std::string, std::string>> static_kernel_sources() {
  const MergedDims two{{3, 4}, {{4, 1}, {1, 3}}};
  std::vector<std::pair<std::string, std::string>> all{
      {"argreduce", configured(argreduce_defines(ReduceOp::ArgMax, DType::Float16, two), sources::kArgReduce)},
      {"scan", configured(scan_defines(ScanOp::CumSum, DType::Int32, DType::Int64, two), sources::kScan)},
      {"scatter", configured(gather_defines(2, two, two, true), sources::kGather)},
      {"random", configured(random_defines(RandomDist::Uniform, DType::Float16), sources::kRandom, philox_header())},
  };
  for (auto& k : matmul_kernel_sources()) all.push_back(std::move(k));
  return all;
}

}  // namespace tl::cuda
