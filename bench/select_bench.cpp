// Select benchmarks of goro: Select2Ready, Select4Ready, Select8Ready,
// SelectDefaultEmpty, Dynamic32, Dynamic64.
// Twins with the same names and workloads: bench/go/select_test.go (Go). Each benchmark
// validates its result (chosen case and received value) and reports an error instead
// of a time when it is wrong; each reports "allocs/op" (alloc_counter.hpp: operator new
// calls during the timed loop / iterations; Go: -benchmem).
//
// Every body runs as the main fiber of goro::run(..., {.procs = GORO_BENCH_PROCS (2)}).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "alloc_counter.hpp"
#include "bench_util.hpp"

namespace {

using bench_util::i64;
using bench_util::in_goro;

// select over receive cases on c[0..K-1]; stores the received value in `got`.
template <std::size_t K, std::size_t... I>
std::size_t select_recv_all(std::array<goro::chan<i64>, K>& c, i64& got, std::index_sequence<I...>) {
  return goro::select(goro::case_recv(c[I], [&got](std::optional<i64> v) { got = v.value_or(-1); })...);
}

// SelectKReady: K channels of capacity 1. Iteration i makes channel i % K ready with a
// non-blocking send of i, then a select over the K receive cases must pick that channel
// and receive i. ns/op = per select (plus the try_send).
template <std::size_t K>
void select_ready(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    std::array<goro::chan<i64>, K> c;
    for (auto& ch : c) ch = goro::make_chan<i64>(1);
    i64 i = 0;
    i64 bad = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      const std::size_t j = static_cast<std::size_t>(i) % K;
      if (!c[j].try_send(i)) {
        st.SkipWithError("try_send on an empty capacity-1 channel failed");
        break;
      }
      i64 got = -1;
      const std::size_t chosen = select_recv_all<K>(c, got, std::make_index_sequence<K>{});
      bad += static_cast<i64>(chosen != j || got != i);
      ++i;
    }
    allocs.report(st);
    if (bad != 0) st.SkipWithError("select chose the wrong case or received the wrong value");
  });
}

void BM_Select2Ready(benchmark::State& state) {
  select_ready<2>(state);
}
void BM_Select4Ready(benchmark::State& state) {
  select_ready<4>(state);
}
void BM_Select8Ready(benchmark::State& state) {
  select_ready<8>(state);
}

// SelectDefaultEmpty: select { case v := <-c: ...; default: } on an empty buffered
// channel (capacity 1); must take default every time.
void BM_SelectDefaultEmpty(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    auto c = goro::make_chan<i64>(1);
    i64 hits = 0;
    i64 misses = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      const std::size_t chosen =
          goro::select(goro::case_recv(c, [&hits](std::optional<i64> v) { hits += v.value_or(0) + 1; }),
                       goro::case_default([&misses] { ++misses; }));
      hits += static_cast<i64>(chosen != 1);
    }
    allocs.report(st);
    if (hits != 0 || misses != st.iterations())
      st.SkipWithError("select on an empty channel did not take default");
  });
}

// DynamicK: goro::dynamic_select<int> (Go: reflect.Select) with K receive cases on
// channels of capacity 1. Iteration i makes channel i % K ready with a non-blocking send
// of (int)i; wait() must return that case and value. One wait() before the timed loop
// (validated too): dynamic_select sizes its storage on the first wait, later waits
// allocate nothing (select.hpp), so allocs/op is the steady state.
template <std::size_t K>
void dynamic(benchmark::State& state) {
  in_goro(state, [](benchmark::State& st) {
    std::vector<goro::chan<int>> c;
    goro::dynamic_select<int> sel;
    for (std::size_t j = 0; j < K; ++j) {
      c.push_back(goro::make_chan<int>(1));
      if (sel.add_recv(c.back()) != j) {
        st.SkipWithError("dynamic_select::add_recv returned an unexpected index");
        return;
      }
    }
    // Warm-up: the last channel, a value no timed iteration sends first.
    if (!c[K - 1].try_send(-1)) {
      st.SkipWithError("try_send on an empty capacity-1 channel failed");
      return;
    }
    if (auto r = sel.wait(); r.index != K - 1 || r.value != std::optional<int>(-1)) {
      st.SkipWithError("warm-up wait() returned the wrong case or value");
      return;
    }
    std::int64_t i = 0;
    std::int64_t bad = 0;
    const bench_alloc::meter allocs;
    for (auto _ : st) {
      const std::size_t j = static_cast<std::size_t>(i) % K;
      const int v = static_cast<int>(i & 0x7fffffff);
      if (!c[j].try_send(v)) {
        st.SkipWithError("try_send on an empty capacity-1 channel failed");
        break;
      }
      auto r = sel.wait();
      bad += static_cast<std::int64_t>(r.index != j || !r.value || *r.value != v);
      ++i;
    }
    allocs.report(st);
    if (bad != 0) st.SkipWithError("dynamic_select chose the wrong case or received the wrong value");
  });
}

void BM_Dynamic32(benchmark::State& state) {
  dynamic<32>(state);
}
void BM_Dynamic64(benchmark::State& state) {
  dynamic<64>(state);
}

}  // namespace

BENCHMARK(BM_Select2Ready)->UseRealTime();
BENCHMARK(BM_Select4Ready)->UseRealTime();
BENCHMARK(BM_Select8Ready)->UseRealTime();
BENCHMARK(BM_SelectDefaultEmpty)->UseRealTime();
BENCHMARK(BM_Dynamic32)->UseRealTime();
BENCHMARK(BM_Dynamic64)->UseRealTime();
