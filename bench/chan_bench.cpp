// Channel benchmarks of goro: Handoff, SPSC1024, MPMC4x4, RecvMiss, Sieve5000, FanOutIn8,
// FanOutIn8Buf64.
// Twins with the same names and workloads: bench/go/chan_test.go (Go) and
// bench/boost_fiber/fiber_bench.cpp (Boost.Fiber). Each benchmark validates its
// result (count or checksum) and reports an error instead of a time when it is wrong.
//
// Every body runs as the main fiber of goro::run(..., {.procs = GORO_BENCH_PROCS (2)}).
// Fibers capture channel handles by value (as Go closures share a channel), so a
// fiber that is still returning from close() never uses a handle its creator destroyed.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "bench_util.hpp"

namespace {

using bench_util::i64;
using bench_util::in_goro;

// Handoff / SPSC1024: a sender fiber sends 0..N-1 then closes; the benchmark fiber
// receives N values (one per iteration: ns/op = per item) and checks their sum.
void chan_stream(benchmark::State& state, std::size_t capacity) {
  in_goro(state, [capacity](benchmark::State& st) {
    const i64 n = st.max_iterations;
    auto c = goro::make_chan<i64>(capacity);
    goro::go([c, n]() mutable {
      for (i64 i = 0; i < n; ++i) c.send(i);
      c.close();
    });
    i64 sum = 0;
    bool early = false;
    for (auto _ : st) {
      std::optional<i64> v = c.recv();
      if (!v) {
        early = true;
        break;
      }
      sum += *v;
    }
    if (early) {
      st.SkipWithError("channel closed before N items");
    } else if (c.recv()) {
      st.SkipWithError("more than N items");
    } else if (sum != bench_util::sum_below(n)) {
      st.SkipWithError("checksum mismatch");
    }
  });
}

void BM_Handoff(benchmark::State& state) {
  chan_stream(state, 0);
}
void BM_SPSC1024(benchmark::State& state) {
  chan_stream(state, 1024);
}

// MPMC4x4: capacity 64, 4 producers each send N/4 distinct values (N rounded up to a
// multiple of 4), 4 consumers range over the channel; the last producer closes it,
// the last consumer closes `done`. One batch of N items: ns/op = per item.
void BM_MPMC4x4(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    constexpr i64 kProducers = 4;
    constexpr i64 kConsumers = 4;
    const i64 per = (st.max_iterations + kProducers - 1) / kProducers;
    const i64 total = per * kProducers;
    while (st.KeepRunningBatch(total)) {
      auto c = goro::make_chan<i64>(64);
      auto done = goro::make_chan<goro::unit>();
      std::atomic<i64> producers_left{kProducers};
      std::atomic<i64> consumers_left{kConsumers};
      std::atomic<i64> sum{0};
      std::atomic<i64> count{0};
      for (i64 p = 0; p < kProducers; ++p) {
        goro::go([c, base = p * per, per, &producers_left]() mutable {
          for (i64 i = 0; i < per; ++i) c.send(base + i);
          if (producers_left.fetch_sub(1) == 1) c.close();
        });
      }
      for (i64 k = 0; k < kConsumers; ++k) {
        goro::go([c, done, &consumers_left, &sum, &count]() mutable {
          i64 local = 0;
          i64 items = 0;
          for (i64 v : c) {
            local += v;
            ++items;
          }
          sum.fetch_add(local);
          count.fetch_add(items);
          if (consumers_left.fetch_sub(1) == 1) done.close();
        });
      }
      (void)done.recv();  // nullopt once the last consumer closed it
      if (count.load() != total || sum.load() != bench_util::sum_below(total)) {
        st.SkipWithError("count or checksum mismatch");
      }
    }
  });
}

// RecvMiss: non-blocking receive on an empty buffered channel (capacity 1).
void BM_RecvMiss(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    auto c = goro::make_chan<i64>(1);
    i64 misses = 0;
    i64 hits = 0;
    for (auto _ : st) {
      if (std::optional<i64> v = c.try_recv()) {
        hits += *v + 1;
      } else {
        ++misses;
      }
    }
    if (hits != 0 || misses != st.iterations())
      st.SkipWithError("try_recv on an empty channel returned a value");
  });
}

