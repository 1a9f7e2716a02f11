#pragma once
#include "core/backend.h"
#include "cuda/cuda_api.h"
#include "cuda/cuda_stream.h"

namespace tl::cuda {

// The CUDA backend: present in every build, usable where the NVIDIA driver and NVRTC load.
Backend& cuda_backend();

// The primary context of CUDA device `index` (DeviceError when absent).
CUcontext device_context(int index);
// Called once, when device `index` gets its first stream besides the default: from then on
// freed blocks carry an event, and the blocks cached so far get one (BufferCache::fence).
void on_side_stream(int index);
// Makes the pool block of `b` (a buffer of this backend's pool) wait, once freed, for the
// work queued on `stream` up to the free, before any stream reuses it (t.record_stream(s)).
void record_stream(const Buffer& b, StreamPtr stream);

}  // namespace tl::cuda
