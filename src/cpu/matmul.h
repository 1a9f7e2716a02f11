#pragma once
#include "core/backend.h"

namespace tl::cpu {

// out[..., m, n] = a[..., m, k] @ b[..., k, n]; batch dims of a, b, out have equal shapes
// (a and b may be broadcast views). Float dtypes, all three the same.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Epilogue* epilogue);

}  // namespace tl::cpu
