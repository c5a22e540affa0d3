// Sync, context and errgroup benchmarks of goro: Mutex4, MutexUncontended, RWMutex4,
// WaitGroupAddDoneWait, WaitGroupGo, OnceDone, SemaphoreUncontended, Semaphore4x2,
// WithCancel, ValueDepth10, WithTimeout, ErrgroupGo, CondPingPong.
// Twins with the same names and workloads: bench/go/sync_test.go (Go; x/sync's
// errgroup.Group and semaphore.Weighted are re-implemented there, the Go benchmarks use
// the standard library only) and, for Mutex4 and MutexUncontended,
// bench/boost_fiber/fiber_bench.cpp (Boost.Fiber). Each benchmark validates its result
// and reports an error instead of a time when it is wrong; each reports "allocs/op"
// (alloc_counter.hpp; Go: -benchmem).
//
// Every body runs as the main fiber of goro::run(..., {.procs = GORO_BENCH_PROCS (2)}).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "alloc_counter.hpp"
#include "bench_util.hpp"

namespace {

using bench_util::i64;
using bench_util::in_goro;

// Runs body(k) in k = 0..fibers-1 new fibers and returns once every one has returned
// (the last one closes `done`). Plain atomics and a channel, no sync primitive: the
// harness stays out of what the benchmarks measure.
template <class Body>
void run_fibers(i64 fibers, Body& body) {
  std::atomic<i64> left{fibers};
  auto done = goro::make_chan<goro::unit>();
  for (i64 k = 0; k < fibers; ++k) {
    goro::go([k, &body, &left, done]() mutable {
      body(k);
      if (left.fetch_sub(1) == 1) done.close();
    });
  }
  (void)done.recv();  // nullopt once the last fiber closed it
}

// ---- mutex -------------------------------------------------------------------------

// Mutex4: 4 fibers each do N/4 (N rounded up to a multiple of 4) iterations of
// lock; ++shared; unlock on one mutex. One batch: ns/op = per lock/unlock pair.
void BM_Mutex4(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    constexpr i64 kFibers = 4;
    const i64 per = (st.max_iterations + kFibers - 1) / kFibers;
    const i64 total = per * kFibers;
    const bench_alloc::meter allocs;
    while (st.KeepRunningBatch(total)) {
      goro::mutex mu;
      i64 shared = 0;
      auto body = [&mu, &shared, per](i64) {
        for (i64 i = 0; i < per; ++i) {
          mu.lock();
          ++shared;
          mu.unlock();
        }
      };
      run_fibers(kFibers, body);
      if (shared != total) st.SkipWithError("lost increments: the mutex let two fibers in");
    }
    allocs.report(st);
  });
}

// MutexUncontended: lock; ++shared; unlock by one fiber. ns/op = per pair.
void BM_MutexUncontended(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    goro::mutex mu;
    i64 shared = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      mu.lock();
      ++shared;
      mu.unlock();
    }
    allocs.report(st);
    if (shared != st.iterations()) st.SkipWithError("increment count mismatch");
  });
}

// RWMutex4: 4 fibers each do N/4 operations on one rw_mutex; operation i of a fiber is
// a write (lock; ++shared; unlock) when i % 11 == 10, a read (lock_shared; read
// shared; unlock_shared) otherwise: 1 write per 10 reads. ns/op = per operation.
void BM_RWMutex4(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    constexpr i64 kFibers = 4;
    const i64 per = (st.max_iterations + kFibers - 1) / kFibers;
    const i64 total = per * kFibers;
    const bench_alloc::meter allocs;
    while (st.KeepRunningBatch(total)) {
      goro::rw_mutex mu;
      i64 shared = 0;
      std::atomic<i64> seen{0};
      auto body = [&mu, &shared, &seen, per](i64) {
        i64 local = 0;
        for (i64 i = 0; i < per; ++i) {
          if (i % 11 == 10) {
            mu.lock();
            ++shared;
            mu.unlock();
          } else {
            mu.lock_shared();
            local += shared;
            mu.unlock_shared();
          }
        }
        seen.fetch_add(local, std::memory_order_relaxed);
      };
      run_fibers(kFibers, body);
      benchmark::DoNotOptimize(seen.load());
      if (shared != kFibers * (per / 11)) st.SkipWithError("lost writes: the rw_mutex let two writers in");
    }
    allocs.report(st);
  });
}

// ---- wait_group ----------------------------------------------------------------------

