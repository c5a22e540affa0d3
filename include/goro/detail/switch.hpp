// goro/detail/switch.hpp: the single place where goro switches stacks.
//
// A `context` is anything the scheduler can resume: a fiber, or a worker thread's own
// scheduler loop (Go's g0). Switching uses Boost.Context's lowest layer (fcontext:
// jump_fcontext/make_fcontext), which saves callee-saved registers on the old stack and
// returns the suspended context's handle to the side that resumes. We measured it against
// boost::context::fiber (see docs/scheduler.md); fcontext has no allocation, no
// exception-based unwinding machinery and one less indirection.
//
// Sanitizers: Boost.Context annotates only its ucontext backend, so every jump here tells
// ASan (start/finish_switch_fiber) and TSan (switch_to_fiber) which stack becomes live.
//
// Post-switch work ("after"): the side that resumes runs the switching side's pending
// action (release a lock, requeue, recycle a dead stack). That is how park() guarantees
// that the unlock hook runs only once the parking fiber is off its stack (Go's gopark).
#pragma once

#include <boost/context/detail/fcontext.hpp>
#include <cstddef>

#include "config.hpp"

#if defined(GORO_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(GORO_TSAN)
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

namespace goro::detail {

namespace bctx = boost::context::detail;

struct fiber;

struct context {
  bctx::fcontext_t fctx = nullptr;  // valid only while this context is suspended
#if defined(GORO_ASAN)
  const void* asan_bottom = nullptr;  // lowest address of the stack, for ASan
  std::size_t asan_size = 0;
  void* asan_fake_stack = nullptr;
#endif
#if defined(GORO_TSAN)
  void* tsan_fiber = nullptr;
#endif
};

// What the resumed side must do on behalf of the side that switched away.
enum class after_kind : unsigned char { none, unlock, requeue, recycle };

struct switch_msg {
  context* from = nullptr;      // the context that switched away (its fctx gets saved)
  fiber* from_fiber = nullptr;  // the fiber behind `from`, null for a scheduler loop
  after_kind kind = after_kind::none;
  void (*unlock)(void*) = nullptr;  // for after_kind::unlock
  void* unlock_arg = nullptr;
};

// Called on the resumed side right after a jump lands: saves the suspended context and
// finishes the sanitizer bookkeeping. Returns the message to act on.
inline switch_msg* land(context& self, bctx::transfer_t t) noexcept {
  auto* m = static_cast<switch_msg*>(t.data);
#if defined(GORO_ASAN)
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self.asan_fake_stack, &bottom, &size);
  if (m->kind != after_kind::recycle) {
    m->from->asan_bottom = bottom;
    m->from->asan_size = size;
  }
#else
  (void)self;
#endif
  m->from->fctx = t.fctx;
  return m;
}

// Suspends `self` and resumes `to`, handing it `msg`. Returns the message of whoever
// resumes `self` later (possibly on another thread).
inline switch_msg* jump(context& self, context& to, switch_msg* msg) noexcept {
#if defined(GORO_ASAN)
  __sanitizer_start_switch_fiber(msg->kind == after_kind::recycle ? nullptr : &self.asan_fake_stack,
                                 to.asan_bottom, to.asan_size);
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  bctx::transfer_t t = bctx::jump_fcontext(to.fctx, msg);
  return land(self, t);
}

}  // namespace goro::detail
