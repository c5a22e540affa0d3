// Boost.Fiber (1.74) twins of the goro benchmarks (bench/*_bench.cpp) and of the Go
// ones (bench/go): same names, same workloads, same validation: the channel and runtime
// benchmarks, and the mutex rows of sync_bench.cpp (kept in this file, which owns the /ws
// scheduler pair and the /rr-before-/ws order). Every benchmark has two variants:
//   BM_X/rr  round_robin, one thread: the body runs on a fresh std::thread (whose
//            scheduler is Boost's default round_robin), joined by the benchmark thread.
//   BM_X/ws  work_stealing over 2 threads: the benchmark (main) thread and one helper
//            thread both install algo::work_stealing(2), as in Boost's
//            examples/work_stealing.cpp. work_stealing can be set up only once per
//            process (its constructor meets the other threads at a static barrier and
//            registers in a static table), so the pair is started on the first /ws
//            benchmark and kept until main() ends. With suspend = false (the default)
//            the idle helper spins; all /rr benchmarks are registered first so that
//            they run before that spinning starts.
//
// Stacks: every fiber gets a fixedsize_stack of kStackSize (64 KiB, malloc'd). Boost's
// default (128 KiB) sits at glibc's mmap threshold, and a million mmap'd stacks exceed
// vm.max_map_count (65530); protected_fixedsize_stack (guard page) needs 2 mappings each.
//
// Boost channels are not copyable handles: they are shared through std::shared_ptr,
// copied into each fiber, so a fiber still returning from close() never touches a
// channel its creator destroyed (the goro twins copy chan handles the same way).
#define BENCH_UTIL_NO_GORO
#include "../bench_util.hpp"

#include <boost/fiber/all.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace {

using bench_util::i64;
namespace fibers = boost::fibers;
using fibers::channel_op_status;

constexpr std::size_t kStackSize = 64 * 1024;

template <class T>
using unbuffered = fibers::unbuffered_channel<T>;
// NB: a buffered_channel's capacity must be a power of two, and a buffered_channel of
// capacity N holds at most N - 1 items (one slot tells full from empty).
template <class T>
using buffered = fibers::buffered_channel<T>;

struct unit {};  // Go's struct{}

template <class F>
void go(F&& f) {
  fibers::fiber(std::allocator_arg, fibers::fixedsize_stack(kStackSize), std::forward<F>(f)).detach();
}

// ---- schedulers -------------------------------------------------------------------

enum class sched { rr, ws };

// The work_stealing pair: this (main) thread + one helper thread.
class ws_pair {
 public:
  static void ensure() {
    if (instance_ == nullptr) instance_ = new ws_pair();
  }
  static void shutdown() {
    if (instance_ == nullptr) return;
    {
      std::unique_lock<fibers::mutex> lk(instance_->m_);
      instance_->stop_ = true;
    }
    instance_->cv_.notify_all();
    instance_->helper_.join();
    // The algorithm objects stay referenced by work_stealing's static table; the
    // pair is deliberately not deleted (its mutex may still be touched by the helper).
  }

 private:
  ws_pair() {
    helper_ = std::thread([this] {
      fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(2);
      std::unique_lock<fibers::mutex> lk(m_);
      cv_.wait(lk, [this] { return stop_; });  // parks the helper's main context: its
                                               // dispatcher runs (steals) fibers meanwhile
    });
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(2);  // meets the helper
  }

  static inline ws_pair* instance_ = nullptr;
  fibers::mutex m_;
  fibers::condition_variable cv_;
  bool stop_ = false;
  std::thread helper_;
};

// Runs body(state) under the chosen scheduler; the body executes the benchmark loop.
template <class Body>
void in_fibers(benchmark::State& state, sched s, Body body) {
  if (s == sched::rr) {
    std::thread t([&state, &body] { body(state); });
    t.join();
  } else {
    ws_pair::ensure();
    body(state);
  }
}

// ---- channels (twins of chan_bench.cpp) --------------------------------------------

// Handoff / SPSC1024: one sender fiber sends 0..N-1 then closes; the benchmark loop
// receives N values and checks their sum.
template <class Chan, class... CapArgs>
void chan_stream(benchmark::State& state, sched s, CapArgs... cap) {
  in_fibers(state, s, [cap...](benchmark::State& st) {
    const i64 n = st.max_iterations;
    auto c = std::make_shared<Chan>(cap...);
    go([c, n] {
      for (i64 i = 0; i < n; ++i) c->push(i);
      c->close();
    });
    i64 sum = 0;
    bool early = false;
    for (auto _ : st) {
      i64 v = 0;
      if (c->pop(v) != channel_op_status::success) {
        early = true;
        break;
      }
      sum += v;
    }
    i64 extra = 0;
    if (early) {
      st.SkipWithError("channel closed before N items");
    } else if (c->pop(extra) == channel_op_status::success) {
      st.SkipWithError("more than N items");
    } else if (sum != bench_util::sum_below(n)) {
      st.SkipWithError("checksum mismatch");
    }
  });
}