// WaitGroupAddDoneWait: add(1); done(); wait() by one fiber (wait() finds the counter at
// zero). ns/op = per round.
void BM_WaitGroupAddDoneWait(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    goro::wait_group wg;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      wg.add(1);
      wg.done();
      wg.wait();
    }
    allocs.report(st);
  });
}

// WaitGroupGo: wg.go(task) for N tasks that each increment an atomic, then wg.wait().
// (Go 1.19 has no WaitGroup.Go: the twin writes Add(1); go func() { ...; Done() }().)
// One batch: ns/op = per task (spawn + run + done, plus the wait).
void BM_WaitGroupGo(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    const i64 n = st.max_iterations;
    const bench_alloc::meter allocs;
    while (st.KeepRunningBatch(n)) {
      std::atomic<i64> ran{0};
      goro::wait_group wg;
      for (i64 i = 0; i < n; ++i) wg.go([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
      wg.wait();
      if (ran.load() != n) st.SkipWithError("wait() returned before every task ran");
    }
    allocs.report(st);
  });
}

// ---- once ----------------------------------------------------------------------------

// OnceDone: call(f) on a once whose f already ran (the fast path). ns/op.
void BM_OnceDone(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    goro::once o;
    i64 calls = 0;
    auto f = [&calls] { ++calls; };
    o.call(f);
    const bench_alloc::meter allocs;
    for (auto _ : st) o.call(f);
    allocs.report(st);
    if (calls != 1) st.SkipWithError("once ran f more than once");
  });
}

// ---- semaphore -----------------------------------------------------------------------

// SemaphoreUncontended: acquire(1); release(1) on a semaphore of size 1 by one fiber
// (Go: Weighted.Acquire(context.Background(), 1) / Release(1)). ns/op = per pair.
void BM_SemaphoreUncontended(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    goro::semaphore s(1);
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      s.acquire(1);
      s.release(1);
    }
    allocs.report(st);
    if (!s.try_acquire(1)) st.SkipWithError("the semaphore leaked a unit");
  });
}

// Semaphore4x2: 4 fibers each do N/4 iterations of acquire(1); (count the holders);
// release(1) on a semaphore of size 2; at most 2 may hold it at once. ns/op = per pair.
void BM_Semaphore4x2(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    constexpr i64 kFibers = 4;
    const i64 per = (st.max_iterations + kFibers - 1) / kFibers;
    const i64 total = per * kFibers;
    const bench_alloc::meter allocs;
    while (st.KeepRunningBatch(total)) {
      goro::semaphore s(2);
      std::atomic<i64> inside{0};
      std::atomic<i64> max_inside{0};
      std::atomic<i64> count{0};
      auto body = [&s, &inside, &max_inside, &count, per](i64) {
        i64 local_max = 0;
        for (i64 i = 0; i < per; ++i) {
          s.acquire(1);
          local_max = std::max(local_max, inside.fetch_add(1, std::memory_order_relaxed) + 1);
          inside.fetch_sub(1, std::memory_order_relaxed);
          s.release(1);
        }
        count.fetch_add(per);
        i64 m = max_inside.load();
        while (m < local_max && !max_inside.compare_exchange_weak(m, local_max)) {
        }
      };
      run_fibers(kFibers, body);
      if (count.load() != total || max_inside.load() > 2 || max_inside.load() < 1)
        st.SkipWithError("more than 2 holders, or an acquire did not return");
    }
    allocs.report(st);
  });
}

// ---- context -------------------------------------------------------------------------

// WithCancel: with_cancel(parent) + cancel() per op; parent is a cancellable context
// made before the loop (so the child links into, and unlinks from, its child list).
// The child must report errc::canceled. ns/op, allocs/op.
void BM_WithCancel(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    auto [parent, cancel_parent] = goro::with_cancel(goro::context::background());
    i64 bad = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      auto [c, cancel] = goro::with_cancel(parent);
      cancel();
      bad += static_cast<i64>(c.err() != goro::errc::canceled);
    }
    allocs.report(st);
    cancel_parent();
    if (bad != 0) st.SkipWithError("a cancelled child does not report errc::canceled");
  });
}

// ValueDepth10: background <- with_value("k0", 0) <- ... <- with_value("k9", 9); each
// op looks up "k0" from the leaf (10 value nodes walked). ns/op.
void BM_ValueDepth10(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    std::vector<std::string> keys;
    for (int k = 0; k < 10; ++k) keys.push_back("k" + std::to_string(k));
    goro::context c = goro::context::background();
    for (int k = 0; k < 10; ++k) c = goro::with_value(c, keys[static_cast<std::size_t>(k)], i64{k});
    i64 bad = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      const i64* v = c.value<i64>("k0");
      benchmark::DoNotOptimize(v);
      bad += static_cast<i64>(v == nullptr || *v != 0);
    }
    allocs.report(st);
    if (bad != 0) st.SkipWithError("value(\"k0\") not found or wrong");
  });
}

