// Allocation counting for goro_bench: bench/alloc_counter.cpp replaces the global
// operator new/delete (every form) with malloc/free plus a relaxed atomic counter of
// operator new calls, process-wide (all threads). Linked into goro_bench only (not into
// boost_fiber_bench); the benchmarks that include this header report the counter
// "allocs/op" = operator new calls during the timed loop / iterations, the twin of Go's
// -benchmem allocs/op. Not counted: direct malloc/mmap calls (fiber stacks, libc).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace bench_alloc {

// Number of operator new calls (any form, any thread) since the process started.
std::uint64_t count() noexcept;

// Takes the count when constructed (just before a timed loop); report() sets the
// benchmark counter "allocs/op" to the allocations since then per iteration.
class meter {
 public:
  meter() noexcept : start_(count()) {}
  double per_op(const benchmark::State& st) const noexcept {
    const std::uint64_t n = count() - start_;
    return st.iterations() == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(st.iterations());
  }
  void report(benchmark::State& st) const { st.counters["allocs/op"] = per_op(st); }

 private:
  std::uint64_t start_;
};

}  // namespace bench_alloc
