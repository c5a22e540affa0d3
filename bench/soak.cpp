// bench/soak.cpp: goro_soak, a long-running mixed workload that watches for leaks and stalls.
//
//   goro_soak [--duration SECONDS] [--procs N] [--only WORKLOAD,...]
//
// Defaults: 30 s, the runtime's default procs, every workload. --only runs some of them (to
// find which one leaks or stalls): pipeline, timers, spawn, mutex, context, thread, ticker.
//
// Runs, under goro::run, until the duration has passed:
//   pipeline  generator -> 4 workers -> merge -> sink over unbuffered and buffered channels;
//             the sink checks the count and the sum of what the generator sent
//   timers    select with case_recv(after(1h)) in a loop on a ready channel (time.After in
//             a loop: must leak no timer), select with short timeouts that fire, a timer
//             that is reset and stopped
//   spawn     short-lived fibers through wait_group::go, batch after batch
//   mutex     goro::mutex and goro::rw_mutex contention, checking their invariants
//   context   context trees (depth 5, fan-out 4, with_cancel and with_timeout) with fibers
//             waiting on leaves; cancelled by their root or by the root's deadline
//   thread    a plain std::thread exchanging values with fibers over channels
//   ticker    a ticker whose ticks must never go backwards
// then cancels the root context and joins every workload (errgroup, wait_group).
//
// A plain monitor thread prints one line per second:
//   t=12s rss=8.4MB heap=0.52MB fibers=123 timers=4 ops=1234567
// (rss from /proc/self/statm; fibers and timers from goro::stats(); ops completed during
// that second, all workloads together). At the end it prints a verdict, exit status 1 for:
//   STALL       a second with no operation at all, a workload without progress for 5 s in a
//               row, or a shutdown that does not complete within 30 s
//   RSS GROWTH  RSS at the end above RSS at the end of the warm-up (a quarter of the
//               duration, at least 5 s) by more than max(20%, 8 MB)
//   TIMER LEAK  more than 1000 live timers at the end
//   FAIL        a workload saw a wrong value, or fibers or timers outlived the shutdown
// else "soak: ok (flat memory, no stall)" and status 0.
//
// CPU use is bounded: every workload does a batch of operations, then sleeps (about half a
// core in a Debug build on a 2-CPU machine; the summary prints the CPU time used).
#include <goro/goro.hpp>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

enum workload : int { w_pipeline, w_timers, w_spawn, w_mutex, w_context, w_thread, w_ticker, w_count };
constexpr std::array<const char*, w_count> workload_names{"pipeline", "timers", "spawn", "mutex",
                                                          "context",  "thread", "ticker"};

// Pacing: each workload sleeps this long between batches (bounds the CPU use).
constexpr auto pause = 5ms;

// Shared by the workloads, the monitor thread and main().
struct soak_state {
  std::array<std::atomic<std::uint64_t>, w_count> ops{};
  std::mutex msg_mu;  // plain std::mutex: held only to append a message, never across a goro call
  std::vector<std::string> failures;

  void op(workload w, std::uint64_t n = 1) noexcept { ops[w].fetch_add(n, std::memory_order_relaxed); }
  void fail(const std::string& what) {
    std::lock_guard<std::mutex> g(msg_mu);
    if (failures.size() < 50) failures.push_back(what);
  }
  std::uint64_t total_ops() const noexcept {
    std::uint64_t t = 0;
    for (const auto& o : ops) t += o.load(std::memory_order_relaxed);
    return t;
  }
};

struct sample {
  int t = 0;  // seconds since the start
  double rss_mb = 0;
  double heap_mb = 0;  // malloc'd and not freed (glibc), to tell a leak from fragmentation
  std::size_t fibers = 0;
  std::size_t timers = 0;
  std::uint64_t ops = 0;  // during this second
  std::array<std::uint64_t, w_count> per{};
};

double rss_mb() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double heap_mb() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
#else
  return 0;
#endif
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::string errc_name(std::error_code ec) {
  return ec ? ec.message() : std::string("no error");
}

