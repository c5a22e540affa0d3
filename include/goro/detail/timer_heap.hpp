// goro/detail/timer_heap.hpp: timers inside the scheduler (Go 1.14+: runtime/time.go).
//
// Every processor owns a 4-ary min-heap of pending timers. The scheduler fires due timers
// at its schedule points and when a worker is idle; an idle worker sleeps until the earliest
// deadline of any heap (no timer thread; 0% CPU while only timers are pending).
//
// timer_node is the part of a timer the scheduler sees. Two kinds:
//  * simple nodes (sleep_for of a fiber): live on the sleeping fiber's stack, are never
//    stopped, and are not touched by the firer after fire() runs (the fiber may return).
//  * shared nodes (after, timer, ticker, tick, after_func): heap-allocated, reference
//    counted (one reference per owner: the user-side object and each heap entry or fire in
//    progress), and guarded by their own `lock`, which serializes firing against
//    stop/reset/cancel. Each insertion is stamped with the node's generation `gen`; stop
//    and reset bump it under `lock`, so an entry that was already popped by a firer but not
//    yet fired finds a stale generation and does nothing. That is how stop() guarantees
//    that no value from before it arrives afterwards (Go 1.23 semantics).
//
// Fields and guards:
//   timer_heap::mu_          the entries, every node's heap_index while in this heap
//   timer_heap::earliest_    deadline of the top entry (ns), read without mu_ as a hint
//   timer_node::lock         gen, owner, the user-visible state (channel drain, re-arm)
//   timer_node::refs         atomic
// Lock order: timer_node::lock -> timer_heap::mu_ ; timer_node::lock -> channel lock;
// timer_node::lock -> scheduler locks (after_func spawns). A firer never holds mu_ while it
// takes a node lock: it pops entries under mu_, releases it, then fires.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "config.hpp"
#include "spinlock.hpp"

namespace goro::detail {

using steady = std::chrono::steady_clock;
inline constexpr std::int64_t no_deadline = std::numeric_limits<std::int64_t>::max();
inline constexpr std::size_t not_in_heap = static_cast<std::size_t>(-1);

inline std::int64_t to_ns(steady::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

class timer_heap;
class runtime;

// Live timer objects (shared nodes) in the process: the leak check of tests and stats.
inline std::atomic<std::int64_t>& live_timer_count() noexcept {
  static std::atomic<std::int64_t> n{0};
  return n;
}

struct timer_node {
  // Called by the firer. Shared nodes: with `lock` held and the entry's generation current.
  void (*fire)(timer_node* self, steady::time_point now) = nullptr;
  // Shared nodes: frees the node when the last reference goes.
  void (*destroy)(timer_node* self) = nullptr;
  bool shared = false;
  steady::duration period{0};            // > 0: re-armed after each fire (ticker)
  std::int64_t when_ns = no_deadline;    // deadline of the current arming, guarded by lock
  std::size_t heap_index = not_in_heap;  // guarded by the owner heap's mu_
  timer_heap* owner = nullptr;           // heap of the current arming, guarded by lock
  std::uint64_t gen = 0;                 // guarded by lock
  spinlock lock;
  std::atomic<std::uint32_t> refs{1};

  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(this);
  }
};

struct timer_entry {
  std::int64_t when_ns;
  timer_node* node;
  std::uint64_t gen;
};

class timer_heap {
 public:
  // Adds an arming of `n` (its heap reference is the caller's). Returns true when it became
  // this heap's earliest entry.
  bool push(timer_node* n, std::int64_t when_ns, std::uint64_t gen) {
    std::lock_guard<spinlock> g(mu_);
    h_.push_back(timer_entry{when_ns, n, gen});  // amortized: the vector keeps its capacity
    n->heap_index = h_.size() - 1;
    sift_up(h_.size() - 1);
    publish();
    return n->heap_index == 0;
  }

  // Removes n's entry if it is in this heap; returns whether it was (the caller then owns
  // the entry's reference).
  bool remove(timer_node* n) noexcept {
    std::lock_guard<spinlock> g(mu_);
    std::size_t i = n->heap_index;
    if (i == not_in_heap || i >= h_.size() || h_[i].node != n) return false;
    remove_at(i);
    publish();
    return true;
  }

  // Pops up to `max` entries due at `now_ns` into out; returns how many.
  std::size_t pop_due(std::int64_t now_ns, timer_entry* out, std::size_t max) noexcept {
    if (earliest_.load(std::memory_order_acquire) > now_ns) return 0;
    std::lock_guard<spinlock> g(mu_);
    std::size_t n = 0;
    while (n < max && !h_.empty() && h_[0].when_ns <= now_ns) {
      out[n++] = h_[0];
      remove_at(0);
    }
    publish();
    return n;
  }

  std::int64_t earliest() const noexcept { return earliest_.load(std::memory_order_acquire); }
  std::size_t size() {
    std::lock_guard<spinlock> g(mu_);
    return h_.size();
  }

  // Shutdown: takes every entry out (the caller drops their references).
  std::vector<timer_entry> take_all() {
    std::lock_guard<spinlock> g(mu_);
    std::vector<timer_entry> all;
    all.swap(h_);
    for (auto& e : all) e.node->heap_index = not_in_heap;
    publish();
    return all;
  }

 private:
  static constexpr std::size_t arity = 4;

  void publish() noexcept {
    earliest_.store(h_.empty() ? no_deadline : h_[0].when_ns, std::memory_order_release);
  }

  void place(std::size_t i, const timer_entry& e) noexcept {
    h_[i] = e;
    e.node->heap_index = i;
  }

  void sift_up(std::size_t i) noexcept {
    timer_entry e = h_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / arity;
      if (h_[parent].when_ns <= e.when_ns) break;
      place(i, h_[parent]);
      i = parent;
    }
    place(i, e);
  }

  void sift_down(std::size_t i) noexcept {
    timer_entry e = h_[i];
    std::size_t n = h_.size();
    for (;;) {
      std::size_t first = i * arity + 1;
      if (first >= n) break;
      std::size_t best = first;
      for (std::size_t c = first + 1; c < first + arity && c < n; ++c) {
        if (h_[c].when_ns < h_[best].when_ns) best = c;
      }
      if (h_[best].when_ns >= e.when_ns) break;
      place(i, h_[best]);
      i = best;
    }
    place(i, e);
  }

  void remove_at(std::size_t i) noexcept {
    h_[i].node->heap_index = not_in_heap;
    std::size_t last = h_.size() - 1;
    if (i != last) {
      timer_entry moved = h_[last];
      h_.pop_back();
      place(i, moved);
      if (i > 0 && h_[(i - 1) / arity].when_ns > moved.when_ns) {
        sift_up(i);
      } else {
        sift_down(i);
      }
    } else {
      h_.pop_back();
    }
  }

  spinlock mu_;
  std::vector<timer_entry> h_;
  std::atomic<std::int64_t> earliest_{no_deadline};
};

}  // namespace goro::detail