void BM_Handoff(benchmark::State& state, sched s) {
  chan_stream<unbuffered<i64>>(state, s);
}
// Capacity 1024 (holds 1023 items; Go and goro hold 1024).
void BM_SPSC1024(benchmark::State& state, sched s) {
  chan_stream<buffered<i64>>(state, s, std::size_t{1024});
}

// MPMC4x4: capacity 64 (holds 63), 4 producers x N/4, 4 consumers; ns per item.
void BM_MPMC4x4(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    constexpr i64 kProducers = 4;
    constexpr i64 kConsumers = 4;
    const i64 per = (st.max_iterations + kProducers - 1) / kProducers;
    const i64 total = per * kProducers;
    while (st.KeepRunningBatch(total)) {
      auto c = std::make_shared<buffered<i64>>(64);
      auto done = std::make_shared<unbuffered<unit>>();
      std::atomic<i64> producers_left{kProducers};
      std::atomic<i64> consumers_left{kConsumers};
      std::atomic<i64> sum{0};
      std::atomic<i64> count{0};
      for (i64 p = 0; p < kProducers; ++p) {
        go([c, base = p * per, per, &producers_left] {
          for (i64 i = 0; i < per; ++i) c->push(base + i);
          if (producers_left.fetch_sub(1) == 1) c->close();
        });
      }
      for (i64 k = 0; k < kConsumers; ++k) {
        go([c, done, &consumers_left, &sum, &count] {
          i64 local = 0;
          i64 items = 0;
          i64 v = 0;
          while (c->pop(v) == channel_op_status::success) {
            local += v;
            ++items;
          }
          sum.fetch_add(local);
          count.fetch_add(items);
          if (consumers_left.fetch_sub(1) == 1) done->close();
        });
      }
      unit u;
      (void)done->pop(u);  // closed by the last consumer
      if (count.load() != total || sum.load() != bench_util::sum_below(total)) {
        st.SkipWithError("count or checksum mismatch");
      }
    }
  });
}

// RecvMiss: try_pop on an empty buffered channel of capacity 2 (the smallest Boost
// allows; it holds 1 item, like the capacity-1 channel of the Go and goro twins).
void BM_RecvMiss(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    buffered<i64> c(2);
    i64 misses = 0;
    i64 hits = 0;
    for (auto _ : st) {
      i64 v = 0;
      if (c.try_pop(v) == channel_op_status::success) {
        hits += v + 1;
      } else {
        ++misses;
      }
    }
    if (hits != 0 || misses != st.iterations())
      st.SkipWithError("try_pop on an empty channel returned a value");
  });
}

// Sieve5000: generator + chain of filters over unbuffered channels; close-chain
// shutdown exactly as in chan_bench.cpp and chan_test.go.
i64 sieve() {
  using ch_t = unbuffered<i64>;
  std::atomic<bool> stop{false};
  auto ch = std::make_shared<ch_t>();
  go([out = ch, &stop] {
    for (i64 i = 2; !stop.load(); ++i) out->push(i);
    out->close();
  });
  i64 prime = 0;
  for (i64 i = 0; i < bench_util::kSievePrimes; ++i) {
    if (ch->pop(prime) != channel_op_status::success) return -1;
    if (i == bench_util::kSievePrimes - 1) break;
    auto next = std::make_shared<ch_t>();
    go([in = ch, out = next, prime] {
      i64 v = 0;
      while (in->pop(v) == channel_op_status::success) {
        if (v % prime != 0) out->push(v);
      }
      out->close();
    });
    ch = next;
  }
  stop.store(true);
  i64 v = 0;
  while (ch->pop(v) == channel_op_status::success) {
  }
  return prime;
}

void BM_Sieve5000(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    for (auto _ : st) {
      if (sieve() != bench_util::kSieveLastPrime) {
        st.SkipWithError("5000th prime is not 48611");
        break;
      }
    }
  });
}