// ---- (1) pipeline: generator -> 4 workers -> merge -> sink -------------------------------------
void pipeline(const goro::context& ctx, soak_state& st) {
  constexpr int batch = 64;
  auto src = goro::make_chan<std::uint64_t>();  // unbuffered; the 4 workers share it
  std::array<goro::chan<std::uint64_t>, 4> outs{
      goro::make_chan<std::uint64_t>(), goro::make_chan<std::uint64_t>(16), goro::make_chan<std::uint64_t>(),
      goro::make_chan<std::uint64_t>(16)};
  auto merged = goro::make_chan<std::uint64_t>(64);
  std::uint64_t sent_n = 0, sent_sum = 0, got_n = 0, got_sum = 0;
  goro::wait_group wg, forwarders;

  wg.go([&] {  // generator: the only stage that watches ctx; closing src stops the rest
    auto done = ctx.done();
    std::uint64_t i = 0;
    for (bool stop = false; !stop;) {
      for (int k = 0; k < batch && !stop; ++k) {
        ++i;
        goro::select(goro::case_send(src, i,
                                     [&] {
                                       ++sent_n;
                                       sent_sum += i;
                                     }),
                     goro::case_recv(done, [&] { stop = true; }));
      }
      if (!stop) goro::sleep_for(pause);
    }
    src.close();
  });
  for (int w = 0; w < 4; ++w) {
    wg.go([&, w] {  // worker: y = 3v + 1
      for (std::uint64_t v : src) outs[w].send(3 * v + 1);
      outs[w].close();
    });
    forwarders.go([&, w] {  // merge: one forwarder per worker
      for (std::uint64_t y : outs[w]) merged.send(y);
    });
  }
  wg.go([&] {  // closes merged once every forwarder is done
    forwarders.wait();
    merged.close();
  });
  wg.go([&] {  // sink
    for (std::uint64_t y : merged) {
      if (y % 3 != 1) st.fail("pipeline: sink got " + std::to_string(y) + ", not a worker's output");
      ++got_n;
      got_sum += (y - 1) / 3;
      st.op(w_pipeline);
    }
  });
  wg.wait();
  if (got_n != sent_n || got_sum != sent_sum) {
    st.fail("pipeline: generator sent " + std::to_string(sent_n) + " values (sum " +
            std::to_string(sent_sum) + "), sink received " + std::to_string(got_n) + " (sum " +
            std::to_string(got_sum) + ")");
  }
}

// ---- (2) select with timers ---------------------------------------------------------------------
void timers(const goro::context& ctx, soak_state& st) {
  goro::wait_group wg;
  // time.After in a loop on a ready channel: every after(1h) must go when its select returns.
  for (int f = 0; f < 2; ++f) {
    wg.go([&] {
      auto done = ctx.done();
      auto ready = goro::make_chan<int>(1);
      for (;;) {
        for (int k = 0; k < 32; ++k) {
          ready.send(k);  // never blocks: the select below empties it
          int got = -1;
          std::size_t i =
              goro::select(goro::case_recv(ready, [&](std::optional<int> v) { got = v.value_or(-2); }),
                           goro::case_recv(goro::after(1h)), goro::case_recv(done));
          if (i == 2) return;
          if (i != 0 || got != k) {
            st.fail("timers: select on a ready channel chose case " + std::to_string(i) + " with value " +
                    std::to_string(got) + ", expected case 0 with " + std::to_string(k));
          }
          st.op(w_timers);
        }
        goro::sleep_for(pause);
      }
    });
  }
  // Short timeouts that fire, on a channel nobody sends on.
  wg.go([&] {
    auto done = ctx.done();
    auto never = goro::make_chan<int>();
    for (;;) {
      auto t0 = steady::now();
      std::size_t i =
          goro::select(goro::case_recv(never), goro::case_recv(goro::after(1ms)), goro::case_recv(done));
      if (i == 2) return;
      if (i == 0) st.fail("timers: received from a channel nobody sends on");
      if (steady::now() - t0 < 1ms) st.fail("timers: after(1ms) fired early");
      st.op(w_timers);
    }
  });
  // A timer reset and stopped over and over.
  wg.go([&] {
    auto done = ctx.done();
    goro::timer t(1h);
    for (;;) {
      if (!t.stop()) st.fail("timers: stop() of a pending 1h timer returned false");
      t.reset(500us);
      std::size_t i = goro::select(goro::case_recv(t.c()), goro::case_recv(done));
      if (i == 1) return;
      if (t.stop()) st.fail("timers: stop() of a fired and received timer returned true");
      t.reset(1h);
      st.op(w_timers);
    }
  });
  wg.wait();
}

