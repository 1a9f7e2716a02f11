#pragma once
// CPU kernel of the Philox random stream (core/philox.h): fills a contiguous tensor.
#include <cstdint>

#include "core/backend.h"

namespace tl::cpu {

// Element i uses the Philox block at counter + i under key = seed.
// Uniform (float out): a + (b - a) * u, u in [0, 1), kept below b after rounding to out's type.
// Normal (float out): a + b * z, z standard normal.
// Bits (integer out): uniform integers in [a, b) (a, b integral, |a|, |b| <= 2^53).
// TypeError for a float distribution into an integer tensor or Bits into a float or bool one.
void random(RandomDist dist, uint64_t seed, uint64_t counter, double a, double b,
            const Tensor& out);

}  // namespace tl::cpu
