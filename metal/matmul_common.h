// Shared by matmul.metal (the tiled kernels) and gemv.metal (the GEMV kernel), which include
// it after <metal_stdlib>: the parameters both take at buffer(3), the threadgroup size both
// launch with, and the plain output policy of their static kernels.
//
// Every body writes its results through an output policy `Out` (`put(row, col, value)` and
// `begin(z)`): the static kernels store T at C[row * ldc + col * ldc_col] (PlainOut below);
// generated kernels (src/metal/msl_matmul.cpp) apply a fused epilogue there instead, so the
// tile and GEMV bodies are the same code in both. Each product accumulates in float, whatever
// T is (half and bfloat inputs are converted as they are read).
//
// Not a kernel library of its own: the build inlines it where it is included (CMake, when it
// embeds the .metal sources; tests/metal_emu/preprocess.py for the emulator), since Metal's
// runtime compiler resolves no local includes. Keep it free of kernels.
struct MatmulParams {
  uint M;
  uint N;
  uint K;
  uint lda;
  uint ldb;
  uint ldc;      // C's row stride (elements)
  uint ldc_col;  // C's column stride: 1, or ldc of the unswapped product (GEMV, N <= 16)
  uint z0;       // flat batch index of grid z = 0 (for epilogues over several dispatches)
  long batch_a;  // elements between consecutive matrices along grid z
  long batch_b;
  long batch_c;
  // Bit 0: buffer 0's stored rows start on 4-element boundaries (ld and its matrices' first
  // elements multiples of 4, the buffer aligned): its staging reads 4-vectors. Bit 1: buffer 1's.
  uint vec_flags;
  uint pad;
};

constant constexpr uint kMatmulThreads = 128;  // every matmul and GEMV threadgroup

// Stores T at C[row * ldc + col * ldc_col] (C already points at this batch's matrix).
template <typename T>
struct PlainOut {
  device T* C;
  uint ldc;
  uint ldc_col;
  void begin(uint z) {}
  void put(uint row, uint col, float v) const { C[ulong(row) * ldc + ulong(col) * ldc_col] = T(v); }
};
