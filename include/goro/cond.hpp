// goro/cond.hpp: goro::cond, Go's sync.Cond over a goro::mutex.
//
// wait() must be called with the mutex held; it releases it, parks until a signal() or
// broadcast() that began after the wait() began, and locks it again before returning.
// signal() wakes the longest waiting waiter, broadcast() all; neither needs the mutex.
// There are no spurious wake-ups, but as in Go a woken waiter must re-check its condition
// (another fiber may have changed it before the waiter got the mutex back).
//
// Tickets (Go's notifyList): wait() draws a ticket from wait_ticket_ while it still holds
// the mutex, then unlocks the mutex and queues its record (ticket and waker) under lk_.
// signal() advances notify_ to the next ticket under lk_ and wakes that ticket's record if
// it is queued; if the waiter has not queued yet, it sees its ticket below notify_ and does
// not park. broadcast() moves notify_ up to wait_ticket_. So no wake-up is lost between the
// mutex unlock and the park, and a signal only ever serves a wait() that began before it.
//
// Guarded by lk_: notify_, the waiter list. wait_ticket_ is atomic (drawn without lk_).
// Tickets are compared modulo 2^32 (fewer than 2^31 waiters at once).
//
// Destroy after wake: signal() and broadcast() end their access to the cond when they
// release lk_, before waking the records they took.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>

#include "detail/config.hpp"
#include "detail/park.hpp"
#include "detail/spinlock.hpp"
#include "mutex.hpp"

namespace goro {

class cond {
 public:
  explicit cond(mutex& m) noexcept : m_(m) {}
  cond(const cond&) = delete;
  cond& operator=(const cond&) = delete;

  // Requires the mutex to be held by the caller (it is unlocked, then locked again);
  // throws std::logic_error when the mutex is not locked at all.
  void wait() GORO_NO_THREAD_SAFETY_ANALYSIS {  // unlocks and relocks m_: not expressible
    // Checked before drawing a ticket: a ticket nobody waits on would swallow a signal.
    if (!m_.held()) throw std::logic_error("goro::cond::wait: the mutex is not locked");
    std::uint32_t t = wait_ticket_.fetch_add(1, std::memory_order_relaxed);
    m_.unlock();
    lk_.lock();
    if (static_cast<std::int32_t>(t - notify_) < 0) {
      lk_.unlock();  // signalled between the unlock and here
    } else {
      detail::waker w;
      record r{&w, t};
      if (tail_ != nullptr) {
        tail_->next = &r;
      } else {
        head_ = &r;
      }
      tail_ = &r;
      w.block_unlocking(lk_, detail::wait_reason::sync_cond);
    }
    m_.lock();
  }

  void signal() noexcept {
    // Nobody waits when no ticket was drawn since the last notification. A wait() whose
    // ticket we do not see drew it after this call began: it need not be woken (Go's rule).
    if (wait_ticket_.load(std::memory_order_acquire) == notify_seen()) return;
    lk_.lock();
    if (wait_ticket_.load(std::memory_order_relaxed) == notify_) {
      lk_.unlock();
      return;
    }
    std::uint32_t t = notify_++;
    publish_notify();
    record* found = nullptr;
    for (record *r = head_, *prev = nullptr; r != nullptr; prev = r, r = r->next) {
      if (r->ticket == t) {
        if (prev != nullptr) {
          prev->next = r->next;
        } else {
          head_ = r->next;
        }
        if (tail_ == r) tail_ = prev;
        found = r;
        break;
      }
    }
    lk_.unlock();
    if (found != nullptr) found->who->wake();
  }

  void broadcast() noexcept {
    if (wait_ticket_.load(std::memory_order_acquire) == notify_seen()) return;
    lk_.lock();
    notify_ = wait_ticket_.load(std::memory_order_relaxed);
    publish_notify();
    record* r = head_;
    head_ = tail_ = nullptr;
    lk_.unlock();
    while (r != nullptr) {
      record* next = r->next;  // before the wake: the record dies with its waiter
      r->who->wake();
      r = next;
    }
  }

 private:
  struct record {
    const detail::waker* who;
    std::uint32_t ticket;
    record* next = nullptr;
  };

  // notify_ is guarded by lk_; a copy is published for the lock-free "nobody waits" test.
  std::uint32_t notify_seen() const noexcept { return notify_pub_.load(std::memory_order_acquire); }
  void publish_notify() noexcept { notify_pub_.store(notify_, std::memory_order_release); }

  mutex& m_;
  std::atomic<std::uint32_t> wait_ticket_{0};
  std::atomic<std::uint32_t> notify_pub_{0};
  detail::spinlock lk_;
  std::uint32_t notify_ = 0;
  record* head_ = nullptr;
  record* tail_ = nullptr;
};

}  // namespace goro
