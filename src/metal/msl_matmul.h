#pragma once
// A matmul with its planner epilogue (bias, activation, residual, scale, cast: core/backend.h's
// Epilogue) fused into one Metal kernel: metal/matmul.metal's tile or metal/gemv.metal's GEMV
// body, as planned
// (matmul_plan.h), with the epilogue generated from its fusion IR (msl_print.h) as the
// body's output policy. Portable C++: the Objective-C++ host compiles the source (with
// newLibraryWithSource, cached by key) and binds what this returns.
#include <string>
#include <vector>

#include "core/fusion_ir.h"
#include "metal/matmul_plan.h"
#include "metal/msl_kernels.h"

namespace tl::metal {

// A matmul's fused epilogue (core/backend.h's Epilogue: an elementwise kernel over the
// product's shape, batch dims first, that reads the product as slot `acc_slot`, element for
// element) printed as the output policy (metal/matmul_common.h) of the tile and GEMV bodies:
// struct `entry`_ep (its params: per memory operand an offset, strides over the batch dims,
// the row and the column; the constants) and struct `entry`_out, whose put(row, col, value)
// runs the kernel on one product element held in a register (the product itself is never
// stored) and begin(z) finds the operands' offsets of flat batch matrix z. `swap` (in the
// params): the body computes C^T (its rows are the product's columns).
std::string epilogue_unprintable_reason(const ir::Kernel& k, int acc_slot);
std::string epilogue_structs(const ir::Kernel& k, int acc_slot, const std::string& entry);
// `entry`_out's initializer list in a kernel whose slot n is parameter b<n> and whose params
// are parameter `q`: "{b0, b1, ..., &q}".
std::string epilogue_init(const ir::Kernel& k);
// The kernel parameters b<n> of the slots, slot n at buffer(first_buffer + n).
std::string epilogue_parameters(const ir::Kernel& k, int first_buffer);
std::vector<uint8_t> pack_epilogue_params(const ir::Kernel& k, bool swap);

// The generated kernel binds A, B and C at buffers 0-2 (as the static kernels do; C is not
// written), epilogue slot n at buffer 3 + n, then the MatmulParams and the epilogue's params
// (buffers first, then the byte blocks, as the host binds every kernel).
constexpr int kEpilogueFirstBuffer = 3;

struct EpilogueProgram {
  std::string error;  // why the epilogue cannot be fused ("" when it can)
  std::string key;    // what the source depends on: the matmul kernel, the IR's structure
  std::string entry;  // the kernel function, from the key
  std::vector<Binding> buffers;  // per epilogue slot
  std::vector<uint8_t> params;   // the epilogue's params block
};

// `plan` is the matmul's plan for the product (dtype: its dtype). Prints no MSL.
EpilogueProgram epilogue_program(const ir::Kernel& k, int acc_slot, const MatmulPlan& plan);
// The MSL: the prelude of generated kernels, `library` up to its kernels, the epilogue's
// structs and the kernel p.entry. `library`: the text of the plan's metal/<plan.library()>.metal
// with its local includes inlined (as embedded; ValueError when it is not that file).
std::string epilogue_program_source(const std::string& library, const ir::Kernel& k, int acc_slot,
                                    const MatmulPlan& plan, const EpilogueProgram& p);

}  // namespace tl::metal
