// Stackful fibers for the launcher: a hand-written context switch on x86-64 (saves the six
// callee-saved registers; about 6x faster than swapcontext), ucontext elsewhere or with
// -DTL_EMU_UCONTEXT. Under AddressSanitizer every switch is announced to it, so that it
// follows the fiber stacks and reports errors inside kernels.
#pragma once
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define TL_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TL_EMU_ASAN 1
#endif
#endif

#if !defined(__x86_64__) && !defined(TL_EMU_UCONTEXT)
#define TL_EMU_UCONTEXT 1
#endif
#ifdef TL_EMU_UCONTEXT
#include <ucontext.h>
#endif

namespace tl_emu {

struct Fiber {
#ifdef TL_EMU_UCONTEXT
  ucontext_t uc;
#else
  void* sp = nullptr;  // saved stack pointer while switched out
#endif
  const void* stack_lo = nullptr;  // the stack's bounds, for AddressSanitizer
  size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
};

// Prepares `f` to run entry() on [stack, stack + size) at its first switch_to. entry must
// never return: it ends with fiber_exit.
void fiber_init(Fiber& f, void* stack, size_t size, void (*entry)());

// Suspends `from` (the running context) and resumes `to`.
void fiber_switch(Fiber& from, Fiber& to);

// Leaves a fiber for good, resuming `to`; the fiber's stack may then be reused.
[[noreturn]] void fiber_exit(Fiber& from, Fiber& to);

// The first thing a fiber's entry function calls; `creator` learns its stack bounds.
void fiber_started(Fiber& creator);

}  // namespace tl_emu
