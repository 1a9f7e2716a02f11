#include <string>
#include <utility>
#include <vector>

#include "core/codegen_c.h"
#include "cuda/cuda_codegen.h"
#include "cuda/cuda_matmul.h"
#include "cuda/kernel_sources.h"

// A matmul configuration as kernel source: its #defines, its kernel's body and entry, whether
// it takes an epilogue; and the configurations the nvcc check compiles.
namespace tl::cuda {
namespace {

bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

}  // namespace

Defines defines_for(const MatmulConfig& c, DType t, int rank) {
  const auto n = [](int64_t v) { return std::to_string(v); };
  Defines d{{"TL_RANK", n(rank)}, {"TL_S", codegen::ctype(t)}};
  switch (c.kernel) {
    case MatmulKernel::Mma:
      d.insert(d.end(), {{"TL_MMA_T", t == DType::BFloat16 ? "\"bf16\"" : "\"f16\""}, {"TL_BM", n(c.bm)},
                         {"TL_BN", n(c.bn)}, {"TL_WARPS_M", n(c.warps_m)}, {"TL_WARPS_N", n(c.warps_n)},
                         {"TL_STAGES", n(c.stages)}, {"TL_MIN_BLOCKS", n(c.min_blocks)}, {"TL_A_KMAJOR", n(c.a_kmajor)}, {"TL_B_KMAJOR", n(c.b_kmajor)},
                         {"TL_A_ASYNC", n(c.a_vec)}, {"TL_B_ASYNC", n(c.b_vec)}, {"TL_SPLIT", n(c.splits > 1)}});
      if (c.bk) d.push_back({"TL_BK", n(c.bk)});
      break;
    case MatmulKernel::Simt:
      d.insert(d.end(), {{"TL_TM", n(c.tm)}, {"TL_STAGES", n(c.stages)}, {"TL_MIN_BLOCKS", n(c.min_blocks)}, {"TL_A_KMAJOR", n(c.a_kmajor)}, {"TL_B_KMAJOR", n(c.b_kmajor)},
                         {"TL_A_VEC", n(c.a_vec)}, {"TL_B_VEC", n(c.b_vec)}, {"TL_C_VEC", n(c.c_vec)},
                         {"TL_SPLIT", n(c.splits > 1)}});
      if (c.bk) d.push_back({"TL_KB", n(c.bk)});
      break;
    case MatmulKernel::Gemv:
      d.insert(d.end(), {{"TL_C", t == DType::Float64 ? "double" : "float"}, {"TL_DOT", n(c.dot)},
                         {"TL_SN", n(c.sn)}, {"TL_V", n(c.v)}, {"TL_YV", n(c.yv)}});
      break;
    case MatmulKernel::Wgmma:
      d.insert(d.end(), {{"TL_WG_T", t == DType::BFloat16 ? "\"bf16\"" : t == DType::Float32 ? "\"tf32\"" : "\"f16\""},
                         {"TL_TF32", n(t == DType::Float32)}, {"TL_BN", n(c.bn)}, {"TL_STAGES", n(c.stages)},
                         {"TL_B_KMAJOR", n(c.b_kmajor)}, {"TL_PINGPONG", n(c.pingpong)}, {"TL_RS", n(c.rs)}});
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
    case MatmulKernel::Wgmma: return "tl_matmul_wgmma";
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
  static const std::string wgmma =
      std::string(sources::kMatmulCommon) + sources::kMatmulWgmma + sources::kMatmulWgmmaStore + sources::kMatmulWgmmaPack;
  switch (k) {
    case MatmulKernel::Mma: return mma.c_str();
    case MatmulKernel::Simt: return simt.c_str();
    case MatmulKernel::Gemv: return gemv.c_str();
    case MatmulKernel::Wgmma: return wgmma.c_str();
    case MatmulKernel::Plain: break;
  }
  return plain.c_str();
}

// Whether a kernel runs an epilogue (through TL_EPILOGUE_STORE, matmul_common.cu; wgmma at
// its store, matmul_wgmma_store.cu): the others run it as a kernel of its own (wgmma's tf32
// forms).
bool hooks_epilogue(const MatmulConfig& c, DType t) {
  switch (c.kernel) {
    case MatmulKernel::Plain:
    case MatmulKernel::Simt:
    case MatmulKernel::Mma:
    case MatmulKernel::Gemv: return true;
    case MatmulKernel::Wgmma: return t != DType::Float32;
  }
  return false;
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
  const auto skinny = [](int small_n, int ak, int av, int bk, int bv) {  // 16-wide tiles, k split
    MatmulConfig c;
    c.kernel = MatmulKernel::Mma;
    c.bm = small_n ? 128 : 16, c.bn = small_n ? 16 : 128, c.warps_m = small_n ? 8 : 1, c.warps_n = small_n ? 1 : 8;
    c.stages = 4, c.min_blocks = av && bv ? 3 : 2, c.splits = 8;
    c.a_kmajor = ak, c.a_vec = av, c.b_kmajor = bk, c.b_vec = bv;
    if (small_n ? ak : bk) c.bk = 64, c.stages = 2;
    return c;
  };
  // (ring: float32, sm_80+; ks: k splits; kb: the ring's k a stage)
  const auto simt = [](int tm, int ak, int av, int bk, int bv, int cv, int ring = 0, int ks = 1, int kb = 0) {
    MatmulConfig c;
    c.kernel = MatmulKernel::Simt;
    c.tm = tm, c.min_blocks = tm == 8 ? 1 : 2, c.a_kmajor = ak, c.a_vec = av, c.b_kmajor = bk, c.b_vec = bv, c.c_vec = cv;
    c.stages = ring ? 3 : 0, c.splits = ks, c.kslice = ks > 1 ? 256 : 0, c.bk = kb;
    return c;
  };
  const auto gemv = [](int dot, int sn, int v, int yv) {
    MatmulConfig c;
    c.kernel = MatmulKernel::Gemv;
    c.dot = dot, c.sn = sn, c.v = v, c.yv = yv;
    return c;
  };
  const auto wgmma = [](int bn, int bk, int pp = 0, int rs = 0) {  // (sm_90a only: wgmma_* sources are compiled for it)
    MatmulConfig c;
    c.kernel = MatmulKernel::Wgmma;
    c.bm = 128, c.bn = bn, c.stages = bn == 256 ? 4 : 6, c.a_kmajor = 1, c.b_kmajor = bk, c.pingpong = pp, c.rs = rs;
    return c;
  };
  const std::vector<std::pair<MatmulConfig, DType>> configs{
      {mma(1, 1, 1, 1, 1), DType::BFloat16}, {mma(1, 0, 1, 0, 1), DType::Float16},
      {mma(0, 1, 0, 0, 0), DType::BFloat16}, {mma(0, 0, 0, 1, 0), DType::Float16},
      {mma(1, 0, 0, 0, 0), DType::Float16},  {mma(0, 1, 1, 0, 1), DType::BFloat16},
      {skinny(1, 1, 1, 0, 1), DType::BFloat16}, {skinny(0, 1, 1, 0, 1), DType::BFloat16},
      {skinny(1, 0, 0, 1, 0), DType::Float16},  {skinny(0, 0, 1, 1, 0), DType::Float16},
      {simt(8, 1, 1, 0, 1, 1), DType::Float32}, {simt(4, 0, 1, 1, 1, 0), DType::Float32},
      {simt(8, 1, 0, 1, 0, 1), DType::Float16}, {simt(4, 0, 0, 0, 0, 0), DType::BFloat16},
      {simt(8, 1, 1, 0, 1, 1, 1), DType::Float32}, {simt(4, 0, 1, 1, 1, 0, 1), DType::Float32},  // cp.async ring
      {simt(8, 1, 0, 0, 1, 1, 1), DType::Float32}, {simt(4, 1, 1, 0, 0, 1, 1), DType::Float32},  // ring + registers
      {simt(8, 0, 0, 1, 1, 0, 1), DType::Float32}, {simt(4, 1, 1, 1, 0, 1, 1), DType::Float32},
      {simt(8, 1, 1, 0, 1, 1, 1, 2), DType::Float32}, {simt(8, 0, 1, 1, 0, 0, 1, 3), DType::Float32},  // k splits
      {simt(8, 0, 1, 1, 0, 1, 1, 2), DType::Float32}, {simt(8, 1, 1, 1, 1, 1, 1, 4), DType::Float32},
      {simt(8, 1, 1, 0, 1, 1, 1, 1, 16), DType::Float32}, {simt(8, 1, 0, 1, 1, 0, 1, 2, 16), DType::Float32},  // 16 k a stage
      {gemv(1, 1, 4, 1), DType::Float32},   {gemv(1, 4, 8, 0), DType::Float16},
      {gemv(0, 16, 4, 0), DType::BFloat16}, {gemv(0, 2, 2, 0), DType::Float64},
      {gemv(0, 16, 4, 0), DType::Float32},  {gemv(0, 8, 8, 0), DType::Float16},
      {gemv(0, 16, 1, 0), DType::Float64},  {gemv(0, 1, 1, 0), DType::Float32},
      {gemv(1, 16, 1, 0), DType::Float32},  {gemv(1, 2, 2, 1), DType::Float64},
      {MatmulConfig{}, DType::Float64},
      {wgmma(256, 0), DType::BFloat16}, {wgmma(256, 1), DType::Float16},
      {wgmma(128, 0), DType::Float16},  {wgmma(128, 1), DType::BFloat16},
      {wgmma(128, 0, 1), DType::BFloat16}, {wgmma(128, 1, 1), DType::Float16},
      {wgmma(256, 1), DType::Float32}, {wgmma(128, 1), DType::Float32},  // tf32
      {wgmma(256, 1, 0, 1), DType::Float32}, {wgmma(128, 1, 0, 1), DType::Float32},  // tf32, a from registers
  };
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [c, t] : configs)
    out.emplace_back("matmul_" + c.name() + "_" + dtype_name(t), configured(defines_for(c, t, 2), body_for(c.kernel)));
  return out;
}

std::vector<std::pair<std::string, std::string>> matmul_epilogue_kernel_sources(const ir::Kernel& k, int acc_slot) {
  std::vector<const Strides*> strides;
  for (const ir::Instr& i : k.instrs)
    if (i.op == ir::Op::Load || i.op == ir::Op::Store) strides.push_back(&i.strides);
  std::vector<int> dims;
  for (int d = 0; d + 2 < int(k.domain.size()); ++d) dims.push_back(d);
  const int batch_rank = int(merge_dims(k.domain, dims, strides).shape.size());
  DType t = DType::Float32;  // the product's dtype: the matmul's
  for (const ir::Instr& i : k.instrs)
    if (i.op == ir::Op::Load && i.slot == acc_slot) t = i.dtype;
  MatmulShape s;
  s.dtype = t, s.K = 64, s.batches = 1;
  s.a_align = s.b_align = s.c_align = 8;
  std::vector<MatmulShape> shapes;
  const auto add = [&](int64_t m, int64_t n, int64_t am, int64_t ak, int64_t bk, int64_t bn, int sm) {
    MatmulShape x = s;
    x.M = m, x.N = n, x.am = am, x.ak = ak, x.bk = bk, x.bn = bn, x.cm = n, x.cn = 1, x.sm = sm;
    shapes.push_back(x);
  };
  add(4096, 4096, 64, 1, 4096, 1, 80);   // tiled: mma (halves), simt (f32), plain (f64); 128 tiles
  add(100, 100, 64, 1, 100, 1, 80);      // 64 tiles
  add(100, 100, 1, 100, 1, 64, 70);      // halves before sm_80: simt
  add(1000, 7, 64, 1, 7, 1, 90);         // gemv, warp per row (halves: 16-wide mma tiles, element loads)
  add(7, 1000, 1, 7, 1000, 1, 90);       // gemv, lane per row (swapped)
  add(1000, 16, 64, 1, 16, 1, 90);       // halves: 16-wide mma tiles, cp.async, three blocks an SM
  add(16, 1000, 64, 1, 1000, 1, 90);
  add(1024, 1024, 1024, 1, 1024, 1, 80);  // f32: 64 tiles of 128, k split in two
  shapes.back().K = 1024;
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<MatmulConfig> configs;
  for (const MatmulShape& x : shapes) configs.push_back(select_matmul(x));
  if (is_half(t))  // sm_90a: ping-pong, and the cooperative kernel at both widths
    for (const auto& [width, pp] : {std::pair{128, true}, {128, false}, {256, false}})
      configs.push_back(wgmma_config(shapes[0], width, pp));
  for (const MatmulConfig& c : configs) {
    if (!hooks_epilogue(c, t)) continue;
    const std::string name = "matmul_" + c.name() + "_" + dtype_name(t) + "_epilogue";
    bool seen = false;
    for (const auto& o : out) seen |= o.first == name;
    if (!seen)
      out.emplace_back(name, configured(defines_for(c, t, 2), body_for(c.kernel),
                                        matmul_epilogue_source(k, acc_slot, batch_rank)));
  }
  return out;
}

}  // namespace tl::cuda