// ---- (3) spawn churn ----------------------------------------------------------------------------
void spawn_churn(const goro::context& ctx, soak_state& st) {
  constexpr int batch = 64;
  while (!ctx.err()) {
    std::atomic<int> ran{0};
    {
      goro::wait_group wg;
      for (int k = 0; k < batch; ++k) {
        wg.go([&ran, k] {
          if (k % 4 == 0) goro::yield();
          ran.fetch_add(1, std::memory_order_relaxed);
        });
      }
      wg.wait();
    }
    if (ran.load() != batch)
      st.fail("spawn: wait_group returned after " + std::to_string(ran.load()) + " of 64");
    st.op(w_spawn, batch);
    goro::sleep_for(pause);
  }
}

// ---- (4) mutex and rw_mutex contention ----------------------------------------------------------
void mutexes(const goro::context& ctx, soak_state& st) {
  constexpr int nlockers = 4, nreaders = 3, batch = 25;
  goro::mutex mu;
  std::uint64_t counter = 0;  // guarded by mu
  std::array<std::uint64_t, nlockers> mine{};
  goro::rw_mutex rw;
  std::uint64_t a = 0, b = 0;  // guarded by rw; equal whenever nobody holds it exclusively
  goro::wait_group wg;
  for (int f = 0; f < nlockers; ++f) {
    wg.go([&, f] {
      while (!ctx.err()) {
        for (int k = 0; k < batch; ++k) {
          std::lock_guard<goro::mutex> g(mu);
          std::uint64_t c = counter;
          if (k % 8 == 0) goro::yield();  // others pile up on the lock meanwhile
          counter = c + 1;
          ++mine[f];
        }
        st.op(w_mutex, batch);
        goro::sleep_for(pause);
      }
    });
  }
  wg.go([&] {  // writer
    while (!ctx.err()) {
      for (int k = 0; k < batch; ++k) {
        std::lock_guard<goro::rw_mutex> g(rw);
        ++a;
        if (k % 4 == 0) goro::yield();
        ++b;
      }
      st.op(w_mutex, batch);
      goro::sleep_for(pause);
    }
  });
  for (int r = 0; r < nreaders; ++r) {
    wg.go([&] {
      while (!ctx.err()) {
        for (int k = 0; k < batch; ++k) {
          std::shared_lock<goro::rw_mutex> g(rw);
          std::uint64_t x = a;
          if (k % 4 == 0) goro::yield();
          if (x != b || a != b) st.fail("mutex: a reader saw a writer's half-done update");
        }
        st.op(w_mutex, batch);
        goro::sleep_for(pause);
      }
    });
  }
  wg.wait();
  std::uint64_t sum = 0;
  for (auto m : mine) sum += m;
  if (sum != counter) {
    st.fail("mutex: " + std::to_string(sum) + " increments under the lock, counter is " +
            std::to_string(counter));
  }
}

// ---- (5) context trees --------------------------------------------------------------------------
void context_trees(const goro::context& ctx, soak_state& st) {
  constexpr int depth = 5, fanout = 4, nwaiters = 8;
  std::mt19937 rng(12345);
  for (unsigned iter = 0; !ctx.err(); ++iter) {
    const bool by_deadline = iter % 4 == 3;  // the root's short deadline, not cancel(), ends the tree
    auto [root, cancel_root] = by_deadline ? goro::with_timeout(ctx, 3ms) : goro::with_cancel(ctx);
    std::vector<goro::context> nodes{root};
    std::vector<goro::cancel_func> cancels{cancel_root};
    std::size_t level_begin = 0;
    for (int d = 1; d <= depth; ++d) {
      std::size_t level_end = nodes.size();
      for (std::size_t p = level_begin; p < level_end; ++p) {
        for (int j = 0; j < fanout; ++j) {
          auto [c, cancel] =
              nodes.size() % 5 == 0 ? goro::with_timeout(nodes[p], 1h) : goro::with_cancel(nodes[p]);
          nodes.push_back(std::move(c));
          cancels.push_back(std::move(cancel));
        }
      }
      level_begin = level_end;
    }
    const std::size_t leaves = nodes.size() - level_begin;
    std::atomic<int> woke{0};
    {
      goro::wait_group wg;
      for (int w = 0; w < nwaiters; ++w) {
        goro::context leaf = nodes[level_begin + rng() % leaves];
        wg.go([leaf, &woke, &st] {
          std::size_t i = goro::select(goro::case_recv(leaf.done()), goro::case_recv(goro::after(1h)));
          if (i != 0 || !leaf.err()) st.fail("context: a leaf's waiter woke without its cancellation");
          woke.fetch_add(1, std::memory_order_relaxed);
        });
      }
      goro::yield();
      for (int k = 0; k < 3; ++k) cancels[1 + rng() % (cancels.size() - 1)]();  // a few subtrees first
      if (!by_deadline) cancel_root();
      wg.wait();  // with by_deadline: until the 3 ms deadline (or the shutdown) ends the tree
    }
    if (woke.load() != nwaiters) st.fail("context: not every waiter woke");
    // Cancellation reaches the descendants right after the node, not atomically: a deadline's
    // cascade (in the timer's fiber) or the shutdown's may still be under way.
    auto all_cancelled = [&] {
      return std::all_of(nodes.begin(), nodes.end(), [](const goro::context& n) { return !!n.err(); });
    };
    for (auto until = steady::now() + 2s; !all_cancelled() && steady::now() < until;) goro::sleep_for(100us);
    const bool shutting_down = static_cast<bool>(ctx.err());
    for (const goro::context& n : nodes) {
      std::error_code e = n.err();
      if (e != goro::errc::canceled && e != goro::errc::deadline_exceeded) {
        st.fail("context: 2 s after its tree was cancelled, a node has err() = " + errc_name(e));
        break;
      }
    }
    if (!shutting_down) {
      std::error_code want = by_deadline ? goro::errc::deadline_exceeded : goro::errc::canceled;
      if (root.err() != want) st.fail("context: the root's err() is " + errc_name(root.err()));
    }
    for (auto& c : cancels) c();  // idempotent: releases what is left
    st.op(w_context, nodes.size());
    goro::sleep_for(10 * pause);
  }
}

