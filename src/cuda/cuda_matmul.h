#pragma once
// Matmul on CUDA: a family of static kernels (src/cuda/kernels/matmul*.cu) and a selector, a
// pure function of the problem, that picks one with its tile configuration.
//   mma   tensor cores (mma.sync + ldmatrix + cp.async pipeline), float16 / bfloat16, sm_80+
//   simt  float32 arithmetic, register-blocked: float32 (and 16-bit floats before sm_80); k
//         split over the grid where its 128 x 128 tiles are too few for the SMs
//   gemv  M or N <= 16: memory-bound, reads the large operand once at full width (split along
//         k across blocks when its rows alone cannot occupy every SM)
//   plain the simple tiled kernel, for float64 (and integers, which matmul runs in float64)
//   wgmma Hopper tensor cores (sm_90 only: wgmma + TMA, warp-specialized, persistent),
//         float16 / bfloat16 problems whose 128 x 128 tiles cover a third of the SMs or more,
//         and float32 ones as tf32 where the matmul allows it (tl.set_float32_matmul_precision)
// The selector and its configurations are in cuda_matmul_select.cpp; a configuration as
// kernel source in cuda_matmul_sources.cpp; launching the kernels in cuda_matmul.cpp.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/fusion_ir.h"
#include "cuda/cuda_module.h"
#include "cuda/cuda_ops.h"

namespace tl::cuda {

// A matmul c = a @ b as the selector sees it. Strides (in elements) of the last two dims; a
// dim of extent 1 has stride 0 (it never moves). base_align: the largest of 1, 2, 4, 8
// elements dividing the operand's offset, its batch strides and its buffer's address.
struct MatmulShape {
  int64_t M = 0, N = 0, K = 0, batches = 1;
  DType dtype = DType::Float32;
  int64_t am = 0, ak = 0, bk = 0, bn = 0, cm = 0, cn = 0;
  int a_align = 1, b_align = 1, c_align = 1;
  int sm = 90;    // compute capability, major * 10 + minor
  int sms = 132;  // multiprocessors
  bool tensor_maps = true;  // the driver encodes TMA tensor maps (wgmma's operands need them)
  // a_batch, b_batch: the operand's batch offset is batch index x a non-negative stride (one
  // merged batch dim, or broadcast: every batch stride 0), as a TMA tensor map can walk it.
  int a_batch = 1, b_batch = 1;
  bool tf32 = false;  // float32 operands may be rounded to tf32 (MatmulPrecision::High)
};

// plain, simt, mma, gemv: see the top of this file; wgmma: Hopper tensor cores (sm_90a
// wgmma fed by TMA, warp-specialized, persistent), float16 / bfloat16, float32 as tf32.
enum class MatmulKernel { Plain, Simt, Mma, Gemv, Wgmma };

// The SIMT kernel's cp.async ring: k a stage unless a configuration says (its TL_KB default).
constexpr int kSimtRingK = 32;

// A kernel and its configuration (each field means something for some kernels only; the
// rest stay 0). "k-major": the operand's tile is read along k (its k stride is 1, or it is
// strided both ways); otherwise along m (a) or n (b), whose stride is then 1.
struct MatmulConfig {
  MatmulKernel kernel = MatmulKernel::Plain;
  int bm = 0, bn = 0, warps_m = 0, warps_n = 0;  // mma
  int stages = 0;  // mma, wgmma; simt: cp.async ring depth (0: two register-staged buffers)
  int bk = 0;  // mma: k a stage (0: 32); simt ring: k a stage (0: kSimtRingK)
  int tm = 0;                                                // simt: outputs per thread and dim
  int min_blocks = 0;  // mma, simt: blocks an SM must hold (a register cap)
  int a_kmajor = 0, b_kmajor = 0;                            // mma, simt
  int a_vec = 0, b_vec = 0, c_vec = 0;  // mma: cp.async operands; simt: vector loads/stores
  // gemv: swap computes c^T = b^T a^T (M is the small dim); dot: warp per row (1) or lane per
  // row (0) of the large operand; sn: accumulated columns; v: vector width; yv: vector loads
  // of the small operand; splits: (lane form) grid blocks along k, kslice k each, their
  // partials added by a second kernel when more than 1.
  // mma, simt: splits > 1 splits k over the grid, kslice each, the tile's last block adding them.
  int swap = 0, dot = 0, sn = 0, v = 0, yv = 0;
  int64_t splits = 0, kslice = 0;
  // wgmma: bm x bn tiles, `stages` deep, b_kmajor; pack_a / pack_b: the operand is first
  // copied to aligned scratch (a k-contiguous, b in its b_kmajor layout) where TMA cannot
  // read it in place; pingpong: each consumer warpgroup takes every other tile whole (its
  // store and epilogue overlapping the other's products) instead of half of each.
  // rs (tf32): b is n-contiguous, so the kernel runs c^T = b^T a^T with b^T's tile (MN-major)
  // given to wgmma from registers, instead of b packed transposed.
  int pack_a = 0, pack_b = 0, pingpong = 0, rs = 0;