// FanOutIn8 / FanOutIn8Buf64: a producer fiber pushes 0..N-1 on `in` and closes it; 8
// workers pop until `in` is closed, push bench_util::work(x) on `out`, and the last one
// to finish closes `out`; the benchmark loop pops until `out` is closed and checks the
// count and checksum (computed after the batch). Channels unbuffered or capacity 64
// (holds 63). ns per item; counter Mitems/s.
template <class Chan, class... CapArgs>
void fan_out_in(benchmark::State& state, sched s, CapArgs... cap) {
  in_fibers(state, s, [cap...](benchmark::State& st) {
    const i64 n = st.max_iterations;
    i64 count = 0;
    std::uint64_t sum = 0;
    const auto t0 = bench_util::steady::now();
    while (st.KeepRunningBatch(n)) {
      auto in = std::make_shared<Chan>(cap...);
      auto out = std::make_shared<Chan>(cap...);
      std::atomic<i64> workers_left{bench_util::kFanWorkers};
      go([in, n] {
        for (i64 i = 0; i < n; ++i) in->push(i);
        in->close();
      });
      for (i64 w = 0; w < bench_util::kFanWorkers; ++w) {
        go([in, out, &workers_left] {
          i64 x = 0;
          while (in->pop(x) == channel_op_status::success) out->push(bench_util::work(x));
          if (workers_left.fetch_sub(1) == 1) out->close();
        });
      }
      i64 v = 0;
      while (out->pop(v) == channel_op_status::success) {
        ++count;
        sum += static_cast<std::uint64_t>(v);
      }
    }
    const double seconds = bench_util::ns_since(t0) * 1e-9;
    st.counters["Mitems/s"] = static_cast<double>(n) / seconds / 1e6;
    if (count != n || sum != bench_util::work_sum_below(n)) st.SkipWithError("count or checksum mismatch");
  });
}

void BM_FanOutIn8(benchmark::State& state, sched s) {
  fan_out_in<unbuffered<i64>>(state, s);
}
void BM_FanOutIn8Buf64(benchmark::State& state, sched s) {
  fan_out_in<buffered<i64>>(state, s, std::size_t{64});
}

// ---- runtime (twins of runtime_bench.cpp) ------------------------------------------

void BM_SpawnJoin(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    const i64 n = st.max_iterations;
    while (st.KeepRunningBatch(n)) {
      std::atomic<i64> remaining{n};
      auto done = std::make_shared<unbuffered<unit>>();
      for (i64 i = 0; i < n; ++i) {
        go([&remaining, done] {
          if (remaining.fetch_sub(1) == 1) done->close();
        });
      }
      unit u;
      if (done->pop(u) != channel_op_status::closed || remaining.load() != 0) {
        st.SkipWithError("not every fiber ran");
      }
    }
  });
}

void BM_Yield(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    const i64 n = st.max_iterations;
    while (st.KeepRunningBatch(n)) {
      std::atomic<int> left{2};
      std::atomic<i64> calls{0};
      auto done = std::make_shared<unbuffered<unit>>();
      const auto t0 = bench_util::steady::now();
      for (int f = 0; f < 2; ++f) {
        go([n, &left, &calls, done] {
          i64 k = 0;
          for (; k < n; ++k) boost::this_fiber::yield();
          calls.fetch_add(k);
          if (left.fetch_sub(1) == 1) done->close();
        });
      }
      unit u;
      (void)done->pop(u);
      st.counters["ns/yield"] = bench_util::ns_since(t0) / (2.0 * static_cast<double>(n));
      if (calls.load() != 2 * n) st.SkipWithError("yield count mismatch");
    }
  });
}

// n fibers that each count themselves in `parked`, then block popping from one shared
// unbuffered `done` channel (Parked1M, IdleCPU10k); the twin of goro's parked_crowd. The
// constructor returns once all n are counted; release() closes `done` and waits until the
// last fiber to exit closes `exited`.
struct parked_crowd {
  const i64 n;
  std::shared_ptr<unbuffered<unit>> done = std::make_shared<unbuffered<unit>>();
  std::shared_ptr<unbuffered<unit>> exited = std::make_shared<unbuffered<unit>>();
  std::atomic<i64> parked{0};
  std::atomic<i64> alive;

  explicit parked_crowd(i64 count) : n(count), alive(count) {
    for (i64 i = 0; i < n; ++i) {
      go([done = done, exited = exited, this] {
        parked.fetch_add(1);
        unit u;
        (void)done->pop(u);
        if (alive.fetch_sub(1) == 1) exited->close();
      });
    }
    while (parked.load() < n) boost::this_fiber::yield();
  }
  void release() {
    done->close();
    unit u;
    (void)exited->pop(u);
  }
  bool all_exited() const { return alive.load() == 0 && parked.load() == n; }
};

