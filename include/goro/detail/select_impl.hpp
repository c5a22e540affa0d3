// goro/detail/select_impl.hpp: the select engine shared by goro::select and dynamic_select
// (Go's runtime/select.go: selectgo).
//
// Input: n cases, each a `sel_case` (a receive or a send on one channel, or nil), plus
// scratch space for a poll order and a lock order, all owned by the caller (the caller's
// stack for goro::select, reused vectors for dynamic_select): nothing is allocated here.
//
// Pass 0: poll order = a uniformly random permutation of the cases.
// Sweep:  in poll order, a case that looks ready without the lock (buffer not empty / not
//         full, a partner queued, or closed: the fast-path loads of hchan) is tried under its
//         own channel's lock alone; the first that proceeds wins. Choosing the first ready
//         case of a random order is what pass 1 does too, so the distribution is the same,
//         and each outcome is linearizable at that one lock. With a single live case and a
//         default, one "not ready" observation is enough to take the default (Go's selectnb*).
// Locks:  the distinct channels by ascending address. Taking channel locks in one global
//         order is what prevents two selects over the same channels from deadlocking.
// Pass 1: with every lock held, look for a case that can proceed, in poll order; perform
//         it (hand-off, buffer, or a closed channel). Else take `default` if there is one:
//         "nothing was ready" needs one instant with every lock held.
// Pass 2: enqueue one waiter record per case (in poll order, so that several cases on one
//         channel are equally likely to meet a partner), all sharing one select_claim and
//         one waker, and park; park's unlock hook releases every lock after the fiber is off
//         its stack.
// Wake:   the first partner (or close) that wins the claim's CAS performed the case and
//         recorded its index; partners on other channels that lose the CAS drop our records.
// Pass 3: lock every channel again and remove the records that are still queued. Then the
//         caller runs the chosen case's callback, with no lock held.
//
// Lifetime: records and the claim live in this frame; after pass 3 no queue refers to them,
// and a partner never touches a record after waking us (park.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "hchan.hpp"
#include "park.hpp"
#include "sched.hpp"
#include "spinlock.hpp"

namespace goro::detail {

// One case of a select, type-erased over the channel's element type.
class sel_case {
 public:
  // The channel's address (lock order, duplicate detection) and lock; null for a nil channel.
  const void* chan_addr = nullptr;
  spinlock* lock = nullptr;

  // Without any lock: could the case proceed (a hint, see hchan's fast paths)?
  virtual bool looks_ready() const noexcept = 0;
  // Its channel's lock held (every lock, in pass 1): perform the case if it can proceed now.
  virtual op_status poll() noexcept = 0;
  // After unlocking, for a case performed in pass 1: wake the partner it was matched with.
  virtual void wake_partner() noexcept = 0;
  // Pass 2, every lock held: enqueue this case's record.
  virtual void enqueue(select_claim* claim, const waker* w, std::size_t index) noexcept = 0;
  // Pass 3, every lock held: remove this case's record if it is still queued.
  virtual void dequeue() noexcept = 0;
  // After the wake-up, for the winning case: did the transfer happen (false: closed)?
  virtual bool succeeded() const noexcept = 0;

 protected:
  ~sel_case() = default;
};

template <class T>
class recv_sel_case final : public sel_case {
 public:
  explicit recv_sel_case(hchan<T>* c) noexcept : c_(c) {
    if (c != nullptr) {
      chan_addr = c;
      lock = &c->lock();
    }
  }
  bool looks_ready() const noexcept override { return !c_->empty_unlocked() || c_->closed_unlocked(); }
  op_status poll() noexcept override { return c_->recv_locked(value, partner_); }
  void wake_partner() noexcept override {
    if (partner_ != nullptr) partner_->who->wake();
  }
  void enqueue(select_claim* claim, const waker* w, std::size_t index) noexcept override {
    rec_.who = w;
    rec_.sel = claim;
    rec_.case_index = index;
    rec_.recv_slot = &value;
    c_->enqueue_recv_locked(&rec_);
  }
  void dequeue() noexcept override { c_->dequeue_recv_locked(&rec_); }
  bool succeeded() const noexcept override { return rec_.success; }

  std::optional<T> value;

