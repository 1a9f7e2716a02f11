#pragma once
// Host->device copies of pageable memory through pinned staging: the bytes are copied into a
// ring of pinned host memory (cuMemHostAlloc, per device) and from there with
// cuMemcpyHtoDAsync on the stream, each span reused once the event recorded after its copy
// has completed. The host waits for nothing the GPU queued before (unlike a copy from
// pageable memory), except when more than the ring is in flight; large copies go in chunks.
#include <cstddef>

#include "cuda/cuda_api.h"
#include "cuda/cuda_stream.h"

namespace tl::cuda {

void staged_write(CUdeviceptr dst, const void* src, size_t n, const Stream& s);

// The ring's size and the largest chunk of one copy (bytes).
constexpr size_t kStagingBytes = size_t(32) << 20;
constexpr size_t kStagingChunk = size_t(8) << 20;

}  // namespace tl::cuda
