// Out-of-bounds reads on purpose: tests/test_metal_emu.py checks that the AddressSanitizer
// build reports them at these lines. b is there so that a[8] has a neighbour.
#include <metal_stdlib>
using namespace metal;

kernel void device_oob(device const float* x [[buffer(0)]], device float* y [[buffer(1)]],
                       uint i [[thread_position_in_grid]]) {
  y[i] = x[i + 1];
}

kernel void threadgroup_oob(device const float* x [[buffer(0)]], device float* y [[buffer(1)]],
                            uint i [[thread_position_in_grid]]) {
  threadgroup float a[8];
  threadgroup float b[8];
  a[i] = x[i];
  b[i] = x[i];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  y[i] = a[i + 1];
}
