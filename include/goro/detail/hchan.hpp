// goro/detail/hchan.hpp: the channel object (Go's runtime/chan.go: hchan).
//
// Fields, grouped by guard:
//   immutable:          cap_, buf_ (storage for cap_ values of T, uninitialised when not live)
//   atomic refcount:    refs_ (one per handle; the last handle destroys the channel)
//   guarded by lock_:   sendx_, recvx_, recvq_, sendq_, and the outcome fields (success,
//                       *recv_slot, select claim) of every waiter record parked here;
//                       count_ and closed_ are written only under lock_ ...
//   read without lock_: count_, closed_ and the queue heads, by the non-blocking fast
//                       paths and size() (atomics; see "Fast paths" below).
//
// Invariants, whenever lock_ is free (asserted in debug builds by check_locked()):
//   (1) sendq_ non-empty  => count_ == cap_          (senders wait only on a full buffer)
//   (2) recvq_ non-empty  => count_ == 0             (receivers wait only on an empty one)
//   (3) closed_           => sendq_ empty            (close wakes every sender)
//   (4) exactly the count_ slots starting at recvx_ (mod cap_) hold live T objects.
//   (Select waiters that lost their claim may still sit in a queue until their select
//    removes them; dequeue() skips them, and (1)/(2) hold for the live ones.)
//
// Lock order: a channel lock is a leaf, except that select holds several channel locks,
// always in ascending address order. Nothing blocks, allocates or switches fibers under
// lock_; the only user code run under it is T's move constructor and destructor. Wakers
// call waker::wake() after releasing lock_.
//
// No lost wake-up: a waiter publishes its record in a queue under lock_ and releases
// lock_ only through park()'s unlock hook, after it is off its stack. A waker finds the
// record under lock_, removes it (for a select: wins the claim, the single CAS that decides
// wake against any other channel, close or timer), writes the outcome, unlocks, then wakes.
// Exactly one party removes a record, so each block() gets exactly one wake().
//
// Lifetime: the waker writes the outcome before waking and never touches the record after
// (see park.hpp). The channel outlives both: the blocked operation holds a handle.
//
// Fast paths (Go's chansend/chanrecv with block == false): try_recv on an empty channel
// and try_send on a full, open one return without the lock after one or two atomic loads.
// Their justification: a closed channel never reopens, and a channel observed "not ready"
// at the second load was not ready at that instant; so the answer "nothing can be done
// right now" was true at a real instant during the call.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../errors.hpp"
#include "config.hpp"
#include "park.hpp"
#include "spinlock.hpp"

namespace goro::detail {

// The claim word of one parked select (Go's selectDone): the first party to CAS it (a
// channel partner, close(), later a timer) owns the select's wake-up; every other channel
// drops that select's records from its queue. `winner` is written by the claimer before it
// wakes the select and read by the select after it wakes.
struct select_claim {
  std::atomic<std::uint32_t> state{0};  // 0: open, 1: claimed
  std::size_t winner = 0;               // case index of the record that won
  bool try_claim(std::size_t case_index) noexcept {
    std::uint32_t open = 0;
    if (!state.compare_exchange_strong(open, 1, std::memory_order_acq_rel)) return false;
    winner = case_index;
    return true;
  }
};

// A blocked operation's record (Go's sudog): on the waiting fiber's (or thread's) stack.
template <class T>
struct chan_waiter {
  chan_waiter* prev = nullptr;  // queue links, guarded by the channel lock
  chan_waiter* next = nullptr;
  chan_waiter* wake_next = nullptr;       // close(): list of records to wake after unlocking
  const waker* who = nullptr;             // whom to wake
  select_claim* sel = nullptr;            // non-null: one case of a select
  T* send_val = nullptr;                  // sender: the value, moved from only on success
  std::optional<T>* recv_slot = nullptr;  // receiver: where a delivered value goes
  bool success = false;                   // the transfer happened (false: woken by close)
  bool queued = false;                    // linked in a queue (guarded by the channel lock)
  std::size_t case_index = 0;             // select: the case this record stands for
};

// Intrusive FIFO of waiter records. `head_` is atomic because fast paths peek at it.
template <class T>
class wait_queue {
 public:
  bool empty_unlocked() const noexcept { return head_.load(std::memory_order_acquire) == nullptr; }
  bool empty() const noexcept { return head_.load(std::memory_order_relaxed) == nullptr; }

