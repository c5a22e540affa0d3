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
    record r{&w};
    if (lifo) {
      push_front(&r);
    } else {
      push_back(&r);
    }
    w.block_unlocking(lock_, why);
  }

  // Gives n units: to the oldest waiters first, the rest are banked.
  void release(std::uint32_t n = 1) noexcept {
    lock_.lock();
    record* woken = nullptr;
    record** tail = &woken;
    while (n > 0 && head_ != nullptr) {
      record* r = head_;
      head_ = r->next;
      if (head_ == nullptr) tail_ = nullptr;
      r->next = nullptr;
      *tail = r;
      tail = &r->next;
      --n;
    }
    count_ += n;
    lock_.unlock();
    while (woken != nullptr) {
      record* r = woken;
      woken = r->next;  // read before the wake: the record dies with its waiter
      r->who->wake();
    }
  }

 private:
  struct record {
    const waker* who;
    record* next = nullptr;
  };
  void push_back(record* r) noexcept {
    if (tail_ != nullptr) {
      tail_->next = r;
    } else {
      head_ = r;
    }
    tail_ = r;
  }
  void push_front(record* r) noexcept {
    r->next = head_;
    head_ = r;
    if (tail_ == nullptr) tail_ = r;
  }

  spinlock lock_;
  std::uint32_t count_ = 0;
  record* head_ = nullptr;
  record* tail_ = nullptr;
};

}  // namespace goro::detail
