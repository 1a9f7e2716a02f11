#pragma once
// Gather and scatter by precomputed element offsets: the CPU kernels behind advanced indexing
// (see Backend::gather / Backend::scatter for the layout).
#include "core/tensor.h"

namespace tl::cpu {

// out[p, i, q] = the element of src at p . src.strides[:split] + offsets[i] +
// q . src.strides[split:] (relative to src's offset). Any dtype: elements are copied as bytes.
void gather(const Tensor& src, int split, const Tensor& offsets, const Tensor& out);

// The reverse: dst's element at the same place = values[p, i, q]. values may be broadcast
// (stride 0). When offsets repeat, the last i wins, as in NumPy.
void scatter(const Tensor& dst, int split, const Tensor& offsets, const Tensor& values);

}  // namespace tl::cpu
