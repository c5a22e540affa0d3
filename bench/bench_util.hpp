// Shared helpers of the goro benchmark suite (bench/*_bench.cpp and, with
// BENCH_UTIL_NO_GORO defined, bench/boost_fiber/fiber_bench.cpp).
//
// Every benchmark has twins with the same name and the same workload in
// bench/go (Go) and bench/boost_fiber (Boost.Fiber); see bench/README.md.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#ifndef BENCH_UTIL_NO_GORO
#include <goro/goro.hpp>
#endif

namespace bench_util {

using i64 = std::int64_t;  // Go's int is 64-bit: channels carry 8-byte values everywhere.

// Sieve5000: the 5000th prime.
inline constexpr i64 kSievePrimes = 5000;
inline constexpr i64 kSieveLastPrime = 48611;
// Parked1M: number of parked fibers.
inline constexpr i64 kParked = 1'000'000;

// 0 + 1 + ... + (n - 1): the checksum of a stream of the ints 0..n-1.
inline constexpr i64 sum_below(i64 n) {
  return n * (n - 1) / 2;
}

// Number of goro processors: env GORO_BENCH_PROCS, default 2.
inline unsigned procs() {
  const char* s = std::getenv("GORO_BENCH_PROCS");
  if (s == nullptr || *s == '\0') return 2;
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (*end != '\0' || v == 0 || v > 4096) return 2;
  return static_cast<unsigned>(v);
}

// Resident set size of this process in bytes (VmRSS of /proc/self/status), -1 if unknown.
inline i64 rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return -1;
}

using steady = std::chrono::steady_clock;

inline double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}
inline double ns_since(steady::time_point t0) {
  return std::chrono::duration<double, std::nano>(steady::now() - t0).count();
}

#ifndef BENCH_UTIL_NO_GORO
// Runs body(state) as the main fiber of a fresh goro runtime with procs() processors;
// the body executes the benchmark loop. Runtime start-up and shutdown are not timed.
template <class Body>
void in_goro(benchmark::State& state, Body body) {
  goro::run([&state, &body] { body(state); }, goro::options{.procs = procs()});
}
#endif

}  // namespace bench_util
