#include "fiber.h"

#include <cstdint>

#ifdef TL_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifndef TL_EMU_UCONTEXT
// tl_emu_switch(save, next): pushes the callee-saved registers, stores the stack pointer in
// *save, loads `next` and pops the registers saved there. Kernels never touch MXCSR or the
// x87 control word, so those are not saved.
extern "C" void tl_emu_switch(void** save, void* next);
asm(R"(
  .text
  .globl tl_emu_switch
  .hidden tl_emu_switch
  .type tl_emu_switch, @function
tl_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size tl_emu_switch, .-tl_emu_switch
)");
#endif

namespace tl_emu {

void fiber_init(Fiber& f, void* stack, size_t size, void (*entry)()) {
  f.stack_lo = stack;
  f.stack_size = size;
  f.asan_fake_stack = nullptr;
#ifdef TL_EMU_ASAN
  // A fiber abandoned after a kernel error leaves its frames' redzones poisoned.
  ASAN_UNPOISON_MEMORY_REGION(stack, size);
#endif
#ifdef TL_EMU_UCONTEXT
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = stack;
  f.uc.uc_stack.ss_size = size;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, entry, 0);
#else
  // Six zeroed registers, then entry as the return address; entry then sees the stack as
  // right after a call (rsp + 8 a multiple of 16), with a null return address above it.
  auto top = reinterpret_cast<void**>((reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15));
  *--top = nullptr;
  *--top = reinterpret_cast<void*>(entry);
  for (int i = 0; i < 6; ++i) *--top = nullptr;
  f.sp = top;
#endif
}

static void raw_switch(Fiber& from, Fiber& to) {
#ifdef TL_EMU_UCONTEXT
  swapcontext(&from.uc, &to.uc);
#else
  tl_emu_switch(&from.sp, to.sp);
#endif
}

void fiber_switch(Fiber& from, Fiber& to) {
#ifdef TL_EMU_ASAN
  __sanitizer_start_switch_fiber(&from.asan_fake_stack, to.stack_lo, to.stack_size);
#endif
  raw_switch(from, to);
#ifdef TL_EMU_ASAN
  __sanitizer_finish_switch_fiber(from.asan_fake_stack, nullptr, nullptr);
#endif
}

void fiber_exit(Fiber& from, Fiber& to) {
#ifdef TL_EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, to.stack_lo, to.stack_size);
#endif
  raw_switch(from, to);
  __builtin_unreachable();
}

void fiber_started(Fiber& creator) {
#ifdef TL_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &creator.stack_lo, &creator.stack_size);
#else
  (void)creator;
#endif
}

}  // namespace tl_emu
