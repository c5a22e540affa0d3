// Shared helpers of the goro benchmark suite (bench/*_bench.cpp and, with
// BENCH_UTIL_NO_GORO defined, bench/boost_fiber/fiber_bench.cpp).
//
// Every benchmark has twins with the same name and the same workload in
// bench/go (Go) and bench/boost_fiber (Boost.Fiber); see bench/README.md.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <bit>
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
// IdleCPU10k: number of parked fibers, and the wall-clock window over which the
// process's CPU time is measured while the benchmark fiber sleeps.
inline constexpr i64 kIdleFibers = 10'000;
inline constexpr std::chrono::seconds kIdleWindow{1};
// FanOutIn8*: number of worker fibers.
inline constexpr i64 kFanWorkers = 8;

// FanOutIn8*: ~1 us of CPU work per item. A dependent chain of kWorkSteps steps
// u = rotl(u * 6364136223846793005 + 1442695040888963407, 23) on uint64 (about 5 cycles
// a step: imul, add, rol); the Go twin (bench/go/chan_test.go: workSteps, work) is
// identical. The rotate makes the chain non-affine: a plain LCG chain is affine, and
// clang folds its unrolled steps (x*a + c twice = x*a*a + (c*a + c)), 8 steps into one.
// kWorkSteps = 600: ~1.0 us per call on the 2-core machine of docs/performance.md
// (~1.65 ns a step, g++ -O3 and Go 1.19 alike).
inline constexpr i64 kWorkSteps = 600;
inline i64 work(i64 x) {
  auto u = static_cast<std::uint64_t>(x);
  for (i64 k = 0; k < kWorkSteps; ++k) u = std::rotl(u * 6364136223846793005ULL + 1442695040888963407ULL, 23);
  return static_cast<i64>(u);
}
// work(0) + work(1) + ... + work(n - 1), wrapping modulo 2^64 (as Go's int does): the
// checksum of FanOutIn8*. Computed after the timed loop.
inline std::uint64_t work_sum_below(i64 n) {
  std::uint64_t s = 0;
  for (i64 i = 0; i < n; ++i) s += static_cast<std::uint64_t>(work(i));
  return s;
}

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

// User + system CPU time of the whole process (all threads) in seconds: getrusage
// (RUSAGE_SELF), as the Go twin's syscall.Getrusage.
inline double process_cpu_seconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
  const auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
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
