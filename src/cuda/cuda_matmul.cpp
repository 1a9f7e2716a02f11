#include "cuda/cuda_matmul.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "core/autotune.h"
#include "core/codegen_c.h"
#include "core/error.h"
#include "cuda/cuda_codegen.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_stream.h"

namespace tl::cuda {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Lets fn take `bytes` of dynamic shared memory (past 48 KiB a kernel must ask), once a
// function: a configuration always asks the same.
void allow_smem(CUfunction fn, unsigned bytes) {
  if (bytes <= 48 * 1024) return;
  static std::mutex mu;
  static auto* raised = new std::unordered_set<CUfunction>();
  std::lock_guard lock(mu);
  if (raised->insert(fn).second)
    check(api().cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(bytes)), "cuFuncSetAttribute");
}

// The largest of 1, 2, 4, 8 elements dividing x's offset, its batch strides (operand j of
// `batch`) and its address.
int base_align(const Tensor& x, const MergedDims& batch, size_t j) {
  uint64_t bits = uint64_t(x.offset());
  for (const auto& st : batch.strides) bits |= uint64_t(st[j]);
  const auto addr = reinterpret_cast<uintptr_t>(x.buffer()->data());
  const auto size = uintptr_t(itemsize(x.dtype()));
  int w = 8;
  while (w > 1 && (bits % uint64_t(w) || addr % (uintptr_t(w) * size))) w /= 2;
  return w;
}

// An epilogue as a matmul kernel takes it: its memory operands' batch dims merged (in the
// order of out's batch dims, as the kernel's batch index counts them), and the source.
struct EpiloguePlan {
  const Epilogue& ep;
  std::vector<const Strides*> strides;  // per memory operand, over out's dims
  std::vector<int64_t> offsets;
  MergedDims batch;
  size_t nmem = 1, nslots = 1, nparams = 1;

  EpiloguePlan(const Epilogue& e, const Tensor& out) : ep(e) {
    for (const ir::Instr& i : e.kernel.instrs)
      if (i.op == ir::Op::Load || i.op == ir::Op::Store) strides.push_back(&i.strides), offsets.push_back(i.offset);
    std::vector<int> dims;
    for (int d = 0; d < out.ndim() - 2; ++d) dims.push_back(d);
    batch = merge_dims(out.shape(), dims, strides);
    nmem = std::max<size_t>(1, strides.size());
    nslots = std::max<size_t>(1, e.kernel.slots.size());
    nparams = std::max<size_t>(1, e.kernel.params.size());
  }
  int rank() const { return int(batch.shape.size()); }
  // What decides the source (the IR's hash covers ops, dtypes, slots and constants' count).
  std::string key() const {
    return std::to_string(ep.kernel.hash()) + ":" + std::to_string(ep.acc_slot) + ":" + std::to_string(rank());
  }
  size_t words() const { return nslots + nmem * (4 + size_t(rank())) + size_t(rank()) + 2 * nparams; }
  // TlEpArgs, as matmul_epilogue_source declares it; m and n traded with `swap`.
  void put(ArgPack& args, bool swap) const {
    const int nd = int(ep.kernel.domain.size());
    for (size_t s = 0; s < nslots; ++s) args.put(s < ep.bindings.size() ? ep.bindings[s]->data() : nullptr);
    for (size_t j = 0; j < nmem; ++j) args.put(j < offsets.size() ? offsets[j] : int64_t(0));
    args.dims(batch, nmem);
    for (int which : {swap ? 1 : 2, swap ? 2 : 1})  // sm, then sn
      for (size_t j = 0; j < nmem; ++j) args.put(j < strides.size() ? (*strides[j])[size_t(nd - which)] : int64_t(0));
    std::vector<double> cf(nparams, 0.0);
    std::vector<int64_t> ci(nparams, 0);
    for (const ir::Instr& i : ep.kernel.instrs) {
      if (i.op != ir::Op::Const) continue;
      const Scalar v = scalar_as(ep.kernel.params[size_t(i.slot)], i.dtype);  // as launch_fused passes it
      cf[size_t(i.slot)] = v.f;
      ci[size_t(i.slot)] = v.i;
    }
    for (double v : cf) args.put(v);
    for (int64_t v : ci) args.put(v);
  }
};


