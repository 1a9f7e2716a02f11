// The CUDA matmul selector (a pure function): which kernel and configuration each kind of
// problem gets. The kernels themselves are tested on the GPU by tests/test_matmul.py and
// tests/test_matmul_wgmma.py.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/cuda_matmul.h"

namespace tl::cuda {
namespace {

// Row-major contiguous a (M x K), b (K x N), c (M x N) on an H100 (132 SMs), strides of
// extent-1 dims 0 as the host passes them.
MatmulShape contiguous(int64_t M, int64_t N, int64_t K, DType t, int64_t batches = 1) {
  MatmulShape s;
  s.M = M, s.N = N, s.K = K, s.batches = batches, s.dtype = t;
  s.am = M == 1 ? 0 : K, s.ak = K == 1 ? 0 : 1, s.bk = K == 1 ? 0 : N, s.bn = N == 1 ? 0 : 1;
  s.cm = M == 1 ? 0 : N, s.cn = N == 1 ? 0 : 1;
  s.a_align = s.b_align = s.c_align = 8;
  return s;
}

// The same on an sm_80 part (mma.sync; sm_90 takes wgmma where it pays), 132 SMs.
MatmulShape ampere(MatmulShape s) {
  s.sm = 80;
  return s;
}

TEST(CudaMatmulSelect, HalvesTakeTensorCoresWithTilesBySize) {
  const MatmulConfig big = select_matmul(ampere(contiguous(4096, 4096, 4096, DType::BFloat16)));
  EXPECT_EQ(big.name(), "mma_128x128_s3_akv_bnv");
  EXPECT_EQ(big.min_blocks, 1);
  // 8 x 8 = 64 tiles of 128 do not fill 132 SMs: 64 x 64 tiles.
  EXPECT_EQ(select_matmul(contiguous(1001, 1001, 1001, DType::Float16)).name(), "mma_64x64_s4_aks_bns");
  EXPECT_EQ(select_matmul(ampere(contiguous(1024, 1024, 64, DType::Float16))).name(), "mma_64x64_s4_akv_bnv");
  // ... unless a batch fills them.
  EXPECT_EQ(select_matmul(ampere(contiguous(1024, 1024, 64, DType::Float16, 4))).bm, 128);
}

TEST(CudaMatmulSelect, TransposedOperandsKeepTheirLayout) {
  MatmulShape s = ampere(contiguous(512, 512, 512, DType::BFloat16));
  std::swap(s.am, s.ak);  // a^T stored: m stride 1
  std::swap(s.bk, s.bn);  // b^T stored: k stride 1
  const MatmulConfig c = select_matmul(s);
  EXPECT_EQ(c.kernel, MatmulKernel::Mma);
  EXPECT_EQ(c.a_kmajor, 0);
  EXPECT_EQ(c.b_kmajor, 1);
  EXPECT_EQ(c.a_vec, 1);
  EXPECT_EQ(c.b_vec, 1);
}

TEST(CudaMatmulSelect, UnalignedOrStridedOperandsLoadElements) {
  MatmulShape s = ampere(contiguous(4097, 4095, 4093, DType::BFloat16));
  EXPECT_EQ(select_matmul(s).name(), "mma_128x128_s3_aks_bns");  // leading dims not multiples of 8
  s = contiguous(512, 512, 512, DType::Float16);
  s.a_align = 4;  // offset or address not 16-byte aligned
  EXPECT_EQ(select_matmul(s).name(), "mma_64x64_s4_aks_bnv");
  s.ak = 3, s.am = 3 * 512 * 2;  // a strided both ways: along k, element by element
  EXPECT_EQ(select_matmul(s).a_kmajor, 1);
  EXPECT_EQ(select_matmul(s).a_vec, 0);
}

TEST(CudaMatmulSelect, HopperHalvesTakeWgmmaWhereItPays) {
  // 128 x 256 tiles, b read in place n-contiguous (x @ w).
  const MatmulConfig big = select_matmul(contiguous(4096, 4096, 4096, DType::BFloat16));
  EXPECT_EQ(big.name(), "wgmma_128x256_s4_bn");
  EXPECT_EQ(select_matmul(contiguous(8192, 8192, 8192, DType::Float16)).name(), "wgmma_128x256_s4_bn");
  // x @ w.T: b k-contiguous (stored n x k), its tile [n][k].
  MatmulShape t = contiguous(4096, 4096, 4096, DType::BFloat16);
  t.bk = 1, t.bn = 4096;
  EXPECT_EQ(select_matmul(t).name(), "wgmma_128x256_s4_bk");
  // 16 x 8 tiles of 128 x 256 take one round over the 132 SMs, 16 x 16 of 128 x 128 two.
  EXPECT_EQ(select_matmul(contiguous(2048, 2048, 1024, DType::Float16)).name(), "wgmma_128x256_s4_bn");
  // 1024^3: 64 tiles of 128 x 128, one round (and wgmma's still beat mma's 64 x 64 ones).
  EXPECT_EQ(select_matmul(contiguous(1024, 1024, 1024, DType::BFloat16)).name(), "wgmma_128x128_s6_bn");
  EXPECT_EQ(select_matmul(contiguous(1000, 1000, 1000, DType::BFloat16)).name(), "wgmma_128x128_s6_bn");
  // Batches count in the rounds: 3 x 64 tiles of 128 x 128 take two, 3 x 32 of 128 x 256 one.
  EXPECT_EQ(select_matmul(contiguous(1000, 1000, 1000, DType::BFloat16, 3)).name(), "wgmma_128x256_s4_bn");
  // 3000^2: 24 x 24 tiles of 128 x 128 take 5 rounds, 24 x 12 of 128 x 256 3 (as 6 of 128).
  EXPECT_EQ(select_matmul(contiguous(3000, 3000, 3000, DType::BFloat16)).name(), "wgmma_128x128_s6_bn");
  EXPECT_EQ(select_matmul(contiguous(512, 512, 64, DType::BFloat16, 64)).name(), "wgmma_128x256_s4_bn");
}

TEST(CudaMatmulSelect, WgmmaFallsBackToMma) {
  // Too few 128 x 128 tiles for the SMs (6 x 6 = 36 of 132): mma's 64 x 64 tiles.
  EXPECT_EQ(select_matmul(contiguous(768, 768, 768, DType::BFloat16)).name(), "mma_64x64_s4_akv_bnv");
  // k shorter than one 64-deep stage.
  EXPECT_EQ(select_matmul(contiguous(4096, 4096, 32, DType::BFloat16)).kernel, MatmulKernel::Mma);
  // wgmma is sm_90a: not on sm_89, nor on sm_100 (no wgmma there).
  MatmulShape s = contiguous(4096, 4096, 4096, DType::BFloat16);
  s.sm = 89;
  EXPECT_EQ(select_matmul(s).kernel, MatmulKernel::Mma);
  s.sm = 100;
  EXPECT_EQ(select_matmul(s).kernel, MatmulKernel::Mma);
  // float32 stays on the SIMT kernel.
  EXPECT_EQ(select_matmul(contiguous(4096, 4096, 4096, DType::Float32)).kernel, MatmulKernel::Simt);
  // Operands TMA cannot read in place (a leading dim not a multiple of 8 elements, an
  // unaligned offset, a m-contiguous, several batch dims): mma, unless the problem is large
  // enough (2^33 multiply-adds) to pay for packing them first.
  s = contiguous(2048, 2048, 1020, DType::Float16);  // a's rows 1020 apart
  EXPECT_EQ(select_matmul(s).kernel, MatmulKernel::Mma);
  s = contiguous(2048, 2048, 1024, DType::Float16);
  s.a_align = 4;
  EXPECT_EQ(select_matmul(s).kernel, MatmulKernel::Mma);
  s.a_align = 8, s.b_batch = 0;
  EXPECT_EQ(select_matmul(s).kernel, MatmulKernel::Mma);
  s = contiguous(2048, 2048, 1024, DType::Float16);
  std::swap(s.am, s.ak);  // a^T stored
  EXPECT_EQ(select_matmul(s).kernel, MatmulKernel::Mma);
}

TEST(CudaMatmulSelect, LargeWgmmaProblemsPackWhatTmaCannotRead) {
  // The odd shape: leading dims 4093 and 4095 are not multiples of 8: both packed.
  EXPECT_EQ(select_matmul(contiguous(4097, 4095, 4093, DType::BFloat16)).name(), "wgmma_128x256_s4_bn_pa_pb");
  MatmulShape s = contiguous(4096, 4096, 4096, DType::BFloat16);
  std::swap(s.am, s.ak);  // a^T stored: packed k-contiguous
  EXPECT_EQ(select_matmul(s).name(), "wgmma_128x256_s4_bn_pa");
  s = contiguous(4096, 4096, 4096, DType::BFloat16);
  s.bk = 2 * 4096, s.bn = 2;  // b strided both ways: packed k-contiguous
  EXPECT_EQ(select_matmul(s).name(), "wgmma_128x256_s4_bk_pb");
  s = contiguous(4096, 4096, 4096, DType::Float16, 2);
  s.a_batch = 0;  // several batch dims
  EXPECT_EQ(select_matmul(s).name(), "wgmma_128x256_s4_bn_pa");
}

TEST(CudaMatmulSelect, Float32IsSimtFloat64IsPlain) {
  EXPECT_EQ(select_matmul(contiguous(4096, 4096, 4096, DType::Float32)).name(), "simt_128_s3_akv_bnv_cv");
  EXPECT_EQ(select_matmul(contiguous(4096, 4096, 4096, DType::Float32)).min_blocks, 1);
  EXPECT_EQ(select_matmul(contiguous(100, 100, 100, DType::Float32)).name(), "simt_64_s3_akv_bnv_cv");
  EXPECT_EQ(select_matmul(contiguous(99, 99, 99, DType::Float32)).name(), "simt_64_aks_bns_cs");
  // The cp.async ring: sm_80+, and only with a vector operand (the other staged through registers).
  MatmulShape one = contiguous(4096, 4096, 4095, DType::Float32);  // a's rows not 16-byte multiples
  EXPECT_EQ(select_matmul(one).name(), "simt_128_s3_aks_bnv_cv");
  MatmulShape volta = contiguous(4096, 4096, 4096, DType::Float32);
  volta.sm = 70;
  EXPECT_EQ(select_matmul(volta).name(), "simt_128_akv_bnv_cv");
  // TENSORLOGIC_MATMUL_FORCE=simt_old: the register-staged form, to time against the ring.
  ::setenv("TENSORLOGIC_MATMUL_FORCE", "simt_old", 1);
  const MatmulShape big = contiguous(4096, 4096, 4096, DType::Float32);
  EXPECT_EQ(forced_matmul(big, select_matmul(big)).name(), "simt_128_akv_bnv_cv");
  const MatmulShape half = contiguous(4096, 4096, 4096, DType::Float16);
  EXPECT_EQ(forced_matmul(half, select_matmul(half)), select_matmul(half));
  ::unsetenv("TENSORLOGIC_MATMUL_FORCE");
  EXPECT_EQ(select_matmul(contiguous(512, 512, 512, DType::Float64)).kernel, MatmulKernel::Plain);
  // Without tensor cores' sm_80 instructions, 16-bit floats take the SIMT kernel.
  MatmulShape old = contiguous(512, 512, 512, DType::Float16);
  old.sm = 75;
  EXPECT_EQ(select_matmul(old).kernel, MatmulKernel::Simt);
}

// float32 SIMT where 128 x 128 tiles leave SMs idle: k split over the grid, as many splits
// as one wave holds, each at least 256 k, where that makes half a wave; else 64 x 64 tiles.
TEST(CudaMatmulSelect, Float32SimtSplitsKWhereItsTilesAreTooFew) {
  const MatmulConfig c = select_matmul(contiguous(1024, 1024, 1024, DType::Float32));  // 64 tiles
  EXPECT_EQ(c.name(), "simt_128_s3_akv_bnv_cv_ks2");
  EXPECT_EQ(c.kslice, 512);
  const MatmulConfig odd = select_matmul(contiguous(1000, 1000, 1000, DType::Float32));
  EXPECT_EQ(odd.name(), "simt_128_s3_akv_bnv_cv_ks2");
  EXPECT_EQ(odd.kslice, 512);  // whole 32-k steps: 512 + 488
  EXPECT_EQ(select_matmul(contiguous(768, 768, 768, DType::Float32)).name(), "simt_128_s3_akv_bnv_cv_ks3");  // 36 tiles
  const MatmulConfig deep = select_matmul(contiguous(512, 512, 4096, DType::Float32));  // 16 tiles x 8
  EXPECT_EQ(deep.name(), "simt_128_s3_akv_bnv_cv_ks8");
  EXPECT_EQ(deep.kslice, 512);
  // k too short for half a wave (16 tiles x 2 of 256), or tiles enough: no split.
  EXPECT_EQ(select_matmul(contiguous(512, 512, 512, DType::Float32)).name(), "simt_64_s3_akv_bnv_cv");
  EXPECT_EQ(select_matmul(contiguous(1000, 1000, 1000, DType::Float32, 3)).name(), "simt_128_s3_akv_bnv_cv");
  EXPECT_EQ(select_matmul(contiguous(1024, 1024, 1024, DType::Float32, 2)).name(), "simt_64_s3_akv_bnv_cv");
  // Only the cp.async ring splits (sm_80+, float32, a vector operand).
  MatmulShape volta = contiguous(1024, 1024, 1024, DType::Float32);
  volta.sm = 70;
  EXPECT_EQ(select_matmul(volta).name(), "simt_64_akv_bnv_cv");
  MatmulShape strided = contiguous(1024, 1024, 1024, DType::Float32);
  strided.a_align = strided.b_align = 1;
  EXPECT_EQ(select_matmul(strided).name(), "simt_64_aks_bns_cv");
  // TENSORLOGIC_MATMUL_FORCE: simt_nosplit the choice before splits, simt_old the
  // register-staged form.
  const MatmulShape s = contiguous(1024, 1024, 1024, DType::Float32), big = contiguous(4096, 4096, 4096, DType::Float32);
  const auto forced = [](const char* f, const MatmulShape& x) {
    ::setenv("TENSORLOGIC_MATMUL_FORCE", f, 1);
    const std::string n = forced_matmul(x, select_matmul(x)).name();
    ::unsetenv("TENSORLOGIC_MATMUL_FORCE");
    return n;
  };
  EXPECT_EQ(forced("simt_nosplit", s), "simt_64_s3_akv_bnv_cv");
  EXPECT_EQ(forced("simt_nosplit", big), "simt_128_s3_akv_bnv_cv");
  EXPECT_EQ(forced("simt_old", s), "simt_64_akv_bnv_cv");
  // simt_kb<k>s<stages>: 128 x 128 ring tiles with other stages (none where the choice has none).
  const MatmulConfig kb = [&] {
    ::setenv("TENSORLOGIC_MATMUL_FORCE", "simt_kb16s4", 1);
    const MatmulConfig c = forced_matmul(big, select_matmul(big));
    ::unsetenv("TENSORLOGIC_MATMUL_FORCE");
    return c;
  }();
  EXPECT_EQ(kb.name(), "simt_128_s4_akv_bnv_cv_k16");
  EXPECT_EQ(forced("simt_kb16s4", contiguous(100, 100, 100, DType::Float32)), "simt_64_s3_akv_bnv_cv");
  EXPECT_EQ(forced("simt_kb7s4", big), "simt_128_s3_akv_bnv_cv");
  const MatmulShape half = contiguous(1024, 1024, 1024, DType::Float16);
  EXPECT_EQ(forced("simt_nosplit", half), select_matmul(half).name());
}

// float32 whose matmul allows tf32 (MatmulPrecision::High): wgmma on Hopper, its shared-memory
// operands K-major: b k-contiguous read in place; b n-contiguous as c^T = b^T a^T with b^T
// from registers ("_rs", 128 x 256 tiles of c^T); b that TMA cannot read packed transposed
// (whatever the problem's size: a pack costs less than float32 SIMT products); elsewhere and
// when small, the SIMT kernel.
TEST(CudaMatmulSelect, Tf32TakesWgmmaOnHopperWithBothOperandsKMajor) {
  MatmulShape s = contiguous(4096, 4096, 4096, DType::Float32);
  s.tf32 = true;
  EXPECT_EQ(select_matmul(s).name(), "wgmma_128x256_s4_bk_rs");
  MatmulShape odd = s;  // b's rows 4097 apart: no tensor map strides them
  odd.bk = 4097, odd.b_align = 1;
  EXPECT_EQ(select_matmul(odd).name(), "wgmma_128x256_s4_bk_pb");
  MatmulShape wide = contiguous(256, 8192, 1024, DType::Float32);  // c^T's tiles: 64 rows of 256 wide
  wide.tf32 = true;
  EXPECT_EQ(select_matmul(wide).name(), "wgmma_128x128_s6_bk_rs");
  MatmulShape wt = s;  // x @ w.T: b k-contiguous, read in place
  std::swap(wt.bk, wt.bn);
  EXPECT_EQ(select_matmul(wt).name(), "wgmma_128x256_s4_bk");
  MatmulShape small = contiguous(1024, 768, 256, DType::Float32);
  small.tf32 = true;
  EXPECT_EQ(select_matmul(small).name(), "wgmma_128x128_s6_bk_rs");
  EXPECT_EQ(select_matmul(ampere(s)).kernel, MatmulKernel::Simt);
  MatmulShape tiny = contiguous(256, 256, 256, DType::Float32);  // 4 tiles: too few for wgmma
  tiny.tf32 = true;
  EXPECT_EQ(select_matmul(tiny).kernel, MatmulKernel::Simt);
  MatmulShape half = contiguous(4096, 4096, 4096, DType::BFloat16);
  half.tf32 = true;  // (no meaning for 16-bit floats)
  EXPECT_EQ(select_matmul(half).name(), select_matmul(contiguous(4096, 4096, 4096, DType::BFloat16)).name());
  // The autotuner measures both widths.
  const std::vector<MatmulConfig> c = matmul_candidates(s);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].name(), "wgmma_128x128_s6_bk_rs");
}

