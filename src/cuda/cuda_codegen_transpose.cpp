#include <algorithm>

#include "core/codegen_c.h"
#include "cuda/cuda_codegen.h"
#include "cuda/cuda_module.h"

namespace tl::cuda {

// Tiles of 32 x 32 elements of merged dims p (rows) and q = rank - 1 (columns), 256 threads
// (32 x 8, four elements each), blocks striding over (other dims, p tiles, q tiles). Phase 1:
// each staged load's tile into shared memory with lanes along p (its unit stride); phase 2:
// the kernel on each element with lanes along q, staged loads read from the tile (rows padded
// to 33: both phases free of bank conflicts), the rest from memory.
std::string transpose_source(const ir::Kernel& k, int rank, int p, const std::vector<int>& staged,
                             const ir::Kernel& flat) {
  const int mems = memory_operands(k), nmem = std::max(1, mems), q = rank - 1;
  const std::string M = std::to_string(nmem), R = std::to_string(rank), P = std::to_string(p), Q = std::to_string(q);
  std::string src = common_source() + codegen::block_function(flat, printed_instrs(flat), 0, "tl_vector",
                                                               "static __device__ __forceinline__") +
                    elementwise_args(k, rank, nmem) + "extern \"C\" __global__ void __launch_bounds__(256) tl_kernel(const Args a) {\n";
  std::vector<int> slot_of(static_cast<size_t>(nmem), 0);
  std::vector<std::string> type_of(static_cast<size_t>(nmem));
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Instr& in = k.instrs[i];
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    slot_of[j] = in.slot, type_of[j] = codegen::ctype(in.dtype);
    ++j;
  }
  for (int j : staged) src += "  __shared__ " + type_of[size_t(j)] + " t" + std::to_string(j) + "[32][33];\n";
  src += "  const int64_t zero[" + M + "] = {};\n"
         "  const int64_t np = (a.shape[" + P + "] + 31) / 32, nq = (a.shape[" + Q + "] + 31) / 32;\n"
         "  const int64_t tiles = a.total / (a.shape[" + P + "] * a.shape[" + Q + "]) * np * nq;\n"
         "  const int x = int(threadIdx.x) % 32, y = int(threadIdx.x) / 32;\n"
         "  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {\n"
         "    const int64_t p0 = t / nq % np * 32, q0 = t % nq * 32;\n"
         "    int64_t rest = t / (nq * np), base[" + M + "];\n"
         "    for (int j = 0; j < " + M + "; ++j) base[j] = a.off[j] + p0 * a.st[j][" + P + "] + q0 * a.st[j][" + Q + "];\n"
         "#pragma unroll\n    for (int d = " + R + " - 1; d >= 0; --d) {\n"
         "      if (d == " + P + " || d == " + Q + ") continue;\n"
         "      const int64_t i = rest % a.shape[d];\n      rest /= a.shape[d];\n"
         "      for (int j = 0; j < " + M + "; ++j) base[j] += i * a.st[j][d];\n    }\n"
         "    const int np_in = int(min(a.shape[" + P + "] - p0, int64_t(32))), nq_in = int(min(a.shape[" + Q + "] - q0, int64_t(32)));\n";
  src += "#pragma unroll\n    for (int r = y; r < 32; r += 8) {\n      if (x >= np_in || r >= nq_in) continue;\n";
  for (int j : staged) {
    const std::string J = std::to_string(j);
    src += "      t" + J + "[r][x] = ((const " + type_of[size_t(j)] + "*)a.base[" + std::to_string(slot_of[size_t(j)]) +
           "])[base[" + J + "] + x * a.st[" + J + "][" + P + "] + r * a.st[" + J + "][" + Q + "]];\n";
  }
  src += "    }\n    __syncthreads();\n"
         "#pragma unroll\n    for (int r = y; r < 32; r += 8) {\n      if (r >= np_in || x >= nq_in) continue;\n"
         "      char* at[" + M + "];\n";
  for (int j = 0; j < mems; ++j) {
    const std::string J = std::to_string(j);
    src += std::find(staged.begin(), staged.end(), j) != staged.end()
               ? "      at[" + J + "] = (char*)&t" + J + "[x][r];\n"
               : "      at[" + J + "] = (char*)((" + type_of[size_t(j)] + "*)a.base[" + std::to_string(slot_of[size_t(j)]) +
                     "] + base[" + J + "] + r * a.st[" + J + "][" + P + "] + x * a.st[" + J + "][" + Q + "]);\n";
  }
  return src + "      tl_vector(at, zero, nullptr, 1, a.cf, a.ci, nullptr, nullptr, nullptr, nullptr);\n    }\n"
               "    __syncthreads();\n  }\n}\n";
}

}  // namespace tl::cuda