// Whether operand j's batch offsets are what a 3-d tensor map walks: none (every batch stride
// 0, broadcast) or one merged batch dim of non-negative stride.
int tma_batch(const MergedDims& batch, size_t j) {
  bool moves = false;
  for (const auto& row : batch.strides) moves |= row[j] != 0;
  return !moves || (batch.shape.size() == 1 && batch.strides[0][j] > 0);
}

// The wgmma kernel: a and b through TMA tensor maps (3-d: inner dim, rows, batch), each
// packed first to aligned scratch where TMA cannot read it in place; min(tiles, SMs)
// persistent blocks of 3 warpgroups, the stages in dynamic shared memory.
void matmul_wgmma(const Target& t, const MatmulConfig& c, const MatmulShape& s, const Tensor& a, const Tensor& b,
                  const Tensor& out, const MergedDims& batch, const Defines& defines, const Headers& headers,
                  const EpiloguePlan* ep) {
  const char* body = body_for(c.kernel);
  const int64_t es = int64_t(itemsize(s.dtype));  // bytes an element: 2, or 4 (tf32)
  // An operand as its tensor map sees it: rows of `inner` elements, `ld` apart, the batch
  // `bstride` apart (0: broadcast), from `base`; `keep` holds a packed copy.
  struct View {
    const char* base;
    uint64_t inner, rows, ld, bstride;
    BufferPtr keep;
  };
  const auto moves = [&](size_t j) {
    for (const auto& row : batch.strides)
      if (row[j] != 0) return row[j];
    return int64_t(0);
  };
  const auto direct = [&](const Tensor& x, size_t j, int64_t rows, int64_t inner, int64_t ld) {
    return View{static_cast<const char*>(x.buffer()->data()) + x.offset() * es, uint64_t(inner), uint64_t(rows),
                uint64_t(ld), uint64_t(moves(j)), {}};
  };
  // dst[batch][r][i] = x[batch offsets + r * sr + i * si], rows a multiple of 8 elements apart
  // (stream-ordered pool memory: free to reuse once the matmul is queued).
  const auto pack = [&](const Tensor& x, size_t j, int64_t rows, int64_t inner, int64_t sr, int64_t si) {
    const int64_t nb = moves(j) ? s.batches : 1, ld = cdiv(inner, 8) * 8;
    View v{nullptr, uint64_t(inner), uint64_t(rows), uint64_t(ld), nb > 1 ? uint64_t(rows * ld) : 0,
           t.scratch(size_t(nb * rows * ld * es))};
    v.base = static_cast<const char*>(v.keep->data());
    MergedDims one;  // operand j's batch dims alone
    one.shape = batch.shape;
    for (const auto& row : batch.strides) one.strides.push_back({nb > 1 ? row[j] : 0});
    ArgPack args;
    args.put(x.buffer()->data());
    args.put(v.keep->data());
    args.put(x.offset());
    args.dims(one, 1);
    for (int64_t w : {rows, inner, sr, si, ld, nb}) args.put(w);
    // (matmul_wgmma_pack.cu: 64 x 64 tiles where it transposes, else 16 bytes a thread)
    const int64_t work = sr == 1 && si != 1 ? nb * cdiv(rows, 64) * cdiv(inner, 64) : cdiv(nb * rows * cdiv(inner * es, 16), 256);
    // (without the epilogue's key: one pack kernel serves every epilogue)
    args.launch(t, static_kernel(t, "tl_matmul_wgmma_pack", defines_for(c, s.dtype, int(batch.shape.size())), body, {}, true),
                unsigned(std::clamp<int64_t>(work, 1, int64_t(t.sms) * 16)), 1, 1, 256);
    return v;
  };
  const View pa = c.pack_a ? pack(a, 0, s.M, s.K, s.am, s.ak) : direct(a, 0, s.M, s.K, s.am);
  // rs: the kernel runs c^T = b^T a^T, its a b's [k][n] rows (MN-major), its b a (K-major).
  const View va = c.rs ? direct(b, 1, s.K, s.N, s.bk) : pa;
  const View vb = c.rs         ? pa
                  : c.b_kmajor ? (c.pack_b ? pack(b, 1, s.N, s.K, s.bn, s.bk) : direct(b, 1, s.N, s.K, s.bn))
                               : (c.pack_b ? pack(b, 1, s.K, s.N, s.bk, s.bn) : direct(b, 1, s.K, s.N, s.bk));
  // Boxes of 128 bytes of inner elements (the swizzle span) by box_rows rows; out-of-bounds
  // elements read as zeros.
  const auto encode = [&](const View& v, unsigned box_rows) {
    CUtensorMap m{};
    const uint64_t dims[3] = {v.inner, v.rows, v.bstride ? uint64_t(s.batches) : 1};
    const uint64_t strides[2] = {v.ld * es, (v.bstride ? v.bstride : v.rows * v.ld) * es};
    const unsigned box[3] = {unsigned(128 / es), box_rows, 1}, steps[3] = {1, 1, 1};
    const auto type = es == 4 ? CU_TENSOR_MAP_DATA_TYPE_UINT32 : CU_TENSOR_MAP_DATA_TYPE_UINT16;
    check(api().cuTensorMapEncodeTiled(&m, type, 3, const_cast<char*>(v.base), dims, strides,
                                       box, steps, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                       CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
          "cuTensorMapEncodeTiled");
    return m;
  };
  // (rs: a's boxes are 32 k-rows of 32 m, 4 KiB slabs; else 128-byte rows of k, bm of them)
  const CUtensorMap ma = encode(va, c.rs ? 32u : unsigned(c.bm)), mb = encode(vb, c.b_kmajor ? unsigned(c.bn) : 64u);
  const CUfunction fn = static_kernel(t, "tl_matmul_wgmma", defines, body, headers, true);
  // (matmul_wgmma.cu: the stages, their mbarriers and the two turn barriers, two 8 KiB output
  // staging areas, alignment)
  const unsigned smem = unsigned(c.stages * (c.bm + c.bn) * 64 * 2 + 16 * c.stages + 16 + 128 + 2 * 8192 + 1024);
  allow_smem(fn, smem);
  ArgPack args;  // WgmmaArgs
  for (const CUtensorMap* m : {&ma, &mb})
    for (uint64_t w : m->opaque) args.put(w);
  args.put(int64_t(va.bstride != 0));
  args.put(int64_t(vb.bstride != 0));
  args.tensors({&a, &b, &out});
  args.dims(batch, 3);
  const MatmulShape k = c.rs ? MatmulShape{s.N, s.M, s.K, s.batches, s.dtype, s.bn, s.bk, s.ak, s.am, s.cn, s.cm} : s;
  for (int64_t v : {k.M, k.N, k.K, k.am, k.ak, k.bk, k.bn, k.cm, k.cn, k.batches}) args.put(v);
  if (ep) ep->put(args, false);  // (MatmulArgs ends WgmmaArgs, TlEpArgs ends MatmulArgs)
  const int64_t tiles = cdiv(k.M, c.bm) * cdiv(k.N, c.bn) * s.batches;
  args.launch(t, fn, unsigned(std::min<int64_t>(tiles, t.sms)), 1, 1, 384, 1, smem);
}

}  // namespace

