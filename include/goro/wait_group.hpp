// goro/wait_group.hpp: goro::wait_group, Go's sync.WaitGroup.
//
// add(delta) moves the counter (a negative delta is allowed; below zero throws
// std::logic_error "negative wait_group counter" and leaves the counter unchanged);
// wait() blocks until the counter is zero; done() is add(-1); go(f) is add(1) plus a fiber
// that runs f and then done(). Any number of waiters; a wait_group may be reused for a new
// round once every wait() of the previous round has returned.
//
// State: one 64-bit word, the counter in the high half and the number of parked waiters in
// the low half, so that "counter reached zero" and "how many to wake" are decided by one
// atomic operation. A waiter increments the waiter count (CAS, only while the counter is
// non-zero) and then takes a unit from sema_. The add() that brings the counter to zero
// with w waiters resets the word to zero and releases w units: a unit released before its
// waiter queued waits in sema_ (no lost wake-up).
//
// Destroy after wake: the add() that ends a round touches the object last in sema_'s
// release (which unlocks before waking); without waiters its CAS is its last access.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "detail/sema.hpp"
#include "runtime.hpp"

namespace goro {

class wait_group {
 public:
  wait_group() noexcept = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  void add(int delta = 1) {
    std::uint64_t old = state_.load(std::memory_order_relaxed);
    for (;;) {
      std::int64_t v = static_cast<std::int32_t>(old >> 32);
      v += delta;
      if (v < 0) throw std::logic_error("negative wait_group counter");
      if (v > INT32_MAX) throw std::logic_error("wait_group counter overflow");
      auto waiters = static_cast<std::uint32_t>(old);
      if (v == 0 && waiters != 0) {
        // Last done(): reset the word (a new round may start) and wake every waiter.
        if (state_.compare_exchange_weak(old, 0, std::memory_order_acq_rel, std::memory_order_relaxed)) {
          sema_.release(waiters);
          return;
        }
        continue;
      }
      std::uint64_t want = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(v)) << 32) | waiters;
      if (state_.compare_exchange_weak(old, want, std::memory_order_acq_rel, std::memory_order_relaxed))
        return;
    }
  }

  void done() { add(-1); }

  void wait() {
    std::uint64_t old = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((old >> 32) == 0) return;
      if (state_.compare_exchange_weak(old, old + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        sema_.acquire(false, detail::wait_reason::sync_wait_group);
        return;
      }
    }
  }

  // add(1), then runs f in a new fiber and calls done() when f returns. An exception
  // escaping f ends the process, as for any fiber (use errgroup to capture failures).
  template <class F>
  void go(F&& f, detail::spawn_site site = detail::spawn_site::here()) {
    static_assert(std::is_invocable_v<std::decay_t<F>&>,
                  "goro::wait_group::go: f must be callable with no arguments");
    add(1);
    try {
      using Fn = std::decay_t<F>;
      goro::go(
          [this, fn = std::optional<Fn>(std::in_place, std::forward<F>(f))]() mutable {
            (*fn)();
            fn.reset();  // f's captures die before done(): a waiter may free what they refer to
            done();
          },
          site);
    } catch (...) {
      done();  // the fiber could not be started
      throw;
    }
  }

 private:
  std::atomic<std::uint64_t> state_{0};
  detail::sema sema_;
};

}  // namespace goro
