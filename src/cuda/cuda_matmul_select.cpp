#include "cuda/cuda_matmul.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

// 128 x 128 x 32 in 3 stages is 48 KiB, the most a static shared array holds; 8 warps of
// 64 x 32 each, one block an SM (196 registers without spills; capped at 128 for two blocks,
// it spills). Small problems take 64 x 64 tiles (4 warps of 32 x 32) in 4 stages, four blocks
// an SM.
MatmulConfig mma_config(const MatmulShape& s, bool big) {
  MatmulConfig c;
  c.kernel = MatmulKernel::Mma;
  if (big) {
    c.bm = c.bn = 128, c.warps_m = 2, c.warps_n = 4, c.stages = 3, c.min_blocks = 1;
  } else {
    c.bm = c.bn = 64, c.warps_m = 2, c.warps_n = 2, c.stages = 4, c.min_blocks = 4;
  }
  const Way a = way(s.am, s.ak, s.M, s.K, s.a_align, 8), b = way(s.bn, s.bk, s.N, s.K, s.b_align, 8);
  c.a_kmajor = a.kmajor, c.a_vec = a.vec, c.b_kmajor = b.kmajor, c.b_vec = b.vec;
  return c;
}

// wgmma (sm_90a): 128 x 256 tiles (two consumer warpgroups of 64 x 256) once they fill every
// SM, else 128 x 128; stages as deep as 227 KiB of shared memory allows (48 KiB a stage of
// 128 x 256 x 64, 32 KiB of 128 x 128). TMA reads an operand in place when its unit-stride
// dim is contiguous, its other stride a multiple of 16 bytes, its address, offset and batch
// strides 16-byte aligned and its batch offsets one non-negative stride (or none); a must
// be k-contiguous, b either way. Otherwise the operand is packed first.
bool tma_reads(bool unit_inner, int64_t ld, int align, int batch) {
  return unit_inner && ld > 0 && divides(8, ld) && align >= 8 && batch;
}

// float32 through wgmma: tf32 products, both operands K-major (the only layout tf32 wgmma reads
// from shared memory).
bool wgmma_tf32(const MatmulShape& s) { return s.dtype == DType::Float32; }

// tf32 with b n-contiguous (x @ w) and readable in place: c^T = b^T a^T, b^T's tiles to wgmma
// from registers (no pass over b to transpose it; the kernel's rows are then n).
bool wgmma_rs(const MatmulShape& s) {
  return wgmma_tf32(s) && !tma_reads(unit(s.bk, s.K), s.bn, s.b_align, s.b_batch) &&
         tma_reads(unit(s.bn, s.N), s.bk, s.b_align, s.b_batch);
}

}  // namespace

MatmulConfig wgmma_config(const MatmulShape& s, int width, bool pingpong) {
  MatmulConfig c;
  c.kernel = MatmulKernel::Wgmma;
  c.bm = 128;
  c.bn = pingpong ? 128 : width;
  c.pingpong = pingpong;
  c.stages = c.bn == 256 ? 4 : 6;
  c.a_kmajor = 1;
  c.pack_a = !tma_reads(unit(s.ak, s.K), s.am, s.a_align, s.a_batch);
  if (wgmma_rs(s)) {  // the kernel's b is a (K-major, packed where TMA cannot read it)
    c.rs = 1, c.b_kmajor = 1;
    return c;
  }
  const bool bn = !wgmma_tf32(s) && tma_reads(unit(s.bn, s.N), s.bk, s.b_align, s.b_batch);
  const bool bk = tma_reads(unit(s.bk, s.K), s.bn, s.b_align, s.b_batch);
  c.b_kmajor = bn ? 0 : bk || wgmma_tf32(s) ? 1 : unit(s.bn, s.N) ? 0 : 1;  // packed: the layout nearer the source's
  c.pack_b = !bn && !bk;
  return c;
}