namespace {

// The calling thread's last configuration; named only when the profiler asks (a name is
// several string concatenations, too much for every matmul).
thread_local MatmulConfig last_config;

// TlSplitArgs after MatmulArgs (mma, simt): a k split's partials for a batch's tiles of
// `elems` sums in all (pool memory, stream-ordered: the caller holds it until the launch is
// queued) and counters, and the k a split covers.
BufferPtr put_split_args(const Target& t, ArgPack& args, const MatmulConfig& c, const MatmulShape& s, int64_t elems) {
  const bool split = c.splits > 1;
  BufferPtr part = split ? t.scratch(size_t(elems * s.batches * c.splits) * 4) : BufferPtr{};
  args.put(part ? part->data() : nullptr);
  args.put(split ? static_cast<void*>(t.counters()) : nullptr);
  args.put(split ? c.kslice : std::max<int64_t>(1, s.K));
  return part;
}

// Runs configuration c of the family on the problem s (batch: the merged batch dims of a, b
// and out), with the epilogue in the kernel where it takes it, else after it.
void run_matmul(const Target& t, const MatmulConfig& c, MatmulShape s, MergedDims batch, const Tensor& a,
                const Tensor& b, const Tensor& out, const Epilogue* epilogue) {
  const int64_t M = s.M, N = s.N, K = s.K;
  // The epilogue in the kernel where the kernel has the hook, the IR prints and its
  // arguments fit the 4 KiB a launch takes; else the matmul, then the epilogue's own kernel.
  std::optional<EpiloguePlan> ep;
  if (epilogue) {
    ep.emplace(*epilogue, out);
    const size_t maps = c.kernel == MatmulKernel::Wgmma ? 2 * 16 + 2 : 0;  // WgmmaArgs' tensor maps, za, zb
    const size_t words = maps + 3 * 2 + 3 * batch.shape.size() + batch.shape.size() + 10 + 2 + ep->words();
    if (!hooks_epilogue(c, s.dtype) || words * 8 > 4000 ||
        !codegen::printable(epilogue->kernel, printed_instrs(epilogue->kernel), true)) {
      run_matmul(t, c, s, batch, a, b, out, nullptr);
      launch_fused(t, epilogue->kernel, epilogue->bindings);
      return;
    }
  }

  Defines defines = defines_for(c, s.dtype, int(batch.shape.size()));
  Headers headers;
  if (ep) {
    defines.push_back({"TL_EP_KEY", ep->key()});  // (the cache key: static_kernel keys by the defines)
    headers = [&] { return matmul_epilogue_source(epilogue->kernel, epilogue->acc_slot, ep->rank()); };
  }
  if (c.kernel == MatmulKernel::Wgmma)
    return matmul_wgmma(t, c, s, a, b, out, batch, defines, headers, ep ? &*ep : nullptr);

  const Tensor* x = &a;
  const Tensor* y = &b;
  if (c.swap) {  // c^T = b^T a^T: b is the kernel's a, and m and n trade places
    std::swap(x, y);
    for (auto& row : batch.strides) std::swap(row[0], row[1]);
    s = MatmulShape{N, M, K, s.batches, s.dtype, s.bn, s.bk, s.ak, s.am, s.cn, s.cm};
  }
  const CUfunction fn = static_kernel(t, entry_for(c.kernel), defines, body_for(c.kernel), headers);
  ArgPack args;
  args.tensors({x, y, &out});
  args.dims(batch, 3);
  for (int64_t v : {s.M, s.N, s.K, s.am, s.ak, s.bk, s.bn, s.cm, s.cn, s.batches}) args.put(v);
  if (ep) ep->put(args, c.swap);
  const auto gz = unsigned(std::min<int64_t>(s.batches, 65535));  // the kernels loop past it
  const auto check_rows = [&](int64_t blocks) {
    if (blocks > 65535) throw_value("CUDA matmul: " + std::to_string(M) + " rows exceed the grid");
    return unsigned(blocks);
  };
  switch (c.kernel) {
    case MatmulKernel::Mma: {
      // MmaArgs: a k split's partials (pool memory, stream-ordered) and counters, the k a split covers.
      const int64_t tiles = cdiv(s.M, c.bm) * cdiv(s.N, c.bn);
      const BufferPtr part = put_split_args(t, args, c, s, tiles * c.bm * c.bn);
      args.launch(t, fn, unsigned(tiles), unsigned(std::max<int64_t>(1, c.splits)), gz,
                  unsigned(c.warps_m * c.warps_n * 32));
      break;
    }
    case MatmulKernel::Simt: {
      // With k splits, grid x walks a batch's tiles and y the splits.
      const int64_t T = 16 * c.tm, tiles = cdiv(s.M, T) * cdiv(s.N, T);
      const BufferPtr part = put_split_args(t, args, c, s, tiles * T * T);
      // The ring's stages (dynamic shared memory): both tiles of TL_KB k (matmul_simt.cu).
      const unsigned smem = unsigned(c.stages * 2 * T * (c.bk ? c.bk : kSimtRingK) * 4);
      allow_smem(fn, smem);
      if (c.splits > 1) args.launch(t, fn, unsigned(tiles), unsigned(c.splits), gz, 256, 1, smem);
      else args.launch(t, fn, unsigned(cdiv(s.N, T)), check_rows(cdiv(s.M, T)), gz, 256, 1, smem);
      break;
    }
    case MatmulKernel::Gemv: {
      // GemvArgs: the partials of a k split (pool memory, stream-ordered: free to reuse once
      // the fold is queued) and the k of a split.
      const size_t acc = s.dtype == DType::Float64 ? 8 : 4;
      const BufferPtr part =
          c.splits > 1 ? t.scratch(size_t(c.splits * s.batches * s.M * c.sn) * acc) : BufferPtr{};
      args.put(part ? part->data() : nullptr);
      args.put(c.dot ? s.K : c.kslice);
      if (c.dot) {
        args.launch(t, fn, unsigned(cdiv(s.M, 8)), 1, gz, 256);
        break;
      }
      args.launch(t, fn, unsigned(cdiv(s.M, 32 * c.v)), unsigned(c.splits), gz, 256);
      if (c.splits > 1) {
        const CUfunction fold = static_kernel(t, "tl_matmul_gemv_fold", defines, body_for(c.kernel), headers);
        args.launch(t, fold, unsigned(std::min<int64_t>(cdiv(s.batches * s.M * s.N, 256), int64_t(t.sms) * 32)), 1, 1, 256);
      }
      break;
    }
    case MatmulKernel::Plain:
      args.launch(t, fn, unsigned(cdiv(s.N, 64)), check_rows(cdiv(s.M, 64)), gz, 256);
      break;
    case MatmulKernel::Wgmma: break;  // launched above (matmul_wgmma)
  }
}

}  // namespace