// ---- (6) a plain thread exchanging values with fibers -------------------------------------------
void thread_exchange(const goro::context& ctx, soak_state& st) {
  auto to_fibers = goro::make_chan<std::uint64_t>();
  auto to_thread = goro::make_chan<std::uint64_t>();
  auto thread_done = goro::make_chan<goro::unit>();
  std::thread th([ctx, to_fibers, to_thread, thread_done, &st] {
    auto done = ctx.done();
    std::uint64_t i = 0;
    for (bool stop = false; !stop;) {
      for (int k = 0; k < 32 && !stop; ++k) {
        ++i;
        if (goro::select(goro::case_send(to_fibers, i), goro::case_recv(done)) == 1) break;
        std::optional<std::uint64_t> back;
        if (goro::select(goro::case_recv(to_thread, [&](std::optional<std::uint64_t> v) { back = v; }),
                         goro::case_recv(done)) == 1)
          break;
        if (back != 2 * i)
          st.fail("thread: sent " + std::to_string(i) + ", got back " + std::to_string(back.value_or(0)));
        st.op(w_thread);
      }
      stop = static_cast<bool>(ctx.err());
      if (!stop) std::this_thread::sleep_for(pause);
    }
    thread_done.close();
  });
  goro::wait_group wg;
  for (int f = 0; f < 2; ++f) {
    wg.go([&] {  // echo: v -> 2v
      auto done = ctx.done();
      for (;;) {
        std::optional<std::uint64_t> v;
        if (goro::select(goro::case_recv(to_fibers, [&](std::optional<std::uint64_t> x) { v = x; }),
                         goro::case_recv(done)) == 1)
          return;
        if (goro::select(goro::case_send(to_thread, 2 * v.value_or(0)), goro::case_recv(done)) == 1) return;
      }
    });
  }
  wg.wait();
  thread_done.recv();  // the thread has left every goro call: join() does not block a worker for long
  th.join();
}

// ---- (7) ticker ---------------------------------------------------------------------------------
void ticks(const goro::context& ctx, soak_state& st) {
  goro::ticker tk(10ms);
  auto c = tk.c();
  auto done = ctx.done();
  steady::time_point last{};
  for (;;) {
    std::optional<steady::time_point> v;
    if (goro::select(goro::case_recv(c, [&](std::optional<steady::time_point> x) { v = x; }),
                     goro::case_recv(done)) == 1)
      break;
    if (!v || *v < last) st.fail("ticker: a tick went backwards in time");
    if (v && *v > steady::now()) st.fail("ticker: a tick carries a time in the future");
    last = v.value_or(last);
    st.op(w_ticker);
  }
  tk.stop();
}

struct config {
  int duration_s = 30;
  unsigned procs = 0;
  std::array<bool, w_count> enabled{true, true, true, true, true, true, true};
};

