// Kernels that test the emulator itself (tests/test_metal_emu.py). The ones named *_error
// break a rule on purpose and must be stopped with a message.
#include <metal_stdlib>
#include <metal_simdgroup_matrix>
using namespace metal;

// Each thread reads its slot of threadgroup memory before writing it (the launcher fills
// it with NaN bits), then, after a barrier, its neighbour's slot.
kernel void shared_tile(device const float* in [[buffer(0)]], device uint* before [[buffer(1)]],
                        device float* after [[buffer(2)]],
                        uint gid [[thread_position_in_grid]],
                        uint lid [[thread_position_in_threadgroup]],
                        uint n [[threads_per_threadgroup]]) {
  threadgroup float tile[256];
  before[gid] = as_type<uint>(tile[lid]);
  tile[lid] = in[gid];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  after[gid] = tile[(lid + 1) % n];
}

// The same without the barrier: a race that the thread orders expose.
kernel void shared_tile_race(device const float* in [[buffer(0)]],
                             device float* after [[buffer(1)]],
                             uint gid [[thread_position_in_grid]],
                             uint lid [[thread_position_in_threadgroup]],
                             uint n [[threads_per_threadgroup]]) {
  threadgroup float tile[256];
  tile[lid] = in[gid];
  after[gid] = tile[(lid + 1) % n];
}

// out[k * total + gid] = k-th SIMD-group function of in[gid].
kernel void simd_functions(device const float* in [[buffer(0)]], device float* out [[buffer(1)]],
                           uint gid [[thread_position_in_grid]],
                           uint lane [[thread_index_in_simdgroup]],
                           uint3 total [[threads_per_grid]]) {
  float x = in[gid];
  uint n = total.x;
  out[0 * n + gid] = simd_sum(x);
  out[1 * n + gid] = simd_max(x);
  out[2 * n + gid] = simd_min(x);
  out[3 * n + gid] = simd_prefix_exclusive_sum(x);
  out[4 * n + gid] = simd_shuffle_down(x, 3);
  out[5 * n + gid] = simd_shuffle_up(x, 5);
  out[6 * n + gid] = simd_shuffle_xor(x, 6);
  out[7 * n + gid] = simd_shuffle(x, (lane * 7 + 3) % 32);
  out[8 * n + gid] = simd_broadcast(x, 4);
  simdgroup_barrier(mem_flags::mem_none);
  float4 v = float4(x, 1.0f, 2.0f, 3.0f);
  out[9 * n + gid] = simd_sum(v).x + simd_sum(v).w;
}

// Load, multiply-accumulate and store one 8x8 matrix with the given layouts.
struct MatrixParams {
  uint ld[4];  // elements_per_row of A, B, C, D
  uint x[4];   // matrix_origin (column, row)
  uint y[4];
  uint transpose[4];
};

template <typename T>
kernel void simdgroup_mma(device const T* a [[buffer(0)]], device const T* b [[buffer(1)]],
                          device const T* c [[buffer(2)]], device T* d [[buffer(3)]],
                          constant MatrixParams& p [[buffer(4)]]) {
  simdgroup_matrix<T, 8, 8> ma;
  simdgroup_matrix<T, 8, 8> mb;
  simdgroup_matrix<T, 8, 8> mc;
  simdgroup_matrix<T, 8, 8> md;
  simdgroup_load(ma, a, p.ld[0], ulong2(p.x[0], p.y[0]), p.transpose[0] != 0);
  simdgroup_load(mb, b, p.ld[1], ulong2(p.x[1], p.y[1]), p.transpose[1] != 0);
  simdgroup_load(mc, c, p.ld[2], ulong2(p.x[2], p.y[2]), p.transpose[2] != 0);
  simdgroup_multiply_accumulate(md, ma, mb, mc);
  simdgroup_store(md, d, p.ld[3], ulong2(p.x[3], p.y[3]), p.transpose[3] != 0);
}
template [[host_name("simdgroup_mma_f32")]] kernel void simdgroup_mma<float>(
    device const float* a [[buffer(0)]], device const float* b [[buffer(1)]],
    device const float* c [[buffer(2)]], device float* d [[buffer(3)]],
    constant MatrixParams& p [[buffer(4)]]);
