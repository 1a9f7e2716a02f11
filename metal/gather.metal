// Gather and scatter through element offsets (advanced indexing), moving elements as raw bits
// of their size. The dense operand is shaped (P..., I..., Q...): P and Q span the indexed
// tensor's dims before and after the split, I the offsets' dims. Each thread takes one index
// of the parallel dims and walks the serial dims in order: a gather has everything parallel
// (one serial step); a scatter walks I serially, so that of several writes to one element
// the last wins, as on the CPU. Operands: 0 the indexed tensor, 1 the offsets (int64), 2 the
// dense tensor. `dims` and `serial_dims` hold a walk's shape, then the three operands'
// strides over it (rank values each), dimension rank-1 fastest; the host merges dims first.
#include <metal_stdlib>
using namespace metal;

struct GatherParams {
  uint rank;         // merged parallel dims
  uint serial_rank;  // merged serial dims
  uint scatter;      // 1: write the dense values into the indexed tensor
  uint unused;
  ulong parallel;    // elements of the parallel walk
  ulong serial;      // elements of the serial walk
  long offset[3];    // element offsets of the three operands
};

// Adds the element offsets of linear index i of a walk to off[0..3).
static void unravel3(ulong i, constant long* dims, uint rank, thread long* off) {
  for (int d = int(rank) - 1; d >= 0; --d) {
    ulong n = ulong(dims[d]);
    long index = long(i % n);
    i /= n;
    for (uint j = 0; j < 3; ++j) {
      off[j] += index * dims[rank * (1 + j) + uint(d)];
    }
  }
}

template <typename T>
kernel void gather(device T* indexed [[buffer(0)]], device const long* offsets [[buffer(1)]],
                   device T* dense [[buffer(2)]], constant GatherParams& p [[buffer(3)]],
                   constant long* dims [[buffer(4)]], constant long* serial_dims [[buffer(5)]],
                   uint gid [[thread_position_in_grid]],
                   uint grid_threads [[threads_per_grid]]) {
  for (ulong lin = gid; lin < p.parallel; lin += grid_threads) {
    long base[3] = {p.offset[0], p.offset[1], p.offset[2]};
    unravel3(lin, dims, p.rank, base);
    for (ulong s = 0; s < p.serial; ++s) {
      long off[3] = {base[0], base[1], base[2]};
      unravel3(s, serial_dims, p.serial_rank, off);
      long at = off[0] + offsets[off[1]];
      if (p.scatter != 0) {
        indexed[at] = dense[off[2]];
      } else {
        dense[off[2]] = indexed[at];
      }
    }
  }
}

template [[host_name("gather_x8")]] kernel void gather<uchar>(
    device uchar* indexed [[buffer(0)]], device const long* offsets [[buffer(1)]],
    device uchar* dense [[buffer(2)]], constant GatherParams& p [[buffer(3)]],
    constant long* dims [[buffer(4)]], constant long* serial_dims [[buffer(5)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("gather_x16")]] kernel void gather<ushort>(
    device ushort* indexed [[buffer(0)]], device const long* offsets [[buffer(1)]],
    device ushort* dense [[buffer(2)]], constant GatherParams& p [[buffer(3)]],
    constant long* dims [[buffer(4)]], constant long* serial_dims [[buffer(5)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("gather_x32")]] kernel void gather<uint>(
    device uint* indexed [[buffer(0)]], device const long* offsets [[buffer(1)]],
    device uint* dense [[buffer(2)]], constant GatherParams& p [[buffer(3)]],
    constant long* dims [[buffer(4)]], constant long* serial_dims [[buffer(5)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
template [[host_name("gather_x64")]] kernel void gather<ulong>(
    device ulong* indexed [[buffer(0)]], device const long* offsets [[buffer(1)]],
    device ulong* dense [[buffer(2)]], constant GatherParams& p [[buffer(3)]],
    constant long* dims [[buffer(4)]], constant long* serial_dims [[buffer(5)]],
    uint gid [[thread_position_in_grid]], uint grid_threads [[threads_per_grid]]);
