// goro/semaphore.hpp: goro::semaphore, a weighted semaphore (x/sync/semaphore.Weighted).
//
// acquire(n) takes n units, waiting while fewer are free; release(n) returns them.
// Waiters are served strictly in arrival order: a large acquire at the head of the queue
// blocks smaller ones behind it even when they would fit (so it is never starved), and
// try_acquire fails while anyone waits. Asking for more than the size, or releasing more
// than is held, throws std::logic_error; a negative n throws std::invalid_argument.
// acquire(ctx, n) also returns, by throwing std::system_error(ctx.err()), when ctx is
// cancelled first (at once if it already is; a too-large n waits for ctx, as Go's does).
//
// Guarded by lk_: cur_ (units held), the FIFO queue of waiter records (on the waiters'
// stacks). size_ is immutable.
//
// Who wakes a waiter: every record has a claim word (0 open, 1 granted, 2 cancelled). A
// release() grants the head record only if it wins the claim (CAS 0->1), then removes it,
// adds its units to cur_ and wakes it after unlocking lk_. A context cancellation wins
// with CAS 0->2 (under the context's lock, see detail/context_node.hpp) and wakes it; the
// waiter then removes its own record under lk_ (a release() that meets a cancelled record
// first drops it instead) and, if it stood at the head, lets the waiters behind it in.
// Exactly one party wins the claim, so each park gets exactly one wake. Lock order:
// semaphore lk_, then the context's lock (registration, from park's unlock hook); never
// the reverse.
//
// Destroy after wake: release() ends its access to the semaphore when it unlocks lk_.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

#include "context.hpp"
#include "detail/context_node.hpp"
#include "detail/park.hpp"
#include "detail/spinlock.hpp"

namespace goro {

class semaphore {
 public:
  explicit semaphore(std::int64_t n) : size_(n) {
    if (n < 0) throw std::invalid_argument("goro::semaphore: negative size " + std::to_string(n));
  }
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  void acquire(std::int64_t n = 1) {
    check(n, "acquire");
    if (n > size_) too_large(n);
    lk_.lock();
    if (queue_empty() && size_ - cur_ >= n) {
      cur_ += n;
      lk_.unlock();
      return;
    }
    detail::waker w;
    waiter r(&w, n);
    push(&r);
    w.block_unlocking(lk_, detail::wait_reason::sync_semaphore);
    GORO_ASSERT(r.claim.load(std::memory_order_acquire) == granted);
  }

  bool try_acquire(std::int64_t n = 1) {
    check(n, "try_acquire");
    if (n > size_) too_large(n);
    lk_.lock();
    bool ok = queue_empty() && size_ - cur_ >= n;
    if (ok) cur_ += n;
    lk_.unlock();
    return ok;
  }

  void acquire(const context& ctx, std::int64_t n = 1) {
    check(n, "acquire");
    if (std::error_code e = ctx.err()) throw std::system_error(e);
    detail::cancel_node* cn = ctx.node() ? ctx.node()->canceller() : nullptr;
    if (cn == nullptr) {  // ctx can never be cancelled
      if (n > size_) detail::block_forever(detail::wait_reason::context_wait);
      acquire(n);
      return;
    }
    lk_.lock();
    if (n <= size_ && queue_empty() && size_ - cur_ >= n) {
      cur_ += n;
      lk_.unlock();
      return;
    }
    detail::waker w;
    waiter r(&w, n);
    r.notify = &on_cancel;
    if (n <= size_) push(&r);  // a too-large request only waits for ctx
    // The listener is registered only once we are off our stack (a cancellation wakes us
    // at once and must find us parked); lk_ is still held then, so no release() can grant
    // us before we know whether ctx was cancelled meanwhile.
    struct hook_arg {
      semaphore* s;
      waiter* r;
      detail::cancel_node* cn;
    } arg{this, &r, cn};
    w.block(
        [](void* p) {
          auto* a = static_cast<hook_arg*>(p);
          bool listening = a->cn->listen(a->r);
          if (!listening) a->r->claim.store(cancelled, std::memory_order_relaxed);
          const detail::waker* who = a->r->who;
          a->s->lk_.unlock();
          if (!listening) who->wake();  // cancelled before we parked: wake ourselves
        },
        &arg, detail::wait_reason::sync_semaphore);
    if (r.claim.load(std::memory_order_acquire) == granted) {
      cn->unlisten(&r);
      return;
    }
    // Cancelled: leave the queue (unless a release() already dropped us) and, if we were
    // blocking the head, let the waiters behind us in.
    lk_.lock();
    waiter* wake = nullptr;
    if (r.queued) {
      bool was_head = head_ == &r;
      unlink(&r);
      if (was_head) wake = grant_locked();
    }
    lk_.unlock();
    wake_all(wake);
    throw std::system_error(ctx.err());
  }

