// What `#include <metal_stdlib>` provides, for .metal sources compiled as C++ by the
// emulator. preprocess.py includes this first in every generated translation unit.
#pragma once
#include <utility>

#include "compat_simd.h"

namespace tl_emu {

// An attribute builtin in the type the kernel declares it with (uint, ushort2, uint3, ...).
template <class T>
T builtin(const u3& v) {
  if constexpr (metal::detail::vec_like<T>) {
    using E = typename metal::detail::vec_info<T>::elem;
    constexpr int n = metal::detail::vec_info<T>::width;
    if constexpr (n == 2) {
      return T(E(v.x), E(v.y));
    } else {
      return T(E(v.x), E(v.y), E(v.z));
    }
  } else {
    return T(v.x);
  }
}

// Where a kernel parameter comes from, by its attribute: [[buffer(index)]],
// [[threadgroup(index)]], or a builtin (a u3 or a scalar member of ThreadCtx).
struct Slot {
  enum Kind { Buffer, Threadgroup, Vector, Scalar } kind;
  int index;
  u3 ThreadCtx::*vector;
  uint32_t ThreadCtx::*scalar;
};

template <class P>
P argument(const ThreadCtx& c, void* const* buffers, const Slot& s) {
  if constexpr (std::is_pointer_v<P>) {
    return static_cast<P>(s.kind == Slot::Buffer ? buffers[s.index] : c.threadgroup_args[s.index]);
  } else if constexpr (std::is_reference_v<P>) {  // constant T& [[buffer(n)]]
    return *static_cast<std::remove_reference_t<P>*>(buffers[s.index]);
  } else if constexpr (std::is_integral_v<P>) {
    return s.kind == Slot::Scalar ? P(c.*s.scalar) : builtin<P>(c.*s.vector);
  } else {
    return builtin<P>(c.*s.vector);
  }
}

// Calls a kernel with its parameters filled in; their types come from the kernel itself.
template <class... P, size_t... I>
void invoke(void (*fn)(P...), const ThreadCtx& c, void* const* b, const Slot* s,
            std::index_sequence<I...>) {
  fn(argument<P>(c, b, s[I])...);
}
template <class... P>
void invoke(void (*fn)(P...), const ThreadCtx& c, void* const* b, const Slot* s) {
  invoke(fn, c, b, s, std::index_sequence_for<P...>{});
}

// Storage of a `threadgroup T name[...]` declaration, rewritten by preprocess.py.
template <class T>
T& threadgroup_var(int site, const char* file, unsigned line) {
  return *static_cast<T*>(threadgroup_alloc(site, sizeof(T), alignof(T), file, line));
}

}  // namespace tl_emu

#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))

// Address spaces carry no meaning on a CPU; `constant` is rewritten to `const` by
// preprocess.py so that writes to it fail to compile, as they do in Metal.
#define device
#define threadgroup
#define thread
#define kernel
