// cumsum / cumprod along one axis: a threadgroup of 256 threads per line, the line walked in
// tiles of 256 elements, each tile scanned in threadgroup memory (Hillis-Steele, double
// buffered so no step reads what it writes) and chained to the next by a running carry. The
// accumulator is float for float dtypes and long for integers and bool (wrapping, through
// ulong, as on the CPU). `dims` holds the lines' merged shape, then the input's and the
// output's strides over it (rank values each), dimension rank-1 fastest.
#include <metal_stdlib>
using namespace metal;

constant constexpr uint kScanThreads = 256;

struct ScanParams {
  uint rank;  // merged dims of the lines
  uint prod;  // 1: cumprod
  ulong n;    // elements along the axis
  long in_offset;
  long out_offset;
  long in_stride;   // along the axis
  long out_stride;
};

static float scan_step(float a, float b, bool prod) { return prod ? a * b : a + b; }
static long scan_step(long a, long b, bool prod) {
  return prod ? long(ulong(a) * ulong(b)) : long(ulong(a) + ulong(b));
}

template <typename In, typename Out, typename Acc>
kernel void scan(device const In* x [[buffer(0)]], device Out* y [[buffer(1)]],
                 constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
                 uint line [[threadgroup_position_in_grid]],
                 uint lid [[thread_index_in_threadgroup]]) {
  threadgroup Acc buf[2 * kScanThreads];
  const bool prod = p.prod != 0;
  const Acc identity = prod ? Acc(1) : Acc(0);
  long in_off = p.in_offset;
  long out_off = p.out_offset;
  ulong rest = line;
  for (int d = int(p.rank) - 1; d >= 0; --d) {
    ulong n = ulong(dims[d]);
    long index = long(rest % n);
    rest /= n;
    in_off += index * dims[p.rank + uint(d)];
    out_off += index * dims[2 * p.rank + uint(d)];
  }
  Acc carry = identity;
  for (ulong base = 0; base < p.n; base += kScanThreads) {
    const ulong i = base + lid;
    uint cur = 0;
    buf[lid] = i < p.n ? Acc(x[in_off + long(i) * p.in_stride]) : identity;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint s = 1; s < kScanThreads; s <<= 1) {
      Acc v = buf[cur * kScanThreads + lid];
      if (lid >= s) {
        v = scan_step(buf[cur * kScanThreads + lid - s], v, prod);
      }
      cur ^= 1;
      buf[cur * kScanThreads + lid] = v;
      threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    if (i < p.n) {
      y[out_off + long(i) * p.out_stride] = Out(scan_step(carry, buf[cur * kScanThreads + lid], prod));
    }
    carry = scan_step(carry, buf[cur * kScanThreads + kScanThreads - 1], prod);
    threadgroup_barrier(mem_flags::mem_threadgroup);  // the next tile overwrites buf
  }
}

// The output is the input's dtype for floats, int64 for integers and bool (src/core).
template [[host_name("scan_f32")]] kernel void scan<float, float, float>(
    device const float* x [[buffer(0)]], device float* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
template [[host_name("scan_f16")]] kernel void scan<half, half, float>(
    device const half* x [[buffer(0)]], device half* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
template [[host_name("scan_bf16")]] kernel void scan<bfloat, bfloat, float>(
    device const bfloat* x [[buffer(0)]], device bfloat* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
template [[host_name("scan_i8")]] kernel void scan<char, long, long>(
    device const char* x [[buffer(0)]], device long* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
template [[host_name("scan_u8")]] kernel void scan<uchar, long, long>(
    device const uchar* x [[buffer(0)]], device long* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
template [[host_name("scan_i32")]] kernel void scan<int, long, long>(
    device const int* x [[buffer(0)]], device long* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
template [[host_name("scan_i64")]] kernel void scan<long, long, long>(
    device const long* x [[buffer(0)]], device long* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
template [[host_name("scan_bool")]] kernel void scan<bool, long, long>(
    device const bool* x [[buffer(0)]], device long* y [[buffer(1)]],
    constant ScanParams& p [[buffer(2)]], constant long* dims [[buffer(3)]],
    uint line [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]]);