// "pipeline,mutex" -> those workloads only; false for an unknown name.
bool parse_only(const std::string& list, std::array<bool, w_count>& enabled) {
  enabled.fill(false);
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    std::string name = list.substr(pos, end - pos);
    auto it = std::find(workload_names.begin(), workload_names.end(), name);
    if (it == workload_names.end()) return false;
    enabled[static_cast<std::size_t>(it - workload_names.begin())] = true;
    pos = end + 1;
  }
  return true;
}

bool parse_int(const char* s, long lo, long hi, long& out) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--duration SECONDS] [--procs N] [--only WORKLOAD,...]\n", argv0);
  std::fprintf(stderr, "workloads:");
  for (const char* n : workload_names) std::fprintf(stderr, " %s", n);
  std::fprintf(stderr, "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    std::string key = a;
    if (auto eq = a.find('='); eq != std::string::npos) {
      key = a.substr(0, eq);
      val = a.substr(eq + 1);
    } else if ((a == "--duration" || a == "--procs" || a == "--only") && i + 1 < argc) {
      val = argv[++i];
    }
    long v = 0;
    if (key == "--duration" && parse_int(val.c_str(), 1, 7 * 24 * 3600, v)) {
      cfg.duration_s = static_cast<int>(v);
    } else if (key == "--procs" && parse_int(val.c_str(), 0, 1024, v)) {
      cfg.procs = static_cast<unsigned>(v);
    } else if (key == "--only" && parse_only(val, cfg.enabled)) {
    } else {
      return usage(argv[0]);
    }
  }

  soak_state st;
  std::vector<sample> samples;  // written by the monitor thread, read after it is joined
  std::atomic<bool> shutdown_done{false};
  std::size_t fibers_after = 0, timers_after = 0;
  std::thread monitor;
  const double cpu0 = cpu_seconds();
  const double rss0 = rss_mb();
  auto start = steady::now();

  goro::run(
      [&] {
        start = steady::now();
        std::printf("soak: %d s, %u procs, pid %d\n", cfg.duration_s, goro::procs(),
                    static_cast<int>(getpid()));
        std::fflush(stdout);
        auto stop = goro::make_chan<goro::unit>();
        monitor = std::thread([&, stop] {
          std::array<std::uint64_t, w_count> prev{};
          for (int t = 1; t <= cfg.duration_s; ++t) {
            std::this_thread::sleep_until(start + std::chrono::seconds(t));
            goro::runtime_stats rs = goro::stats();
            sample s;
            s.t = t;
            s.rss_mb = rss_mb();
            s.heap_mb = heap_mb();
            s.fibers = rs.fibers_live;
            s.timers = rs.timers_live;
            for (int w = 0; w < w_count; ++w) {
              std::uint64_t now = st.ops[w].load(std::memory_order_relaxed);
              s.per[w] = now - prev[w];
              s.ops += s.per[w];
              prev[w] = now;
            }
            samples.push_back(s);
            std::printf("t=%ds rss=%.1fMB heap=%.2fMB fibers=%zu timers=%zu ops=%llu\n", s.t, s.rss_mb,
                        s.heap_mb, s.fibers, s.timers, static_cast<unsigned long long>(s.ops));
            std::fflush(stdout);
          }
          stop.close();  // a plain thread wakes the main fiber
          auto limit = steady::now() + 30s;
          while (!shutdown_done.load() && steady::now() < limit) std::this_thread::sleep_for(10ms);
          if (!shutdown_done.load()) {
            std::printf("soak: STALL (the shutdown did not complete within 30 s)\n");
            std::fflush(stdout);
            goro::dump(std::cerr);
            std::_Exit(1);
          }
        });

        auto [root, cancel_root] = goro::with_cancel(goro::context::background());
        {
          goro::errgroup g(root);
          const goro::context& ctx = g.ctx();
          using workload_fn = void (*)(const goro::context&, soak_state&);
          constexpr std::array<workload_fn, w_count> fns{pipeline,      timers,          spawn_churn, mutexes,
                                                         context_trees, thread_exchange, ticks};
          for (int w = 0; w < w_count; ++w) {
            if (cfg.enabled[w]) g.go([&, fn = fns[w]] { fn(ctx, st); });
          }
          stop.recv();
          cancel_root();
          try {
            g.wait();
          } catch (const std::exception& e) {
            st.fail(std::string("a workload threw: ") + e.what());
          }
        }
        // Everything is joined: only the main fiber may be left, and no timer.
        auto until = steady::now() + 5s;
        while ((goro::num_fibers() > 1 || goro::stats().timers_live > 0) && steady::now() < until) {
          goro::sleep_for(1ms);
        }
        fibers_after = goro::num_fibers();
        timers_after = goro::stats().timers_live;
        shutdown_done.store(true);
      },
      goro::options{.procs = cfg.procs});
  monitor.join();
  const double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  const double cpu = cpu_seconds() - cpu0;

  // ---- verdict ----
  bool ok = true;
  std::uint64_t total = 0;
  std::array<std::uint64_t, w_count> per_total{};
  double rss_max = 0;
  std::size_t fibers_max = 0, timers_max = 0;
  for (const sample& s : samples) {
    total += s.ops;
    for (int w = 0; w < w_count; ++w) per_total[w] += s.per[w];
    rss_max = std::max(rss_max, s.rss_mb);
    fibers_max = std::max(fibers_max, s.fibers);
    timers_max = std::max(timers_max, s.timers);
  }
  const int warmup = std::max(5, cfg.duration_s / 4);
  const sample& last = samples.back();
  const sample* quarter = cfg.duration_s > warmup ? &samples[static_cast<std::size_t>(warmup - 1)] : nullptr;

  std::printf("soak: %d s, rss start=%.1fMB", cfg.duration_s, rss0);
  if (quarter != nullptr) std::printf(" at %ds=%.1fMB", quarter->t, quarter->rss_mb);
  std::printf(" end=%.1fMB max=%.1fMB; fibers max=%zu end=%zu; timers max=%zu end=%zu\n", last.rss_mb,
              rss_max, fibers_max, last.fibers, timers_max, last.timers);
  std::printf("soak: malloc'd heap in use");
  if (quarter != nullptr) std::printf(" at %ds=%.2fMB", quarter->t, quarter->heap_mb);
  std::printf(" end=%.2fMB\n", last.heap_mb);
  std::printf("soak: ops %llu (%.0f/s), cpu %.1f s (%.0f%% of one core);",
              static_cast<unsigned long long>(total), static_cast<double>(total) / cfg.duration_s, cpu,
              100.0 * cpu / elapsed);
  for (int w = 0; w < w_count; ++w) {
    std::printf(" %s=%llu", workload_names[w], static_cast<unsigned long long>(per_total[w]));
  }
  std::printf("\nsoak: after shutdown fibers=%zu timers=%zu\n", fibers_after, timers_after);

  for (const sample& s : samples) {
    if (s.ops == 0) {
      std::printf("soak: STALL at t=%ds: no operation completed in that second\n", s.t);
      ok = false;
    }
  }
  constexpr int stall_window = 5;
  for (int w = 0; w < w_count; ++w) {
    if (!cfg.enabled[w]) continue;
    int run = 0;
    for (const sample& s : samples) {
      run = s.per[w] == 0 ? run + 1 : 0;
      if (run == stall_window) {
        std::printf("soak: STALL: workload %s made no progress from t=%ds to t=%ds\n", workload_names[w],
                    s.t - stall_window, s.t);
        ok = false;
      }
    }
  }
  if (quarter != nullptr) {
    const double allowed = std::max(0.2 * quarter->rss_mb, 8.0);
    if (last.rss_mb > quarter->rss_mb + allowed) {
      std::printf("soak: RSS GROWTH: %.1fMB at t=%ds, %.1fMB at the end (allowed: +%.1fMB)\n",
                  quarter->rss_mb, quarter->t, last.rss_mb, allowed);
      ok = false;
    }
  } else {
    std::printf("soak: (run too short for the RSS check: the warm-up takes %d s)\n", warmup);
  }
  if (last.timers > 1000) {
    std::printf("soak: TIMER LEAK: %zu live timers at the end (max %zu)\n", last.timers, timers_max);
    ok = false;
  }
  if (fibers_after != 1 || timers_after != 0) {
    std::printf(
        "soak: FAIL: after the shutdown %zu fibers (only the main one expected) and %zu timers are left\n",
        fibers_after, timers_after);
    ok = false;
  }
  {
    std::lock_guard<std::mutex> g(st.msg_mu);
    for (const std::string& f : st.failures) std::printf("soak: FAIL: %s\n", f.c_str());
    if (!st.failures.empty()) ok = false;
  }
  if (ok) std::printf("soak: ok (flat memory, no stall)\n");
  std::fflush(stdout);
  return ok ? 0 : 1;
}