  void push_back(chan_waiter<T>* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = w;
    } else {
      head_.store(w, std::memory_order_release);
    }
    tail_ = w;
    w->queued = true;
  }

  void remove(chan_waiter<T>* w) noexcept {
    if (!w->queued) return;
    if (w->prev != nullptr) {
      w->prev->next = w->next;
    } else {
      head_.store(w->next, std::memory_order_release);
    }
    if (w->next != nullptr) {
      w->next->prev = w->prev;
    } else {
      tail_ = w->prev;
    }
    w->prev = w->next = nullptr;
    w->queued = false;
  }

  // Removes and returns the first record that may be woken: a plain operation, or a
  // select case that wins its select's claim. Losers of the claim are dropped here.
  chan_waiter<T>* dequeue() noexcept {
    for (;;) {
      chan_waiter<T>* w = head_.load(std::memory_order_relaxed);
      if (w == nullptr) return nullptr;
      remove(w);
      if (w->sel == nullptr || w->sel->try_claim(w->case_index)) return w;
    }
  }

 private:
  std::atomic<chan_waiter<T>*> head_{nullptr};
  chan_waiter<T>* tail_ = nullptr;
};

enum class op_status { not_ready, done, closed };

// Moves that cannot be undone once a partner was dequeued: a throwing move constructor
// here terminates (documented in docs/channel.md).
template <class T>
inline void move_into_slot(std::optional<T>& slot, T& src) noexcept {
  slot.emplace(std::move(src));
}
template <class T>
inline void move_construct(T* dst, T& src) noexcept {
  ::new (static_cast<void*>(dst)) T(std::move(src));
}

template <class T>
class hchan {
 public:
  static hchan* make(std::size_t cap) {
    if (cap != 0 && cap > (PTRDIFF_MAX - buf_offset()) / sizeof(T)) {
      throw std::length_error("goro::make_chan: capacity " + std::to_string(cap) + " is too large");
    }
    std::size_t bytes = buf_offset() + cap * sizeof(T);
    void* mem = ::operator new(bytes, std::align_val_t(alignment()));
    return ::new (mem) hchan(cap);
  }