std::string last_matmul_kernel() { return last_config.name(); }

void matmul(const Target& t, const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* epilogue, bool tf32) {
  const int nd = out.ndim();
  const int64_t M = out.shape()[size_t(nd - 2)], N = out.shape()[size_t(nd - 1)], K = a.shape()[size_t(nd - 1)];
  if (out.numel() == 0) return;
  if (!is_float(out.dtype()) || a.dtype() != out.dtype() || b.dtype() != out.dtype())
    throw_type("CUDA matmul: operands must share a float dtype, got " + std::string(dtype_name(a.dtype())) +
               ", " + dtype_name(b.dtype()) + " -> " + dtype_name(out.dtype()));
  std::vector<int> batch_dims;
  for (int d = 0; d < nd - 2; ++d) batch_dims.push_back(d);
  MergedDims batch = merge_dims(out.shape(), batch_dims, {&a.strides(), &b.strides(), &out.strides()});
  const auto st = [&](const Tensor& x, int back, int64_t extent) {
    return extent == 1 ? int64_t(0) : x.strides()[size_t(nd - back)];
  };
  MatmulShape s;
  s.M = M, s.N = N, s.K = K, s.batches = numel(batch.shape), s.dtype = out.dtype();
  s.am = st(a, 2, M), s.ak = st(a, 1, K), s.bk = st(b, 2, K), s.bn = st(b, 1, N), s.cm = st(out, 2, M),
  s.cn = st(out, 1, N);
  s.a_align = base_align(a, batch, 0), s.b_align = base_align(b, batch, 1), s.c_align = base_align(out, batch, 2);
  s.sm = t.cc_major * 10 + t.cc_minor, s.sms = t.sms;
  s.a_batch = tma_batch(batch, 0), s.b_batch = tma_batch(batch, 1);
  s.tensor_maps = api().cuTensorMapEncodeTiled && api().cuFuncSetAttribute;
  s.tf32 = tf32 && s.dtype == DType::Float32;
  MatmulConfig c = forced_matmul(s, select_matmul(s));
  // Measured selection, while tl.autotune is on: each problem's candidates timed once, or the
  // winner kept on disk by an earlier process. (Off, nothing is looked up: no cost per call.)
  if (const std::vector<MatmulConfig> cands = autotune::enabled() ? matmul_candidates(s) : std::vector<MatmulConfig>{};
      cands.size() > 1 && c == cands[0]) {
    std::vector<std::string> names;
    for (const MatmulConfig& k : cands) names.push_back(k.name());
    const std::string key = matmul_key(s) + (epilogue ? " ep " + std::to_string(epilogue->kernel.hash()) : "");
    c = cands[size_t(autotune::choose("cuda", key, names, [&](int i) {
      const Stream& stream = current_stream(out.device().index);
      run_matmul(t, cands[size_t(i)], s, batch, a, b, out, epilogue);  // compiles it, warms up
      stream.synchronize();
      const auto t0 = std::chrono::steady_clock::now();
      for (int r = 0; r < 3; ++r) run_matmul(t, cands[size_t(i)], s, batch, a, b, out, epilogue);
      stream.synchronize();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 3;
    }))];
  }
  last_config = c;
  run_matmul(t, c, s, batch, a, b, out, epilogue);
}

}  // namespace tl::cuda
