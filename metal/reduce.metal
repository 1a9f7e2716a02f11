// Row reductions (sum, max) and a one-pass online softmax. One threadgroup per row, any
// threadgroup size up to 1024; threads stride along the row (coalesced reads), combine in
// registers, then across each SIMD-group with simd_sum/simd_max, then across SIMD-groups
// through threadgroup memory. Accumulation is in float for every input type.
#include <metal_stdlib>
using namespace metal;

struct ReduceParams {
  uint rows;
  uint cols;
  uint row_stride;  // elements between the starts of consecutive input rows
};

struct SumOp {
  static float identity() { return 0.0f; }
  static float combine(float a, float b) { return a + b; }
  static float across_simd(float x) { return simd_sum(x); }
};

struct MaxOp {
  static float identity() { return -INFINITY; }
  static float combine(float a, float b) { return max(a, b); }
  static float across_simd(float x) { return simd_max(x); }
};

template <typename T, typename Op>
kernel void reduce_rows(device const T* x [[buffer(0)]], device T* out [[buffer(1)]],
                        constant ReduceParams& p [[buffer(2)]],
                        uint row [[threadgroup_position_in_grid]],
                        uint lid [[thread_index_in_threadgroup]],
                        uint threads [[threads_per_threadgroup]],
                        uint lane [[thread_index_in_simdgroup]],
                        uint simd_group [[simdgroup_index_in_threadgroup]],
                        uint simd_groups [[simdgroups_per_threadgroup]]) {
  threadgroup float partial[32];
  device const T* xr = x + ulong(row) * p.row_stride;
  float acc = Op::identity();
  for (uint i = lid; i < p.cols; i += threads) {
    acc = Op::combine(acc, float(xr[i]));
  }
  acc = Op::across_simd(acc);
  if (lane == 0) {
    partial[simd_group] = acc;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (simd_group == 0) {
    acc = Op::across_simd(lane < simd_groups ? partial[lane] : Op::identity());
    if (lane == 0) {
      out[row] = T(acc);
    }
  }
}

// softmax over each row, written to contiguous output rows. One read computes a running
// maximum m and the sum s of exp(x - m) (rescaled whenever m grows); a second pass writes.
template <typename T>
kernel void softmax_rows(device const T* x [[buffer(0)]], device T* y [[buffer(1)]],
                         constant ReduceParams& p [[buffer(2)]],
                         uint row [[threadgroup_position_in_grid]],
                         uint lid [[thread_index_in_threadgroup]],
                         uint threads [[threads_per_threadgroup]],
                         uint lane [[thread_index_in_simdgroup]],
                         uint simd_group [[simdgroup_index_in_threadgroup]],
                         uint simd_groups [[simdgroups_per_threadgroup]]) {
  threadgroup float group_max[32];
  threadgroup float group_sum[32];
  device const T* xr = x + ulong(row) * p.row_stride;
  device T* yr = y + ulong(row) * p.cols;

  float m = -INFINITY;
  float s = 0.0f;
  for (uint i = lid; i < p.cols; i += threads) {
    float v = float(xr[i]);
    if (v > m) {
      s = s * exp(m - v) + 1.0f;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  float simd_m = simd_max(m);
  // A lane that saw no element has s == 0 and m == -inf: exp(m - simd_m) could be NaN.
  s = simd_sum(s == 0.0f ? 0.0f : s * exp(m - simd_m));
  if (lane == 0) {
    group_max[simd_group] = simd_m;
    group_sum[simd_group] = s;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);

  float row_max = -INFINITY;
  for (uint g = 0; g < simd_groups; ++g) {
    row_max = max(row_max, group_max[g]);
  }
  float row_sum = 0.0f;
  for (uint g = 0; g < simd_groups; ++g) {
    row_sum += group_sum[g] == 0.0f ? 0.0f : group_sum[g] * exp(group_max[g] - row_max);
  }
  float inv = 1.0f / row_sum;
  for (uint i = lid; i < p.cols; i += threads) {
    yr[i] = T(exp(float(xr[i]) - row_max) * inv);
  }
}

template [[host_name("sum_f32")]] kernel void reduce_rows<float, SumOp>(
    device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
    constant ReduceParams& p [[buffer(2)]], uint row [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint threads [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint simd_groups [[simdgroups_per_threadgroup]]);
template [[host_name("sum_f16")]] kernel void reduce_rows<half, SumOp>(
    device const half* x [[buffer(0)]], device half* out [[buffer(1)]],
    constant ReduceParams& p [[buffer(2)]], uint row [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint threads [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint simd_groups [[simdgroups_per_threadgroup]]);
template [[host_name("max_f32")]] kernel void reduce_rows<float, MaxOp>(
    device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
    constant ReduceParams& p [[buffer(2)]], uint row [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint threads [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint simd_groups [[simdgroups_per_threadgroup]]);
template [[host_name("max_f16")]] kernel void reduce_rows<half, MaxOp>(
    device const half* x [[buffer(0)]], device half* out [[buffer(1)]],
    constant ReduceParams& p [[buffer(2)]], uint row [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint threads [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint simd_groups [[simdgroups_per_threadgroup]]);
template [[host_name("softmax_f32")]] kernel void softmax_rows<float>(
    device const float* x [[buffer(0)]], device float* y [[buffer(1)]],
    constant ReduceParams& p [[buffer(2)]], uint row [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint threads [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint simd_groups [[simdgroups_per_threadgroup]]);
template [[host_name("softmax_f16")]] kernel void softmax_rows<half>(
    device const half* x [[buffer(0)]], device half* y [[buffer(1)]],
    constant ReduceParams& p [[buffer(2)]], uint row [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]], uint threads [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint simd_group [[simdgroup_index_in_threadgroup]],
    uint simd_groups [[simdgroups_per_threadgroup]]);
