// goro/rw_mutex.hpp: goro::rw_mutex, Go's sync.RWMutex (any number of readers or one
// writer) for fibers and plain threads. SharedLockable: std::shared_lock works.
//
// Fairness, as Go's: once a writer waits, new readers queue behind it (a stream of readers
// cannot starve a writer); when a writer unlocks, the readers that queued meanwhile all get
// in before the next writer (writers cannot starve readers either).
//
// State word (state_): bit 31 writer holds, bit 30 pending (somebody is queued), bits 0-29
// the number of readers holding. While pending is clear, every operation is one CAS on
// state_. While it is set, state_ changes only under lk_ (every fast path requires pending
// clear, and a fast-path CAS that raced with setting it fails).
//
// Guarded by lk_: readers_ and writers_ (FIFO queues of waiter records on the waiters'
// stacks), the pending bit. Invariant when lk_ is free: pending <=> a queue is non-empty.
//
// Hand-off: the unlocker that finds waiters writes the next state itself (the writer bit
// for a writer, the reader count for a batch of readers) before waking them, so a woken
// waiter owns the lock on return. No lost wake-up: a waiter sets pending and queues under
// lk_, which it releases only from park's unlock hook; an unlocker that sees pending takes
// lk_ before deciding.
//
// Destroy after unlock: an unlock that finds nobody queued ends with the CAS that releases
// the lock; one that hands off ends its access to the object when it releases lk_, before it
// wakes anyone (the records live on parked stacks).
#pragma once

#include <atomic>
#include <cstdint>
#include <shared_mutex>  // std::shared_lock, for users
#include <stdexcept>

#include "detail/config.hpp"
#include "detail/park.hpp"
#include "detail/sema.hpp"
#include "detail/spinlock.hpp"

namespace goro {

class GORO_CAPABILITY("rw_mutex") rw_mutex {
 public:
  rw_mutex() noexcept = default;
  rw_mutex(const rw_mutex&) = delete;
  rw_mutex& operator=(const rw_mutex&) = delete;

  void lock() GORO_ACQUIRE() GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::uint32_t free = 0;
    if (GORO_LIKELY(state_.compare_exchange_weak(free, writer_bit, std::memory_order_acquire,
                                                 std::memory_order_relaxed)))
      return;
    lock_slow(false);
  }
  bool try_lock() noexcept GORO_TRY_ACQUIRE(true) GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::uint32_t free = 0;
    return state_.compare_exchange_strong(free, writer_bit, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // Throws std::logic_error when no writer holds the lock.
  void unlock() GORO_RELEASE() GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::uint32_t held = writer_bit;
    if (GORO_LIKELY(
            state_.compare_exchange_strong(held, 0, std::memory_order_release, std::memory_order_relaxed)))
      return;
    unlock_slow(false, held);
  }

  void lock_shared() GORO_ACQUIRE_SHARED() GORO_NO_THREAD_SAFETY_ANALYSIS {
    if (GORO_LIKELY(try_lock_shared())) return;
    lock_slow(true);
  }
  bool try_lock_shared() noexcept GORO_TRY_ACQUIRE_SHARED(true) GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & (writer_bit | pending_bit)) != 0) return false;
      if (GORO_UNLIKELY(s == reader_mask)) return false;  // lock_shared() throws there
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    }
  }
  // Throws std::logic_error when no reader holds the lock.
  void unlock_shared() GORO_RELEASE_SHARED() GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & (pending_bit | writer_bit)) != 0 || (s & reader_mask) == 0) break;
      if (state_.compare_exchange_weak(s, s - 1, std::memory_order_release, std::memory_order_relaxed))
        return;
    }
    unlock_slow(true, s);
  }

 private:
  static constexpr std::uint32_t writer_bit = 1u << 31;
  static constexpr std::uint32_t pending_bit = 1u << 30;
  static constexpr std::uint32_t reader_mask = pending_bit - 1;

  [[noreturn]] static void throw_too_many() {
    throw std::logic_error("goro::rw_mutex: too many readers (2^30 - 1 at most)");
  }

  GORO_NOINLINE void lock_slow(bool shared) {
    lk_.lock();
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      // Without pending, fast paths still race with us: CAS, and retry on failure.
      bool can_enter = shared ? (s & (writer_bit | pending_bit)) == 0 : s == 0;
      if (can_enter) {
        if (shared && s == reader_mask) {
          lk_.unlock();
          throw_too_many();
        }
        if (state_.compare_exchange_weak(s, shared ? s + 1 : writer_bit, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          lk_.unlock();
          return;
        }
        continue;
      }
      if ((s & pending_bit) != 0) break;
      // Acquire: readers that left by the fast path (release CAS) before we queued must
      // happen before our critical section, which a hand-off later starts.
      if (state_.compare_exchange_weak(s, s | pending_bit, std::memory_order_acquire,
                                       std::memory_order_relaxed))
        break;
    }
    detail::waker w;
    detail::wait_record r{&w};
    (shared ? readers_ : writers_).push_back(&r);
    w.block_unlocking(lk_, detail::wait_reason::sync_rw_mutex);
    // The unlocker wrote our share of state_ before waking us.
    std::atomic_thread_fence(std::memory_order_acquire);
  }

  GORO_NOINLINE void unlock_slow(bool shared, std::uint32_t s) {
    if (shared ? (s & writer_bit) != 0 || (s & reader_mask) == 0 : (s & writer_bit) == 0) {
      throw std::logic_error(shared ? "goro::rw_mutex::unlock_shared: no reader holds the lock"
                                    : "goro::rw_mutex::unlock: the lock is not held by a writer");
    }
    lk_.lock();
    s = state_.load(std::memory_order_acquire);
    if ((s & pending_bit) == 0) {
      // The queues emptied meanwhile (cannot happen: only unlockers empty them, and the
      // lock is still ours), or pending was never set: plain release.
      state_.store(shared ? s - 1 : 0, std::memory_order_release);
      lk_.unlock();
      return;
    }
    std::uint32_t readers = (s & reader_mask) - (shared ? 1u : 0u);
    detail::wait_record* wake = nullptr;
    std::uint32_t next;
    if (readers != 0) {
      next = readers | pending_bit;  // other readers still hold; the queued wait
    } else if (!shared && !readers_.empty()) {
      // A writer leaves: every reader that queued meanwhile gets in together.
      std::uint32_t n = readers_.size();
      wake = readers_.take_all();
      next = n | (!writers_.empty() ? pending_bit : 0u);
    } else if (!writers_.empty()) {
      wake = writers_.pop_n(1);
      next = writer_bit | (!writers_.empty() || !readers_.empty() ? pending_bit : 0u);
    } else {
      // Only readers queued, and they queued behind a writer that is gone: let them in.
      std::uint32_t n = readers_.size();
      wake = readers_.take_all();
      next = n;
    }
    state_.store(next, std::memory_order_release);
    lk_.unlock();
    detail::wake_all(wake);
  }

  std::atomic<std::uint32_t> state_{0};
  detail::spinlock lk_;
  detail::wait_list readers_;
  detail::wait_list writers_;
};

}  // namespace goro
