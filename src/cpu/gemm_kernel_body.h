// The body of the x86 GEMM micro-kernel, shared by the AVX2 and AVX-512 files: an MR x NV
// tile of vector accumulators updated by one broadcast A value and NV B vectors per k step.
// The including file defines TL_GEMM_ISA (the target string), TL_GEMM_VECTOR_BYTES, and the
// load/store/broadcast/fma/add primitives for its vector types, inside namespace
// tl::cpu::gemm_kernels. Included once per ISA, so no include guard.

template <class T, int MR, int NV>
__attribute__((target(TL_GEMM_ISA))) void kernel(int64_t kc, const T* a, int64_t lda, const T* b,
                                                 T* c, int64_t ldc, bool accumulate,
                                                 Prefetch prefetch) {
  using V = decltype(load(b));
  constexpr int kLanes = TL_GEMM_VECTOR_BYTES / sizeof(T);
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    // The C tile is only touched after the k loop; fetch its cache lines meanwhile.
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + j * kLanes), _MM_HINT_T0);
      acc[i][j] = V{};
    }
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * kLanes - 1), _MM_HINT_T0);
  }

  for (int64_t k = 0; k < kc; ++k) {
    if (k < prefetch.count) _mm_prefetch(static_cast<const char*>(prefetch.lines[k]), _MM_HINT_T0);
    V bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = load(b + j * kLanes);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      V av = broadcast(a + i * lda + k);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = fma(av, bv[j], acc[i][j]);
    }
    b += NV * kLanes;
  }

#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    T* row = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      V v = acc[i][j];
      if (accumulate) v = add(v, load(row + j * kLanes));
      store(row + j * kLanes, v);
    }
  }
}
