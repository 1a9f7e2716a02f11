#pragma once
// Fused kernels on Metal: how a kernel of the fusion IR is cut over the GPU (merged dims,
// 4-vector accesses where contiguous and aligned, rows or columns for reductions, 32- or
// 64-bit index math) and everything a host needs to run it: a launch key, the entry, grid,
// threadgroup, buffer bindings and the params bytes, and the MSL source only when the key is
// new. Portable C++: the Objective-C++ host only encodes what this returns.
#include <array>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "metal/msl_codegen.h"

namespace tl::metal {

struct Launch {
  Cut cut;
  MergedDims outer, inner;         // elementwise: every dim outer; reductions: kept / reduced
  int64_t total = 0, inner_n = 0;  // elements, or outputs and the reduced elements of each
  std::array<uint32_t, 3> grid{0, 1, 1};         // threadgroups (grid[0] == 0: nothing to run)
  std::array<uint32_t, 3> threadgroup{1, 1, 1};  // threads per threadgroup
  // A split reduction (cut.split > 0): the partials kernel runs first, on this grid (several
  // passes: every chunked kernel; the folding kernels run on grid x threadgroup).
  std::array<uint32_t, 3> part_grid{0, 1, 1};
  std::array<uint32_t, 3> part_threadgroup{1, 1, 1};
  int64_t scratch_bytes = 0;  // its partials (several passes: and each pass's totals)
};

// A reduction of few, long outputs (rows or columns, of one pass or of several, as softmax or
// layernorm) is split when each output has at least this many elements and there are at most
// kSplitMaxOutputs outputs: a threadgroup per chunk of kSplitChunk (of an output, or of a
// group of kColumnsX columns).
constexpr int64_t kSplitMinInner = int64_t(1) << 16, kSplitMaxOutputs = 256, kSplitChunk = 8192;
constexpr int kSplitMaxChunks = 512;

// binding_offsets: each slot's byte offset past a 16-byte aligned address (empty: all
// aligned, as MTLBuffer contents are). `wide` forces 64-bit index math.
Launch plan_launch(const ir::Kernel& k, std::span<const uint64_t> binding_offsets = {}, bool wide = false);

struct Binding {
  DType dtype;
  bool written;
  int64_t elements;  // one past the farthest element the kernel touches
};

// Each slot of k as a Binding: written where k stores to it, and as far as its operands reach
// over the domain where `touches(operand)` (memory an operand never reads counts nothing).
std::vector<Binding> bindings_of(const ir::Kernel& k, const std::function<bool(const ir::Instr&)>& touches);

// A generated kernel's entry name: `prefix` and 16 hex digits of the key's stable hash.
std::string entry_name(const std::string& prefix, const std::string& key);

// What decides a fused kernel's MSL besides its name: the kernel's structure (ir::Kernel::hash
// covers ops, dtypes, slots, passes and stride classes; not sizes, strides or constants, which
// are params) and the launch's cut. Equal keys print equal sources, so a host looks a pipeline
// up by it before any MSL is printed: a kernel seen before costs no code generation.
std::string launch_key(const ir::Kernel& k, const Cut& c);

// One kernel launch of a program: its function, grid (threadgroups) and threadgroup size.
struct Step {
  std::string entry;
  std::array<uint32_t, 3> grid{0, 1, 1};
  std::array<uint32_t, 3> threadgroup{1, 1, 1};
};

struct Program {
  std::string error;  // why the kernel cannot run on Metal ("" when it can)
  std::string key;    // launch_key
  std::string entry;  // the kernel function's name, from the key: distinct sources never clash
  // With launch.cut.split and one pass: the partials kernel (`entry`_part), run first on
  // launch.part_grid; both bind a scratch buffer of launch.scratch_bytes at
  // buffer(buffers.size()) and the params after it. Several passes: "" (see steps).
  std::string part_entry;
  // Every launch, in order, all with the same bindings (and, split, the scratch buffer): one
  // (`entry`); split, one pass: `entry`_part, `entry`; split, several passes: per pass the
  // chunked kernel and, where it reduces, its fold (split_entry), no kernel named `entry`.
  std::vector<Step> steps;
  Launch launch;
  std::vector<Binding> buffers;  // slot n at buffer(n); the params at buffer(buffers.size())
  std::vector<uint8_t> params;
};

// Everything to run `k` on Metal but its source (or `error`); prints no MSL.
Program fused_program(const ir::Kernel& k, std::span<const uint64_t> binding_offsets = {}, bool wide = false);
// The MSL of a program of `k`: prelude() and the kernel function p.entry.
std::string program_source(const ir::Kernel& k, const Program& p);

}  // namespace tl::metal
