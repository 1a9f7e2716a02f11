// The matmul epilogue's source (cuda_codegen.h): the fusion IR of the epilogue printed as
// functions a matmul kernel calls on its products, element by element or a vector of columns
// at a time.
#include <algorithm>

#include "core/codegen_c.h"
#include "cuda/cuda_codegen.h"

namespace tl::cuda {
namespace {

// TL_EP_VEC and its functions (cuda_codegen.h) where every memory operand but the product
// (memory operand acc_mem, of dtype A) is contiguous (stride 1) or broadcast (stride 0) along
// the columns; "" otherwise. A vector is V columns: each contiguous operand's V elements move
// in one access of at most 16 bytes.
std::string epilogue_vector_source(const ir::Kernel& k, int acc_mem, const std::string& A) {
  const auto n = [](int64_t v) { return std::to_string(v); };
  struct Operand {
    const ir::Instr* in;
    std::string j, T;
    bool contiguous;
    int64_t row_stride;  // the IR's along the rows: 0 and 1 print as constants
  };
  std::vector<Operand> ops;
  MergedDims along;  // the columns, the product contiguous along them
  along.shape = {k.domain.back()};
  along.strides.emplace_back();
  int64_t widest = 1;
  for (const ir::Instr& in : k.instrs) {
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    const int64_t s = in.strides.back();
    const int j = int(along.strides[0].size());
    along.strides[0].push_back(j == acc_mem ? 1 : s);
    if (j == acc_mem) continue;
    if (s != 0 && s != 1) return "";
    if (s == 1) widest = std::max(widest, itemsize(in.dtype));
    const int64_t sr = in.strides.size() >= 2 ? in.strides[in.strides.size() - 2] : 0;
    ops.push_back({&in, n(j), codegen::ctype(in.dtype), s == 1, sr});
  }
  const std::string M = n(int64_t(along.strides[0].size())), V = n(std::min<int64_t>(8, 16 / widest));
  // The operand's pointer at (r, c). Its column stride is 0 or 1 here, and the kernel's hash
  // tells strides 0 and 1 from the others, so those print as constants: a bias's address is
  // the same for every row, and the rows' addresses differ by multiples of one product.
  const auto at = [&](const Operand& o) {
    const std::string row = o.row_stride == 0 ? "" : o.row_stride == 1 ? " + r" : " + r * e.sm[" + o.j + "]";
    return "((" + o.T + "*)e.base[" + n(o.in->slot) + "] + (bo[" + o.j + "]" + row + (o.contiguous ? " + c" : "") +
           "))";
  };
  std::string regs, test = "0", loads, pointers = "  char* at[" + M + "];\n", stores;
  // Aligned at every row: the operand's first vector, and its row stride in whole vectors.
  const auto aligned = [&](const Operand& o, const std::string& x) {
    return " | (reinterpret_cast<unsigned long long>((" + o.T + "*)e.base[" + n(o.in->slot) + "] + bo[" + o.j +
           "]) % sizeof(" + x + ")) | (e.sm[" + o.j + "] * sizeof(" + o.T + ") % sizeof(" + x + "))";
  };
  if (acc_mem >= 0) pointers += "  at[" + n(acc_mem) + "] = (char*)acc;\n";
  for (const Operand& o : ops) {
    const std::string x = "x.r" + o.j;
    if (!o.contiguous) {
      pointers += "  at[" + o.j + "] = (char*)" + at(o) + ";\n";
      continue;
    }
    regs += "  " + o.T + " r" + o.j + "[" + V + "];\n";
    pointers += "  at[" + o.j + "] = (char*)" + x + ";\n";
    test += aligned(o, "TlEpVec::r" + o.j);
    if (o.in->op == ir::Op::Load) loads += "  tl_move<sizeof(" + x + ")>(" + x + ", " + at(o) + ");\n";
    else stores += "  tl_move<sizeof(" + x + ")>(" + at(o) + ", " + x + ");\n";
  }
  const std::string q = "static __device__ __forceinline__";
  const std::string args = "(const TlEpArgs& e, const int64_t (&bo)[" + M + "], int64_t r, int64_t c";
  const ir::Kernel flat = flattened(k, along);
  return "#define TL_EP_VEC " + V + "\n" + vector_move_source() +
         codegen::block_function(flat, printed_instrs(flat), 0, "tl_ep_vector", q) +
         "struct TlEpVec {\n" + regs + "};\n" +
         q + " bool tl_ep_vec_ok(const TlEpArgs& e, const int64_t (&bo)[" + M + "]) {\n  return !(" + test + ");\n}\n" +
         q + " void tl_ep_vec_load" + args + ", TlEpVec& x) {\n" + loads + "  (void)x;\n}\n"
         "template <class P>\n" + q + " void tl_ep_vec_run" + args + ", const P (&v)[" + V + "], TlEpVec& x) {\n  " +
         A + " acc[" + V + "];\n#pragma unroll\n  for (int i = 0; i < " + V + "; ++i) acc[i] = tl_from<" + A +
         ", P>(v[i]);\n" + pointers + "  const int64_t zero[" + M + "] = {};\n  tl_ep_vector(at, zero, nullptr, " + V +
         ", e.cf, e.ci, nullptr, nullptr, nullptr, nullptr);\n" + stores + "}\n";
}

}  // namespace

std::string matmul_epilogue_source(const ir::Kernel& k, int acc_slot, int batch_rank) {
  const auto n = [](int64_t v) { return std::to_string(v); };
  const int nmem = std::max(1, memory_operands(k)), nslots = std::max<int>(1, int(k.slots.size()));
  const int nparams = std::max<int>(1, int(k.params.size())), br = std::max(1, batch_rank);
  int acc_mem = -1;
  DType acc_dtype = DType::Float32;
  for (size_t i = 0, j = 0; i < k.instrs.size(); ++i) {
    const ir::Instr& in = k.instrs[i];
    if (in.op != ir::Op::Load && in.op != ir::Op::Store) continue;
    if (in.op == ir::Op::Load && in.slot == acc_slot) acc_mem = int(j), acc_dtype = in.dtype;
    ++j;
  }
  const std::string M = n(nmem), S = n(nslots), P = n(nparams), R = n(br), A = codegen::ctype(acc_dtype);
  std::string src = "#define TL_EPILOGUE 1\n#define TL_EP_RANK " + R + "\n#define TL_EP_MEM " + M + "\n";
  src += "struct TlEpArgs {\n  char* base[" + S + "];\n  int64_t off[" + M + "];\n  int64_t st[" + M + "][" + R +
         "];\n  int64_t shape[" + R + "];\n  int64_t sm[" + M + "];\n  int64_t sn[" + M + "];\n  double cf[" + P +
         "];\n  int64_t ci[" + P + "];\n};\n";
  const std::string q = "static __device__ __forceinline__";
  src += codegen::block_function(k, printed_instrs(k), int(k.domain.size()) - 1, "tl_ep_cols", q);
  // The product lives in a local the epilogue's load reads: inlined, it stays in registers.
  std::string base = "  char* base[" + S + "] = {";
  for (int s = 0; s < nslots; ++s)
    base += std::string(s ? ", " : "") + (s == acc_slot ? "(char*)acc" : "e.base[" + n(s) + "]");
  base += "};\n  int64_t off[" + M + "], inc[" + M + "];\n#pragma unroll\n  for (int j = 0; j < " + M +
          "; ++j) off[j] = bo[j] + r * e.sm[j] + c * e.sn[j], inc[j] = e.sn[j];\n";
  if (acc_mem >= 0) base += "  off[" + n(acc_mem) + "] = 0, inc[" + n(acc_mem) + "] = 1;\n";
  const std::string args = "(const TlEpArgs& e, const int64_t (&bo)[" + M + "], int64_t r, int64_t c";
  const std::string rest = "e.cf, e.ci, nullptr, nullptr, nullptr, nullptr);\n";
  src += "template <int W, class V>\n" + q + " void tl_ep_run_cols" + args + ", int n, const V (&v)[W]) {\n  " + A +
         " acc[W];\n#pragma unroll\n  for (int i = 0; i < W; ++i) acc[i] = tl_from<" + A + ", V>(v[i]);\n" + base +
         "  if (n == W)  // (a constant count: unrolled)\n    tl_ep_cols(base, off, inc, W, " + rest +
         "  else\n    tl_ep_cols(base, off, inc, n, " + rest + "}\n";
  // One element: the same function over one column.
  src += "template <class V>\n" + q + " void tl_ep_run" + args + ", V v) {\n  const V one[1] = {v};\n"
         "  tl_ep_run_cols<1>(e, bo, r, c, 1, one);\n}\n";
  return src + epilogue_vector_source(k, acc_mem, A);
}

}  // namespace tl::cuda