// A GPU before sm_80 (no mma.sync bf16): where 16-bit floats take the CUDA-core forms.
MatmulShape turing(MatmulShape s) {
  s.sm = 75;
  return s;
}

TEST(CudaMatmulSelect, SmallSideIsGemv) {
  // N <= 16, rows of a contiguous: a warp per row, 16-byte vectors of a and of b (N = 1).
  EXPECT_EQ(select_matmul(turing(contiguous(4096, 1, 4096, DType::Float16))).name(), "gemv_dot_sn1_v8_yv");
  EXPECT_EQ(select_matmul(contiguous(4096, 16, 4096, DType::Float32)).name(), "gemv_dot_sn16_v4");
  EXPECT_EQ(select_matmul(contiguous(4096, 17, 4096, DType::Float32)).kernel, MatmulKernel::Simt);
  // M <= 16: the transposed problem; b row-major is then m-contiguous: a lane per v rows,
  // at most 64 accumulators a lane. 512 row tiles of 128 and a k of 1024: 2 k splits.
  EXPECT_EQ(select_matmul(turing(contiguous(16, 65536, 1024, DType::BFloat16))).name(), "gemv_lane_sn16_v4_ks2_t");
  EXPECT_EQ(select_matmul(turing(contiguous(16, 65536, 256, DType::BFloat16))).name(), "gemv_lane_sn16_v4_t");
  EXPECT_EQ(select_matmul(contiguous(1, 65536, 1024, DType::Float32)).name(), "gemv_lane_sn1_v4_ks2_t");
  // Fewer rows: k splits fill the SMs (64 tiles x 9 splits of 912 k), with whole vectors.
  const MatmulConfig skinny = select_matmul(turing(contiguous(16, 8192, 8192, DType::BFloat16)));
  EXPECT_EQ(skinny.name(), "gemv_lane_sn16_v4_ks9_t");
  EXPECT_EQ(skinny.kslice, 912);
  EXPECT_EQ(select_matmul(turing(contiguous(4, 8192, 8192, DType::Float16))).name(), "gemv_lane_sn4_v8_ks17_t");
  // ... and where k is too short to split, narrower vectors cover them.
  EXPECT_EQ(select_matmul(contiguous(2, 1024, 64, DType::Float32)).name(), "gemv_lane_sn2_v1_t");
  EXPECT_EQ(select_matmul(turing(contiguous(3, 4099, 7, DType::BFloat16))).name(), "gemv_lane_sn4_v1_t");
  // Strided both ways: a warp per row, element loads.
  MatmulShape s = contiguous(300, 5, 257, DType::Float64);
  s.am = 2 * 257 * 2, s.ak = 2;
  EXPECT_EQ(select_matmul(s).name(), "gemv_dot_sn8_v1");
}

