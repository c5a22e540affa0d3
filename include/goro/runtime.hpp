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

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
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

  std::vector<runtime*> kept;  // stopped runtimes whose fibers did not all finish

  // Never destroyed: kept runtimes must stay reachable until the very end of the process
  // (leak checkers scan after static destructors ran). The default runtime is stopped by
  // an exit handler instead.
  static runtimes& get() {
    static runtimes* r = [] {
      auto* made = new runtimes;
      std::atexit([] { get().at_exit(); });
      return made;
    }();
    return *r;
  }

  // Process exit: stop the default runtime. A worker stuck in a fiber that never yields gets
  // a second, then the runtime is kept (leaked) deliberately instead of hanging the exit.
  void at_exit() {
    runtime* rt = nullptr;
    {
      std::lock_guard<std::mutex> g(mu);
      rt = std::exchange(fallback, nullptr);
    }
    if (rt == nullptr) return;
    if (rt->shutdown(std::chrono::seconds(1))) {
      retire(rt);
    } else {
      std::lock_guard<std::mutex> g(mu);
      kept.push_back(rt);
    }
  }

  // Frees a stopped runtime, unless fibers of it are still alive (parked forever): then
  // their stacks and the runtime stay, so that a channel they were parked on can still be
  // used safely (a wake-up of such a fiber goes nowhere). Deliberate, bounded by what the
  // program abandoned; docs/scheduler.md.
  void retire(runtime* rt) {
    if (rt->num_fibers() == 0) {
      delete rt;
      return;
    }
    std::lock_guard<std::mutex> g(mu);
    kept.push_back(rt);
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

// A dump of every runtime of the process (run() calls in progress, the default runtime).
inline std::string dump_all_runtimes() {
  auto& rs = runtimes::get();
  std::lock_guard<std::mutex> g(rs.mu);
  std::string out;
  auto one = [&out](runtime* rt, const char* what) {
    out += "goro: " + std::string(what) + ": " + std::to_string(rt->num_fibers()) + " live fiber(s), " +
           std::to_string(rt->procs()) + " procs\n\n" + rt->dump_text();
  };
  for (runtime* rt : rs.active) one(rt, "run()");
  if (rs.fallback != nullptr) one(rs.fallback, "default runtime");
  return out;
}

// options::dump_on_sigquit. The handler only writes a byte to a pipe (async-signal-safe); a
// service thread reads it and writes the dump, so the dump itself may lock and allocate. The
// thread is counted as goro's own in the deadlock census. Installed once, never removed; a handler
// the program had installed before still runs after ours.
class sigquit_dumper {
 public:
  static void install() {
    static std::once_flag once;
    std::call_once(once, [] {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "goro::options::dump_on_sigquit: pipe2");
      fcntl(fds[1], F_SETFL, O_NONBLOCK);  // a flood of signals must not block the handler
      write_fd().store(fds[1], std::memory_order_release);
      std::thread([rfd = fds[0]] {
        thread_census::get().helpers.fetch_add(1, std::memory_order_seq_cst);  // once it exists
        for (;;) {
          char c;
          ssize_t n = read(rfd, &c, 1);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return;
          std::string text = "goro: SIGQUIT: every live fiber\n\n" + dump_all_runtimes();
          std::fwrite(text.data(), 1, text.size(), stderr);
          std::fflush(stderr);
        }
      }).detach();
      struct sigaction sa {};
      sa.sa_sigaction = &on_sigquit;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART | SA_SIGINFO;
      sigaction(SIGQUIT, &sa, &previous());
    });
  }

 private:
  static std::atomic<int>& write_fd() noexcept {
    static std::atomic<int> fd{-1};
    return fd;
  }
  // The handler that was installed before ours; written once before ours is installed.
  static struct sigaction& previous() noexcept {
    static struct sigaction old {};
    return old;
  }
  // Chains to a handler the program installed before (not to the default action, which would
  // end the process the dump is meant to leave running).
  static void on_sigquit(int sig, siginfo_t* info, void* uctx) noexcept {
    int saved = errno;
    char c = 'q';
    ssize_t w = write(write_fd().load(std::memory_order_acquire), &c, 1);
    (void)w;
    errno = saved;
    const struct sigaction& old = previous();
    if ((old.sa_flags & SA_SIGINFO) != 0) {
      if (old.sa_sigaction != nullptr) old.sa_sigaction(sig, info, uctx);
    } else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler != nullptr) {
      old.sa_handler(sig);
    }
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

namespace detail {

// Spawns callable t into the caller's runtime (see above), recording where it was started.
template <class T>
void spawn_task(T&& t, spawn_site site) {
  if (runtime* rt = runtime::of_current()) {
    rt->spawn(std::forward<T>(t), site);
    return;
  }
  auto& rs = runtimes::get();
  std::lock_guard<std::mutex> g(rs.mu);  // keeps the chosen runtime alive while we spawn
  rs.for_plain_thread()->spawn(std::forward<T>(t), site);
}

}  // namespace detail

// go(f): the call site (file, function, line) is recorded for fiber dumps, at no run-time
// cost (three constants passed along). go(f, args...) cannot record it (a default argument
// cannot follow a pack); its fibers show up in dumps without a place.
template <class F>
void go(F&& f, detail::spawn_site site = detail::spawn_site::here()) {
  static_assert(std::is_invocable_v<std::decay_t<F>>,
                "goro::go: the function cannot be called without arguments (pass them after it)");
  detail::spawn_task(detail::task<std::decay_t<F>>{std::forward<F>(f), {}}, site);
}

template <class F, class A0, class... A>
requires(!std::is_same_v<std::decay_t<A0>, detail::spawn_site> || sizeof...(A) > 0) void go(F&& f, A0&& a0,
                                                                                            A&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<A0>, std::decay_t<A>...>,
                "goro::go: the function cannot be called with these arguments (they are decay-copied and "
                "passed as rvalues, as std::thread does)");
  detail::spawn_task(
      detail::task<std::decay_t<F>, std::decay_t<A0>, std::decay_t<A>...>{
          std::forward<F>(f), {std::forward<A0>(a0), std::forward<A>(args)...}},
      detail::spawn_site{});
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
int run(F&& main_fiber, options opts = {}, detail::spawn_site site = detail::spawn_site::here()) {
  using R = std::invoke_result_t<F&>;
  static_assert(std::is_void_v<R> || std::is_convertible_v<R, int>,
                "goro::run: the main fiber must return void or int");
  if (in_fiber())
    throw std::logic_error("goro::run: called from inside a fiber; a fiber cannot start a runtime");
  if (opts.dump_on_sigquit) detail::sigquit_dumper::install();
  auto& rs = detail::runtimes::get();
  auto* rtp = new detail::runtime(opts);
  {
    std::lock_guard<std::mutex> g(rs.mu);
    rs.active.push_back(rtp);
  }
  struct unregister {
    detail::runtimes& rs;
    detail::runtime* rt;
    ~unregister() {
      {
        std::lock_guard<std::mutex> g(rs.mu);
        rs.active.erase(std::find(rs.active.begin(), rs.active.end(), rt));
      }
      rt->shutdown(std::chrono::hours(24 * 365));
      rs.retire(rt);
    }
  } unreg{rs, rtp};
  detail::runtime& rt = *rtp;

  int result = 0;
  std::atomic<bool> done{false};
  detail::thread_parker* parker = &detail::this_thread_parker();
  // The deadlock census counts this thread while it waits below; the main fiber uncounts it
  // before waking it (the waker uncounts, see census.hpp). Before the count the thread is one
  // the detector does not know, which only keeps the detector silent.
  detail::thread_census& census = detail::thread_census::get();
  rt.spawn(
      [&main_fiber, &result, &done, parker, rtp, &census] {
        if constexpr (std::is_void_v<R>) {
          (void)result;
          main_fiber();
        } else {
          result = static_cast<int>(main_fiber());
        }
        rtp->begin_stop();  // no other fiber starts or resumes from now on
        census.run_callers.fetch_sub(1, std::memory_order_seq_cst);
        census.bump();
        done.store(true, std::memory_order_release);  // run() may return from here on
        parker->unpark();                             // the thread's parker outlives run()
      },
      site);
  rt.start();
  census.run_callers.fetch_add(1, std::memory_order_seq_cst);
  census.bump();
  while (!done.load(std::memory_order_acquire)) parker->park();
  return result;  // unreg stops the runtime and frees (or keeps) it
}

}  // namespace goro
