#pragma once
// The static kernels of metal/*.metal that the host dispatches (elementwise ops and
// reductions go through the MSL generator instead), embedded at build time
// (metal_sources.cpp.in, Apple builds only; a local header such as metal/matmul_common.h
// inlined where it is included) and compiled by the Metal runtime, one library per file, on
// first use.
namespace tl::metal::sources {
extern const char* const kMatmul;     // matmul_<t>_<nn|nt|tn|tt>_<tile>
extern const char* const kGemv;       // gemv_<t>_<nn|nt|tn|tt>
extern const char* const kGather;     // gather_x<bits> (also scatter)
extern const char* const kScan;       // scan_<t>
extern const char* const kArgReduce;  // argreduce_<t>
extern const char* const kRandom;     // random_<t>
}  // namespace tl::metal::sources
