#pragma once
// The CPU backend: host memory from a BufferCache pool, kernels run on the thread pool,
// synchronously (so host reads need no waiting).
#include "core/backend.h"

namespace tl::cpu {

Backend& cpu_backend();

}  // namespace tl::cpu