  void release(std::int64_t n = 1) {
    check(n, "release");
    lk_.lock();
    if (n > cur_) {
      std::int64_t held = cur_;
      lk_.unlock();
      throw std::logic_error("goro::semaphore::release: releasing " + std::to_string(n) +
                             " units, but only " + std::to_string(held) + " are held");
    }
    cur_ -= n;
    waiter* wake = grant_locked();
    lk_.unlock();
    wake_all(wake);  // no access to *this from here on
  }

 private:
  static constexpr std::uint32_t open = 0, granted = 1, cancelled = 2;

  struct waiter : detail::ctx_listener {
    waiter(const detail::waker* w, std::int64_t units) noexcept : who(w), n(units) {}
    const detail::waker* who;
    std::int64_t n;
    std::atomic<std::uint32_t> claim{open};
    waiter* q_prev = nullptr;  // queue links, guarded by lk_
    waiter* q_next = nullptr;
    waiter* wake_next = nullptr;
    bool queued = false;
  };

  static void on_cancel(detail::ctx_listener* l) noexcept {
    auto* r = static_cast<waiter*>(l);
    std::uint32_t o = open;
    if (r->claim.compare_exchange_strong(o, cancelled, std::memory_order_acq_rel)) r->who->wake();
  }

  static void check(std::int64_t n, const char* what) {
    if (n < 0)
      throw std::invalid_argument(std::string("goro::semaphore::") + what + ": negative count " +
                                  std::to_string(n));
  }
  [[noreturn]] void too_large(std::int64_t n) const {
    throw std::logic_error("goro::semaphore: asking for " + std::to_string(n) +
                           " units of a semaphore of size " + std::to_string(size_));
  }

  bool queue_empty() const noexcept { return head_ == nullptr; }
  void push(waiter* r) noexcept {
    r->q_prev = tail_;
    r->q_next = nullptr;
    if (tail_ != nullptr) {
      tail_->q_next = r;
    } else {
      head_ = r;
    }
    tail_ = r;
    r->queued = true;
  }
  void unlink(waiter* r) noexcept {
    if (r->q_prev != nullptr) {
      r->q_prev->q_next = r->q_next;
    } else {
      head_ = r->q_next;
    }
    if (r->q_next != nullptr) {
      r->q_next->q_prev = r->q_prev;
    } else {
      tail_ = r->q_prev;
    }
    r->q_prev = r->q_next = nullptr;
    r->queued = false;
  }

  // Grants head waiters, in order, while they fit; returns them as a list to wake.
  waiter* grant_locked() noexcept {
    waiter* list = nullptr;
    waiter** tail = &list;
    while (head_ != nullptr) {
      waiter* r = head_;
      if (r->n > size_ - cur_) break;  // FIFO: nobody overtakes the head
      unlink(r);
      std::uint32_t o = open;
      if (!r->claim.compare_exchange_strong(o, granted, std::memory_order_acq_rel)) continue;  // cancelled
      cur_ += r->n;
      *tail = r;
      tail = &r->wake_next;
    }
    return list;
  }
  static void wake_all(waiter* r) noexcept {
    while (r != nullptr) {
      waiter* next = r->wake_next;  // before the wake: the record dies with its waiter
      r->who->wake();
      r = next;
    }
  }

  const std::int64_t size_;
  detail::spinlock lk_;
  std::int64_t cur_ = 0;
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

}  // namespace goro
