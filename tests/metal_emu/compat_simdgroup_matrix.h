// simdgroup_matrix for the emulator. Every lane holds the whole 8x8 matrix; load, store and
// multiply-accumulate are SIMD-group collectives computed once by the completing lane, which
// also checks what the hardware relies on: the same arguments in every lane, and the same
// matrix in every lane.
//
// Addressing (MSL spec 6.7, Table 6.9): element (row r, column c) of a matrix loaded from src
// is src[(origin.y + r) * elements_per_row + origin.x + c], or with transpose_matrix
// src[(origin.y + c) * elements_per_row + origin.x + r]: matrix_origin is (column, row) of the
// block's first element in the memory layout, before transposition. The spec's table names
// the parameters but not this convention; it is the one public kernels rely on.
#pragma once

namespace metal {

template <class T, int Cols, int Rows>
struct simdgroup_matrix {
  static_assert(Cols == 8 && Rows == 8, "Metal has only 8x8 simdgroup matrices");
  T e[Rows][Cols];

  simdgroup_matrix() = default;
  explicit simdgroup_matrix(T diagonal) {
    for (int r = 0; r < Rows; ++r)
      for (int c = 0; c < Cols; ++c) e[r][c] = r == c ? diagonal : T(0);
  }
};
using simdgroup_float8x8 = simdgroup_matrix<float, 8, 8>;
using simdgroup_half8x8 = simdgroup_matrix<half, 8, 8>;

template <class T, int Cols, int Rows>
simdgroup_matrix<T, Cols, Rows> make_filled_simdgroup_matrix(T value) {
  simdgroup_matrix<T, Cols, Rows> m;
  for (int r = 0; r < Rows; ++r)
    for (int c = 0; c < Cols; ++c) m.e[r][c] = value;
  return m;
}

namespace detail {

struct block_args {  // one lane's arguments of a load or store
  const void* base;
  ulong elements_per_row, x, y;
  bool transpose;
  bool operator==(const block_args&) const = default;
};
inline ulong block_index(const block_args& a, int r, int c) {
  return a.transpose ? (a.y + c) * a.elements_per_row + a.x + r
                     : (a.y + r) * a.elements_per_row + a.x + c;
}
inline void check_same_args(const char* what, const tl_emu::LaneCall* l, uint32_t live,
                            const char* file, unsigned line) {
  for (uint32_t i = 1; i < live; ++i)
    if (!(in<block_args>(l[i]) == in<block_args>(l[0])))
      tl_emu::fail(file, line, "%s: arguments differ between lane 0 and lane %u", what, i);
}
inline void check_same_matrix(const char* what, const void* const* per_lane, size_t size,
                              uint32_t live, const char* file, unsigned line) {
  for (uint32_t i = 1; i < live; ++i)
    if (__builtin_memcmp(per_lane[i], per_lane[0], size) != 0)
      tl_emu::fail(file, line, "%s: lanes 0 and %u hold different matrices", what, i);
}

}  // namespace detail

template <class T, int Cols, int Rows>
void simdgroup_load(simdgroup_matrix<T, Cols, Rows>& d, const T* src, ulong elements_per_row = Cols,
                    ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false,
                    const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  using M = simdgroup_matrix<T, Cols, Rows>;
  detail::block_args args{src, elements_per_row, matrix_origin.x, matrix_origin.y,
                          transpose_matrix};
  d = detail::collective<M>("simdgroup_load", args, 0, file, line,
                            [&](const tl_emu::LaneCall* l, uint32_t live) {
                              detail::check_same_args("simdgroup_load", l, live, file, line);
                              M m;
                              for (int r = 0; r < Rows; ++r)
                                for (int c = 0; c < Cols; ++c)
                                  m.e[r][c] = src[detail::block_index(args, r, c)];
                              for (uint32_t i = 0; i < live; ++i) detail::out<M>(l[i]) = m;
                            });
}

template <class T, int Cols, int Rows>
void simdgroup_store(const simdgroup_matrix<T, Cols, Rows>& a, T* dst,
                     ulong elements_per_row = Cols, ulong2 matrix_origin = ulong2(0),
                     bool transpose_matrix = false, const char* file = __builtin_FILE(),
                     unsigned line = __builtin_LINE()) {
  using M = simdgroup_matrix<T, Cols, Rows>;
  struct store_in {
    detail::block_args args;
    const M* m;
  } mine{{dst, elements_per_row, matrix_origin.x, matrix_origin.y, transpose_matrix}, &a};
  detail::collective<int>(
      "simdgroup_store", mine, 0, file, line, [&](const tl_emu::LaneCall* l, uint32_t live) {
        const void* per_lane[tl_emu::kSimdWidth];
        for (uint32_t i = 0; i < live; ++i) {
          const store_in& s = detail::in<store_in>(l[i]);
          if (!(s.args == mine.args))
            tl_emu::fail(file, line,
                         "simdgroup_store: arguments differ between "
                         "lane 0 and lane %u",
                         i);
          per_lane[i] = s.m;
        }
        detail::check_same_matrix("simdgroup_store", per_lane, sizeof(M), live, file, line);
        for (int r = 0; r < Rows; ++r)
          for (int c = 0; c < Cols; ++c) dst[detail::block_index(mine.args, r, c)] = a.e[r][c];
      });
}

// d = a * b + c, accumulated in float per element.
template <class T, int Cols, int Rows, int K>
void simdgroup_multiply_accumulate(simdgroup_matrix<T, Cols, Rows>& d,
                                   const simdgroup_matrix<T, K, Rows>& a,
                                   const simdgroup_matrix<T, Cols, K>& b,
                                   const simdgroup_matrix<T, Cols, Rows>& c,
                                   const char* file = __builtin_FILE(),
                                   unsigned line = __builtin_LINE()) {
  using M = simdgroup_matrix<T, Cols, Rows>;
  struct operands {
    const simdgroup_matrix<T, K, Rows>* a;
    const simdgroup_matrix<T, Cols, K>* b;
    const M* c;
  } mine{&a, &b, &c};
  d = detail::collective<M>("simdgroup_multiply_accumulate", mine, 0, file, line,
                            [&](const tl_emu::LaneCall* l, uint32_t live) {
                              const void* pa[tl_emu::kSimdWidth];
                              const void* pb[tl_emu::kSimdWidth];
                              const void* pc[tl_emu::kSimdWidth];
                              for (uint32_t i = 0; i < live; ++i) {
                                pa[i] = detail::in<operands>(l[i]).a;
                                pb[i] = detail::in<operands>(l[i]).b;
                                pc[i] = detail::in<operands>(l[i]).c;
                              }
                              const char* what = "simdgroup_multiply_accumulate";
                              detail::check_same_matrix(what, pa, sizeof(a), live, file, line);
                              detail::check_same_matrix(what, pb, sizeof(b), live, file, line);
                              detail::check_same_matrix(what, pc, sizeof(c), live, file, line);
                              M r;
                              for (int i = 0; i < Rows; ++i)
                                for (int j = 0; j < Cols; ++j) {
                                  float acc = float(c.e[i][j]);
                                  for (int k = 0; k < K; ++k)
                                    acc = __builtin_fmaf(float(a.e[i][k]), float(b.e[k][j]), acc);
                                  r.e[i][j] = T(acc);
                                }
                              for (uint32_t i = 0; i < live; ++i) detail::out<M>(l[i]) = r;
                            });
}

}  // namespace metal