TEST(CudaMatmulSelect, SmallSideInHalvesIsTensorCoresSplitAlongK) {
  // 16-wide tiles on the small side, 128 on the other; 64 tiles x 6 splits of 1408 k (whole
  // steps of 64: the large operand a is k-contiguous, 2 stages): one wave of three blocks an SM.
  const MatmulConfig n16 = select_matmul(contiguous(8192, 16, 8192, DType::BFloat16));
  EXPECT_EQ(n16.name(), "mma_128x16_s2_k64_akv_bnv_ks6");
  EXPECT_EQ(n16.kslice, 1408);
  EXPECT_EQ(n16.min_blocks, 3);
  // The large operand b n-contiguous: steps of 32, 4 stages.
  EXPECT_EQ(select_matmul(contiguous(16, 8192, 8192, DType::BFloat16)).name(), "mma_16x128_s4_akv_bnv_ks6");
  EXPECT_EQ(select_matmul(contiguous(4096, 1, 4096, DType::Float16)).name(), "mma_128x16_s2_k64_akv_bkv_ks11");
  // (sm_80: steps of 32, 4 stages)
  EXPECT_EQ(select_matmul(ampere(contiguous(4096, 1, 4096, DType::Float16))).name(), "mma_128x16_s4_akv_bkv_ks12");
  // Short k: no split.
  EXPECT_EQ(select_matmul(contiguous(3, 4099, 7, DType::BFloat16)).name(), "mma_16x128_s4_aks_bns");
}

