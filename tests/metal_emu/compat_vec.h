// Metal scalar and vector types for the emulator: half, bfloat, vec<T, N> with component
// access, the swizzles our kernels use, and elementwise operators.
#pragma once
#include <cstdint>
#include <type_traits>

namespace metal {

using uchar = unsigned char;
using ushort = unsigned short;
using uint = unsigned int;
using ulong = unsigned long;  // Metal's long/ulong are 64-bit, as on LP64 Linux
using half = _Float16;

// bfloat: storage plus round-to-nearest-even conversion; arithmetic happens in float, as
// g++ 12 has no __bf16 arithmetic.
struct bfloat {
  uint16_t bits;
  bfloat() = default;
  bfloat(float f) {
    uint32_t u = __builtin_bit_cast(uint32_t, f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = uint16_t((u >> 16) | 0x40u);  // keep NaN a (quiet) NaN
    } else {
      bits = uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
  }
  operator float() const { return __builtin_bit_cast(float, uint32_t(bits) << 16); }
  // Explicit casts to other types go through float in one step: g++ 13 treats _Float16 as a
  // C++23 extended floating type, which float converts to only explicitly.
  template <class T>
  explicit operator T() const {
    return T(float(*this));
  }
};

template <class T, int N>
struct vec;

namespace detail {

constexpr int slots(int n) { return n == 3 ? 4 : n; }  // a 3-vector is padded like Metal's

// A swizzle member such as v.xy: a view of components I... of the vector it lives in.
template <class T, int N, int... I>
struct swizzle {
  T s[slots(N)];  // reads go through vec's converting constructor
  swizzle& operator=(const vec<T, int(sizeof...(I))>& v) {
    int k = 0;
    ((s[I] = v[k++]), ...);
    return *this;
  }
};

// Element type and width of anything that reads like a vector (vec or swizzle).
template <class X>
struct vec_info {
  static constexpr bool is_vec = false;
};
template <class T, int N>
struct vec_info<vec<T, N>> {
  static constexpr bool is_vec = true;
  using elem = T;
  static constexpr int width = N;
};
template <class T, int N, int... I>
struct vec_info<swizzle<T, N, I...>> {
  static constexpr bool is_vec = true;
  using elem = T;
  static constexpr int width = int(sizeof...(I));
};

template <class X>
concept vec_like = vec_info<std::remove_cvref_t<X>>::is_vec;
// is_arithmetic does not cover _Float16 in g++ 12.
template <class X>
constexpr bool is_float =
    std::is_floating_point_v<X> || std::is_same_v<X, half> || std::is_same_v<X, bfloat>;
template <class X>
concept scalar = std::is_arithmetic_v<X> || is_float<X>;

template <vec_like X>
auto as_vec(const X& x) {
  using I = vec_info<X>;
  return vec<typename I::elem, I::width>(x);
}

template <class X>
constexpr int count() {
  if constexpr (vec_like<X>) {
    return vec_info<X>::width;
  } else {
    return 1;
  }
}

template <class T, int N>
struct storage;
template <class T>
struct storage<T, 2> {
  union {
    T s[2];
    struct {
      T x, y;
    };
    swizzle<T, 2, 1, 0> yx;
  };
};
template <class T>
struct storage<T, 3> {
  union {
    T s[4];
    struct {
      T x, y, z;
    };
    swizzle<T, 3, 0, 1> xy;
    swizzle<T, 3, 0, 1, 2> xyz;
  };
};
template <class T>
struct storage<T, 4> {
  union {
    T s[4];
    struct {
      T x, y, z, w;
    };
    swizzle<T, 4, 0, 1> xy;
    swizzle<T, 4, 2, 3> zw;
    swizzle<T, 4, 0, 1, 2> xyz;
    swizzle<T, 4, 3, 2, 1, 0> wzyx;
  };
};

}  // namespace detail

template <class T, int N>
struct alignas(sizeof(T) * detail::slots(N)) vec : detail::storage<T, N> {
  vec() = default;
  vec(T v) {  // broadcast, as float4(0.0f)
    for (int i = 0; i < N; ++i) this->s[i] = v;
  }
  // From another vector of the same width: implicit for the same element type, explicit
  // (a conversion, as float4(h4)) otherwise.
  template <detail::vec_like X>
  requires(detail::vec_info<X>::width ==
           N) explicit(!std::is_same_v<typename detail::vec_info<X>::elem, T>) vec(const X& o) {
    for (int i = 0; i < N; ++i) this->s[i] = T(o.s[index<X>(i)]);
  }
  // From components and smaller vectors, as float4(v.xy, 0.0f, 1.0f).
  template <class... A>
  requires(sizeof...(A) >= 2 && (detail::count<A>() + ...) == N) vec(const A&... parts) {
    int k = 0;
    (put(k, parts), ...);
  }

