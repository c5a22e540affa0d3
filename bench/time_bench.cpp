// Timer benchmarks of goro: AfterSelect, TimerResetSelect, SleepLatency1ms.
// Twins with the same names and workloads: bench/go/time_test.go (Go). Each benchmark
// validates its result and reports an error instead of a time when it is wrong.
// AfterSelect and TimerResetSelect report "allocs/op" (alloc_counter.hpp; Go: -benchmem).
//
// Every body runs as the main fiber of goro::run(..., {.procs = GORO_BENCH_PROCS (2)}).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "alloc_counter.hpp"
#include "bench_util.hpp"

namespace {

using bench_util::i64;
using bench_util::in_goro;
using namespace std::chrono_literals;

// AfterSelect: a capacity-1 channel made ready with a non-blocking send of i, then
// select(case_recv(ch), case_recv(after(1h))) must choose ch and receive i. Every
// iteration creates a 1h timer that is cancelled when the select drops its channel;
// after the loop, goro's live timer count must be back to its starting value (no
// "time.After leak"): counter live_timers_after. ns/op and allocs/op per select.
void BM_AfterSelect(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    auto ch = goro::make_chan<i64>(1);
    const std::int64_t live0 = goro::detail::live_timer_count().load();
    i64 i = 0;
    i64 bad = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      if (!ch.try_send(i)) {
        st.SkipWithError("try_send on an empty capacity-1 channel failed");
        break;
      }
      i64 got = -1;
      const std::size_t chosen =
          goro::select(goro::case_recv(ch, [&got](std::optional<i64> v) { got = v.value_or(-1); }),
                       goro::case_recv(goro::after(1h)));
      bad += static_cast<i64>(chosen != 0 || got != i);
      ++i;
    }
    allocs.report(st);
    const std::int64_t live1 = goro::detail::live_timer_count().load();
    st.counters["live_timers_after"] = static_cast<double>(live1);
    if (bad != 0) {
      st.SkipWithError("select chose the timer or received the wrong value");
    } else if (live1 != live0) {
      st.SkipWithError("after(1h) timers leaked: live timer count not back to its start value");
    }
  });
}

// TimerResetSelect: one timer(1h) made before the loop; each iteration makes ch ready,
// calls t.reset(1h) (must report the timer active), then
// select(case_recv(ch), case_recv(t.c())) must choose ch and receive i (t.c() is taken
// once before the loop, as Go's loop reads the field t.C).
void BM_TimerResetSelect(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    auto ch = goro::make_chan<i64>(1);
    goro::timer t(1h);
    const auto tc = t.c();  // Go reads the field t.C; goro's c() makes a handle, so take it once
    i64 i = 0;
    i64 bad = 0;
    i64 active = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      if (!ch.try_send(i)) {
        st.SkipWithError("try_send on an empty capacity-1 channel failed");
        break;
      }
      active += static_cast<i64>(t.reset(1h));
      i64 got = -1;
      const std::size_t chosen = goro::select(
          goro::case_recv(ch, [&got](std::optional<i64> v) { got = v.value_or(-1); }), goro::case_recv(tc));
      bad += static_cast<i64>(chosen != 0 || got != i);
      ++i;
    }
    allocs.report(st);
    if (bad != 0) {
      st.SkipWithError("select chose the timer or received the wrong value");
    } else if (active != st.iterations()) {
      st.SkipWithError("timer::reset did not report a pending timer");
    } else if (!t.stop()) {
      st.SkipWithError("timer::stop did not report a pending timer");
    }
  });
}

// SleepLatency1ms: the benchmark fiber calls sleep_for(1ms) 500 times while two busy
// fibers burn CPU: each repeats ~10 us of work (spinning on steady_clock) followed by
// goro::yield() (Go: runtime.Gosched()) until told to stop. Oversleep = actual - 1ms per
// sleep; counters p50_us, p99_us, max_us (nearest rank). One run (Iterations(1)); the
// busy fibers are stopped and joined before the run ends. A sleep that returns early,
// or a busy fiber that never ran, is an error. Watchdog: a busy fiber gives up after
// kGiveUp (the whole run normally takes about 1 s), so a sleeper that is never woken
// while the processors are busy ends the run with an error instead of hanging forever.
constexpr int kSleeps = 500;
constexpr int kBusy = 2;
constexpr auto kGiveUp = 60s;

void BM_SleepLatency1ms(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    for (auto _ : st) {
      std::atomic<bool> stop{false};
      std::atomic<int> started{0};
      std::atomic<int> left{kBusy};
      std::atomic<i64> min_rounds{std::numeric_limits<i64>::max()};
      std::atomic<bool> gave_up{false};
      const auto give_up_at = bench_util::steady::now() + kGiveUp;
      auto done = goro::make_chan<goro::unit>();
      for (int b = 0; b < kBusy; ++b) {
        goro::go([&stop, &started, &left, &min_rounds, &gave_up, give_up_at, done]() mutable {
          started.fetch_add(1);
          i64 rounds = 0;
          std::uint64_t work = 0;
          while (!stop.load(std::memory_order_relaxed)) {
            const auto t0 = bench_util::steady::now();
            if (t0 > give_up_at) {
              gave_up.store(true);
              break;
            }
            while (bench_util::steady::now() - t0 < 10us) benchmark::DoNotOptimize(++work);
            goro::yield();
            ++rounds;
          }
          i64 cur = min_rounds.load();
          while (rounds < cur && !min_rounds.compare_exchange_weak(cur, rounds)) {
          }
          if (left.fetch_sub(1) == 1) done.close();
        });
      }
      while (started.load() != kBusy) goro::yield();

      std::vector<double> over_us;
      over_us.reserve(kSleeps);
      bool early = false;
      for (int k = 0; k < kSleeps; ++k) {
        const auto t0 = bench_util::steady::now();
        goro::sleep_for(1ms);
        const auto slept = bench_util::steady::now() - t0;
        early = early || slept < 1ms;
        over_us.push_back(std::chrono::duration<double, std::micro>(slept - 1ms).count());
      }
      stop.store(true);
      (void)done.recv();  // nullopt once both busy fibers have returned

      std::sort(over_us.begin(), over_us.end());
      auto rank = [&over_us](double p) {  // nearest rank
        const auto r = static_cast<std::size_t>(std::ceil(p * static_cast<double>(over_us.size())));
        return over_us[std::clamp<std::size_t>(r, 1, over_us.size()) - 1];
      };
      st.counters["p50_us"] = rank(0.50);
      st.counters["p99_us"] = rank(0.99);
      st.counters["max_us"] = over_us.back();
      if (gave_up.load()) {
        st.SkipWithError("busy fibers gave up after 60 s: the sleeping fiber was not woken in time");
      } else if (early) {
        st.SkipWithError("sleep_for(1ms) returned early");
      } else if (min_rounds.load() <= 0) {
        st.SkipWithError("a busy fiber never ran");
      }
    }
  });
}

}  // namespace

BENCHMARK(BM_AfterSelect)->UseRealTime();
BENCHMARK(BM_TimerResetSelect)->UseRealTime();
BENCHMARK(BM_SleepLatency1ms)->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
