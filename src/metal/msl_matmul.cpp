#include "metal/msl_matmul.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "metal/msl_codegen.h"
#include "metal/msl_print.h"

namespace tl::metal {
namespace {

// The plan's kernel name, parsed: <matmul|gemv>_<t>_<ab>[_<m>x<n>x<k>].
struct Variant {
  std::string type;  // float, half, bfloat
  bool gemv, ta, tb;
  unsigned m = 0, n = 0, k = 0;
};

Variant variant(const MatmulPlan& plan) {
  Variant v;
  const std::string& name = plan.kernel;
  v.gemv = plan.gemv;
  const size_t t0 = name.find('_') + 1, t1 = name.find('_', t0);
  const std::string t = name.substr(t0, t1 - t0);
  v.type = t == "f32" ? "float" : t == "f16" ? "half" : "bfloat";
  v.ta = name[t1 + 1] == 't';
  v.tb = name[t1 + 2] == 't';
  if (!v.gemv && std::sscanf(name.c_str() + t1 + 4, "%ux%ux%u", &v.m, &v.n, &v.k) != 3)
    throw_value("Metal matmul: no tile in kernel name " + name);
  return v;
}

}  // namespace

using namespace msl;

std::string epilogue_unprintable_reason(const ir::Kernel& k, int acc_slot) {
  if (std::string why = unprintable_reason(k); !why.empty()) return why;
  if (k.has_reduction()) return "an epilogue with a reduction";
  if (k.domain.size() < 2) return "an epilogue over fewer than two dims";
  if (acc_slot < 0 || size_t(acc_slot) >= k.slots.size()) return "no product slot";
  if (written_slots(k)[size_t(acc_slot)]) return "an epilogue that writes the product's slot";
  const Strides cs = contiguous_strides(k.domain);
  for (const ir::Instr& in : k.instrs) {
    if (in.op != ir::Op::Load || in.slot != acc_slot) continue;
    bool elementwise = in.offset == 0;
    for (size_t d = 0; d < cs.size(); ++d) elementwise = elementwise && (k.domain[d] == 1 || in.strides[d] == cs[d]);
    if (!elementwise) return "an epilogue that reads the product other than element for element";
  }
  return "";
}

std::string epilogue_structs(const ir::Kernel& k, int acc_slot, const std::string& entry) {
  const Printer pr(k);
  const int M = std::max(1, pr.operands());
  const int NB = int(k.domain.size()) - 2, NB1 = std::max(1, NB);
  const std::string P = num(std::max<size_t>(1, k.params.size())), J = num(M);
  std::string s = "struct " + entry + "_ep {\n  long off[" + J + "];\n  long bshape[" + num(NB1) + "];\n  long bst[" + J +
                  "][" + num(NB1) + "];\n  long mst[" + J + "];\n  long nst[" + J + "];\n  long swap;\n  long ci[" + P +
                  "];\n  float cf[" + P + "];\n};\n";
  const std::vector<bool> written = written_slots(k);
  s += "struct " + entry + "_out {\n";
  for (size_t b = 0; b < k.slots.size(); ++b)
    s += std::string("  device ") + (written[b] ? "" : "const ") + storage(k.slots[b]) + "* b" + num(int64_t(b)) + ";\n";
  s += "  constant " + entry + "_ep* q;\n  long base[" + J + "];\n";
  s += "  void begin(uint z) {\n    for (uint j = 0; j < " + J + "u; ++j) {\n      base[j] = q->off[j];\n    }\n";
  if (NB > 0) {
    s += "    long t = long(z);\n    for (int d = " + num(NB - 1) + "; d >= 0; --d) {\n      const long i = t % q->bshape[d];\n"
         "      t /= q->bshape[d];\n      for (uint j = 0; j < " + J + "u; ++j) {\n        base[j] += i * q->bst[j][d];\n      }\n    }\n";
  }
  s += "  }\n  void put(uint tl_row, uint tl_col, float tl_acc) const {\n    constant " + entry + "_ep& p = *q;\n"
       "    const long m = p.swap != 0 ? long(tl_col) : long(tl_row);\n    const long n = p.swap != 0 ? long(tl_row) : long(tl_col);\n";
  for (size_t n = 0; n < k.instrs.size(); ++n)  // the constants (Printer reads them from p)
    if (k.instrs[n].op == ir::Op::Const) s += pr.instr(int(n), nullptr, "    ");
  const Printer::Access at = [&](int j, const ir::Instr& in) -> std::string {
    if (in.op == ir::Op::Load && in.slot == acc_slot) {  // the product, rounded to its dtype
      switch (in.dtype) {
        case DType::Float16: return "half(tl_acc)";
        case DType::BFloat16: return "tl_f2bf(tl_acc)";
        default: return "tl_acc";
      }
    }
    const std::string J = num(j);
    // (Appending to a std::string, not "b" + ...: g++ 12 warns of a false -Wrestrict on that.)
    return (std::string(1, 'b') += num(in.slot)) + "[base[" + J + "] + m * p.mst[" + J + "] + n * p.nst[" + J + "]]";
  };
  s += pr.instrs(non_const(k), at, "    ");
  return s + "  }\n};\n";
}

std::string epilogue_init(const ir::Kernel& k) {
  std::string s = "{";
  for (size_t b = 0; b < k.slots.size(); ++b) {
    s += 'b';
    s += num(int64_t(b));
    s += ", ";
  }
  return s + "&q}";
}

std::string epilogue_parameters(const ir::Kernel& k, int first_buffer) {
  const std::vector<bool> written = written_slots(k);
  std::string s;
  for (size_t b = 0; b < k.slots.size(); ++b)
    s += std::string("device ") + (written[b] ? "" : "const ") + storage(k.slots[b]) + "* b" + num(int64_t(b)) +
         " [[buffer(" + num(first_buffer + int64_t(b)) + ")]],\n    ";
  return s;
}

std::vector<uint8_t> pack_epilogue_params(const ir::Kernel& k, bool swap) {
  // The order of epilogue_structs' _ep: longs, then the floats.
  const size_t M = size_t(std::max(1, Printer(k).operands()));
  const size_t nd = k.domain.size(), NB = nd - 2, NB1 = std::max<size_t>(1, NB);
  std::vector<const ir::Instr*> ops;
  for (const ir::Instr& in : k.instrs)
    if (in.op == ir::Op::Load || in.op == ir::Op::Store) ops.push_back(&in);
  const auto stride = [&](size_t j, size_t d) { return j < ops.size() ? ops[j]->strides[d] : 0; };
  std::vector<int64_t> words;
  for (size_t j = 0; j < M; ++j) words.push_back(j < ops.size() ? ops[j]->offset : 0);
  for (size_t d = 0; d < NB1; ++d) words.push_back(d < NB ? k.domain[d] : 1);
  for (size_t j = 0; j < M; ++j)
    for (size_t d = 0; d < NB1; ++d) words.push_back(d < NB ? stride(j, d) : 0);
  for (size_t j = 0; j < M; ++j) words.push_back(stride(j, nd - 2));
  for (size_t j = 0; j < M; ++j) words.push_back(stride(j, nd - 1));
  words.push_back(swap ? 1 : 0);
  return with_constants(k, std::move(words));
}

EpilogueProgram epilogue_program(const ir::Kernel& k, int acc_slot, const MatmulPlan& plan) {
  EpilogueProgram p;
  p.error = epilogue_unprintable_reason(k, acc_slot);
  if (!p.error.empty()) return p;
  p.key = "mm:" + plan.kernel + ":" + std::to_string(k.hash()) + ":" + std::to_string(acc_slot) + ":" +
          std::to_string(k.domain.size());
  p.entry = entry_name("tl_mm_", p.key);
  p.params = pack_epilogue_params(k, plan.swap);
  // The product's slot is never read (its value comes in a register).
  p.buffers = bindings_of(k, [&](const ir::Instr& in) { return in.slot != acc_slot && numel(k.domain) > 0; });
  return p;
}

std::string epilogue_program_source(const std::string& library, const ir::Kernel& k, int acc_slot,
                                    const MatmulPlan& plan, const EpilogueProgram& p) {
  const size_t cut = library.find("\n// ---- kernels ----\n");
  if (cut == std::string::npos) throw_value("Metal matmul: the kernel library has no '// ---- kernels ----' line");
  const Variant v = variant(plan);
  if (library.rfind(v.gemv ? " gemv_rows(" : " matmul_tiles(", cut) == std::string::npos ||
      library.rfind("struct MatmulParams", cut) == std::string::npos)
    throw_value(std::string("Metal matmul: not the text of metal/") + plan.library() +
                ".metal with its headers inlined, for " + plan.kernel);
  const std::string T = v.type, ta = v.ta ? "true" : "false", tb = v.tb ? "true" : "false";
  const size_t params = kEpilogueFirstBuffer + k.slots.size();
  std::string s = std::string(prelude()) + library.substr(0, cut) + epilogue_structs(k, acc_slot, p.entry);
  s += "kernel void " + p.entry + "(device const " + T + "* A [[buffer(0)]], device const " + T +
       "* B [[buffer(1)]],\n    device " + T + "* C [[buffer(2)]],\n    " +
       epilogue_parameters(k, kEpilogueFirstBuffer) + "constant MatmulParams& mp [[buffer(" + std::to_string(params) +
       ")]],\n    constant " + p.entry + "_ep& q [[buffer(" + std::to_string(params + 1) + ")]],\n    uint3 group [[threadgroup_position_in_grid]], uint lid [[thread_index_in_threadgroup]],\n"
       "    uint simd_group [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {\n";
  s += "  " + p.entry + "_out out = " + epilogue_init(k) + ";\n";
  if (v.gemv) {
    s += "  gemv_rows<" + T + ", " + ta + ", " + tb + ">(A, B, mp, out, group, lid, simd_group, lane);\n";
  } else {
    const std::string m = std::to_string(v.m), n = std::to_string(v.n), kk = std::to_string(v.k);
    s += "  threadgroup float smem[matmul_smem_floats(" + m + ", " + n + ", " + kk + ")];\n";
    s += "  matmul_tiles<" + T + ", " + ta + ", " + tb + ", " + m + ", " + n + ", " + kk +
         ">(A, B, mp, out, smem, group, lid, simd_group);\n";
  }
  return s + "}\n";
}

}  // namespace tl::metal
