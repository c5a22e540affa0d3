// Runtime benchmarks of goro: SpawnJoin, Yield, Parked1M, IdleCPU10k.
// Twins with the same names and workloads: bench/go/runtime_test.go (Go) and
// bench/boost_fiber/fiber_bench.cpp (Boost.Fiber). Each benchmark validates its
// result and reports an error instead of a time when it is wrong.
//
// Every body runs as the main fiber of goro::run(..., {.procs = GORO_BENCH_PROCS (2)}).
#include <atomic>
#include <cstdint>

#include "bench_util.hpp"

namespace {

using bench_util::i64;
using bench_util::in_goro;

// SpawnJoin: spawn N fibers that each decrement a counter; the last one closes
// `done`, which the benchmark fiber waits for. One batch: ns/op = per fiber.
void BM_SpawnJoin(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    const i64 n = st.max_iterations;
    while (st.KeepRunningBatch(n)) {
      std::atomic<i64> remaining{n};
      auto done = goro::make_chan<goro::unit>();
      for (i64 i = 0; i < n; ++i) {
        goro::go([&remaining, done]() mutable {
          if (remaining.fetch_sub(1) == 1) done.close();
        });
      }
      if (done.recv() || remaining.load() != 0) st.SkipWithError("not every fiber ran");
    }
  });
}

// Yield: two fibers each call goro::yield() N times. ns/op is per N (per-fiber
// iteration); the counter "ns/yield" is elapsed / (2N), the cost of one yield call,
// as in the Go twin (b.ReportMetric(..., "ns/yield")).
void BM_Yield(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    const i64 n = st.max_iterations;
    while (st.KeepRunningBatch(n)) {
      std::atomic<int> left{2};
      std::atomic<i64> calls{0};
      auto done = goro::make_chan<goro::unit>();
      const auto t0 = bench_util::steady::now();
      for (int f = 0; f < 2; ++f) {
        goro::go([n, &left, &calls, done]() mutable {
          i64 k = 0;
          for (; k < n; ++k) goro::yield();
          calls.fetch_add(k);
          if (left.fetch_sub(1) == 1) done.close();
        });
      }
      (void)done.recv();
      st.counters["ns/yield"] = bench_util::ns_since(t0) / (2.0 * static_cast<double>(n));
      if (calls.load() != 2 * n) st.SkipWithError("yield count mismatch");
    }
  });
}

// n fibers that each count themselves in `parked`, then block receiving from one shared
// unbuffered `done` channel (Parked1M, IdleCPU10k). The constructor returns once all n are
// counted; release() closes `done` and waits until the last fiber to exit closes `exited`.
// Fibers capture the channel handles by value (the last one is still inside close() when
// the crowd may already be gone).
struct parked_crowd {
  const i64 n;
  goro::chan<goro::unit> done = goro::make_chan<goro::unit>();
  goro::chan<goro::unit> exited = goro::make_chan<goro::unit>();
  std::atomic<i64> parked{0};
  std::atomic<i64> alive;

  explicit parked_crowd(i64 count) : n(count), alive(count) {
    for (i64 i = 0; i < n; ++i) {
      goro::go([done = done, exited = exited, this]() mutable {
        parked.fetch_add(1);
        (void)done.recv();
        if (alive.fetch_sub(1) == 1) exited.close();
      });
    }
    while (parked.load() < n) goro::yield();
  }
  void release() {
    done.close();
    (void)exited.recv();
  }
  bool all_exited() const { return alive.load() == 0 && parked.load() == n; }
};

// Parked1M: spawn 1,000,000 fibers that each increment `parked` then block on a
// receive from one shared unbuffered `done` channel; wait until parked == 1M
// (spawn_park_ms), read the RSS growth per fiber (bytes_per_fiber), then close(done)
// and wait until the last fiber to exit closes `exited` (wake_join_ms). Run once
// (Iterations(1)): a second run in the same process would reuse memory and
// understate bytes_per_fiber.
void BM_Parked1M(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    constexpr i64 kN = bench_util::kParked;
    for (auto _ : st) {
      const i64 rss0 = bench_util::rss_bytes();
      const auto t0 = bench_util::steady::now();
      parked_crowd crowd(kN);
      const double spawn_park_ms = bench_util::ms_since(t0);
      const i64 rss1 = bench_util::rss_bytes();
      const auto t1 = bench_util::steady::now();
      crowd.release();
      const double wake_join_ms = bench_util::ms_since(t1);
      st.counters["bytes_per_fiber"] = static_cast<double>(rss1 - rss0) / static_cast<double>(kN);
      st.counters["spawn_park_ms"] = spawn_park_ms;
      st.counters["wake_join_ms"] = wake_join_ms;
      if (!crowd.all_exited()) {
        st.SkipWithError("not every fiber parked and exited");
        break;
      }
    }
  });
}

// IdleCPU10k: spawn 10,000 fibers that each increment `parked` then block on a receive
// from one shared unbuffered `done` channel; once parked == 10k, the benchmark fiber
// sleeps for 1 s (wall clock) and the process's CPU time (getrusage: user + sys, all
// threads) over that window gives cpu_pct = CPU time / wall time * 100 (% of one core:
// what an idle runtime with parked fibers burns). Then close(done) and wait until the
// last fiber to exit closes `exited`. Run once (Iterations(1)).
void BM_IdleCPU10k(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    constexpr i64 kN = bench_util::kIdleFibers;
    for (auto _ : st) {
      parked_crowd crowd(kN);
      const double cpu0 = bench_util::process_cpu_seconds();
      const auto t0 = bench_util::steady::now();
      goro::sleep_for(bench_util::kIdleWindow);
      const double wall = bench_util::ns_since(t0) * 1e-9;
      const double cpu1 = bench_util::process_cpu_seconds();
      crowd.release();
      st.counters["cpu_pct"] = (cpu1 - cpu0) / wall * 100.0;
      if (!crowd.all_exited()) {
        st.SkipWithError("not every fiber parked, woke and exited");
        break;
      }
      if (cpu0 < 0 || cpu1 < 0) {
        st.SkipWithError("getrusage failed");
        break;
      }
    }
  });
}

}  // namespace

BENCHMARK(BM_SpawnJoin)->UseRealTime();
BENCHMARK(BM_Yield)->UseRealTime();
BENCHMARK(BM_Parked1M)->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IdleCPU10k)->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
