// The emulator's scheduler and its fibers' context switch (see simt_emulator.h).
#include "tests/emulated/simt_emulator.h"

#include <utility>

#if defined(__x86_64__) && defined(__linux__)
#define GPT_SIMT_NATIVE_SWITCH 1
// Saves the callee-saved registers on the current stack, stores the stack pointer to *save and
// continues on `load` (a stack saved the same way, or prepared by prepare_stack). glibc's
// swapcontext does the same plus two signal-mask system calls per switch, which made the
// emulated tests ten times slower.
extern "C" void gpt_simt_switch(void** save, void* load);
asm(R"(
  .text
  .globl gpt_simt_switch
  .type gpt_simt_switch, @function
gpt_simt_switch:
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
  .size gpt_simt_switch, .-gpt_simt_switch
  .section .note.GNU-stack, "", @progbits
  .text
)");
#else
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define GPT_SIMT_ASAN 1
#endif

namespace gpt::test {
namespace {

// The emulator whose fiber is being started (read once by the fiber's first function).
thread_local SimtEmulator* starting = nullptr;

// AddressSanitizer must hear of every stack switch, or it takes the fibers' frames for stack
// overflows: start_switch before leaving a stack (null `save` when it will never be resumed),
// finish_switch on arriving (it reports the stack just left).
void asan_start_switch(void** save, const void* bottom, std::size_t size) {
#ifdef GPT_SIMT_ASAN
  __sanitizer_start_switch_fiber(save, bottom, size);
#else
  (void)save, (void)bottom, (void)size;
#endif
}
void asan_finish_switch(void* saved, const void** left_bottom, std::size_t* left_size) {
#ifdef GPT_SIMT_ASAN
  __sanitizer_finish_switch_fiber(saved, left_bottom, left_size);
#else
  (void)saved, (void)left_bottom, (void)left_size;
#endif
}
// A finished fiber never returns from its frames, so their red zones stay marked on its stack:
// clear them before the stack is used again.
void asan_forget_stack(char* stack, std::size_t size) {
#ifdef GPT_SIMT_ASAN
  ASAN_UNPOISON_MEMORY_REGION(stack, size);
#else
  (void)stack, (void)size;
#endif
}

}  // namespace

#ifdef GPT_SIMT_NATIVE_SWITCH
extern "C" void gpt_simt_fiber_entry();
#endif

void SimtEmulator::fiber_main(SimtEmulator* self) {
  try {
    (*self->body_)(self->threads_state_[static_cast<std::size_t>(self->current_)]);
  } catch (...) {
    if (!self->error_) self->error_ = std::current_exception();
  }
  self->fibers_[static_cast<std::size_t>(self->current_)].done = true;
  asan_start_switch(nullptr, self->asan_scheduler_bottom_, self->asan_scheduler_size_);
#ifdef GPT_SIMT_NATIVE_SWITCH
  void* discarded = nullptr;
  gpt_simt_switch(&discarded, self->scheduler_);  // never resumed
  __builtin_unreachable();
#endif
}

#ifdef GPT_SIMT_NATIVE_SWITCH
extern "C" void gpt_simt_fiber_entry() {
  SimtEmulator::enter_fiber(starting);
}
#endif

void SimtEmulator::enter_fiber(SimtEmulator* self) {
  asan_finish_switch(nullptr, &self->asan_scheduler_bottom_, &self->asan_scheduler_size_);
  fiber_main(self);
}

void SimtEmulator::start_fibers() {
  for (Fiber& f : fibers_) asan_forget_stack(f.stack.get(), kStackBytes);
#ifdef GPT_SIMT_NATIVE_SWITCH
  for (Fiber& f : fibers_) {
    f.done = false;
    // The stack top, 16-byte aligned: a zero "return address" for the entry function, the entry
    // function's address for gpt_simt_switch's `ret`, and six zeroed callee-saved registers. At
    // the entry's first instruction rsp is then 8 modulo 16, as after a call.
    auto top = reinterpret_cast<std::uintptr_t>(f.stack.get() + kStackBytes) & ~std::uintptr_t{15};
    auto* slot = reinterpret_cast<void**>(top);
    *--slot = nullptr;
    *--slot = reinterpret_cast<void*>(&gpt_simt_fiber_entry);
    for (int r = 0; r < 6; ++r) *--slot = nullptr;
    f.context = slot;
  }
#else
  contexts_.assign((fibers_.size() + 1) * sizeof(ucontext_t), 0);
  auto* contexts = reinterpret_cast<ucontext_t*>(contexts_.data());
  scheduler_ = &contexts[fibers_.size()];
  for (std::size_t i = 0; i < fibers_.size(); ++i) {
    Fiber& f = fibers_[i];
    f.done = false;
    f.context = &contexts[i];
    getcontext(&contexts[i]);
    contexts[i].uc_stack.ss_sp = f.stack.get();
    contexts[i].uc_stack.ss_size = kStackBytes;
    contexts[i].uc_link = static_cast<ucontext_t*>(scheduler_);
    makecontext(&contexts[i], reinterpret_cast<void (*)()>(+[] { SimtEmulator::enter_fiber(starting); }), 0);
  }
#endif
}

void SimtEmulator::switch_to_fiber() {
  starting = this;
  Fiber& f = fibers_[static_cast<std::size_t>(current_)];
  asan_start_switch(&asan_scheduler_fake_stack_, f.stack.get(), kStackBytes);
#ifdef GPT_SIMT_NATIVE_SWITCH
  gpt_simt_switch(&scheduler_, f.context);
#else
  swapcontext(static_cast<ucontext_t*>(scheduler_), static_cast<ucontext_t*>(f.context));
#endif
  asan_finish_switch(asan_scheduler_fake_stack_, nullptr, nullptr);
}

void SimtEmulator::yield() {
  Fiber& f = fibers_[static_cast<std::size_t>(current_)];
  asan_start_switch(&f.asan_fake_stack, asan_scheduler_bottom_, asan_scheduler_size_);
#ifdef GPT_SIMT_NATIVE_SWITCH
  gpt_simt_switch(&f.context, scheduler_);
#else
  swapcontext(static_cast<ucontext_t*>(f.context), static_cast<ucontext_t*>(scheduler_));
#endif
  asan_finish_switch(f.asan_fake_stack, &asan_scheduler_bottom_, &asan_scheduler_size_);
}

void SimtEmulator::run(int grid_x, int grid_y, const Body& body) {
  fibers_ = std::vector<Fiber>(static_cast<std::size_t>(threads_));
  for (Fiber& f : fibers_) f.stack.reset(new char[kStackBytes]);  // not zeroed: pages are touched only as used
  threads_state_ = std::vector<Thread>(static_cast<std::size_t>(threads_));
  for (int t = 0; t < threads_; ++t) {
    threads_state_[static_cast<std::size_t>(t)].em_ = this;
    threads_state_[static_cast<std::size_t>(t)].tid_ = t;
  }
  body_ = &body;
  grid_x_ = grid_x;
  grid_y_ = grid_y;
  for (block_y_ = 0; block_y_ < grid_y; ++block_y_)
    for (block_x_ = 0; block_x_ < grid_x; ++block_x_) run_block();
}

void SimtEmulator::run_block() {
  const std::uint32_t nan_pattern = 0x7fc07fc0u;  // two bf16 NaNs, or one float NaN
  for (std::size_t i = 0; i + 4 <= shared_.size(); i += 4) std::memcpy(&shared_[i], &nan_pattern, 4);
  block_barrier_ = Barrier{threads_, 0, 0};
  async_.assign(static_cast<std::size_t>(threads_), AsyncCopies{});
  for (auto& w : warps_) w.barrier = Barrier{32, 0, 0};
  for (Thread& t : threads_state_) t.collectives_ = 0;
  start_fibers();
  for (;;) {
    bool ran = false, live = false;
    const bool reverse = schedule_ == Schedule::highest_first;
    for (int i = 0; i < threads_; ++i) {
      current_ = reverse ? threads_ - 1 - i : i;
      Fiber& f = fibers_[static_cast<std::size_t>(current_)];
      live = live || !f.done;
      if (!f.runnable()) continue;
      ran = true;
      switch_to_fiber();
      if (schedule_ != Schedule::round_robin) break;  // rescan from the favoured end
    }
    if (!live || error_) break;
    if (!ran) throw std::runtime_error("emulated block deadlocked: threads wait at barriers others never reach");
  }
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace gpt::test
