// tests/patterns/patterns_util.hpp: helpers shared by the tests of goro/patterns.
//
// Conventions (as in tests/chan_test.cpp and tests/context_test.cpp):
//  * Assertions run only in the main fiber of run_test(); other fibers and plain threads
//    record what they saw in atomics or under a mutex, and the body asserts afterwards.
//  * Every wait in a test is bounded (recv_within, drain, eventually), so a broken pattern
//    fails the test instead of hanging it.
//  * Timing assertions are one-sided ("not earlier than"), with generous upper bounds only
//    where the alternative is seconds away.
//  * "Nothing leaks": fibers_back_to(base) waits until goro::num_fibers() is back to the count
//    taken before the pattern was created (run_test checks it again at the end).
//  * Channels are never operands of a CHECK: Catch prints the operands of a failed assertion
//    and would print a channel as a range, i.e. receive from it.
#pragma once

#include <goro/patterns.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "../test_util.hpp"

namespace pt {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

inline goro::context bg() {
  return goro::context::background();
}

// A receive bounded by `limit`: the value, or nullopt when ch is closed (or the time ran out,
// which sets *timed_out).
template <class T>
std::optional<T> recv_within(const goro::recv_chan<T>& ch, bool* timed_out = nullptr,
                             std::chrono::milliseconds limit = 5000ms) {
  std::optional<T> out;
  std::size_t i = goro::select(goro::case_recv(ch, [&](std::optional<T> v) { out = std::move(v); }),
                               goro::case_recv(goro::after(limit)));
  if (timed_out != nullptr) *timed_out = i == 1;
  return out;
}

template <class T>
struct drained {
  std::vector<T> values;
  bool closed = false;  // false: still open when the time ran out (or more than `max` values)
};

// Receives everything until ch is closed, at most `limit` in all.
template <class T>
drained<T> drain(const goro::recv_chan<T>& ch, std::chrono::milliseconds limit = 5000ms,
                 std::size_t max = std::numeric_limits<std::size_t>::max()) {
  drained<T> d;
  goro::timer t(limit);
  for (;;) {
    std::optional<T> v;
    std::size_t i = goro::select(goro::case_recv(ch, [&](std::optional<T> x) { v = std::move(x); }),
                                 goro::case_recv(t.c()));
    if (i == 1) return d;
    if (!v) {
      d.closed = true;
      return d;
    }
    d.values.push_back(std::move(*v));
    if (d.values.size() > max) return d;
  }
}

// True when ch is closed and drained right now (a receive is ready and yields nullopt).
template <class T>
bool closed_now(const goro::recv_chan<T>& ch) {
  bool got_value = false;
  std::size_t i = goro::select(goro::case_recv(ch, [&](std::optional<T> v) { got_value = v.has_value(); }),
                               goro::case_default());
  return i == 0 && !got_value;
}

// True when no receive on ch is ready right now (nothing buffered, no sender, not closed).
// Consumes nothing when it returns true.
template <class T>
bool nothing_ready(const goro::recv_chan<T>& ch) {
  return goro::select(goro::case_recv(ch), goro::case_default()) == 1;
}

template <class T>
bool is_nil(const goro::recv_chan<T>& ch) {
  return !ch;
}

inline bool fibers_back_to(std::size_t base, std::chrono::milliseconds limit = 5000ms) {
  return goro_test::eventually([&] { return goro::num_fibers() == base; }, limit);
}

// Waits for ctx.done(), at most `limit`; false if it did not happen.
inline bool await_done(const goro::context& ctx, std::chrono::milliseconds limit = 5000ms) {
  return goro::select(goro::case_recv(ctx.done()), goro::case_recv(goro::after(limit))) == 0;
}

// from, from + 1, ..., from + n - 1
inline std::vector<int> iota_vec(int n, int from = 0) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(from + i);
  return v;
}

inline void note_max(std::atomic<int>& peak, int v) {
  int p = peak.load();
  while (p < v && !peak.compare_exchange_weak(p, v)) {
  }
}

// A small deterministic PRNG for fibers (no shared std:: engine between fibers).
inline std::uint32_t mix(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

}  // namespace pt
