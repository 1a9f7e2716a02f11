// Fills a contiguous tensor from the Philox stream of src/core/philox.h (embedded before this
// file): element i from block (seed, counter + i), the same numbers as the CPU backend
// (normal draws may differ by an ulp: log, cos and sqrt come from CUDA's math library).
// Configured by the host:
//   TL_S  storage type;  TL_C  float (float16, bfloat16, float32) or double;
//   TL_DIST  0 uniform [a, b), 1 normal (loc a, scale b), 2 integers in [a, b).

struct RandomArgs {
  char* out;
  int64_t off, n;
  uint64_t seed, counter;
  double a, b;
};

// The next value toward -infinity.
__device__ inline float tl_next_down(float s) { return nextafterf(s, -INFINITY); }
__device__ inline double tl_next_down(double s) { return nextafter(s, -(double)INFINITY); }
template <class H> __device__ inline H tl_next_down_16(H s) {  // 16-bit sign-magnitude
  const unsigned short b = s.bits;
  H r;
  r.bits = (b & 0x7fffu) == 0 ? (unsigned short)0x8001u : (unsigned short)((b & 0x8000u) ? b + 1u : b - 1u);
  return r;
}
__device__ inline tl_f16 tl_next_down(tl_f16 s) { return tl_next_down_16(s); }
__device__ inline tl_bf16 tl_next_down(tl_bf16 s) { return tl_next_down_16(s); }

__device__ inline float tl_uniform(const tl::philox::U32x4& r, float) { return tl::philox::uniform_f32(r); }
__device__ inline double tl_uniform(const tl::philox::U32x4& r, double) { return tl::philox::uniform_f64(r); }
__device__ inline float tl_normal(const tl::philox::U32x4& r, float) { return tl::philox::normal_f32(r); }
__device__ inline double tl_normal(const tl::philox::U32x4& r, double) { return tl::philox::normal_f64(r); }

extern "C" __global__ void tl_random(const RandomArgs p) {
  TL_S* out = (TL_S*)p.out + p.off;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += step) {
    const tl::philox::U32x4 r = tl::philox::element(p.seed, p.counter, uint64_t(i));
#if TL_DIST == 2
    const int64_t low = int64_t(p.a);
    out[i] = TL_S(tl::philox::randint(r, low, uint64_t(int64_t(p.b)) - uint64_t(low)));
#elif TL_DIST == 1
    out[i] = tl_from<TL_S, TL_C>(tl::philox::affine(tl_normal(r, TL_C(0)), TL_C(p.b), TL_C(p.a)));
#else
    TL_S s = tl_from<TL_S, TL_C>(tl::philox::affine(tl_uniform(r, TL_C(0)), TL_C(p.b - p.a), TL_C(p.a)));
    while (double(TL_C(s)) >= p.b) s = tl_next_down(s);  // rounding may reach b: [a, b)
    out[i] = s;
#endif
  }
}
