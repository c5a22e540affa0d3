// goro/detail/futex.hpp: the only place goro talks to the kernel to block a thread.
//
// thread_parker is a binary semaphore ("permit") for one waiting thread, built on a
// futex. It is how a plain thread blocks on a goro primitive and how an idle worker
// thread sleeps. The state word is the truth; a futex wake-up is only a hint, so stale
// or spurious wake-ups are harmless (folly Baton's rule).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace goro::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "futex word must be a plain 32-bit int");

// Waits while *word == expected, at most until `deadline` (CLOCK_MONOTONIC, absolute)
// when given. Returns on wake, timeout, signal or value mismatch alike: callers re-check.
inline void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                       const timespec* abs_deadline = nullptr) noexcept {
  int saved = errno;  // a fiber may migrate, but errno belongs to the thread we are on now
  if (abs_deadline) {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_BITSET_PRIVATE, expected,
            abs_deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
  } else {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr,
            0);
  }
  errno = saved;
}

inline void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept {
  int saved = errno;
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
  errno = saved;
}

inline timespec to_timespec(std::chrono::steady_clock::time_point t) noexcept {
  // std::chrono::steady_clock is CLOCK_MONOTONIC on Linux (libstdc++ and libc++).
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// A binary semaphore for exactly one waiting thread at a time.
//   state_: 0 = no permit, 1 = permit posted, 2 = the owner is (about to be) asleep.
// unpark() posts the permit and issues the futex wake only when the owner announced that
// it sleeps, so an unpark that beats the park costs no system call.
class thread_parker {
 public:
  // Blocks until a permit is posted, then consumes it.
  void park() noexcept {
    for (;;) {
      if (state_.exchange(0, std::memory_order_acquire) == 1) return;
      std::uint32_t expected = 0;
      if (state_.compare_exchange_strong(expected, 2, std::memory_order_acquire)) futex_wait(&state_, 2);
    }
  }

  // Like park(), but gives up at `deadline`. Returns true when a permit was consumed.
  bool park_until(std::chrono::steady_clock::time_point deadline) noexcept {
    timespec ts = to_timespec(deadline);
    for (;;) {
      if (state_.exchange(0, std::memory_order_acquire) == 1) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::uint32_t expected = 0;
      if (state_.compare_exchange_strong(expected, 2, std::memory_order_acquire)) futex_wait(&state_, 2, &ts);
    }
  }

  // Posts the permit. Safe from any thread; the parker must outlive the call (goro only
  // uses parkers owned by threads, never by a waiter record on a stack).
  void unpark() noexcept {
    if (state_.exchange(1, std::memory_order_release) == 2) futex_wake(&state_, 1);
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

// The parker of the calling plain thread. Threads do not migrate, so caching the returned
// reference within one thread is fine; fibers must never call this (see park.hpp).
inline thread_parker& this_thread_parker() noexcept {
  thread_local thread_parker p;
  return p;
}

}  // namespace goro::detail
