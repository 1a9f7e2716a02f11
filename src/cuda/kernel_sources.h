#pragma once
// The static CUDA kernels of src/cuda/kernels/*.cu, embedded at build time (see
// kernel_sources.cpp.in) and compiled by NVRTC after common_source() and the #defines that
// configure them (each file's header says which).
namespace tl::cuda::sources {
extern const char* const kArgReduce;
extern const char* const kScan;
extern const char* const kGather;
extern const char* const kMatmul;
extern const char* const kRandom;
extern const char* const kPhilox;  // src/core/philox.h, which random.cu needs
}  // namespace tl::cuda::sources
