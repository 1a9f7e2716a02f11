#pragma once
// The fusion IR printed as Metal Shading Language: one kernel per launch shape (elementwise,
// or a reduction in rows or columns), parameterized by a `constant` struct of offsets,
// shapes, strides and scalar constants. What decides the shape (msl_kernels.h) passes it in;
// nothing here touches Metal, so it builds and is tested on every platform (through the
// emulator in tests/metal_emu).
#include <cstdint>
#include <string>
#include <vector>

#include "core/fusion_ir.h"
#include "core/shape.h"

namespace tl::metal {

// Why `k` cannot be printed as MSL ("" when it can): Metal has no double, and arg
// reductions are static kernels.
std::string unprintable_reason(const ir::Kernel& k);

// The definitions every generated kernel needs: the CPU backend's scalar semantics
// (src/core/scalar_math.h) and storage conversions, in MSL. Kernels follow it in one source.
const std::string& prelude();

enum class Layout : uint8_t {
  Elementwise,  // one thread per element (or per 4-vector), grid-stride
  Rows,         // a threadgroup per output: its threads split the reduced elements
  Columns,      // kColumnsX outputs side by side per threadgroup, kColumnsY threads each
};
constexpr int kColumnsX = 32, kColumnsY = 8;

// Everything that changes the printed source besides the kernel's structure.
struct Cut {
  Layout layout = Layout::Elementwise;
  int rank_outer = 1;  // merged dims: elementwise all, reductions the kept ones
  int rank_inner = 0;  // reductions: merged reduced dims
  int vector = 1;      // elementwise: 4 when each thread first takes whole 4-vectors
  std::vector<bool> unit;  // with vector: per memory operand, contiguous (else broadcast)
  bool wide = false;   // 64-bit index math (else 32-bit: every offset fits)
  // Partials of this many chunks per output, then a kernel that combines them (0: none), for
  // rows or columns, of one pass or of several (softmax, layernorm: pass by pass). Few long
  // outputs (a full reduction, a softmax over axis 0 of a tall, narrow array) then fill the GPU.
  int split = 0;
};

// The kernel function `entry` (its params struct is `entry`_params), to follow prelude().
// Buffer n is slot n; the params struct is at buffer(k.slots.size()). With c.split, two
// kernels, `entry`_part then `entry`, share a scratch buffer (8 bytes per partial: per
// reduction, output and chunk) at buffer(k.slots.size()), the params after it.
// A kernel of several passes with c.split prints, for each pass t, split_entry(entry, t,
// false), the chunked kernel that runs pass t (its threadgroups read the totals of the passes
// before from the scratch buffer and store their partials), then, where pass t reduces,
// split_entry(entry, t, true), a kernel per output that folds them into the pass's totals
// (scratch: a partial per reduction, output and chunk, then a total per reduction and
// output) and runs the row values and row stores after it. No kernel is named `entry`.
std::string kernel_source(const ir::Kernel& k, const Cut& c, const std::string& entry);
std::string split_entry(const std::string& entry, int pass, bool fold);

// The bytes of the params struct kernel_source declares for these merged dims (inner:
// reductions only) and element counts.
std::vector<uint8_t> pack_params(const ir::Kernel& k, const Cut& c, const MergedDims& outer,
                                 const MergedDims& inner, int64_t total, int64_t inner_n);
// `words` (a params struct's longs), then one long per constant of k, then the constants'
// float values: the params buffer of a generated kernel.
std::vector<uint8_t> with_constants(const ir::Kernel& k, std::vector<int64_t> words);

}  // namespace tl::metal
