// Elementwise library: strided copy with dtype conversion, and a vectorized fill.
// bfloat needs Metal 3.1 (macOS 14 / iOS 17).
#include <metal_stdlib>
using namespace metal;

// A strided copy of rank <= 6: dimension rank-1 varies fastest; strides and offsets count
// elements and may be negative (flipped views). One thread per element.
struct CopyParams {
  uint n;     // number of elements, the product of shape[0..rank)
  uint rank;
  long src_offset;
  long dst_offset;
  uint shape[6];
  long src_strides[6];
  long dst_strides[6];
};
static_assert(sizeof(CopyParams) == 144, "CopyParams is shared with the host");

template <typename In, typename Out>
kernel void copy(device const In* src [[buffer(0)]], device Out* dst [[buffer(1)]],
                 constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
  if (gid >= p.n) {
    return;
  }
  long s = p.src_offset;
  long d = p.dst_offset;
  uint rest = gid;
  for (int i = int(p.rank) - 1; i >= 0; --i) {
    uint index = rest % p.shape[i];
    rest /= p.shape[i];
    s += long(index) * p.src_strides[i];
    d += long(index) * p.dst_strides[i];
  }
  dst[d] = static_cast<Out>(src[s]);
}

// Every ordered pair of float, half, bfloat and int.
template [[host_name("copy_f32_f32")]] kernel void copy<float, float>(
    device const float* src [[buffer(0)]], device float* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_f32_f16")]] kernel void copy<float, half>(
    device const float* src [[buffer(0)]], device half* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_f32_bf16")]] kernel void copy<float, bfloat>(
    device const float* src [[buffer(0)]], device bfloat* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_f32_i32")]] kernel void copy<float, int>(
    device const float* src [[buffer(0)]], device int* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_f16_f32")]] kernel void copy<half, float>(
    device const half* src [[buffer(0)]], device float* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_f16_f16")]] kernel void copy<half, half>(
    device const half* src [[buffer(0)]], device half* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_f16_bf16")]] kernel void copy<half, bfloat>(
    device const half* src [[buffer(0)]], device bfloat* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_f16_i32")]] kernel void copy<half, int>(
    device const half* src [[buffer(0)]], device int* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_bf16_f32")]] kernel void copy<bfloat, float>(
    device const bfloat* src [[buffer(0)]], device float* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_bf16_f16")]] kernel void copy<bfloat, half>(
    device const bfloat* src [[buffer(0)]], device half* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_bf16_bf16")]] kernel void copy<bfloat, bfloat>(
    device const bfloat* src [[buffer(0)]], device bfloat* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_bf16_i32")]] kernel void copy<bfloat, int>(
    device const bfloat* src [[buffer(0)]], device int* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_i32_f32")]] kernel void copy<int, float>(
    device const int* src [[buffer(0)]], device float* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_i32_f16")]] kernel void copy<int, half>(
    device const int* src [[buffer(0)]], device half* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_i32_bf16")]] kernel void copy<int, bfloat>(
    device const int* src [[buffer(0)]], device bfloat* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("copy_i32_i32")]] kernel void copy<int, int>(
    device const int* src [[buffer(0)]], device int* dst [[buffer(1)]],
    constant CopyParams& p [[buffer(2)]], uint gid [[thread_position_in_grid]]);

// Fills n contiguous elements, four per thread with one vector store (launch ceil(n / 4)
// threads; `out` must be 16-byte aligned, as Metal buffers are). The thread at the end
// writes the n % 4 leftovers one by one.
template <typename T>
kernel void fill(device T* out [[buffer(0)]], constant T& value [[buffer(1)]],
                 constant uint& n [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
  uint i = gid * 4;
  if (i + 4 <= n) {
    *reinterpret_cast<device vec<T, 4>*>(out + i) = vec<T, 4>(value);
    return;
  }
  for (; i < n; ++i) {
    out[i] = value;
  }
}

template [[host_name("fill_f32")]] kernel void fill<float>(
    device float* out [[buffer(0)]], constant float& value [[buffer(1)]],
    constant uint& n [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("fill_f16")]] kernel void fill<half>(
    device half* out [[buffer(0)]], constant half& value [[buffer(1)]],
    constant uint& n [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("fill_bf16")]] kernel void fill<bfloat>(
    device bfloat* out [[buffer(0)]], constant bfloat& value [[buffer(1)]],
    constant uint& n [[buffer(2)]], uint gid [[thread_position_in_grid]]);
template [[host_name("fill_i32")]] kernel void fill<int>(
    device int* out [[buffer(0)]], constant int& value [[buffer(1)]],
    constant uint& n [[buffer(2)]], uint gid [[thread_position_in_grid]]);
