#pragma once
// The Metal backend (src/metal/metal_backend.mm; built on Apple platforms with TL_METAL).
#include "core/backend.h"

namespace tl::metal {
Backend& metal_backend();
}  // namespace tl::metal