namespace {

// Where wgmma beats mma: 128 x 128 tiles cover a third of the SMs (measured on an H200,
// 2026-11-26: 1024^3 and 1000^3 bfloat16, 64 tiles, ran 1.5x faster with wgmma than with
// mma's 64 x 64 tiles) and k covers a stage; an operand that must be packed first (a pass
// over it) only for problems of 2^33 multiply-adds or more.
// 128 x 256 tiles (two consumer warpgroups of 64 x 256) unless 128 x 128 ones take fewer
// rounds over the SMs than twice theirs (a 128 x 128 tile takes a little over half the time):
// 2048^3 bfloat16 (128 tiles of 256 on 132 SMs) ran at 0.97x cuBLAS with 128 x 256, 0.88x
// with 128 x 128 (H100, 2026-11-26).
int wgmma_width(const MatmulShape& s) {
  const int64_t M = wgmma_rs(s) ? s.N : s.M, N = wgmma_rs(s) ? s.M : s.N;  // (rs: c^T's tiles)
  const int64_t rows = cdiv(M, 128) * s.batches;
  return 2 * cdiv(rows * cdiv(N, 256), s.sms) <= cdiv(rows * cdiv(N, 128), s.sms) ? 256 : 128;
}

// (tf32: a pack always pays, against float32 SIMT products at a sixth of the rate.)
bool wgmma_pays(const MatmulShape& s, const MatmulConfig& c) {
  if (cdiv(s.M, 128) * cdiv(s.N, 128) * s.batches * 3 < s.sms || s.K < 64) return false;
  return !(c.pack_a || c.pack_b) || wgmma_tf32(s) ||
         double(s.M) * double(s.N) * double(s.K) * double(s.batches) >= 8589934592.0;
}

// The problems wgmma can run: sm_90 (wgmma and setmaxnreg are sm_90a: not in later
// architectures) with tensor maps, 16-bit floats, or float32 whose matmul allows tf32.
bool wgmma_runs(const MatmulShape& s) {
  return s.sm == 90 && s.tensor_maps && (is_half(s.dtype) || (wgmma_tf32(s) && s.tf32));
}

// 8 x 8 outputs a thread (tm 8) need 159 registers, 238-255 with the ring (one block an SM; at
// 128 they spill); 4 x 4 fit in 128, two blocks an SM. float32 on sm_80+ with a vector
// operand: a ring of 3 stages of 32 k (96 KiB of 128 x 128 tiles, 48 KiB of 64 x 64) that
// cp.async fills (the operands that are not vectors staged through registers); `ring` false:
// two register-staged buffers of 1024 / tile k (what runs without cp.async). splits > 1: k
// split over the grid (128 x 128 ring only), whole 32-k steps each.
MatmulConfig simt_config(const MatmulShape& s, int tm, bool ring = true, int64_t splits = 1) {
  MatmulConfig c;
  c.kernel = MatmulKernel::Simt;
  c.tm = tm;
  c.min_blocks = c.tm == 8 ? 1 : 2;
  const Way a = way(s.am, s.ak, s.M, s.K, s.a_align, 4), b = way(s.bn, s.bk, s.N, s.K, s.b_align, 4);
  c.a_kmajor = a.kmajor, c.a_vec = a.vec, c.b_kmajor = b.kmajor, c.b_vec = b.vec;
  c.c_vec = unit(s.cn, s.N) && divides(4, s.cm) && s.c_align >= 4;
  if (ring && s.sm >= 80 && s.dtype == DType::Float32 && (a.vec || b.vec)) c.stages = 3;
  if (splits > 1 && c.stages && tm == 8) {
    c.kslice = cdiv(cdiv(s.K, splits), kSimtRingK) * kSimtRingK;
    c.splits = cdiv(s.K, c.kslice);
  }
  return c;
}

// k splits for 128 x 128 ring tiles too few for the SMs (1024^3: 64 tiles on 132), 1 for
// none: as many as one wave of blocks holds, each at least 256 k, where that makes half a
// wave or more (else 64 x 64 tiles, four times the blocks, keep more SMs busy).
int64_t simt_splits(const MatmulShape& s) {
  const int64_t tiles = cdiv(s.M, 128) * cdiv(s.N, 128) * s.batches;
  if (!simt_config(s, 8).stages || tiles >= s.sms || tiles > int64_t(kCounters)) return 1;
  const int64_t splits = std::min<int64_t>(s.sms / tiles, s.K / 256);
  return splits >= 2 && 2 * tiles * splits >= s.sms ? splits : 1;
}

// A side of at most 16 in float16 / bfloat16 (sm_80+): the tensor-core kernel with tiles 16
// wide on that side and 128 long on the other, split along k over the grid until about four
// blocks an SM read the large operand (its rows alone leave most SMs idle). Bound by reading
// the large operand once: the CUDA-core forms below spend 16 multiply-adds and a load of the
// small operand per element of it (and a warp per row re-read all of the small operand),
// which cost 10x the memory time at N = 16.
MatmulConfig skinny_mma_config(const MatmulShape& s) {
  MatmulConfig c;
  c.kernel = MatmulKernel::Mma;
  if (s.N <= 16) c.bm = 128, c.bn = 16, c.warps_m = 8, c.warps_n = 1;
  else c.bm = 16, c.bn = 128, c.warps_m = 1, c.warps_n = 8;
  const Way a = way(s.am, s.ak, s.M, s.K, s.a_align, 8), b = way(s.bn, s.bk, s.N, s.K, s.b_align, 8);
  c.a_kmajor = a.kmajor, c.a_vec = a.vec, c.b_kmajor = b.kmajor, c.b_vec = b.vec;
  // Three blocks an SM (at most 85 registers; 80 used) where both operands take cp.async;
  // element loads need up to 106 (two blocks). Shared memory: 4 stages of 9 KiB a block.
  c.stages = 4, c.min_blocks = c.a_vec && c.b_vec ? 3 : 2;
  // The large operand k-contiguous: 64 k a stage, so each of its rows gives 128 contiguous
  // bytes a stage, not 64 (8192 x 16 x 8192 bfloat16, H100: 0.90x cuBLAS, was 0.73x); 2
  // stages of 18 KiB (static shared memory: 48 KiB at most). sm_90 and later: on sm_80,
  // ptxas spills it under the three-block register cap.
  if (s.sm >= 90 && (s.N <= 16 ? a.kmajor : b.kmajor)) c.bk = 64, c.stages = 2;
  const int bk = c.bk ? c.bk : 32;
  // As many k splits as one wave of resident blocks holds (a second, partial wave left most
  // SMs idle: 576 blocks on 264 slots ran at 0.6x cuBLAS), each at least 256 k.
  const int64_t tiles = cdiv(s.M, c.bm) * cdiv(s.N, c.bn) * s.batches;
  c.splits = tiles > int64_t(kCounters)
                 ? 1
                 : std::clamp<int64_t>(c.min_blocks * int64_t(s.sms) / tiles, 1, std::max<int64_t>(1, s.K / 256));
  c.kslice = std::max<int64_t>(bk, cdiv(cdiv(s.K, c.splits), bk) * bk);  // whole k steps
  c.splits = std::max<int64_t>(1, cdiv(s.K, c.kslice));
  return c;
}

MatmulConfig gemv_config(const MatmulShape& s) {
  if (is_half(s.dtype) && s.sm >= 80 && std::max({s.M, s.N, s.K}) < int64_t(1) << 31) return skinny_mma_config(s);
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

}  // namespace

std::string MatmulConfig::name() const {
  const auto n = [](int v) { return std::to_string(v); };
  switch (kernel) {
    case MatmulKernel::Mma:
      return "mma_" + n(bm) + "x" + n(bn) + "_s" + n(stages) + (bk ? "_k" + n(bk) : "") + "_a" + (a_kmajor ? "k" : "m") + (a_vec ? "v" : "s") +
             "_b" + (b_kmajor ? "k" : "n") + (b_vec ? "v" : "s") + (splits > 1 ? "_ks" + std::to_string(splits) : "");
    case MatmulKernel::Simt:
      return "simt_" + n(16 * tm) + (stages ? "_s" + n(stages) : "") + "_a" + (a_kmajor ? "k" : "m") + (a_vec ? "v" : "s") + "_b" + (b_kmajor ? "k" : "n") +
             (b_vec ? "v" : "s") + "_c" + (c_vec ? "v" : "s") + (bk ? "_k" + n(bk) : "") +
             (splits > 1 ? "_ks" + std::to_string(splits) : "");
    case MatmulKernel::Gemv:
      return std::string("gemv_") + (dot ? "dot" : "lane") + "_sn" + n(sn) + "_v" + n(v) + (yv ? "_yv" : "") +
             (splits > 1 ? "_ks" + std::to_string(splits) : "") + (swap ? "_t" : "");
    case MatmulKernel::Wgmma:
      return "wgmma_" + n(bm) + "x" + n(bn) + "_s" + n(stages) + "_b" + (b_kmajor ? "k" : "n") +
             (pack_a ? "_pa" : "") + (pack_b ? "_pb" : "") + (pingpong ? "_pp" : "") + (rs ? "_rs" : "");
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
  if (wgmma_runs(s))
    if (const MatmulConfig c = wgmma_config(s, wgmma_width(s)); wgmma_pays(s, c)) return c;
  if (is_half(s.dtype) && s.sm >= 80) return mma_config(s, fills_sms(s, 128));  // mma.sync bf16, cp.async: sm_80
  if (fills_sms(s, 128)) return simt_config(s, 8);
  if (const int64_t k = simt_splits(s); k > 1) return simt_config(s, 8, true, k);
  return simt_config(s, 4);
}

std::vector<MatmulConfig> matmul_candidates(const MatmulShape& s) {
  std::vector<MatmulConfig> out{select_matmul(s)};
  const auto add = [&](const MatmulConfig& c) {
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  if (std::min(s.M, s.N) <= 16 || std::max({s.M, s.N, s.K}) >= int64_t(1) << 31) return out;
  if (is_half(s.dtype) && s.sm >= 80) {
    add(mma_config(s, true));
    add(mma_config(s, false));
  }
  if (wgmma_runs(s) && s.K >= 64) {  // (16-bit floats, and tf32: no ping-pong form)
    add(wgmma_config(s, 256));
    add(wgmma_config(s, 128));
    if (is_half(s.dtype)) add(wgmma_config(s, 128, true));
  }
  if (out[0].kernel == MatmulKernel::Simt) {
    add(simt_config(s, 8));
    add(simt_config(s, 4));
  }
  return out;
}

std::string matmul_key(const MatmulShape& s) {
  std::string k = "matmul";
  for (int64_t v : {s.M, s.N, s.K, s.batches, int64_t(s.dtype), s.am, s.ak, s.bk, s.bn, s.cm, s.cn,
                    int64_t(s.a_align), int64_t(s.b_align), int64_t(s.c_align), int64_t(s.sm), int64_t(s.sms),
                    int64_t(s.tensor_maps), int64_t(s.a_batch), int64_t(s.b_batch), int64_t(s.tf32)})
    k += " " + std::to_string(v);
  return k;
}

// A tuning aid for measuring one kernel against another (bench/matmul_cuda.py --force):
// TENSORLOGIC_MATMUL_FORCE=mma, wgmma128, wgmma256 or wgmma_pp (ping-pong 128 x 128) takes
// that kernel for the float16 / bfloat16 problems it can run (wgmma: on sm_90, 64 or more k;
// wgmma128 and wgmma256 also tf32 ones); for a float32 SIMT choice, simt_old takes the
// register-staged form (no cp.async ring), simt_nosplit the ring without k splits (64 x 64
// tiles where 128 x 128 ones leave SMs idle), simt_kb<k>s<stages> (e.g. simt_kb64s2) 128 x 128
// ring tiles with that k a stage and that many stages, to time them against it; unset: c.
MatmulConfig forced_matmul(const MatmulShape& s, const MatmulConfig& c) {
  const char* f = std::getenv("TENSORLOGIC_MATMUL_FORCE");
  if (!f || !*f || std::min(s.M, s.N) <= 16 || s.sm < 80) return c;
  const std::string k = f;
  if (c.kernel == MatmulKernel::Simt && s.dtype == DType::Float32) {
    const int tm = fills_sms(s, 128) ? 8 : 4;  // (the choice without k splits)
    if (k == "simt_old") return simt_config(s, tm, false);
    if (k == "simt_nosplit") return simt_config(s, tm);
    if (k.starts_with("simt_kb") && c.tm == 8 && c.stages) {  // simt_kb<k a stage>s<stages>
      MatmulConfig w = c;
      if (std::sscanf(k.c_str(), "simt_kb%ds%d", &w.bk, &w.stages) == 2 && w.bk % 8 == 0 && w.stages >= 2) return w;
    }
  }
  if (k == "mma" && is_half(s.dtype)) return mma_config(s, fills_sms(s, 128));
  if ((k == "wgmma128" || k == "wgmma256" || (k == "wgmma_pp" && is_half(s.dtype))) && wgmma_runs(s) && s.K >= 64) {
    return wgmma_config(s, k == "wgmma256" ? 256 : 128, k == "wgmma_pp");
  }
  return c;
}

}  // namespace tl::cuda
