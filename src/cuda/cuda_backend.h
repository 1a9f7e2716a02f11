#pragma once
#include "core/backend.h"

namespace tl::cuda {

// The CUDA backend: present in every build, usable where the NVIDIA driver and NVRTC load.
Backend& cuda_backend();

}  // namespace tl::cuda
