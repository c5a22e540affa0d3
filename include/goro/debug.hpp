// goro/debug.hpp: looking inside a running program (docs/debugging.md).
//
//   goro::dump(std::cerr);              // every live fiber: id, state, wait reason, how long, where started
//   for (auto& f : goro::fibers()) ...  // the same as data
//   goro::runtime_stats s = goro::stats();   // counters a service can export
//   { goro::leak_check lc; ... }        // throws if fibers started in the scope outlive it
//
// Which runtime: a fiber's own; from a plain thread, the innermost run() in progress, else
// the default runtime (as num_fibers()). With none, the lists are empty and stats zero.
//
// Cost: nothing on the hot paths beyond what the scheduler always keeps (relaxed counters per
// processor, a fiber's state and wait reason, three constants naming its spawn site). A dump
// walks the fibers' stack slots without stopping anything: a snapshot, exact when nothing
// moves (a deadlock report), approximate while fibers run. Waiting times come from a coarse
// clock refreshed every 16 switches of the fiber's processor, so they can be too long by the
// time that processor ran without switching.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime.hpp"
#include "time.hpp"

namespace goro {

struct fiber_info {
  std::uint64_t id = 0;
  std::string state;        // "runnable", "running" or "waiting"
  std::string wait_reason;  // "chan receive", "select", "sleep", "mutex", ...; empty unless waiting
  std::chrono::nanoseconds waiting{0};  // how long it has waited (coarse), 0 unless waiting
  std::string file, function;           // where go() was called; empty for go(f, args...)
  unsigned line = 0;
};

struct runtime_stats {
  unsigned procs = 0;                // processors (worker threads) of the runtime
  unsigned idle_procs = 0;           // of which asleep right now
  std::size_t fibers_live = 0;       // num_fibers()
  std::uint64_t fibers_spawned = 0;  // since the runtime started
  std::uint64_t parks = 0;           // fibers parked on a goro primitive
  std::uint64_t switches = 0;        // context switches
  std::uint64_t steals = 0;          // successful steals from another processor's queue
  std::size_t timers_live = 0;       // timers pending in the runtime's heaps
  int threads_blocked = 0;           // plain threads blocked in goro operations (whole process)
};

namespace detail {

// Calls fn(runtime*) for the caller's runtime (see above), or fn(nullptr) when there is none,
// keeping it alive meanwhile.
template <class Fn>
decltype(auto) with_caller_runtime(Fn&& fn) {
  if (runtime* rt = runtime::of_current()) return fn(rt);
  auto& rs = runtimes::get();
  std::lock_guard<std::mutex> g(rs.mu);
  runtime* rt = !rs.active.empty() ? rs.active.back() : rs.fallback;
  return fn(rt);
}

inline std::vector<fiber_info> fibers_of(const runtime* rt) {
  std::vector<fiber_info> out;
  if (rt == nullptr) return out;
  for (const fiber_snapshot& r : rt->snapshot_fibers()) {
    fiber_info i;
    i.id = r.id;
    i.state = to_string(r.state);
    if (r.state == fiber_state::waiting) i.wait_reason = to_string(r.reason);
    i.waiting = std::chrono::nanoseconds(r.waited_ns);
    if (r.file != nullptr) i.file = r.file;
    if (r.function != nullptr) i.function = r.function;
    i.line = r.line;
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace detail

// Every live fiber of the caller's runtime, by id (the caller included, as "running").
inline std::vector<fiber_info> fibers() {
  return detail::with_caller_runtime([](detail::runtime* rt) { return detail::fibers_of(rt); });
}

// Writes a Go-style dump of every live fiber of the caller's runtime.
inline void dump(std::ostream& os) {
  std::string text = detail::with_caller_runtime([](detail::runtime* rt) -> std::string {
    if (rt == nullptr) return "goro: no runtime\n";
    return "goro: " + std::to_string(rt->num_fibers()) + " live fiber(s), " + std::to_string(rt->procs()) +
           " procs\n\n" + rt->dump_text();
  });
  os << text;
}

inline runtime_stats stats() {
  runtime_stats s = detail::with_caller_runtime([](detail::runtime* rt) {
    runtime_stats r;
    if (rt == nullptr) return r;
    detail::runtime_counters c = rt->counters();
    r.procs = c.procs;
    r.idle_procs = c.idle_procs;
    r.fibers_live = c.live;
    r.fibers_spawned = c.spawned;
    r.parks = c.parks;
    r.switches = c.switches;
    r.steals = c.steals;
    r.timers_live = c.timers;
    return r;
  });
  s.threads_blocked = detail::thread_census::get().blocked.load(std::memory_order_relaxed);
  return s;
}

// Thrown by leak_check: names every fiber that outlived the scope.
class fiber_leak_error : public std::runtime_error {
 public:
  fiber_leak_error(const std::string& what, std::vector<fiber_info> leaked)
      : std::runtime_error(what), leaked_(std::move(leaked)) {}
  const std::vector<fiber_info>& leaked() const noexcept { return leaked_; }

 private:
  std::vector<fiber_info> leaked_;
};

// Go's goleak for a scope: fibers of the caller's runtime that were not alive at construction
// must be gone at the end. verify() waits up to `grace` for them (a fiber that was just
// cancelled needs a moment to return), then throws fiber_leak_error listing each one with its
// state and spawn site. The destructor verifies too (with one second of grace) unless verify()
// ran or an exception is already in flight; it throws, so declare the checker where a throw
// is welcome (a test body).
class leak_check {
 public:
  leak_check() {
    for (const fiber_info& f : fibers()) baseline_.push_back(f.id);
    std::sort(baseline_.begin(), baseline_.end());
  }
  leak_check(const leak_check&) = delete;
  leak_check& operator=(const leak_check&) = delete;

  ~leak_check() noexcept(false) {
    if (!verified_ && std::uncaught_exceptions() == uncaught_) verify();
  }

  // Fibers started since construction that are still alive now (no waiting).
  std::vector<fiber_info> leaked() const {
    std::vector<fiber_info> out;
    for (fiber_info& f : fibers()) {
      if (!std::binary_search(baseline_.begin(), baseline_.end(), f.id)) out.push_back(std::move(f));
    }
    return out;
  }

  void verify(std::chrono::nanoseconds grace = std::chrono::seconds(1)) {
    verified_ = true;
    const auto until = std::chrono::steady_clock::now() + grace;
    auto pause = std::chrono::microseconds(100);
    std::vector<fiber_info> left = leaked();
    while (!left.empty() && std::chrono::steady_clock::now() < until) {
      if (in_fiber()) {
        goro::sleep_for(pause);
      } else {
        std::this_thread::sleep_for(pause);
      }
      if (pause < std::chrono::milliseconds(10)) pause *= 2;
      left = leaked();
    }
    if (left.empty()) return;
    std::string msg = "goro::leak_check: " + std::to_string(left.size()) + " fiber(s) outlived the scope:";
    for (const fiber_info& f : left) {
      msg += "\n  fiber " + std::to_string(f.id) + " [" + (f.wait_reason.empty() ? f.state : f.wait_reason) +
             "]";
      if (!f.file.empty())
        msg += " started by " + f.function + " at " + f.file + ":" + std::to_string(f.line);
    }
    throw fiber_leak_error(msg, std::move(left));
  }

 private:
  std::vector<std::uint64_t> baseline_;
  int uncaught_ = std::uncaught_exceptions();
  bool verified_ = false;
};

}  // namespace goro