// WithTimeout: with_timeout(parent, 1h) + cancel() per op, parent as in WithCancel. The
// child must report errc::canceled (not the deadline); after the loop goro's live timer
// count must be back to its start value (every cancel stopped its timer): counter
// live_timers_after. ns/op, allocs/op.
void BM_WithTimeout(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    auto [parent, cancel_parent] = goro::with_cancel(goro::context::background());
    const std::int64_t live0 = goro::detail::live_timer_count().load();
    i64 bad = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      auto [c, cancel] = goro::with_timeout(parent, std::chrono::hours(1));
      cancel();
      bad += static_cast<i64>(c.err() != goro::errc::canceled);
    }
    allocs.report(st);
    cancel_parent();
    const std::int64_t live1 = goro::detail::live_timer_count().load();
    st.counters["live_timers_after"] = static_cast<double>(live1);
    if (bad != 0) {
      st.SkipWithError("a cancelled child does not report errc::canceled");
    } else if (live1 != live0) {
      st.SkipWithError("deadline timers leaked: live timer count not back to its start value");
    }
  });
}

// ---- errgroup ------------------------------------------------------------------------

// ErrgroupGo: one errgroup (over background: it makes a with_cancel child), g.go(task)
// for N tasks that each increment an atomic, then g.wait(). One batch: ns/op = per task.
// Compare with SpawnJoin (runtime_bench.cpp), the bare spawn + join per fiber.
void BM_ErrgroupGo(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    const i64 n = st.max_iterations;
    const bench_alloc::meter allocs;
    while (st.KeepRunningBatch(n)) {
      std::atomic<i64> ran{0};
      goro::errgroup g;
      for (i64 i = 0; i < n; ++i) g.go([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
      g.wait();
      if (ran.load() != n || !g.ctx().err()) st.SkipWithError("wait() returned early or left ctx() live");
    }
    allocs.report(st);
  });
}

// ---- cond ----------------------------------------------------------------------------

// CondPingPong: the benchmark fiber and a partner share a mutex, a cond over it and a
// `turn` word. Per round the benchmark fiber sets turn = 1, signals and waits until
// turn == 0; the partner waits until turn == 1, sets turn = 0 and signals. One batch:
// ns/op = per round trip (two signal/wait hand-offs).
void BM_CondPingPong(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    const i64 n = st.max_iterations;
    const bench_alloc::meter allocs;
    while (st.KeepRunningBatch(n)) {
      goro::mutex mu;
      goro::cond cv(mu);
      int turn = 0;
      i64 pongs = 0;
      auto done = goro::make_chan<goro::unit>();
      goro::go([&mu, &cv, &turn, &pongs, n, done]() mutable {
        for (i64 i = 0; i < n; ++i) {
          mu.lock();
          while (turn != 1) cv.wait();
          turn = 0;
          ++pongs;
          cv.signal();
          mu.unlock();
        }
        done.close();
      });
      for (i64 i = 0; i < n; ++i) {
        mu.lock();
        turn = 1;
        cv.signal();
        while (turn != 0) cv.wait();
        mu.unlock();
      }
      (void)done.recv();
      if (pongs != n) st.SkipWithError("round count mismatch");
    }
    allocs.report(st);
  });
}

}  // namespace

BENCHMARK(BM_Mutex4)->UseRealTime();
BENCHMARK(BM_MutexUncontended)->UseRealTime();
BENCHMARK(BM_RWMutex4)->UseRealTime();
BENCHMARK(BM_WaitGroupAddDoneWait)->UseRealTime();
BENCHMARK(BM_WaitGroupGo)->UseRealTime();
BENCHMARK(BM_OnceDone)->UseRealTime();
BENCHMARK(BM_SemaphoreUncontended)->UseRealTime();
BENCHMARK(BM_Semaphore4x2)->UseRealTime();
BENCHMARK(BM_WithCancel)->UseRealTime();
BENCHMARK(BM_ValueDepth10)->UseRealTime();
BENCHMARK(BM_WithTimeout)->UseRealTime();
BENCHMARK(BM_ErrgroupGo)->UseRealTime();
BENCHMARK(BM_CondPingPong)->UseRealTime();
