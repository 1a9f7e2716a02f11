#pragma once
// The fusion IR printed as CUDA C++: the block loops of core/codegen_c.h inside kernels that
// walk an elementwise domain, or cut a reduction into rows, columns and chunks. What decides
// the cut (src/cuda/cuda_kernels.cpp) passes it in; nothing here touches the GPU.
#include <string>
#include <vector>

#include "core/fusion_ir.h"
#include "core/shape.h"

namespace tl::cuda {

// The instructions a kernel's source prints (all but constants, which come as arguments).
std::vector<int> printed_instrs(const ir::Kernel& k);
// The loads and stores of k (its memory operands, numbered in instruction order).
int memory_operands(const ir::Kernel& k);
// The elementwise kernels' argument block `Args` over `rank` merged dims, `nmem` operands.
std::string elementwise_args(const ir::Kernel& k, int rank, int nmem);
// k over the one merged dim of m (its shape and strides), memory operand j reading or
// writing slot j: what a vector step runs.
ir::Kernel flattened(const ir::Kernel& k, const MergedDims& m);
// tl_move<N>(dst, src) (and tl_move_last): N bytes, a whole vector of one operand, in one access.
const char* vector_move_source();

// The elementwise kernel over `rank` merged dims; with `vector` > 1 (every operand contiguous
// or broadcast along the innermost merged dim and aligned; over several dims, rows that whole
// vectors divide), `flat` is the kernel along that dim and each thread first takes whole
// vectors of 16-byte accesses.
std::string elementwise_source(const ir::Kernel& k, int rank, int vector, const ir::Kernel& flat);

// The elementwise kernel over `rank` merged dims (rank >= 2) where the memory operands
// `staged` (loads) have unit stride along dim p and the others along the innermost dim:
// 32 x 32 tiles through shared memory, so both sides' accesses are coalesced (a transposing
// copy). `flat` is the kernel with operand j on slot j (run on one element at a time).
std::string transpose_source(const ir::Kernel& k, int rank, int p, const std::vector<int>& staged,
                             const ir::Kernel& flat);

// Whether the row cache (below) keeps instruction i of k: a load contiguous along the row
// (`along`: its stride there) that several passes of s make.
bool row_cache_keeps(const ir::Kernel& k, const ir::Schedule& s, int i, int64_t along);

// The reduction kernel: `x` outputs side by side per block (1: rows, 32 or 256: columns; with
// `cache`, rows of a warp each), `split` when each output's range is cut into chunks over
// several blocks, `vector` / `flat` as above along the one merged reduced dim; `cache` > 0: each thread keeps up to `cache`
// vectors of a row in registers for the later passes (rows of at most blockDim.y * vector *
// cache elements, unsplit, blocks of `threads`: the kernel's launch bound).
std::string reduction_kernel_source(const ir::Kernel& k, int rank_kept, int rank_red, int x, bool split,
                                    int vector, int cache, int threads, const ir::Kernel& flat);

// A matmul epilogue (see core/backend.h): the source a matmul kernel is compiled with after
// common_source() and before its #defines. It defines TL_EPILOGUE 1, TL_EP_RANK and
// TL_EP_MEM, the argument block TlEpArgs (MatmulArgs::ep) and
//   template <class V> tl_ep_run(const TlEpArgs& e, const int64_t (&bo)[TL_EP_MEM],
//                                int64_t r, int64_t c, V acc)
// which runs `k` on one element: the product `acc` (rounded to the product's dtype, as the
// matmul would store it) stands for the load of `acc_slot`, the other memory operands are
// read and written at bo[j] + r * e.sm[j] + c * e.sn[j] (bo: the batch's offsets, from
// e.off and e.st unravelled over the `batch_rank` dims of e.shape). And
//   template <int W, class V> tl_ep_run_cols(const TlEpArgs& e, const int64_t (&bo)[TL_EP_MEM],
//                                            int64_t r, int64_t c, int n, const V (&acc)[W])
// which runs it on columns c .. c + n - 1 (n <= W) of row r in one pass: the pointers do not
// alias there, so the elements' loads and arithmetic interleave.
// Where every memory operand is contiguous or broadcast along the columns, it also defines
// TL_EP_VEC (V: the columns of a 16-byte access of the widest), a struct TlEpVec holding a
// vector's operands, and
//   bool tl_ep_vec_ok(const TlEpArgs& e, const int64_t (&bo)[TL_EP_MEM])
//   void tl_ep_vec_load(const TlEpArgs& e, const int64_t (&bo)[TL_EP_MEM], int64_t r,
//                       int64_t c, TlEpVec& x)
//   template <class V> void tl_ep_vec_run(const TlEpArgs& e, const int64_t (&bo)[TL_EP_MEM],
//                                         int64_t r, int64_t c, const V (&acc)[TL_EP_VEC], TlEpVec& x)
// whether the vectors of every row at columns that V divides are aligned (at batch offsets
// bo); the loads of columns c .. c + V - 1 of row r into x, one access each; then the rest:
// the arithmetic and the stores, one access each. A caller reads several vectors before it
// runs them: their latencies overlap.
// (matmul_epilogue_source is in cuda_codegen_epilogue.cpp.)
std::string matmul_epilogue_source(const ir::Kernel& k, int acc_slot, int batch_rank);

}  // namespace tl::cuda