  std::string name() const;  // e.g. "mma_128x128_s3_ka_kb_async_ab": what tests and logs show
  bool operator==(const MatmulConfig&) const = default;
};

MatmulConfig select_matmul(const MatmulShape& s);
// The Hopper kernel's configuration for s: 128 x `width` tiles (ping-pong: 128 x 128).
MatmulConfig wgmma_config(const MatmulShape& s, int width, bool pingpong = false);
// What the autotuner (core/autotune.h) measures for s: select_matmul's choice first, then the
// other tile configurations of its family that can run s (one candidate: nothing to measure).
std::vector<MatmulConfig> matmul_candidates(const MatmulShape& s);
// Everything of s that decides which candidate wins, as the autotuner's key.
std::string matmul_key(const MatmulShape& s);
// c, or the kernel TENSORLOGIC_MATMUL_FORCE names (mma, wgmma128, wgmma256, wgmma_pp; float32
// SIMT: simt_old without the cp.async ring, simt_nosplit without k splits, simt_kb<k>s<stages>
// other ring stages) where it can run the problem: a tuning aid for bench/matmul_cuda.py --force.
MatmulConfig forced_matmul(const MatmulShape& s, const MatmulConfig& c);

// out[..., m, n] = sum_k a[..., m, k] * b[..., k, n] (batch dims already broadcast). With an
// epilogue (core/backend.h), the kernel runs it on each result before the store; where the
// selected kernel has no epilogue hook, the epilogue runs as its own kernel after the matmul.
// The configuration the calling thread's last matmul ran (MatmulConfig::name, e.g.
// "wgmma_128x256_s4_bn"): what the profiler shows.
std::string last_matmul_kernel();

// tf32: float32 products may run on tf32 tensor cores (where the selector finds them).
void matmul(const Target& t, const Tensor& a, const Tensor& b, const Tensor& out,
            const Epilogue* epilogue = nullptr, bool tf32 = false);

// A configuration as source (cuda_matmul_sources.cpp): the #defines of c for storage type t
// and `rank` merged batch dims, its kernel's entry point and body (matmul_common.cu, then the
// kernel), and whether it runs an epilogue for storage type t (the others run an epilogue as
// a kernel of its own).
Defines defines_for(const MatmulConfig& c, DType t, int rank);
const char* entry_for(MatmulKernel k);
const char* body_for(MatmulKernel k);
bool hooks_epilogue(const MatmulConfig& c, DType t);

// (name, source) of a set of configurations that reaches every branch of every matmul
// kernel: for the nvcc check.
std::vector<std::pair<std::string, std::string>> matmul_kernel_sources();
// The same with one epilogue (its kernel and the product's slot): a configuration of each
// kernel that takes an epilogue, for the product's dtype.
std::vector<std::pair<std::string, std::string>> matmul_epilogue_kernel_sources(const ir::Kernel& k, int acc_slot);

}  // namespace tl::cuda