  T& operator[](int i) { return this->s[i]; }
  const T& operator[](int i) const { return this->s[i]; }

#define TL_EMU_COMPOUND(op)         \
  template <class X>                \
  vec& operator op##=(const X& o) { \
    *this = *this op o;             \
    return *this;                   \
  }
  TL_EMU_COMPOUND(+)
  TL_EMU_COMPOUND(-)
  TL_EMU_COMPOUND(*)
  TL_EMU_COMPOUND(/)
#undef TL_EMU_COMPOUND

 private:
  template <class X>
  static int index(int i) {  // where component i of X lives in its storage
    if constexpr (std::is_same_v<std::remove_cvref_t<X>, vec>) {
      return i;
    } else {
      return swizzle_index(i, (X*)nullptr);
    }
  }
  template <class U, int M, int... I>
  static int swizzle_index(int i, detail::swizzle<U, M, I...>*) {
    constexpr int idx[] = {I...};
    return idx[i];
  }
  template <class U, int M>
  static int swizzle_index(int i, vec<U, M>*) {
    return i;
  }
  template <class X>
  void put(int& k, const X& part) {
    if constexpr (detail::vec_like<X>) {
      auto v = detail::as_vec(part);
      for (int i = 0; i < detail::vec_info<X>::width; ++i) this->s[k++] = T(v[i]);
    } else {
      this->s[k++] = T(part);
    }
  }
};

namespace detail {

template <class A, class B>
concept vec_operands = (vec_like<A> || vec_like<B>)&&(vec_like<A> || scalar<A>)&&(vec_like<B> ||
                                                                                  scalar<B>);

template <class A, class B>
struct pair_info {  // element type and width of a vec-vec or vec-scalar operation
  using V = std::conditional_t<vec_like<A>, A, B>;
  using elem = typename vec_info<V>::elem;
  static constexpr int width = vec_info<V>::width;
};

template <class X>
auto at(const X& x, int i) {
  if constexpr (vec_like<X>) {
    return as_vec(x)[i];
  } else {
    return x;
  }
}

}  // namespace detail

#define TL_EMU_BINARY(op, result_elem)                                \
  template <class A, class B>                                         \
  requires detail::vec_operands<A, B>                                 \
  auto operator op(const A& a, const B& b) {                          \
    using P = detail::pair_info<A, B>;                                \
    using T = typename P::elem;                                       \
    vec<result_elem, P::width> r;                                     \
    for (int i = 0; i < P::width; ++i)                                \
      r[i] = result_elem(T(detail::at(a, i)) op T(detail::at(b, i))); \
    return r;                                                         \
  }
TL_EMU_BINARY(+, T)
TL_EMU_BINARY(-, T)
TL_EMU_BINARY(*, T)
TL_EMU_BINARY(/, T)
TL_EMU_BINARY(<, bool)
TL_EMU_BINARY(<=, bool)
TL_EMU_BINARY(>, bool)
TL_EMU_BINARY(>=, bool)
TL_EMU_BINARY(==, bool)
TL_EMU_BINARY(!=, bool)
#undef TL_EMU_BINARY

template <detail::vec_like X>
auto operator-(const X& x) {
  auto v = detail::as_vec(x);
  for (int i = 0; i < detail::vec_info<X>::width; ++i) v[i] = -v[i];
  return v;
}

template <int N>
bool all(const vec<bool, N>& b) {
  for (int i = 0; i < N; ++i)
    if (!b[i]) return false;
  return true;
}
template <int N>
bool any(const vec<bool, N>& b) {
  for (int i = 0; i < N; ++i)
    if (b[i]) return true;
  return false;
}

#define TL_EMU_VEC_TYPES(T) \
  using T##2 = vec<T, 2>;   \
  using T##3 = vec<T, 3>;   \
  using T##4 = vec<T, 4>;
TL_EMU_VEC_TYPES(float)
TL_EMU_VEC_TYPES(half)
TL_EMU_VEC_TYPES(bfloat)
TL_EMU_VEC_TYPES(int)
TL_EMU_VEC_TYPES(uint)
TL_EMU_VEC_TYPES(short)
TL_EMU_VEC_TYPES(ushort)
TL_EMU_VEC_TYPES(char)
TL_EMU_VEC_TYPES(uchar)
TL_EMU_VEC_TYPES(bool)
TL_EMU_VEC_TYPES(ulong)
TL_EMU_VEC_TYPES(long)
#undef TL_EMU_VEC_TYPES

}  // namespace metal
