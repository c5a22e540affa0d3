// goro/time.hpp: sleeping and timers (API.md, Time; Go's package time).
//
//   sleep_for(d), sleep_until(t)   park the calling fiber (or block a plain thread)
//   after(d)                       time.After: a channel that receives the firing time once
//   timer t(d)                     time.NewTimer: t.c(), t.stop(), t.reset(d)
//   ticker k(d)                    time.NewTicker: k.c(), k.stop(), k.reset(d)
//   after_func(d, f)               time.AfterFunc: runs f in a new fiber
//   tick(d)                        time.Tick
//
// Semantics follow Go 1.23 (docs/time.md): timer channels have capacity 1; once stop() or
// reset() returns, no value from before it can be received; stop() and reset() report
// whether the timer was active (pending, or fired with its value still unreceived). A
// ticker drops ticks for a slow reader and never queues more than one. Values are the
// steady_clock time at which the timer fired, never earlier than its deadline (except when
// memory runs out while a timer reset to a later deadline is re-queued: it fires then).
//
// No leak: a timer is cancelled by stop(), by destruction of its timer/ticker object, and
// for after()/tick() when the last handle to the channel is gone, so
// `select(case_recv(ch), case_recv(after(1h)))` in a loop leaves no timers behind. One
// allocation per after()/timer/ticker (the channel and the timer share it).
//
// Timers live in the scheduler (detail/timer_heap.hpp): each processor keeps a heap; an
// idle worker sleeps until the earliest deadline. A timer created outside any runtime
// (plain thread, no run() in progress) uses the default runtime. Timers must not outlive
// the run() they were created in (a stop() afterwards is harmless, a reset() re-arms the
// timer on the caller's runtime).
#pragma once

#include <chrono>
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "chan.hpp"
#include "detail/hchan.hpp"
#include "detail/park.hpp"
#include "detail/sched.hpp"
#include "detail/timer_heap.hpp"
#include "runtime.hpp"

namespace goro {

namespace detail {

using time_chan = hchan<steady::time_point>;

// The runtime that arms a timer for the caller.
inline runtime& timer_runtime() {
  if (runtime* rt = runtime::of_current()) return *rt;
  auto& rs = runtimes::get();
  std::lock_guard<std::mutex> g(rs.mu);
  return *rs.for_plain_thread();
}

inline std::int64_t deadline_ns(std::chrono::nanoseconds d) {
  steady::time_point now = steady::now();
  if (d.count() <= 0) return to_ns(now);
  std::int64_t base = to_ns(now);
  if (d.count() > INT64_MAX - base) return INT64_MAX;  // saturate: "never", not overflow
  return base + d.count();
}

// With n->lock held: invalidates the current arming and takes n out of its heap. Returns
// true when it removed a heap entry (whose reference the caller must drop).
inline bool disarm_locked(timer_node* n) noexcept {
  ++n->gen;
  bool removed = n->owner != nullptr && n->owner->remove(n);
  n->owner = nullptr;
  return removed;
}
inline bool disarm(timer_node* n) noexcept {
  n->lock.lock();
  bool removed = disarm_locked(n);
  n->lock.unlock();
  return removed;
}

// A timer node and its capacity-1 channel in one allocation.
// References on the node: one while the channel lives, one per heap entry or fire in progress.
struct chan_timer {
  timer_node node;
  alignas(time_chan::alignment()) unsigned char chan_mem[time_chan::bytes_for(1)];

  time_chan* chan() noexcept { return std::launder(reinterpret_cast<time_chan*>(chan_mem)); }

  static chan_timer* make(std::chrono::nanoseconds period) {
    auto* t = new chan_timer;
    t->node.shared = true;
    t->node.period = period;
    t->node.fire = [](timer_node* n, steady::time_point now) {
      // Drop the value if the previous one was not received yet (Go: capacity 1).
      steady::time_point v = now;
      from_node(n)->chan()->try_send(v);
    };
    t->node.destroy = [](timer_node* n) {
      live_timer_count().fetch_sub(1, std::memory_order_relaxed);
      delete from_node(n);
    };
    time_chan::make_at(t->chan_mem, 1, &on_chan_released);
    live_timer_count().fetch_add(1, std::memory_order_relaxed);
    return t;
  }

  static chan_timer* from_node(timer_node* n) noexcept { return reinterpret_cast<chan_timer*>(n); }
  static chan_timer* from_chan(time_chan* c) noexcept {
    return reinterpret_cast<chan_timer*>(reinterpret_cast<unsigned char*>(c) -
                                         offsetof(chan_timer, chan_mem));
  }

