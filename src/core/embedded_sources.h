#pragma once
// Sources embedded into the library at build time (see embedded_sources.cpp.in).
namespace tl::embedded {
extern const char* const kScalarMath;  // src/core/scalar_math.h
extern const char* const kVecMath;     // src/cpu/vec_math.h
}  // namespace tl::embedded