// Sieve5000: Go's concurrent prime sieve (generator + chain of filters over unbuffered
// channels) up to the 5000th prime, 48611. Shutdown by a close chain: the generator
// stops when `stop` is set and closes its output; every filter ranges over its input
// and closes its output; the benchmark fiber drains the last channel until closed.
// The Go twin is structurally identical (no select). ms per run.
i64 sieve() {
  std::atomic<bool> stop{false};
  auto ch = goro::make_chan<i64>();
  goro::go([out = ch, &stop]() mutable {
    for (i64 i = 2; !stop.load(); ++i) out.send(i);
    out.close();
  });
  i64 prime = 0;
  for (i64 i = 0; i < bench_util::kSievePrimes; ++i) {
    std::optional<i64> p = ch.recv();
    if (!p) return -1;
    prime = *p;
    if (i == bench_util::kSievePrimes - 1) break;
    auto next = goro::make_chan<i64>();
    goro::go([in = ch, out = next, prime]() mutable {
      for (i64 v : in) {
        if (v % prime != 0) out.send(v);
      }
      out.close();
    });
    ch = next;
  }
  stop.store(true);
  for (i64 v : ch) (void)v;  // returns once every fiber of the chain has closed its output
  return prime;
}

void BM_Sieve5000(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    for (auto _ : st) {
      const i64 p = sieve();
      if (p != bench_util::kSieveLastPrime) {
        st.SkipWithError("5000th prime is not 48611");
        break;
      }
    }
  });
}

// FanOutIn8 / FanOutIn8Buf64: a producer fiber sends 0..N-1 on `in` and closes it; 8
// workers range over `in` and send bench_util::work(x) (~1 us of CPU) on `out`; the last
// worker to finish closes `out`. The benchmark fiber receives until `out` is closed and
// checks the count and the checksum (sum of work(i), wrapping; computed after the timed
// batch). Channels unbuffered or of capacity 64. One batch of N items: ns/op = per item;
// counter Mitems/s = N / elapsed / 1e6 (the Go twin's metric of the same name).
void fan_out_in(benchmark::State& state, std::size_t capacity) {
  in_goro(state, [capacity](benchmark::State& st) {
    const i64 n = st.max_iterations;
    i64 count = 0;
    std::uint64_t sum = 0;
    const auto t0 = bench_util::steady::now();
    while (st.KeepRunningBatch(n)) {
      auto in = goro::make_chan<i64>(capacity);
      auto out = goro::make_chan<i64>(capacity);
      std::atomic<i64> workers_left{bench_util::kFanWorkers};
      goro::go([in, n]() mutable {
        for (i64 i = 0; i < n; ++i) in.send(i);
        in.close();
      });
      for (i64 w = 0; w < bench_util::kFanWorkers; ++w) {
        goro::go([in, out, &workers_left]() mutable {
          for (i64 x : in) out.send(bench_util::work(x));
          if (workers_left.fetch_sub(1) == 1) out.close();
        });
      }
      for (i64 v : out) {
        ++count;
        sum += static_cast<std::uint64_t>(v);
      }
    }
    const double seconds = bench_util::ns_since(t0) * 1e-9;
    st.counters["Mitems/s"] = static_cast<double>(n) / seconds / 1e6;
    if (count != n || sum != bench_util::work_sum_below(n)) st.SkipWithError("count or checksum mismatch");
  });
}

void BM_FanOutIn8(benchmark::State& state) {
  fan_out_in(state, 0);
}
void BM_FanOutIn8Buf64(benchmark::State& state) {
  fan_out_in(state, 64);
}

}  // namespace

BENCHMARK(BM_Handoff)->UseRealTime();
BENCHMARK(BM_SPSC1024)->UseRealTime();
BENCHMARK(BM_MPMC4x4)->UseRealTime();
BENCHMARK(BM_RecvMiss)->UseRealTime();
BENCHMARK(BM_Sieve5000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FanOutIn8)->UseRealTime();
BENCHMARK(BM_FanOutIn8Buf64)->UseRealTime();
