// argmax / argmin along one axis: a threadgroup per output, its threads (a power of two, at
// most 256) striding along the axis, then a tree over threadgroup memory. NumPy's rules: the
// first NaN wins, then the best value, ties to the lower index. Values compare as float for
// float dtypes and long for integers and bool. `dims` holds the kept dims' merged shape, then
// the input's and the output's strides over it, dimension rank-1 fastest.
#include <metal_stdlib>
using namespace metal;

constant constexpr uint kArgThreads = 256;

struct ArgParams {
  uint rank;    // merged kept dims
  uint argmin;  // 1: argmin, 0: argmax
  ulong n;      // elements along the axis
  long axis_stride;
  long in_offset;
  long out_offset;
};

// Whether (v, i) beats (w, j); j < 0 is no candidate at all.
template <typename C>
static bool arg_wins(C v, long i, C w, long j, bool argmin) {
  if (j < 0) {
    return i >= 0;
  }
  if (i < 0) {
    return false;
  }
  const bool vn = v != v;
  const bool wn = w != w;
  if (vn || wn) {
    return vn && (!wn || i < j);
  }
  const bool better = argmin ? v < w : v > w;
  return better || (v == w && i < j);
}

template <typename T, typename C>
kernel void argreduce(device const T* x [[buffer(0)]], device long* out [[buffer(1)]],
                      constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
                      uint o [[threadgroup_position_in_grid]],
                      uint lid [[thread_index_in_threadgroup]],
                      uint threads [[threads_per_threadgroup]]) {
  threadgroup C best_v[kArgThreads];
  threadgroup long best_i[kArgThreads];
  const bool argmin = p.argmin != 0;
  long in_off = p.in_offset;
  long out_off = p.out_offset;
  ulong rest = o;
  for (int d = int(p.rank) - 1; d >= 0; --d) {
    ulong n = ulong(dims[d]);
    long index = long(rest % n);
    rest /= n;
    in_off += index * dims[p.rank + uint(d)];
    out_off += index * dims[2 * p.rank + uint(d)];
  }
  C v = C(0);
  long i = -1;
  for (ulong r = lid; r < p.n; r += threads) {
    const C c = C(x[in_off + long(r) * p.axis_stride]);
    if (arg_wins(c, long(r), v, i, argmin)) {
      v = c;
      i = long(r);
    }
  }
  best_v[lid] = v;
  best_i[lid] = i;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint s = threads / 2; s > 0; s >>= 1) {
    if (lid < s && arg_wins(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid], argmin)) {
      best_v[lid] = best_v[lid + s];
      best_i[lid] = best_i[lid + s];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
  if (lid == 0) {
    out[out_off] = best_i[0];
  }
}

template [[host_name("argreduce_f32")]] kernel void argreduce<float, float>(
    device const float* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
template [[host_name("argreduce_f16")]] kernel void argreduce<half, float>(
    device const half* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
template [[host_name("argreduce_bf16")]] kernel void argreduce<bfloat, float>(
    device const bfloat* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
template [[host_name("argreduce_i8")]] kernel void argreduce<char, long>(
    device const char* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
template [[host_name("argreduce_u8")]] kernel void argreduce<uchar, long>(
    device const uchar* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
template [[host_name("argreduce_i32")]] kernel void argreduce<int, long>(
    device const int* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
template [[host_name("argreduce_i64")]] kernel void argreduce<long, long>(
    device const long* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
template [[host_name("argreduce_bool")]] kernel void argreduce<bool, long>(
    device const bool* x [[buffer(0)]], device long* out [[buffer(1)]],
    constant ArgParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint o [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],
    uint threads [[threads_per_threadgroup]]);