template [[host_name("simdgroup_mma_f16")]] kernel void simdgroup_mma<half>(
    device const half* a [[buffer(0)]], device const half* b [[buffer(1)]],
    device const half* c [[buffer(2)]], device half* d [[buffer(3)]],
    constant MatrixParams& p [[buffer(4)]]);

// d = filled(2.5) * diagonal(3) + filled(1): every element 8.5.
kernel void simdgroup_filled(device float* d [[buffer(0)]]) {
  simdgroup_float8x8 m = make_filled_simdgroup_matrix<float, 8, 8>(2.5f);
  simdgroup_float8x8 diagonal = simdgroup_float8x8(3.0f);
  simdgroup_float8x8 ones = make_filled_simdgroup_matrix<float, 8, 8>(1.0f);
  simdgroup_multiply_accumulate(m, m, diagonal, ones);
  simdgroup_store(m, d, 8);
}

// Device atomics from every thread, and a threadgroup atomic counter.
kernel void atomics(device atomic_uint* count [[buffer(0)]],
                    device atomic_float* sum [[buffer(1)]],
                    device atomic_int* largest [[buffer(2)]], device const float* in [[buffer(3)]],
                    uint gid [[thread_position_in_grid]],
                    uint lid [[thread_index_in_threadgroup]]) {
  threadgroup atomic_uint local_count;
  if (lid == 0) {
    atomic_store_explicit(&local_count, 0u, memory_order_relaxed);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  atomic_fetch_add_explicit(&local_count, 1u, memory_order_relaxed);
  atomic_fetch_add_explicit(sum, in[gid], memory_order_relaxed);
  atomic_fetch_max_explicit(largest, int(in[gid] * 10.0f), memory_order_relaxed);
  threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);
  if (lid == 0) {
    atomic_fetch_add_explicit(count, atomic_load_explicit(&local_count, memory_order_relaxed),
                              memory_order_relaxed);
  }
}

// out[k * n + i] = k-th math function of x[i] (x > 0).
template <typename T>
kernel void math(device const T* x [[buffer(0)]], device T* out [[buffer(1)]],
                 constant uint& n [[buffer(2)]], uint i [[thread_position_in_grid]]) {
  if (i >= n) {
    return;
  }
  T v = x[i];
  T r[] = {exp(v), exp2(v), log(v), log2(v), sqrt(v), rsqrt(v), tanh(v), fabs(-v), floor(v),
           ceil(v), pow(v, T(1.5f)), fma(v, T(2.5f), T(1.0f)), max(v, T(1.0f)), min(v, T(1.0f)),
           clamp(v, T(0.5f), T(2.0f)), abs(-v), select(v, -v, v > T(1.0f)),
           T(isnan(v) || isinf(v)), precise::exp(v), fast::sqrt(v)};
  for (uint k = 0; k < sizeof(r) / sizeof(r[0]); ++k) {
    out[k * n + i] = r[k];
  }
}
template [[host_name("math_f32")]] kernel void math<float>(
    device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
    constant uint& n [[buffer(2)]], uint i [[thread_position_in_grid]]);
template [[host_name("math_f16")]] kernel void math<half>(
    device const half* x [[buffer(0)]], device half* out [[buffer(1)]],
    constant uint& n [[buffer(2)]], uint i [[thread_position_in_grid]]);

