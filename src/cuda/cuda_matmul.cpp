#include "cuda/cuda_matmul.h"

#include <algorithm>
#include <cstdint>

#include "core/codegen_c.h"
#include "core/error.h"
#include "cuda/cuda_ops.h"
#include "cuda/kernel_sources.h"

namespace tl::cuda {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
bool unit(int64_t stride, int64_t extent) { return stride == 1 || extent == 1; }
bool divides(int w, int64_t v) { return v % w == 0; }
bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

// How an operand viewed as (mn, k) with strides (s_mn, s_k) is read: along k when its k
// stride is 1, along mn when only that one is; w-element vectors when the other (leading)
// stride and the operand's alignment allow. Strided both ways: along k, element by element.
struct Way {
  int kmajor, vec;
};
Way way(int64_t s_mn, int64_t s_k, int64_t mn, int64_t k, int align, int w) {
  const bool uk = unit(s_k, k), umn = unit(s_mn, mn);
  if (uk && align >= w && divides(w, s_mn)) return {1, 1};
  if (umn && align >= w && divides(w, s_k)) return {0, 1};
  return {uk || !umn ? 1 : 0, 0};
}

// 128 x 128 tiles once they fill every SM; smaller ones before, for more blocks.
bool fills_sms(const MatmulShape& s, int tile) { return cdiv(s.M, tile) * cdiv(s.N, tile) * s.batches >= s.sms; }

MatmulConfig mma_config(const MatmulShape& s) {
  MatmulConfig c;
  c.kernel = MatmulKernel::Mma;
  // 128 x 128 x 32 in 3 stages is 48 KiB, the most a static shared array holds; 8 warps of
  // 64 x 32 each, one block an SM (196 registers without spills; capped at 128 for two
  // blocks, it spills). Small problems take 64 x 64 tiles (4 warps of 32 x 32) in 4 stages,
  // four blocks an SM.
  if (fills_sms(s, 128)) {
    c.bm = c.bn = 128, c.warps_m = 2, c.warps_n = 4, c.stages = 3, c.min_blocks = 1;
  } else {
    c.bm = c.bn = 64, c.warps_m = 2, c.warps_n = 2, c.stages = 4, c.min_blocks = 4;
  }
  const Way a = way(s.am, s.ak, s.M, s.K, s.a_align, 8), b = way(s.bn, s.bk, s.N, s.K, s.b_align, 8);
  c.a_kmajor = a.kmajor, c.a_vec = a.vec, c.b_kmajor = b.kmajor, c.b_vec = b.vec;
  return c;
}

MatmulConfig simt_config(const MatmulShape& s) {
  MatmulConfig c;
  c.kernel = MatmulKernel::Simt;
  // 8 x 8 outputs a thread need 159 registers (one block an SM; at 128 they spill);
  // 4 x 4 fit in 128, two blocks an SM.
  c.tm = fills_sms(s, 128) ? 8 : 4;
  c.min_blocks = c.tm == 8 ? 1 : 2;
  const Way a = way(s.am, s.ak, s.M, s.K, s.a_align, 4), b = way(s.bn, s.bk, s.N, s.K, s.b_align, 4);
  c.a_kmajor = a.kmajor, c.a_vec = a.vec, c.b_kmajor = b.kmajor, c.b_vec = b.vec;
  c.c_vec = unit(s.cn, s.N) && divides(4, s.cm) && s.c_align >= 4;
  return c;
}

MatmulConfig gemv_config(const MatmulShape& s) {
  MatmulConfig c;
  c.kernel = MatmulKernel::Gemv;
  c.swap = s.M < s.N;  // the small dim becomes the kernel's N
  const int64_t L = c.swap ? s.N : s.M, S = c.swap ? s.M : s.N;
  const int64_t xl = c.swap ? s.bn : s.am, xk = c.swap ? s.bk : s.ak;
  const int64_t yk = c.swap ? s.ak : s.bk, ys = c.swap ? s.am : s.bn;
  const int xalign = c.swap ? s.b_align : s.a_align, yalign = c.swap ? s.a_align : s.b_align;
  c.sn = 1;
  while (c.sn < S) c.sn *= 2;
  const int widest = int(16 / itemsize(s.dtype));  // elements in 16 bytes
  if (unit(xk, s.K) || !unit(xl, L)) {
    // Rows of the large operand are contiguous (or nothing is): a warp per row.
    c.dot = 1;
    c.v = unit(xk, s.K) ? widest : 1;
    while (c.v > 1 && !(xalign >= c.v && divides(c.v, xl))) c.v /= 2;
    c.yv = c.v > 1 && unit(yk, s.K) && yalign >= c.v && divides(c.v, ys);
  } else {
    // Columns are: a lane per v rows, at most 64 accumulators a lane (16 in float64, whose
    // staged b values take two registers each too): more spill under the 128-register cap.
    c.v = std::min<int>(widest, (s.dtype == DType::Float64 ? 16 : 64) / c.sn);
    while (c.v > 1 && !(xalign >= c.v && divides(c.v, xk))) c.v /= 2;
    // Four blocks an SM (two resident at 128 registers, two waves) to keep enough loads in
    // flight for the memory: the row tiles times k splits of at least 256 (32 k a warp, so
    // the partials stay small next to the operand) ...
    const auto tiles = [&](int v) { return cdiv(L, 32 * v) * s.batches; };
    c.splits = std::clamp<int64_t>(cdiv(4 * int64_t(s.sms), tiles(c.v)), 1, std::max<int64_t>(1, s.K / 256));
    // ... and where k is too short to split, narrower vectors for more row tiles.
    while (c.splits == 1 && c.v > 1 && tiles(c.v) < s.sms) c.v /= 2;
    c.kslice = std::max<int64_t>(8, cdiv(cdiv(s.K, c.splits), 8) * 8);  // whole rounds of the 8 warps
    c.splits = std::max<int64_t>(1, cdiv(s.K, c.kslice));
  }
  return c;
}

using Defines = std::vector<std::pair<std::string, std::string>>;

Defines defines_for(const MatmulConfig& c, DType t, int rank) {
  const auto n = [](int64_t v) { return std::to_string(v); };
  Defines d{{"TL_RANK", n(rank)}, {"TL_S", codegen::ctype(t)}};
  switch (c.kernel) {
    case MatmulKernel::Mma:
      d.insert(d.end(), {{"TL_MMA_T", t == DType::BFloat16 ? "\"bf16\"" : "\"f16\""}, {"TL_BM", n(c.bm)},
                         {"TL_BN", n(c.bn)}, {"TL_WARPS_M", n(c.warps_m)}, {"TL_WARPS_N", n(c.warps_n)},
                         {"TL_STAGES", n(c.stages)}, {"TL_MIN_BLOCKS", n(c.min_blocks)}, {"TL_A_KMAJOR", n(c.a_kmajor)}, {"TL_B_KMAJOR", n(c.b_kmajor)},
                         {"TL_A_ASYNC", n(c.a_vec)}, {"TL_B_ASYNC", n(c.b_vec)}});
      break;
    case MatmulKernel::Simt:
      d.insert(d.end(), {{"TL_TM", n(c.tm)}, {"TL_MIN_BLOCKS", n(c.min_blocks)}, {"TL_A_KMAJOR", n(c.a_kmajor)}, {"TL_B_KMAJOR", n(c.b_kmajor)},
                         {"TL_A_VEC", n(c.a_vec)}, {"TL_B_VEC", n(c.b_vec)}, {"TL_C_VEC", n(c.c_vec)}});
      break;
    case MatmulKernel::Gemv:
      d.insert(d.end(), {{"TL_C", t == DType::Float64 ? "double" : "float"}, {"TL_DOT", n(c.dot)},
                         {"TL_SN", n(c.sn)}, {"TL_V", n(c.v)}, {"TL_YV", n(c.yv)}});
      break;
    case MatmulKernel::Plain:
      d.push_back({"TL_C", t == DType::Float64 ? "double" : "float"});
      break;
  }
  return d;
}

const char* entry_for(MatmulKernel k) {
  switch (k) {
    case MatmulKernel::Mma: return "tl_matmul_mma";
    case MatmulKernel::Simt: return "tl_matmul_simt";
    case MatmulKernel::Gemv: return "tl_matmul_gemv";
    case MatmulKernel::Plain: break;
  }
  return "tl_matmul";
}

// matmul_common.cu, then the kernel: the source after the defines.
const char* body_for(MatmulKernel k) {
  static const std::string mma = std::string(sources::kMatmulCommon) + sources::kMatmulMma;
  static const std::string simt = std::string(sources::kMatmulCommon) + sources::kMatmulSimt;
  static const std::string gemv = std::string(sources::kMatmulCommon) + sources::kMatmulGemv;
  static const std::string plain = std::string(sources::kMatmulCommon) + sources::kMatmul;
  switch (k) {
    case MatmulKernel::Mma: return mma.c_str();
    case MatmulKernel::Simt: return simt.c_str();
    case MatmulKernel::Gemv: return gemv.c_str();
    case MatmulKernel::Plain: break;
  }
  return plain.c_str();
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

}  // namespace

std::string MatmulConfig::name() const {
  const auto n = [](int v) { return std::to_string(v); };
  switch (kernel) {
    case MatmulKernel::Mma:
      return "mma_" + n(bm) + "x" + n(bn) + "_s" + n(stages) + "_a" + (a_kmajor ? "k" : "m") + (a_vec ? "v" : "s") +
             "_b" + (b_kmajor ? "k" : "n") + (b_vec ? "v" : "s");
    case MatmulKernel::Simt:
      return "simt_" + n(16 * tm) + "_a" + (a_kmajor ? "k" : "m") + (a_vec ? "v" : "s") + "_b" + (b_kmajor ? "k" : "n") +
             (b_vec ? "v" : "s") + "_c" + (c_vec ? "v" : "s");
    case MatmulKernel::Gemv:
      return std::string("gemv_") + (dot ? "dot" : "lane") + "_sn" + n(sn) + "_v" + n(v) + (yv ? "_yv" : "") +
             (splits > 1 ? "_ks" + std::to_string(splits) : "") + (swap ? "_t" : "");
    case MatmulKernel::Plain: break;
  }
  return "plain";
}

MatmulConfig select_matmul(const MatmulShape& s) {
  // One side of at most 16: a matrix times a few vectors, bound by reading the large operand,
  // which the tiled kernels would re-read or leave mostly idle.
  if (std::min(s.M, s.N) <= 16) return gemv_config(s);
  // The tiled kernels index within a matrix in 32 bits; the plain one in 64. Float64 is rare
  // on GPUs (and slow there): the plain kernel too.
  if (std::max({s.M, s.N, s.K}) >= int64_t(1) << 31 || s.dtype == DType::Float64) return MatmulConfig{};
  if (is_half(s.dtype) && s.sm >= 80) return mma_config(s);  // mma.sync bf16, cp.async: sm_80
  return simt_config(s);
}

void matmul(const Target& t, const Tensor& a, const Tensor& b, const Tensor& out) {
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
  const MatmulConfig c = select_matmul(s);

  const Tensor* x = &a;
  const Tensor* y = &b;
  if (c.swap) {  // c^T = b^T a^T: b is the kernel's a, and m and n trade places
    std::swap(x, y);
    for (auto& row : batch.strides) std::swap(row[0], row[1]);
    s = MatmulShape{N, M, K, s.batches, s.dtype, s.bn, s.bk, s.ak, s.am, s.cn, s.cm};
  }
  const CUfunction fn = static_kernel(t, entry_for(c.kernel), defines_for(c, s.dtype, int(batch.shape.size())),
                                      body_for(c.kernel));
  ArgPack args;
  args.tensors({x, y, &out});
  args.dims(batch, 3);
  for (int64_t v : {s.M, s.N, s.K, s.am, s.ak, s.bk, s.bn, s.cm, s.cn, s.batches}) args.put(v);
  const auto gz = unsigned(std::min<int64_t>(s.batches, 65535));  // the kernels loop past it
  const auto check_rows = [&](int64_t blocks) {
    if (blocks > 65535) throw_value("CUDA matmul: " + std::to_string(M) + " rows exceed the grid");
    return unsigned(blocks);
  };
  switch (c.kernel) {
    case MatmulKernel::Mma:
      args.launch(t, fn, unsigned(cdiv(s.M, c.bm) * cdiv(s.N, c.bn)), 1, gz, unsigned(c.warps_m * c.warps_n * 32));
      break;
    case MatmulKernel::Simt:
      args.launch(t, fn, unsigned(cdiv(s.N, 16 * c.tm)), check_rows(cdiv(s.M, 16 * c.tm)), gz, 256);
      break;
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
        const CUfunction fold = static_kernel(t, "tl_matmul_gemv_fold", defines_for(c, s.dtype, int(batch.shape.size())),
                                              body_for(c.kernel));
        args.launch(t, fold, unsigned(std::min<int64_t>(cdiv(s.batches * s.M * s.N, 256), int64_t(t.sms) * 32)), 1, 1, 256);
      }
      break;
    }
    case MatmulKernel::Plain:
      args.launch(t, fn, unsigned(cdiv(s.N, 64)), check_rows(cdiv(s.M, 64)), gz, 256);
      break;
  }
}