  // For channels embedded in a larger allocation (a timer's): bytes and alignment needed,
  // construction in place, and a hook that runs instead of the default destroy-and-free
  // when the last handle goes (it must call destroy_in_place()).
  static constexpr std::size_t bytes_for(std::size_t cap) noexcept { return buf_offset() + cap * sizeof(T); }
  static constexpr std::size_t alignment() noexcept {
    return alignof(T) > alignof(std::max_align_t) ? alignof(T) : alignof(std::max_align_t);
  }
  static hchan* make_at(void* mem, std::size_t cap, void (*on_last_release)(hchan*)) noexcept {
    hchan* c = ::new (mem) hchan(cap);
    c->on_last_release_ = on_last_release;
    return c;
  }
  void destroy_in_place() noexcept { this->~hchan(); }

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      if (on_last_release_ != nullptr) {
        on_last_release_(this);
        return;
      }
      this->~hchan();
      ::operator delete(static_cast<void*>(this), std::align_val_t(alignment()));
    }
  }

  std::size_t capacity() const noexcept { return cap_; }
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }

  // ---- blocking operations (fibers park, threads block) ----

  void send(T& v) {
    lock_.lock();
    chan_waiter<T>* partner = nullptr;
    op_status st = send_locked(v, partner);
    if (st == op_status::done) {
      lock_.unlock();
      if (partner != nullptr) partner->who->wake();
      return;
    }
    if (st == op_status::closed) {
      lock_.unlock();
      throw_send_closed();
    }
    waker me;
    chan_waiter<T> w;
    w.who = &me;
    w.send_val = &v;
    sendq_.push_back(&w);
    check_locked();
    me.block_unlocking(lock_, wait_reason::chan_send);
    if (!w.success) throw_send_closed();
  }

  std::optional<T> recv() {
    std::optional<T> out;
    lock_.lock();
    chan_waiter<T>* partner = nullptr;
    op_status st = recv_locked(out, partner);
    if (st != op_status::not_ready) {
      lock_.unlock();
      if (partner != nullptr) partner->who->wake();
      return out;
    }
    waker me;
    chan_waiter<T> w;
    w.who = &me;
    w.recv_slot = &out;
    recvq_.push_back(&w);
    check_locked();
    me.block_unlocking(lock_, wait_reason::chan_receive);
    return out;  // nullopt when woken by close
  }

  // ---- non-blocking operations ----

  bool try_send(T& v) {
    // Fast path: open and full (no receiver waiting on an unbuffered channel) => fail.
    if (!closed_.load(std::memory_order_acquire) && full_unlocked()) return false;
    lock_.lock();
    chan_waiter<T>* partner = nullptr;
    op_status st = send_locked(v, partner);
    lock_.unlock();
    if (st == op_status::closed) throw_send_closed();
    if (partner != nullptr) partner->who->wake();
    return st == op_status::done;
  }

  std::optional<T> try_recv() {
    // Fast path: nothing buffered and no sender waiting => nothing to receive right now
    // (closed or not: try_recv answers nullopt either way).
    if (empty_unlocked()) return std::nullopt;
    std::optional<T> out;
    lock_.lock();
    chan_waiter<T>* partner = nullptr;
    recv_locked(out, partner);
    lock_.unlock();
    if (partner != nullptr) partner->who->wake();
    return out;
  }

  void close() {
    lock_.lock();
    if (closed_.load(std::memory_order_relaxed)) {
      lock_.unlock();
      throw closed_channel_error("close of closed channel");
    }
    closed_.store(true, std::memory_order_release);
    chan_waiter<T>* wake_list = nullptr;
    // Receivers get nullopt (the buffer is empty whenever receivers wait), senders an error.
    while (chan_waiter<T>* w = recvq_.dequeue()) {
      w->success = false;
      w->wake_next = wake_list;
      wake_list = w;
    }
    while (chan_waiter<T>* w = sendq_.dequeue()) {
      w->success = false;
      w->wake_next = wake_list;
      wake_list = w;
    }
    check_locked();
    lock_.unlock();
    while (wake_list != nullptr) {
      chan_waiter<T>* next = wake_list->wake_next;  // read before the waiter may return
      wake_list->who->wake();
      wake_list = next;
    }
  }

  // ---- pieces for select (lock_ held by the caller) ----

  spinlock& lock() noexcept { return lock_; }

  // Performs a send if it can proceed now. On done, `partner` (if set) must be woken
  // after unlocking. v is moved from only on done.
  op_status send_locked(T& v, chan_waiter<T>*& partner) noexcept {
    if (closed_.load(std::memory_order_relaxed)) return op_status::closed;
    if (chan_waiter<T>* r = recvq_.dequeue()) {
      // Direct hand-off: straight into the parked receiver's slot, no buffer trip.
      move_into_slot(*r->recv_slot, v);
      r->success = true;
      partner = r;
      return op_status::done;
    }
    std::size_t n = count_.load(std::memory_order_relaxed);
    if (n < cap_) {
      move_construct(slot(sendx_), v);
      sendx_ = sendx_ + 1 == cap_ ? 0 : sendx_ + 1;
      count_.store(n + 1, std::memory_order_release);
      return op_status::done;
    }
    return op_status::not_ready;
  }

  // Performs a receive if it can proceed now: done (out holds the value) or closed (out
  // stays empty). On done, `partner` (if set) must be woken after unlocking.
  op_status recv_locked(std::optional<T>& out, chan_waiter<T>*& partner) noexcept {
    std::size_t n = count_.load(std::memory_order_relaxed);
    if (chan_waiter<T>* s = sendq_.dequeue()) {
      if (cap_ == 0) {
        move_into_slot(out, *s->send_val);  // straight from the parked sender
      } else {
        // Full buffer: take its head, and the sender's value takes the freed tail slot.
        T* head = slot(recvx_);
        move_into_slot(out, *head);
        head->~T();
        move_construct(head, *s->send_val);
        recvx_ = recvx_ + 1 == cap_ ? 0 : recvx_ + 1;
        sendx_ = recvx_;
      }
      s->success = true;
      partner = s;
      return op_status::done;
    }
    if (n > 0) {
      T* head = slot(recvx_);
      move_into_slot(out, *head);
      head->~T();
      recvx_ = recvx_ + 1 == cap_ ? 0 : recvx_ + 1;
      count_.store(n - 1, std::memory_order_release);
      return op_status::done;
    }
    if (closed_.load(std::memory_order_relaxed)) return op_status::closed;
    return op_status::not_ready;
  }

  void enqueue_send_locked(chan_waiter<T>* w) noexcept { sendq_.push_back(w); }
  void enqueue_recv_locked(chan_waiter<T>* w) noexcept { recvq_.push_back(w); }
  void dequeue_send_locked(chan_waiter<T>* w) noexcept { sendq_.remove(w); }
  void dequeue_recv_locked(chan_waiter<T>* w) noexcept { recvq_.remove(w); }

  bool empty_unlocked() const noexcept {
    return cap_ == 0 ? sendq_.empty_unlocked() : count_.load(std::memory_order_acquire) == 0;
  }
  bool full_unlocked() const noexcept {
    return cap_ == 0 ? recvq_.empty_unlocked() : count_.load(std::memory_order_acquire) == cap_;
  }
  bool closed_unlocked() const noexcept { return closed_.load(std::memory_order_acquire); }

  [[noreturn]] static void throw_send_closed() { throw closed_channel_error("send on closed channel"); }

 private:
  explicit hchan(std::size_t cap) noexcept : cap_(cap) {}
  ~hchan() {
    // Values still buffered when the last handle goes away are destroyed here.
    std::size_t n = count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0, x = recvx_; i < n; ++i, x = x + 1 == cap_ ? 0 : x + 1) slot(x)->~T();
  }

  static constexpr std::size_t buf_offset() noexcept {
    return (sizeof(hchan) + alignof(T) - 1) / alignof(T) * alignof(T);
  }
  T* slot(std::size_t i) noexcept {
    return std::launder(reinterpret_cast<T*>(reinterpret_cast<char*>(this) + buf_offset())) + i;
  }

  void check_locked() const noexcept {
#if !defined(NDEBUG) || defined(GORO_CHECKED)
    std::size_t n = count_.load(std::memory_order_relaxed);
    GORO_ASSERT(n <= cap_);
    GORO_ASSERT(!closed_.load(std::memory_order_relaxed) || sendq_.empty());  // invariant (3)
#endif
  }

  std::atomic<std::size_t> refs_{1};
  void (*on_last_release_)(hchan*) = nullptr;  // immutable after construction
  spinlock lock_;
  const std::size_t cap_;
  std::atomic<std::size_t> count_{0};  // written under lock_
  std::atomic<bool> closed_{false};    // written under lock_
  std::size_t sendx_ = 0;              // guarded by lock_
  std::size_t recvx_ = 0;              // guarded by lock_
  wait_queue<T> recvq_;                // guarded by lock_ (head readable unlocked)
  wait_queue<T> sendq_;                // guarded by lock_ (head readable unlocked)
};

}  // namespace goro::detail