  // The last handle to the channel is gone: nobody can receive, so the timer is cancelled.
  static void on_chan_released(time_chan* c) {
    chan_timer* t = from_chan(c);
    bool was_armed = disarm(&t->node);
    c->destroy_in_place();
    if (was_armed) t->node.release();  // the heap entry's reference
    t->node.release();                 // the channel's reference
  }
};
static_assert(std::is_standard_layout_v<chan_timer>, "chan_timer: node must be at offset 0");

// stop()/reset() of timer and ticker. Returns whether the timer was active: pending, or
// fired with its value not yet received (that value is discarded: Go 1.23).
//
// A reset to a deadline no earlier than the pending one leaves the heap entry where it is and
// only moves n->when_ns (Go's "modified later"): the firer, finding the entry early, pushes
// it again at when_ns (fire_entry). The heap key then stays <= the deadline, so a sleeping
// worker wakes early at worst, and no value can come before the new deadline. A keep-alive
// timer reset on every message thus costs no heap operation.
inline bool stop_and_rearm(timer_node* n, time_chan* c, std::int64_t when_ns, bool rearm) {
  runtime* rt = rearm ? &timer_runtime() : nullptr;  // may throw or lock: before n->lock
  n->lock.lock();
  // Pending: armed and not fired, even when a firer has popped the entry and waits for the
  // lock (remove() then finds nothing, yet the timer has not fired: Go 1.23 says pending).
  const bool pending = n->owner != nullptr;
  if (rearm && pending && when_ns >= n->when_ns && rt->owns_heap(n->owner)) {
    if (c != nullptr) (void)c->try_recv();  // a ticker's unreceived tick: discarded
    n->when_ns = when_ns;
    n->lock.unlock();
    return true;
  }
  bool removed = disarm_locked(n);
  bool drained = c != nullptr && c->try_recv().has_value();
  bool was_active = pending || drained;
  if (rearm) {
    try {
      if (!removed) n->retain();  // the new heap entry's reference
      rt->add_timer(n, when_ns, n->gen);
      removed = false;  // its reference moved to the new entry
    } catch (...) {
      n->lock.unlock();
      if (removed) n->release();
      throw;
    }
  }
  n->lock.unlock();
  if (removed) n->release();
  return was_active;
}

inline void arm_new(timer_node* n, std::chrono::nanoseconds d) {
  n->retain();  // the heap entry
  n->lock.lock();
  try {
    timer_runtime().add_timer(n, deadline_ns(d), n->gen);
  } catch (...) {
    n->lock.unlock();
    n->release();
    throw;
  }
  n->lock.unlock();
}

template <class F>
struct func_timer {
  timer_node node;
  F fn;
  runtime* rt;

  static timer_node* make(F&& f) {
    auto* t = new func_timer{timer_node{}, std::move(f), nullptr};
    t->node.shared = true;
    t->node.fire = [](timer_node* n, steady::time_point) {
      auto* self = reinterpret_cast<func_timer*>(n);
      n->retain();  // the fiber's
      try {
        timer_runtime().spawn([self] {
          struct drop {
            timer_node* n;
            ~drop() { n->release(); }
          } d{&self->node};
          self->fn();
        });
      } catch (...) {
        fatal("after_func: could not start a fiber (out of memory)");
      }
    };
    t->node.destroy = [](timer_node* n) {
      live_timer_count().fetch_sub(1, std::memory_order_relaxed);
      delete reinterpret_cast<func_timer*>(n);
    };
    live_timer_count().fetch_add(1, std::memory_order_relaxed);
    return &t->node;
  }
};

}  // namespace detail

inline void sleep_until(std::chrono::steady_clock::time_point t) {
  detail::fiber* f = detail::current_fiber();
  if (f == nullptr) {
    std::this_thread::sleep_until(t);
    return;
  }
  if (t <= std::chrono::steady_clock::now()) return;
  struct sleeper : detail::timer_node {
    const detail::waker* w = nullptr;
    detail::runtime* rt = nullptr;
  } node;
  node.fire = [](detail::timer_node* n, detail::steady::time_point) {
    static_cast<sleeper*>(n)->w->wake();  // the fiber may return from here on
  };
  detail::waker w;
  node.w = &w;
  node.rt = f->rt;
  node.when_ns = detail::to_ns(t);
  // Armed by park's unlock hook, once this fiber is off its stack: an early firing cannot
  // resume a fiber that is still running.
  w.block(
      [](void* a) {
        auto* s = static_cast<sleeper*>(a);
        s->rt->add_timer(s, s->when_ns, 0);
      },
      &node, detail::wait_reason::sleep);
}

inline void sleep_for(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return;
  sleep_until(std::chrono::steady_clock::now() + d);
}

namespace detail {

// What timer and ticker share: the node, its channel (null for after_func timers; we hold
// one reference), moves, c(), and cancel-on-destruction.
class timer_handle {
 public:
  timer_handle(timer_handle&& o) noexcept
      : node_(std::exchange(o.node_, nullptr)), chan_(std::exchange(o.chan_, nullptr)) {}
  timer_handle& operator=(timer_handle&& o) noexcept {
    if (this != &o) {
      drop();
      node_ = std::exchange(o.node_, nullptr);
      chan_ = std::exchange(o.chan_, nullptr);
    }
    return *this;
  }
  timer_handle(const timer_handle&) = delete;
  timer_handle& operator=(const timer_handle&) = delete;
  ~timer_handle() { drop(); }