std::vector<std::pair<std::string, std::string>> matmul_kernel_sources() {
  // Each (k-major, vector) pair of each operand, both tile sizes of mma and simt, every
  // storage type, both gemv forms with and without vectors: every #if of every kernel.
  const auto mma = [](int big, int ak, int av, int bk, int bv) {
    MatmulConfig c;
    c.kernel = MatmulKernel::Mma;
    c.bm = c.bn = big ? 128 : 64, c.warps_m = 2, c.warps_n = big ? 4 : 2, c.stages = big ? 3 : 4;
    c.min_blocks = big ? 1 : 4;
    c.a_kmajor = ak, c.a_vec = av, c.b_kmajor = bk, c.b_vec = bv;
    return c;
  };
  const auto simt = [](int tm, int ak, int av, int bk, int bv, int cv) {
    MatmulConfig c;
    c.kernel = MatmulKernel::Simt;
    c.tm = tm, c.min_blocks = tm == 8 ? 1 : 2, c.a_kmajor = ak, c.a_vec = av, c.b_kmajor = bk, c.b_vec = bv, c.c_vec = cv;
    return c;
  };
  const auto gemv = [](int dot, int sn, int v, int yv) {
    MatmulConfig c;
    c.kernel = MatmulKernel::Gemv;
    c.dot = dot, c.sn = sn, c.v = v, c.yv = yv;
    return c;
  };
  const std::vector<std::pair<MatmulConfig, DType>> configs{
      {mma(1, 1, 1, 1, 1), DType::BFloat16}, {mma(1, 0, 1, 0, 1), DType::Float16},
      {mma(0, 1, 0, 0, 0), DType::BFloat16}, {mma(0, 0, 0, 1, 0), DType::Float16},
      {mma(1, 0, 0, 0, 0), DType::Float16},  {mma(0, 1, 1, 0, 1), DType::BFloat16},
      {simt(8, 1, 1, 0, 1, 1), DType::Float32}, {simt(4, 0, 1, 1, 1, 0), DType::Float32},
      {simt(8, 1, 0, 1, 0, 1), DType::Float16}, {simt(4, 0, 0, 0, 0, 0), DType::BFloat16},
      {gemv(1, 1, 4, 1), DType::Float32},   {gemv(1, 4, 8, 0), DType::Float16},
      {gemv(0, 16, 4, 0), DType::BFloat16}, {gemv(0, 2, 2, 0), DType::Float64},
      {gemv(0, 16, 4, 0), DType::Float32},  {gemv(0, 8, 8, 0), DType::Float16},
      {gemv(0, 16, 1, 0), DType::Float64},  {gemv(0, 1, 1, 0), DType::Float32},
      {gemv(1, 16, 1, 0), DType::Float32},  {gemv(1, 2, 2, 1), DType::Float64},
      {MatmulConfig{}, DType::Float64},
  };
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [c, t] : configs)
    out.emplace_back("matmul_" + c.name() + "_" + dtype_name(t), configured(defines_for(c, t, 2), body_for(c.kernel)));
  return out;
}

}  // namespace tl::cuda