void BM_Parked1M(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
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

// IdleCPU10k: 10,000 fibers parked on one unbuffered `done` channel; the benchmark fiber
// sleeps 1 s (this_fiber::sleep_for) and cpu_pct = process CPU time (getrusage, all
// threads) / wall time * 100 over that window; then close(done) and join. Under /ws the
// idle helper thread spins (work_stealing's default, suspend = false).
void BM_IdleCPU10k(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    constexpr i64 kN = bench_util::kIdleFibers;
    for (auto _ : st) {
      parked_crowd crowd(kN);
      const double cpu0 = bench_util::process_cpu_seconds();
      const auto t0 = bench_util::steady::now();
      boost::this_fiber::sleep_for(bench_util::kIdleWindow);
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

// ---- sync (twins of sync_bench.cpp: the mutex rows only) ----------------------------

// Mutex4: 4 fibers each do N/4 (N rounded up to a multiple of 4) iterations of
// lock; ++shared; unlock on one fibers::mutex; ns per pair. Under /rr the fibers never
// meet the mutex held (a fiber is switched out only when it blocks, never between
// lock and unlock), so /rr measures the uncontended path plus 4 fiber switches per batch;
// /ws has 2 threads contending.
void BM_Mutex4(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    constexpr i64 kFibers = 4;
    const i64 per = (st.max_iterations + kFibers - 1) / kFibers;
    const i64 total = per * kFibers;
    while (st.KeepRunningBatch(total)) {
      fibers::mutex mu;
      i64 shared = 0;
      std::atomic<i64> left{kFibers};
      auto done = std::make_shared<unbuffered<unit>>();
      for (i64 k = 0; k < kFibers; ++k) {
        go([&mu, &shared, &left, done, per] {
          for (i64 i = 0; i < per; ++i) {
            mu.lock();
            ++shared;
            mu.unlock();
          }
          if (left.fetch_sub(1) == 1) done->close();
        });
      }
      unit u;
      (void)done->pop(u);  // closed by the last fiber
      if (shared != total) st.SkipWithError("lost increments: the mutex let two fibers in");
    }
  });
}

// MutexUncontended: lock; ++shared; unlock by one fiber; ns per pair.
void BM_MutexUncontended(benchmark::State& state, sched s) {
  in_fibers(state, s, [](benchmark::State& st) {
    fibers::mutex mu;
    i64 shared = 0;
    for (auto _ : st) {
      mu.lock();
      ++shared;
      mu.unlock();
    }
    if (shared != st.iterations()) st.SkipWithError("increment count mismatch");
  });
}

// All /rr variants first (see the top comment), then all /ws variants.
#define FIBER_BENCHES(suffix, s)                                                                          \
  BENCHMARK_CAPTURE(BM_Handoff, suffix, s)->UseRealTime();                                                \
  BENCHMARK_CAPTURE(BM_SPSC1024, suffix, s)->UseRealTime();                                               \
  BENCHMARK_CAPTURE(BM_MPMC4x4, suffix, s)->UseRealTime();                                                \
  BENCHMARK_CAPTURE(BM_RecvMiss, suffix, s)->UseRealTime();                                               \
  BENCHMARK_CAPTURE(BM_Sieve5000, suffix, s)->UseRealTime()->Unit(benchmark::kMillisecond);               \
  BENCHMARK_CAPTURE(BM_FanOutIn8, suffix, s)->UseRealTime();                                              \
  BENCHMARK_CAPTURE(BM_FanOutIn8Buf64, suffix, s)->UseRealTime();                                         \
  BENCHMARK_CAPTURE(BM_SpawnJoin, suffix, s)->UseRealTime();                                              \
  BENCHMARK_CAPTURE(BM_Yield, suffix, s)->UseRealTime();                                                  \
  BENCHMARK_CAPTURE(BM_Parked1M, suffix, s)->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond); \
  BENCHMARK_CAPTURE(BM_IdleCPU10k, suffix, s)->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond)
#define SYNC_BENCHES(suffix, s)                           \
  BENCHMARK_CAPTURE(BM_Mutex4, suffix, s)->UseRealTime(); \
  BENCHMARK_CAPTURE(BM_MutexUncontended, suffix, s)->UseRealTime()

FIBER_BENCHES(rr, sched::rr);
SYNC_BENCHES(rr, sched::rr);
FIBER_BENCHES(ws, sched::ws);
SYNC_BENCHES(ws, sched::ws);

}  // namespace

// Own main (not benchmark_main): the work_stealing helper thread must be stopped
// while this thread's fiber scheduler still exists, i.e. before main() returns.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  ws_pair::shutdown();
  return 0;
}