// Vector construction, arithmetic, conversions, swizzles (read and write), comparisons.
kernel void vectors(device const float4* x [[buffer(0)]], device float4* out [[buffer(1)]],
                    device int4* ints [[buffer(2)]], uint i [[thread_position_in_grid]]) {
  float4 v = x[i];
  half4 h = half4(v);
  float4 r = v * 2.0f + float4(h) + -v.wzyx;
  r.xy = r.zw * v.xy;
  float3 t = float3(v.xy, 1.0f) + v.xyz;
  r += 0.5h;
  r -= 0.25f;
  r *= 2.0f;
  r /= 2.0f;
  float2 q = t.xy;
  r.zw = r.zw + q.yx;
  ints[i] = min(max(int4(v * 3.0f), int4(-2)), 4);
  bool4 big = v > 1.0f;
  float4 flags = float4(all(big), any(big), 0, 0);
  out[i] = select(r, float4(t, float(ints[i].x + ints[i].w)), big) + flags;
}

// Every attribute builtin of a 3-D grid (dispatch_threads: edge threadgroups are smaller),
// and a [[threadgroup(0)]] argument shared by the group.
kernel void builtins(device uint* out [[buffer(0)]], threadgroup uint* scratch [[threadgroup(0)]],
                     uint3 pos [[thread_position_in_grid]],
                     ushort3 group [[threadgroup_position_in_grid]],
                     uint3 local [[thread_position_in_threadgroup]],
                     uint3 size [[threads_per_threadgroup]],
                     uint2 groups [[threadgroups_per_grid]], uint3 grid [[threads_per_grid]],
                     uint index [[thread_index_in_threadgroup]],
                     ushort lane [[thread_index_in_simdgroup]],
                     uint simd_group [[simdgroup_index_in_threadgroup]],
                     uint width [[threads_per_simdgroup]],
                     uint simd_groups [[simdgroups_per_threadgroup]]) {
  scratch[index] = index * 10u;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  uint n = size.x * size.y * size.z;
  uint v[] = {pos.x, pos.y, pos.z, group.x, group.y, group.z, local.x, local.y, local.z,
              size.x, size.y, size.z, groups.x, groups.y, grid.x, grid.y, grid.z, index, lane,
              simd_group, width, simd_groups, scratch[(index + 1) % n]};
  device uint* o = out + ((pos.z * grid.y + pos.y) * grid.x + pos.x) * 23u;
  for (uint k = 0; k < 23u; ++k) {
    o[k] = v[k];
  }
}

kernel void simdgroup_divergent_load_error(device const float* a [[buffer(0)]],
                                           ushort lane [[thread_index_in_simdgroup]]) {
  simdgroup_float8x8 m;
  simdgroup_load(m, a + lane % 2, 8);
}

kernel void simdgroup_divergent_matrix_error(device float* d [[buffer(0)]],
                                             ushort lane [[thread_index_in_simdgroup]]) {
  simdgroup_float8x8 m = make_filled_simdgroup_matrix<float, 8, 8>(float(lane));
  simdgroup_store(m, d, 8);
}

kernel void nonuniform_shuffle_error(device float* out [[buffer(0)]],
                                     ushort lane [[thread_index_in_simdgroup]]) {
  out[lane] = simd_shuffle_down(out[lane], lane % 2);
}

kernel void missing_lane_error(device float* out [[buffer(0)]],
                               ushort lane [[thread_index_in_simdgroup]]) {
  out[lane] = simd_shuffle(out[lane], 40);
}

kernel void threadgroup_limit_error(device float* out [[buffer(0)]],
                                    uint lid [[thread_index_in_threadgroup]]) {
  threadgroup float big[8193];
  big[lid] = 1.0f;
  out[lid] = big[lid];
}

kernel void divergent_barrier_error(uint lid [[thread_index_in_threadgroup]]) {
  if (lid < 16) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
}

kernel void early_return_barrier_error(uint lid [[thread_index_in_threadgroup]]) {
  if (lid >= 16) {
    return;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}

kernel void different_barriers_error(uint lid [[thread_index_in_threadgroup]]) {
  if (lid < 16) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
  } else {
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
}

kernel void divergent_simd_error(device float* out [[buffer(0)]],
                                 ushort lane [[thread_index_in_simdgroup]]) {
  float x = float(lane);
  if (lane < 8) {
    x = simd_sum(x);
  }
  out[lane] = x;
}
