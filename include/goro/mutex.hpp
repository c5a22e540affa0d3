// goro/mutex.hpp: goro::mutex, Go's sync.Mutex for fibers and plain threads.
//
// A contended lock() spins briefly (only while another processor runs the holder), then
// parks the fiber, never the worker thread; on a plain thread it sleeps on a futex. Like
// Go's, the mutex has two modes:
//  * normal: waiters queue FIFO, but a woken waiter competes with newly arriving lockers
//    (which are on a CPU already and usually win: throughput). A woken waiter that loses
//    goes back to the front of the queue.
//  * starvation: entered when a waiter has waited more than 1 ms. unlock() hands the lock
//    directly to the oldest waiter; newcomers queue at the back without trying. The mode
//    ends when the handed-to waiter is the last one or waited less than 1 ms.
//
// State word (state_): bit 0 locked, bit 1 woken (a spinner or a woken waiter is active,
// so unlock need not wake anyone), bit 2 starving, bits 3.. the number of parked waiters.
// The wait list is sema_ (detail/sema.hpp); a waiter is counted in state_ before it queues
// there, and whoever decrements that count owes it exactly one sema_ unit.
//
// Destroy after unlock: unlock() releases the lock with the same atomic operation that
// decides whether it must wake a waiter (it claims the woken bit and removes one waiter
// from the count in that operation). When it must not, that operation is its last access
// to the mutex. When it must, a waiter is parked inside lock() and cannot return before
// unlock's sema_ release, so nobody may destroy the mutex yet. Hence a mutex may be
// destroyed right after the last unlock() (API.md, "Destroy after wake").
//
// Clang's thread-safety analysis: the class is a capability; the member bodies opt out
// of the analysis (they implement the capability).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>  // std::lock_guard and friends, for users
#include <stdexcept>
#include <thread>

#include "detail/config.hpp"
#include "detail/sched.hpp"
#include "detail/sema.hpp"
#include "detail/spinlock.hpp"

namespace goro {

class GORO_CAPABILITY("mutex") mutex {
 public:
  mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() GORO_ACQUIRE() GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::int32_t unlocked = 0;
    if (GORO_LIKELY(state_.compare_exchange_weak(unlocked, locked_bit, std::memory_order_acquire,
                                                 std::memory_order_relaxed)))
      return;
    lock_slow();
  }

  bool try_lock() noexcept GORO_TRY_ACQUIRE(true) GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::int32_t old = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((old & (locked_bit | starving_bit)) != 0) return false;
      if (state_.compare_exchange_weak(old, old | locked_bit, std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return true;
    }
  }