  // The timer's channel (nil for a timer made by after_func).
  recv_chan<std::chrono::steady_clock::time_point> c() const {
    if (chan_ == nullptr) return {};
    chan_->retain();
    return recv_chan<std::chrono::steady_clock::time_point>(adopt_ref, chan_);
  }

 protected:
  timer_handle() = default;

  // A channel timer that first fires after `first`, then every `period` (> 0) if any.
  void make_chan_timer(std::chrono::nanoseconds period, std::chrono::nanoseconds first) {
    chan_timer* t = chan_timer::make(period);
    node_ = &t->node;
    chan_ = t->chan();  // we hold the channel's initial reference
    try {
      arm_new(node_, first);
    } catch (...) {
      chan_->release();
      node_ = nullptr;
      chan_ = nullptr;
      throw;
    }
  }

  timer_node* live_node(const char* what) const {
    if (node_ == nullptr) throw std::logic_error(std::string(what) + " on a moved-from object");
    return node_;
  }

  void drop() noexcept {
    if (node_ == nullptr) return;
    if (disarm(node_)) node_->release();
    if (chan_ != nullptr) {
      chan_->release();  // the channel (and with it the node) goes when its last handle does
    } else {
      node_->release();
    }
    node_ = nullptr;
    chan_ = nullptr;
  }

  timer_node* node_ = nullptr;
  time_chan* chan_ = nullptr;
};

}  // namespace detail

class timer : public detail::timer_handle {
 public:
  // time.NewTimer(d): the channel receives the firing time once d has passed.
  explicit timer(std::chrono::nanoseconds d) { make_chan_timer(std::chrono::nanoseconds(0), d); }

  // Cancels the timer. True if it was active: pending, or fired with an unreceived value
  // (which is discarded). After stop() returns, c() receives nothing until a reset().
  bool stop() {
    if (node_ == nullptr) return false;
    return detail::stop_and_rearm(node_, chan_, 0, false);
  }
  // Re-arms the timer to fire d from now; returns what stop() would have returned.
  bool reset(std::chrono::nanoseconds d) {
    return detail::stop_and_rearm(live_node("goro::timer::reset"), chan_, detail::deadline_ns(d), true);
  }

 private:
  template <class F>
  friend timer after_func(std::chrono::nanoseconds d, F&& f);
  timer() = default;
};

class ticker : public detail::timer_handle {
 public:
  // time.NewTicker(d): the channel receives the time every d; d must be positive.
  explicit ticker(std::chrono::nanoseconds d) {
    check(d);
    make_chan_timer(d, d);
  }

  // Stops the ticks; no tick from before stop() is received afterwards.
  void stop() {
    if (node_ != nullptr) detail::stop_and_rearm(node_, chan_, 0, false);
  }
  // Restarts the ticks with period d from now.
  void reset(std::chrono::nanoseconds d) {
    check(d);
    detail::timer_node* n = live_node("goro::ticker::reset");
    n->lock.lock();
    n->period = d;
    n->lock.unlock();
    detail::stop_and_rearm(n, chan_, detail::deadline_ns(d), true);
  }

 private:
  static void check(std::chrono::nanoseconds d) {
    if (d.count() <= 0) throw std::invalid_argument("non-positive interval for goro::ticker");
  }
};

// time.After(d): the timer lives until it fires or until the last handle to the channel is gone.
inline recv_chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d) {
  detail::chan_timer* t = detail::chan_timer::make(std::chrono::nanoseconds(0));
  recv_chan<std::chrono::steady_clock::time_point> c(detail::adopt_ref, t->chan());
  detail::arm_new(&t->node, d);
  return c;
}

// time.Tick(d): a ticker's channel; the ticker lives until the last handle is gone. Like Go,
// a non-positive d gives a nil channel.
inline recv_chan<std::chrono::steady_clock::time_point> tick(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return {};
  detail::chan_timer* t = detail::chan_timer::make(d);
  recv_chan<std::chrono::steady_clock::time_point> c(detail::adopt_ref, t->chan());
  detail::arm_new(&t->node, d);
  return c;
}

// time.AfterFunc(d, f): runs f in a new fiber once d has passed, unless the returned timer
// is stopped or destroyed first (API.md: destruction cancels a timer; keep the handle).
// Each firing (after a reset) runs f in a fiber of its own.
template <class F>
timer after_func(std::chrono::nanoseconds d, F&& f) {
  static_assert(std::is_invocable_v<std::decay_t<F>&>,
                "goro::after_func: f must be callable with no arguments");
  timer t;
  t.node_ = detail::func_timer<std::decay_t<F>>::make(std::decay_t<F>(std::forward<F>(f)));
  detail::arm_new(t.node_, d);
  return t;
}

}  // namespace goro
