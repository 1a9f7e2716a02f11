#pragma once
// The static CUDA kernels of src/cuda/kernels/*.cu, embedded at build time (see
// kernel_sources.cpp.in) and compiled by NVRTC after common_source() and the #defines that
// configure them (each file's header says which).
namespace tl::cuda::sources {
extern const char* const kArgReduce;
extern const char* const kScan;
extern const char* const kGather;
extern const char* const kMatmul;        // plain tiled, float64
extern const char* const kMatmulCommon;  // what every matmul kernel starts with
extern const char* const kMatmulMma;
extern const char* const kMatmulSimt;
extern const char* const kMatmulGemv;
extern const char* const kMatmulWgmma;  // sm_90a: wgmma + TMA
extern const char* const kMatmulWgmmaStore;  // its stores (after kMatmulWgmma)
extern const char* const kMatmulWgmmaPack;  // its operand pack (after kMatmulWgmma)
extern const char* const kRandom;
extern const char* const kPhilox;  // src/core/philox.h, which random.cu needs
}  // namespace tl::cuda::sources
