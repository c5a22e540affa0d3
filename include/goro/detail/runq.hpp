// goro/detail/runq.hpp: a processor's local run queue (Go's p.runq + p.runnext).
//
// A bounded ring of 256 fiber pointers with one producer (the owning processor) and many
// consumers (the owner and thieves), plus a one-slot `runnext`.
//   head_: next slot to consume; advanced by CAS by the owner (get) and thieves (grab).
//   tail_: next slot to fill; stored only by the owner, with release, after the slot.
//   buf_[i % N]: written by the owner only when tail_ - head_ < N, i.e. never a slot that a
//            consumer may still read at a head it can still CAS from; a thief that read a
//            stale range loses its CAS and discards the copy.
//   runnext_: taken by CAS so that the owner and a thief cannot both run it.
// Invariant: 0 <= tail_ - head_ <= N (unsigned arithmetic wraps).
#pragma once

#include <atomic>
#include <cstdint>

#include "config.hpp"

namespace goro::detail {

struct fiber;

class local_runq {
 public:
  static constexpr std::uint32_t capacity = 256;

  // Owner only. Puts f at the tail. When the ring is full, moves its older half plus f
  // into `overflow` (room for capacity/2 + 1 pointers) and returns how many it put there
  // (0 when f went into the ring); the caller hands them to the global queue.
  std::uint32_t put(fiber* f, fiber** overflow) noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (t - h < capacity) {
        buf_[t % capacity].store(f, std::memory_order_relaxed);
        tail_.store(t + 1, std::memory_order_release);
        return 0;
      }
      std::uint32_t n = (t - h) / 2;
      for (std::uint32_t i = 0; i < n; ++i)
        overflow[i] = buf_[(h + i) % capacity].load(std::memory_order_relaxed);
      if (!head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel)) continue;  // thieves took some
      overflow[n] = f;
      return n + 1;
    }
  }

  // Owner only. Makes f the next fiber to run; returns the fiber it displaced (to be put
  // at the tail by the caller), or null.
  fiber* put_next(fiber* f) noexcept { return runnext_.exchange(f, std::memory_order_acq_rel); }

  // Owner only. Takes runnext, or null.
  fiber* take_next() noexcept {
    fiber* n = runnext_.load(std::memory_order_relaxed);
    if (n != nullptr && runnext_.compare_exchange_strong(n, nullptr, std::memory_order_acquire)) return n;
    return nullptr;
  }

  // Owner only. Takes runnext (when `use_next`) or the head of the ring.
  fiber* get(bool use_next = true) noexcept {
    if (use_next) {
      fiber* n = runnext_.load(std::memory_order_relaxed);
      if (n != nullptr && runnext_.compare_exchange_strong(n, nullptr, std::memory_order_acquire)) return n;
    }
    std::uint32_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (t == h) return nullptr;
      fiber* f = buf_[h % capacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release, std::memory_order_acquire))
        return f;
    }
  }

  // Thief: moves about half of `victim`'s fibers into this (empty) queue and returns one
  // of them to run, or null. Takes the victim's runnext only when `take_next`.
  fiber* steal_from(local_runq& victim, bool take_next) noexcept {
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    GORO_ASSERT(t == head_.load(std::memory_order_relaxed));  // only an idle processor steals
    std::uint32_t n = victim.grab(buf_, t, take_next);
    if (n == 0) return nullptr;
    --n;
    fiber* f = buf_[(t + n) % capacity].load(std::memory_order_relaxed);
    if (n != 0) tail_.store(t + n, std::memory_order_release);
    return f;
  }

  bool has_next() const noexcept { return runnext_.load(std::memory_order_relaxed) != nullptr; }

  // Any thread: approximate emptiness (used by the idle protocol after a full fence).
  bool empty() const noexcept {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire) &&
           runnext_.load(std::memory_order_acquire) == nullptr;
  }
  std::uint32_t size() const noexcept {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }

 private:
  std::uint32_t grab(std::atomic<fiber*>* dst, std::uint32_t dst_tail, bool take_next) noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      std::uint32_t n = t - h;
      n = n - n / 2;
      if (n == 0) {
        if (take_next) {
          fiber* f = runnext_.load(std::memory_order_acquire);
          if (f != nullptr && runnext_.compare_exchange_strong(f, nullptr, std::memory_order_acq_rel)) {
            dst[dst_tail % capacity].store(f, std::memory_order_relaxed);
            return 1;
          }
        }
        return 0;
      }
      if (n > capacity / 2) continue;  // h and t read at different instants: retry
      for (std::uint32_t i = 0; i < n; ++i) {
        dst[(dst_tail + i) % capacity].store(buf_[(h + i) % capacity].load(std::memory_order_relaxed),
                                             std::memory_order_relaxed);
      }
      if (head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel)) return n;
    }
  }

  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::atomic<fiber*> runnext_{nullptr};
  std::atomic<fiber*> buf_[capacity] = {};
};

}  // namespace goro::detail