 private:
  hchan<T>* c_;
  chan_waiter<T>* partner_ = nullptr;
  chan_waiter<T> rec_;
};

template <class T>
class send_sel_case final : public sel_case {
 public:
  send_sel_case(hchan<T>* c, T& v) noexcept : c_(c), v_(&v) {
    if (c != nullptr) {
      chan_addr = c;
      lock = &c->lock();
    }
  }
  bool looks_ready() const noexcept override { return !c_->full_unlocked() || c_->closed_unlocked(); }
  op_status poll() noexcept override { return c_->send_locked(*v_, partner_); }
  void wake_partner() noexcept override {
    if (partner_ != nullptr) partner_->who->wake();
  }
  void enqueue(select_claim* claim, const waker* w, std::size_t index) noexcept override {
    rec_.who = w;
    rec_.sel = claim;
    rec_.case_index = index;
    rec_.send_val = v_;
    c_->enqueue_send_locked(&rec_);
  }
  void dequeue() noexcept override { c_->dequeue_send_locked(&rec_); }
  bool succeeded() const noexcept override { return rec_.success; }

 private:
  hchan<T>* c_;
  T* v_;
  chan_waiter<T>* partner_ = nullptr;
  chan_waiter<T> rec_;
};

// The locks of a select, distinct and in ascending channel address order.
struct sel_locks {
  spinlock** locks;
  std::size_t n = 0;
  void lock_all() noexcept {
    for (std::size_t i = 0; i < n; ++i) locks[i]->lock();
  }
  void unlock_all() noexcept {
    for (std::size_t i = n; i-- > 0;) locks[i]->unlock();
  }
};

struct sel_outcome {
  std::size_t index;  // position of the chosen case in the engine's case array
  bool ok;            // false: the chosen channel was closed (recv: nullopt; send: throw)
};

inline constexpr std::size_t sel_default = static_cast<std::size_t>(-1);

// Runs passes 0-3 over cases[0..n). `order` and `lock_space` hold n entries each. Returns
// sel_default when nothing was ready and `has_default`; blocks forever when no case can
// ever fire and there is no default.
inline sel_outcome select_engine(sel_case* const* cases, std::size_t n, std::uint32_t* order,
                                 spinlock** lock_space, bool has_default) {
  // One case and a default, not ready at a glance: the default, with no shuffle and no lock
  // (Go's selectnbrecv/selectnbsend; the single observation is the linearization point).
  if (has_default && n == 1 && (cases[0]->chan_addr == nullptr || !cases[0]->looks_ready())) {
    return {sel_default, true};
  }
  // Pass 0: poll order (Fisher-Yates) and lock order (insertion sort: n is small; dynamic
  // selects with many cases pay n^2/4 compares, still cheaper than a call to std::sort below ~64).
  fast_rng& rng = local_rng();
  std::size_t live = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (cases[i]->chan_addr == nullptr) continue;  // nil: never fires
    std::uint32_t j = rng.below(static_cast<std::uint32_t>(live + 1));
    if (j != live) order[live] = order[j];  // "inside-out" Fisher-Yates
    order[j] = static_cast<std::uint32_t>(i);
    ++live;
  }
  if (live == 0) {
    if (has_default) return {sel_default, true};
    block_forever(wait_reason::select_no_cases);
  }

  // Sweep.
  for (std::size_t k = 0; k < live; ++k) {
    sel_case* c = cases[order[k]];
    if (!c->looks_ready()) continue;
    c->lock->lock();
    op_status st = c->poll();
    c->lock->unlock();
    if (st != op_status::not_ready) {
      c->wake_partner();
      return {order[k], st == op_status::done};
    }
  }
  if (has_default && live == 1) return {sel_default, true};

  sel_locks locks{lock_space, 0};
  for (std::size_t k = 0; k < live; ++k) {
    spinlock* l = cases[order[k]]->lock;
    std::size_t pos = locks.n;
    while (pos > 0 && lock_space[pos - 1] > l) --pos;
    if (pos > 0 && lock_space[pos - 1] == l) continue;  // the same channel in two cases
    for (std::size_t m = locks.n; m > pos; --m) lock_space[m] = lock_space[m - 1];
    lock_space[pos] = l;
    ++locks.n;
  }

  // Pass 1.
  locks.lock_all();
  for (std::size_t k = 0; k < live; ++k) {
    sel_case* c = cases[order[k]];
    op_status st = c->poll();
    if (st != op_status::not_ready) {
      locks.unlock_all();
      c->wake_partner();
      return {order[k], st == op_status::done};
    }
  }
  if (has_default) {
    locks.unlock_all();
    return {sel_default, true};
  }

  // Pass 2.
  select_claim claim;
  waker me;
  for (std::size_t k = 0; k < live; ++k) cases[order[k]]->enqueue(&claim, &me, order[k]);
  me.block([](void* l) { static_cast<sel_locks*>(l)->unlock_all(); }, &locks, wait_reason::select);

  // Pass 3.
  std::size_t won = claim.winner;
  locks.lock_all();
  for (std::size_t k = 0; k < live; ++k) {
    if (order[k] != won) cases[order[k]]->dequeue();
  }
  locks.unlock_all();
  return {won, cases[won]->succeeded()};
}

}  // namespace goro::detail
