// goro/detail/sema.hpp: the counting wait list under goro's sync primitives (Go's runtime
// sema.go: semacquire/semrelease), one per object instead of Go's global address table.
//
// State, all guarded by lock_: count_ (units released with nobody waiting) and a FIFO of
// waiter records, each on its waiting fiber's (or thread's) stack.
//
// acquire() takes a unit or queues and parks; release(n) hands units directly to the first
// n waiters (they do not compete again for them) and banks the rest in count_. Units are
// interchangeable: callers (mutex, wait_group) count their waiters in their own atomic
// state and release exactly one unit per waiter they decided to wake, so a release that
// arrives before its waiter has queued is not lost: the unit waits in count_.
//
// No lost wake-up: a waiter queues under lock_ and releases lock_ only from park's unlock
// hook (park.hpp); release() finds it under lock_. Exactly one release() removes a record,
// so each block() gets exactly one wake().
//
// Destroy after wake: release() touches the object last when it unlocks lock_; it then
// wakes the records it took, which live on parked stacks. A caller may therefore destroy the
// enclosing object as soon as acquire() returns, provided no one else is still inside it.
#pragma once

#include <cstdint>

#include "park.hpp"
#include "spinlock.hpp"

namespace goro::detail {

// A parked waiter's record: on the waiter's stack, linked into one wait_list.
struct wait_record {
  const waker* who;
  wait_record* next = nullptr;
};

// FIFO of wait records, guarded by its owner's lock. Detached chains (pop_n, take_all) are
// woken with wake_all() after that lock is released.
class wait_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::uint32_t size() const noexcept { return size_; }
  void push_back(wait_record* r) noexcept {
    r->next = nullptr;
    if (tail_ != nullptr) {
      tail_->next = r;
    } else {
      head_ = r;
    }
    tail_ = r;
    ++size_;
  }
  void push_front(wait_record* r) noexcept {
    r->next = head_;
    head_ = r;
    if (tail_ == nullptr) tail_ = r;
    ++size_;
  }
  // Detaches up to n records from the front, in order, as a null-terminated chain.
  wait_record* pop_n(std::uint32_t n) noexcept {
    if (n == 0) return nullptr;
    if (n >= size_) return take_all();
    wait_record* first = head_;
    wait_record* last = head_;
    for (std::uint32_t i = 1; i < n; ++i) last = last->next;
    head_ = last->next;
    last->next = nullptr;
    size_ -= n;
    return first;
  }
  wait_record* take_all() noexcept {
    wait_record* r = head_;
    head_ = tail_ = nullptr;
    size_ = 0;
    return r;
  }

 private:
  wait_record* head_ = nullptr;
  wait_record* tail_ = nullptr;
  std::uint32_t size_ = 0;
};

// Wakes a detached chain. The successor is read before each wake: the record dies with its
// waiter, which may return as soon as it is woken.
inline void wake_all(wait_record* r) noexcept {
  while (r != nullptr) {
    wait_record* next = r->next;
    r->who->wake();
    r = next;
  }
}

class sema {
 public:
  // Takes one unit, parking until a release() hands one over. `lifo` queues the caller at
  // the front (Go's mutex requeues a woken waiter that lost the race there).
  void acquire(bool lifo, wait_reason why) noexcept {
    lock_.lock();
    if (count_ > 0) {
      --count_;
      lock_.unlock();
      return;
    }
    waker w;
    wait_record r{&w};
    if (lifo) {
      waiters_.push_front(&r);
    } else {
      waiters_.push_back(&r);
    }
    w.block_unlocking(lock_, why);
  }

  // Gives n units: to the oldest waiters first, the rest are banked.
  void release(std::uint32_t n = 1) noexcept {
    lock_.lock();
    std::uint32_t handed = n < waiters_.size() ? n : waiters_.size();
    wait_record* woken = waiters_.pop_n(handed);
    count_ += n - handed;
    lock_.unlock();
    wake_all(woken);
  }

 private:
  spinlock lock_;
  std::uint32_t count_ = 0;
  wait_list waiters_;
};

}  // namespace goro::detail
