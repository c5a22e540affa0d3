// goro/once.hpp: goro::once, Go's sync.Once.
//
// call(f) runs f exactly once across all callers that see it succeed; every call returns
// only after f has completed. Concurrent callers park (fibers) or sleep (threads) while f
// runs. If f throws, the exception reaches that caller and the once stays not-done: the
// next (or a waiting) caller runs f again, as std::call_once does. This differs from Go,
// whose Once counts a panicking f as done; C++ code usually throws from a failed
// initialisation, which a retry can then repair (see docs/sync.md).
//
// State word (state_): done, running (some caller is inside f) and locked (a short
// spin-lock bit guarding the waiter list). The waiter list (records on parked stacks) is
// touched only with the locked bit held; a waiter releases the bit from park's unlock hook.
// The runner finishes with ONE store that sets done and releases the locked bit together,
// after taking the waiter list: that store is its last access to the object, so a caller
// that sees done may destroy the once at once (API.md, "Destroy after wake").
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "detail/park.hpp"
#include "detail/sema.hpp"
#include "detail/spinlock.hpp"

namespace goro {

class once {
 public:
  once() noexcept = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  template <class F>
  void call(F&& f) {
    static_assert(std::is_invocable_v<F&&>, "goro::once::call: f must be callable with no arguments");
    if (GORO_LIKELY(state_.load(std::memory_order_acquire) == done_bit)) return;
    while (enter()) {
      // We run f. On a throw, waiters are woken to retry; on success, to return.
      try {
        std::invoke(std::forward<F>(f));
      } catch (...) {
        finish(0);
        throw;
      }
      finish(done_bit);
      return;
    }
  }

 private:
  static constexpr std::uint32_t done_bit = 1;
  static constexpr std::uint32_t running_bit = 2;
  static constexpr std::uint32_t locked_bit = 4;

  // Sets the locked bit; returns the state seen before (locked clear).
  std::uint32_t lock_bits() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (unsigned spins = 0;; ++spins) {
      if ((s & locked_bit) == 0 && state_.compare_exchange_weak(s, s | locked_bit, std::memory_order_acquire,
                                                                std::memory_order_relaxed))
        return s;
      detail::cpu_relax();
      if (spins > 64) sched_yield();
      s = state_.load(std::memory_order_relaxed);
    }
  }

  // True when the caller must run f (running set); false when f is done. Parks while
  // another caller runs f.
  GORO_NOINLINE bool enter() {
    for (;;) {
      std::uint32_t s = state_.load(std::memory_order_acquire);
      if (s == done_bit) return false;
      if ((s & locked_bit) == 0 && (s & running_bit) == 0) {
        if (state_.compare_exchange_weak(s, running_bit, std::memory_order_acquire,
                                         std::memory_order_relaxed))
          return true;
        continue;
      }
      s = lock_bits();
      if (s == done_bit) {
        state_.store(done_bit, std::memory_order_release);  // done meanwhile: drop the bit
        return false;
      }
      if ((s & running_bit) == 0) {
        state_.store(s | running_bit, std::memory_order_relaxed);  // take the run, drop the bit
        return true;
      }
      detail::waker w;
      detail::wait_record r{&w};
      waiters_.push_back(&r);
      w.block(
          [](void* self) {
            auto* o = static_cast<once*>(self);
            o->state_.fetch_and(~locked_bit, std::memory_order_release);
          },
          this, detail::wait_reason::sync_once);
      // Woken by finish(): done, or f threw and we may run it now; loop to find out.
    }
  }

  void finish(std::uint32_t final_state) noexcept {
    lock_bits();
    detail::wait_record* r = waiters_.take_all();
    state_.store(final_state, std::memory_order_release);  // last access to *this
    detail::wake_all(r);
  }

  std::atomic<std::uint32_t> state_{0};
  detail::wait_list waiters_;  // guarded by locked_bit
};

}  // namespace goro