  // Throws std::logic_error when the mutex is not locked (Go: fatal error).
  void unlock() GORO_RELEASE() GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::int32_t held = locked_bit;
    if (GORO_LIKELY(
            state_.compare_exchange_strong(held, 0, std::memory_order_release, std::memory_order_relaxed)))
      return;
    unlock_slow(held);
  }

 private:
  friend class cond;  // checks that wait() is called with the mutex held
  bool held() const noexcept { return (state_.load(std::memory_order_relaxed) & locked_bit) != 0; }

  static constexpr std::int32_t locked_bit = 1;
  static constexpr std::int32_t woken_bit = 2;
  static constexpr std::int32_t starving_bit = 4;
  static constexpr int waiter_shift = 3;
  static constexpr std::int32_t one_waiter = 1 << waiter_shift;
  static constexpr std::int64_t starvation_ns = 1'000'000;

  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  static bool can_spin(int iter) noexcept {
    if (iter >= 4) return false;
    if (detail::processor* p = detail::current_proc()) return p->rt->can_spin(p);
    static const bool multicore = std::thread::hardware_concurrency() > 1;
    return multicore;
  }

  GORO_NOINLINE void lock_slow() {
    std::int64_t wait_start = 0;
    bool starving = false;
    bool awoke = false;  // we own the woken bit
    int iter = 0;
    std::int32_t old = state_.load(std::memory_order_relaxed);
    for (;;) {
      // Spin while the holder runs elsewhere, in normal mode only (in starvation mode the
      // lock goes to the oldest waiter, spinning cannot win it). Setting the woken bit tells
      // unlock() not to wake a waiter that would only lose to us.
      if ((old & (locked_bit | starving_bit)) == locked_bit && can_spin(iter)) {
        if (!awoke && (old & woken_bit) == 0 && (old >> waiter_shift) != 0 &&
            state_.compare_exchange_weak(old, old | woken_bit, std::memory_order_relaxed)) {
          awoke = true;
        }
        for (int i = 0; i < 30; ++i) detail::cpu_relax();
        ++iter;
        old = state_.load(std::memory_order_relaxed);
        continue;
      }
      std::int32_t want = old;
      if ((old & starving_bit) == 0) want |= locked_bit;  // starving: newcomers do not barge
      if ((old & (locked_bit | starving_bit)) != 0) want += one_waiter;
      // Enter starvation mode only while the lock is held: unlock expects waiters then.
      if (starving && (old & locked_bit) != 0) want |= starving_bit;
      if (awoke) {
        GORO_ASSERT((want & woken_bit) != 0);
        want &= ~woken_bit;
      }
      if (!state_.compare_exchange_weak(old, want, std::memory_order_acquire, std::memory_order_relaxed))
        continue;
      if ((old & (locked_bit | starving_bit)) == 0) return;  // we took it
      // Queued as a waiter. A waiter that already waited goes to the front.
      bool requeue = wait_start != 0;
      if (wait_start == 0) wait_start = now_ns();
      sema_.acquire(requeue, detail::wait_reason::sync_mutex);
      starving = starving || now_ns() - wait_start > starvation_ns;
      old = state_.load(std::memory_order_relaxed);
      if ((old & starving_bit) != 0) {
        // Handed off: the lock is ours although the locked bit is clear (nobody barges in
        // starvation mode). Take it, leave the waiter count, maybe end starvation mode.
        GORO_ASSERT((old & (locked_bit | woken_bit)) == 0 && (old >> waiter_shift) != 0);
        std::int32_t delta = locked_bit - one_waiter;
        if (!starving || (old >> waiter_shift) == 1) delta -= starving_bit;
        state_.fetch_add(delta, std::memory_order_acquire);
        return;
      }
      awoke = true;
      iter = 0;
    }
  }

  GORO_NOINLINE void unlock_slow(std::int32_t old) {
    for (;;) {
      if ((old & locked_bit) == 0) throw std::logic_error("goro::mutex::unlock: the mutex is not locked");
      std::int32_t want = old - locked_bit;
      bool wake = false;
      if ((old & starving_bit) != 0) {
        wake = true;  // hand off to the oldest waiter (one exists in starvation mode)
      } else if ((old >> waiter_shift) != 0 && (old & woken_bit) == 0) {
        want = want - one_waiter + woken_bit;
        wake = true;
      }
      if (state_.compare_exchange_weak(old, want, std::memory_order_release, std::memory_order_relaxed)) {
        if (wake) sema_.release();
        return;
      }
    }
  }

  std::atomic<std::int32_t> state_{0};
  detail::sema sema_;
};

namespace detail {
// std::lock_guard for goro::mutex that clang's thread-safety analysis understands (libstdc++'s
// guards carry no annotations); the library's own GORO_GUARDED_BY fields are locked with it.
class GORO_SCOPED_CAPABILITY mutex_guard {
 public:
  explicit mutex_guard(mutex& m) GORO_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~mutex_guard() GORO_RELEASE() { m_.unlock(); }
  mutex_guard(const mutex_guard&) = delete;
  mutex_guard& operator=(const mutex_guard&) = delete;

 private:
  mutex& m_;
};
}  // namespace detail

}  // namespace goro
