// Metal synchronization, SIMD-group functions and simdgroup_matrix for the emulator. Every
// function here is a rendezvous of the live lanes of one SIMD-group (or of the threadgroup):
// the call site (file:line) must be the same in all of them, else the launch fails.
#pragma once
#include "compat_math.h"
#include "launcher.h"

namespace metal {

enum class mem_flags { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4 };
constexpr mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(int(a) | int(b)); }

inline void threadgroup_barrier(mem_flags, const char* file = __builtin_FILE(),
                                unsigned line = __builtin_LINE()) {
  tl_emu::threadgroup_barrier(file, line);
}

namespace detail {

// compute(lanes, live) runs once, in the lane completing the rendezvous, and writes the
// result of every live lane.
template <class R, class In, class F>
R collective(const char* what, const In& in, uint64_t arg, const char* file, unsigned line,
             F compute) {
  R out;
  if (tl_emu::simd_arrive(what, file, line, &in, &out, arg)) {
    uint32_t live;
    const tl_emu::LaneCall* lanes = tl_emu::simd_lanes(&live);
    compute(lanes, live);
    tl_emu::simd_release();
  }
  return out;
}
template <class T>
const T& in(const tl_emu::LaneCall& c) {
  return *static_cast<const T*>(c.in);
}
template <class T>
T& out(const tl_emu::LaneCall& c) {
  return *static_cast<T*>(c.out);
}
// What a lane gets when it reads an inactive lane: all bits set (NaN, or -1), so that a
// kernel relying on it shows wrong results instead of plausible ones.
template <class T>
T poison() {
  T t;
  __builtin_memset(&t, 0xff, sizeof t);
  return t;
}
inline void check_uniform(const char* what, const tl_emu::LaneCall* lanes, uint32_t live,
                          const char* file, unsigned line) {
  for (uint32_t i = 1; i < live; ++i)
    if (lanes[i].arg != lanes[0].arg)
      tl_emu::fail(file, line, "%s: argument differs across lanes (lane 0: %llu, lane %u: %llu)",
                   what, (unsigned long long)lanes[0].arg, i, (unsigned long long)lanes[i].arg);
}

}  // namespace detail

inline void simdgroup_barrier(mem_flags, const char* file = __builtin_FILE(),
                              unsigned line = __builtin_LINE()) {
  int none = 0;
  detail::collective<int>("simdgroup_barrier", none, 0, file, line,
                          [](const tl_emu::LaneCall*, uint32_t) {});
}

#define TL_EMU_SIMD_REDUCE(name, combine)                                                          \
  template <class T>                                                                               \
  T name(T x, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {             \
    return detail::collective<T>(#name, x, 0, file, line,                                          \
                                 [](const tl_emu::LaneCall* l, uint32_t live) {                    \
                                   T acc = detail::in<T>(l[0]);                                    \
                                   for (uint32_t i = 1; i < live; ++i) {                           \
                                     T v = detail::in<T>(l[i]);                                    \
                                     acc = combine;                                                \
                                   }                                                               \
                                   for (uint32_t i = 0; i < live; ++i) detail::out<T>(l[i]) = acc; \
                                 });                                                               \
  }
TL_EMU_SIMD_REDUCE(simd_sum, acc + v)
TL_EMU_SIMD_REDUCE(simd_max, max(acc, v))
TL_EMU_SIMD_REDUCE(simd_min, min(acc, v))
#undef TL_EMU_SIMD_REDUCE

template <class T>
T simd_prefix_exclusive_sum(T x, const char* file = __builtin_FILE(),
                            unsigned line = __builtin_LINE()) {
  return detail::collective<T>("simd_prefix_exclusive_sum", x, 0, file, line,
                               [](const tl_emu::LaneCall* l, uint32_t live) {
                                 T acc = T(0);
                                 for (uint32_t i = 0; i < live; ++i) {
                                   T v = detail::in<T>(l[i]);
                                   detail::out<T>(l[i]) = acc;
                                   acc = acc + v;
                                 }
                               });
}

// Shuffles. source(lane, arg) names the lane read, or -1 for "keep own value" (the edges of
// shuffle_up/down); `uniform` says the spec requires the same argument in every lane.
namespace detail {
template <class T, class Source>
T permute(const char* what, T x, uint64_t arg, bool uniform, const char* file, unsigned line,
          Source source) {
  return detail::collective<T>(
      what, x, arg, file, line, [&](const tl_emu::LaneCall* l, uint32_t live) {
        if (uniform) detail::check_uniform(what, l, live, file, line);
        for (uint32_t i = 0; i < live; ++i) {
          int src = source(int(i), l[i].arg);
          if (src >= int(tl_emu::kSimdWidth))
            tl_emu::fail(file, line, "%s: lane %d does not exist", what, src);
          detail::out<T>(l[i]) = src < 0                ? detail::in<T>(l[i])
                                 : uint32_t(src) < live ? detail::in<T>(l[src])
                                                        : detail::poison<T>();
        }
      });
}
}  // namespace detail

template <class T>
T simd_shuffle(T x, ushort lane, const char* file = __builtin_FILE(),
               unsigned line = __builtin_LINE()) {
  return detail::permute("simd_shuffle", x, lane, false, file, line,
                         [](int, uint64_t a) { return int(a); });
}
template <class T>
T simd_broadcast(T x, ushort lane, const char* file = __builtin_FILE(),
                 unsigned line = __builtin_LINE()) {
  return detail::permute("simd_broadcast", x, lane, true, file, line,
                         [](int, uint64_t a) { return int(a); });
}
template <class T>
T simd_shuffle_xor(T x, ushort mask, const char* file = __builtin_FILE(),
                   unsigned line = __builtin_LINE()) {
  return detail::permute("simd_shuffle_xor", x, mask, true, file, line,
                         [](int i, uint64_t a) { return i ^ int(a); });
}
template <class T>
T simd_shuffle_down(T x, ushort delta, const char* file = __builtin_FILE(),
                    unsigned line = __builtin_LINE()) {
  return detail::permute("simd_shuffle_down", x, delta, true, file, line, [](int i, uint64_t a) {
    return i + int(a) < int(tl_emu::kSimdWidth) ? i + int(a) : -1;
  });
}
template <class T>
T simd_shuffle_up(T x, ushort delta, const char* file = __builtin_FILE(),
                  unsigned line = __builtin_LINE()) {
  return detail::permute("simd_shuffle_up", x, delta, true, file, line,
                         [](int i, uint64_t a) { return i >= int(a) ? i - int(a) : -1; });
}

}  // namespace metal

#include "compat_simdgroup_matrix.h"
