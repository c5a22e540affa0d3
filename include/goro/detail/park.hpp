// goro/detail/park.hpp: THE park/ready contract every blocking primitive goes through.
//
// A blocking operation (channel, select, sync, sleep) keeps a waiter record on its own
// stack (Go's sudog), publishes it in a wait queue under the primitive's lock, and calls
// waker::block(unlock, arg). A waker later finds the record under the same lock, writes
// the outcome into it, releases the lock and calls waker::wake().
//
// Contract (Go's gopark/goready):
//  * block() on a fiber parks it and runs unlock(arg) only after the fiber is off its
//    stack, so a waker that takes the record can never resume a fiber that still runs.
//    On a plain thread, block() runs unlock(arg) and then waits on the thread's parker.
//  * Every block() is matched by exactly one wake(): whoever removes the record from the
//    wait queue (or wins the record's select claim) owns the wake-up.
//  * The waker writes the outcome before wake() and never touches the record afterwards:
//    the waiter may return and pop the record's stack frame at once (destroy after wake).
//    wake() itself reads the record only before it makes the waiter runnable.
//  * unlock(arg) must not block or switch fibers.
#pragma once

#include <atomic>
#include <cstdint>

#include "fiber.hpp"
#include "futex.hpp"
#include "sched.hpp"

namespace goro::detail {

class waker {
 public:
  waker() noexcept : fiber_(current_fiber()) {}
  waker(const waker&) = delete;
  waker& operator=(const waker&) = delete;

  bool on_fiber() const noexcept { return fiber_ != nullptr; }

  // Blocks the caller until wake(); see the contract above.
  void block(void (*unlock)(void*), void* arg, wait_reason why) const noexcept {
    if (fiber_ != nullptr) {
      fiber_->reason.store(why, std::memory_order_relaxed);
      fiber_->rt->park(fiber_, unlock, arg);
      fiber_->reason.store(wait_reason::none, std::memory_order_relaxed);
    } else {
      // Counted for deadlock detection (census.hpp) before the waker can see the record;
      // wake() uncounts it (every block() has exactly one wake()), so a thread that was woken
      // but not yet scheduled never looks blocked.
      thread_census& c = thread_census::get();
      c.blocked.fetch_add(1, std::memory_order_seq_cst);
      c.bump();
      unlock(arg);
      // state_: 0 waiting, 1 woken, 2 asleep on the futex. The word lives in this record, so
      // the waker never touches memory of ours that outlives the record (a thread may exit
      // right after it returns from here); a futex wake on a dead address is harmless.
      for (;;) {
        std::uint32_t s = state_.load(std::memory_order_acquire);
        if (s == 1) return;
        if (s == 0 && !state_.compare_exchange_weak(s, 2, std::memory_order_acquire)) continue;
        futex_wait(&state_, 2);
      }
    }
  }

  // Like block(), for a caller holding a lock object L with unlock().
  template <class L>
  void block_unlocking(L& lock, wait_reason why) const noexcept {
    block([](void* l) { static_cast<L*>(l)->unlock(); }, &lock, why);
  }

  void wake() const noexcept {
    fiber* f = fiber_;
    if (f != nullptr) {
      f->rt->ready(f);
    } else {
      auto* word = &state_;
      thread_census& c = thread_census::get();
      c.blocked.fetch_sub(1, std::memory_order_seq_cst);
      c.bump();
      // The waiter may return (and its record die) as soon as it sees 1.
      if (word->exchange(1, std::memory_order_release) == 2) futex_wake(word, 1);
    }
  }

 private:
  fiber* const fiber_;
  mutable std::atomic<std::uint32_t> state_{0};  // plain threads only, see block()
};

// Blocks the caller forever: a nil channel operation, `select {}`. The fiber's stack is
// released when its runtime ends; a plain thread never returns.
[[noreturn]] inline void block_forever(wait_reason why) noexcept {
  waker w;
  for (;;) w.block([](void*) {}, nullptr, why);
}

}  // namespace goro::detail