TEST(CudaMatmulSelect, AutotuneCandidatesStartWithTheHeuristicsChoice) {
  const auto names = [](const std::vector<MatmulConfig>& cs) {
    std::vector<std::string> v;
    for (const MatmulConfig& c : cs) v.push_back(c.name());
    return v;
  };
  // bf16 on an H100/H200: the choice, then mma's two tile sizes, wgmma's two widths and the
  // ping-pong wgmma.
  const MatmulShape h = contiguous(4096, 4096, 4096, DType::BFloat16);
  const std::vector<MatmulConfig> hc = matmul_candidates(h);
  ASSERT_EQ(hc.size(), 5u) << ::testing::PrintToString(names(hc));
  EXPECT_EQ(hc[0], select_matmul(h));
  EXPECT_EQ(names(hc), (std::vector<std::string>{"wgmma_128x256_s4_bn", "mma_128x128_s3_akv_bnv",
                                                  "mma_64x64_s4_akv_bnv", "wgmma_128x128_s6_bn",
                                                  "wgmma_128x128_s6_bn_pp"}));
  // No tensor maps in the driver, or sm_80: no wgmma candidates.
  MatmulShape no_maps = h;
  no_maps.tensor_maps = false;
  EXPECT_EQ(names(matmul_candidates(no_maps)), (std::vector<std::string>{"mma_128x128_s3_akv_bnv", "mma_64x64_s4_akv_bnv"}));
  EXPECT_EQ(matmul_candidates(ampere(h)).size(), 2u);
  // float32: the SIMT choice (here 128 x 128 tiles split along k) and its two register
  // blockings unsplit; a side <= 16 and float64: one, nothing to measure.
  const std::vector<MatmulConfig> fc = matmul_candidates(contiguous(1000, 1000, 1000, DType::Float32));
  EXPECT_EQ(names(fc), (std::vector<std::string>{"simt_128_s3_akv_bnv_cv_ks2", "simt_128_s3_akv_bnv_cv",
                                                  "simt_64_s3_akv_bnv_cv"}));
  EXPECT_EQ(fc[0], select_matmul(contiguous(1000, 1000, 1000, DType::Float32)));
  EXPECT_EQ(matmul_candidates(contiguous(16, 8192, 8192, DType::BFloat16)).size(), 1u);
  EXPECT_EQ(matmul_candidates(contiguous(512, 512, 512, DType::Float64)).size(), 1u);
}

TEST(CudaMatmulSelect, AutotuneKeySeesEveryField) {
  const MatmulShape s = contiguous(1000, 1000, 1000, DType::BFloat16);
  const std::string k = matmul_key(s);
  const auto differs = [&](auto change) {
    MatmulShape t = s;
    change(t);
    return matmul_key(t) != k;
  };
  EXPECT_TRUE(differs([](MatmulShape& t) { t.K = 1001; }));
  EXPECT_TRUE(differs([](MatmulShape& t) { t.dtype = DType::Float16; }));
  EXPECT_TRUE(differs([](MatmulShape& t) { std::swap(t.bk, t.bn); }));
  EXPECT_TRUE(differs([](MatmulShape& t) { t.b_align = 2; }));
  EXPECT_TRUE(differs([](MatmulShape& t) { t.sms = 114; }));
  EXPECT_TRUE(differs([](MatmulShape& t) { t.tensor_maps = false; }));
  EXPECT_TRUE(differs([](MatmulShape& t) { t.tf32 = true; }));
  EXPECT_EQ(k.find('\n'), std::string::npos);  // one line (the cache file's first)
}

}  // namespace
}  // namespace tl::cuda
