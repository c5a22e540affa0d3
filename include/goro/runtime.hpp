// goro/runtime.hpp: starting fibers and running the scheduler (API.md, Runtime).
//
//   int run(main_fiber, options)   runs main_fiber as a fiber on a fresh runtime and
//                                  returns when it returns (Go: main returning ends the program)
//   void go(f, args...)            spawn a fiber (Go: go f(args...))
//   void yield()                   runtime.Gosched
//   unsigned procs()               runtime.GOMAXPROCS(0)
//   std::size_t num_fibers()       runtime.NumGoroutine
//   bool in_fiber()                true inside a goro fiber
//
// Which runtime: a fiber spawns into its own runtime. A plain thread spawns into the
// innermost run() in progress, else into a process-wide default runtime started on first
// use with default options and stopped at process exit. When the main fiber returns, no
// other fiber starts or resumes; fibers running on other processors at that instant run
// to their next switch point. Their stacks are released when run() returns, without
// unwinding them (docs/scheduler.md).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/park.hpp"
#include "detail/sched.hpp"

namespace goro {

namespace detail {

// Process-wide bookkeeping of runtimes that plain threads may spawn into.
struct runtimes {
  std::mutex mu;
  std::vector<runtime*> active;  // run() calls in progress, innermost last
  runtime* fallback = nullptr;   // the default runtime, created on first use

  static runtimes& get() {
    static runtimes r;
    return r;
  }
  ~runtimes() {
    // Process exit: stop the default runtime. A worker stuck in a fiber that never yields
    // gets a second, then the runtime is leaked deliberately instead of hanging exit.
    if (fallback != nullptr && fallback->shutdown(std::chrono::seconds(1))) delete fallback;
  }

  // The runtime a plain thread uses; call with mu held.
  runtime* for_plain_thread() {
    if (!active.empty()) return active.back();
    if (fallback == nullptr) {
      fallback = new runtime(options{});
      fallback->start();
    }
    return fallback;
  }
};

template <class F, class... A>
struct task {
  F fn;
  std::tuple<A...> args;
  void operator()() {
    std::apply([this](A&... a) { std::invoke(std::move(fn), std::move(a)...); }, args);
  }
};

}  // namespace detail

inline bool in_fiber() noexcept {
  return detail::current_fiber() != nullptr;
}

template <class F, class... A>
void go(F&& f, A&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>,
                "goro::go: the function cannot be called with these arguments (they are decay-copied and "
                "passed as rvalues, as std::thread does)");
  detail::task<std::decay_t<F>, std::decay_t<A>...> t{std::forward<F>(f), {std::forward<A>(args)...}};
  if (detail::runtime* rt = detail::runtime::of_current()) {
    rt->spawn(std::move(t));
    return;
  }
  auto& rs = detail::runtimes::get();
  std::lock_guard<std::mutex> g(rs.mu);  // keeps the chosen runtime alive while we spawn
  rs.for_plain_thread()->spawn(std::move(t));
}

inline void yield() {
  if (detail::fiber* f = detail::current_fiber()) {
    f->rt->yield_fiber(f);
  } else {
    std::this_thread::yield();
  }
}

inline unsigned procs() {
  if (detail::runtime* rt = detail::runtime::of_current()) return rt->procs();
  auto& rs = detail::runtimes::get();
  std::lock_guard<std::mutex> g(rs.mu);
  if (!rs.active.empty()) return rs.active.back()->procs();
  if (rs.fallback != nullptr) return rs.fallback->procs();
  return detail::default_procs();
}

inline std::size_t num_fibers() {
  if (detail::runtime* rt = detail::runtime::of_current()) return rt->num_fibers();
  auto& rs = detail::runtimes::get();
  std::lock_guard<std::mutex> g(rs.mu);
  if (!rs.active.empty()) return rs.active.back()->num_fibers();
  if (rs.fallback != nullptr) return rs.fallback->num_fibers();
  return 0;
}

template <class F>
int run(F&& main_fiber, options opts = {}) {
  using R = std::invoke_result_t<F&>;
  static_assert(std::is_void_v<R> || std::is_convertible_v<R, int>,
                "goro::run: the main fiber must return void or int");
  if (in_fiber())
    throw std::logic_error("goro::run: called from inside a fiber; a fiber cannot start a runtime");
  detail::runtime rt(opts);
  auto& rs = detail::runtimes::get();
  {
    std::lock_guard<std::mutex> g(rs.mu);
    rs.active.push_back(&rt);
  }
  struct unregister {
    detail::runtimes& rs;
    detail::runtime* rt;
    ~unregister() {
      std::lock_guard<std::mutex> g(rs.mu);
      rs.active.erase(std::find(rs.active.begin(), rs.active.end(), rt));
    }
  } unreg{rs, &rt};

  int result = 0;
  std::atomic<bool> done{false};
  detail::thread_parker* parker = &detail::this_thread_parker();
  detail::runtime* rtp = &rt;
  rt.spawn([&main_fiber, &result, &done, parker, rtp] {
    if constexpr (std::is_void_v<R>) {
      (void)result;
      main_fiber();
    } else {
      result = static_cast<int>(main_fiber());
    }
    rtp->begin_stop();                            // no other fiber starts or resumes from now on
    done.store(true, std::memory_order_release);  // run() may return from here on
    parker->unpark();                             // the thread's parker outlives run()
  });
  rt.start();
  while (!done.load(std::memory_order_acquire)) parker->park();
  rt.shutdown(std::chrono::hours(24 * 365));
  return result;
}

}  // namespace goro
