// tests/select_test.cpp: goro::select and goro::dynamic_select (API.md, Select; Clarifications:
// Select callbacks, Wait queues, Select cases, Closed channels, try_recv).
//
// Conventions (as in chan_test.cpp).
//  * Assertions run only on the test thread or in the main fiber of run_test(): Catch2 is not
//    thread-safe and an exception escaping any other fiber ends the process. Spawned fibers and
//    plain threads record what they saw in atomics, and the main fiber checks it.
//  * No pass/fail depends on timing. Where a test wants a select to be parked before acting,
//    it either proves it (procs = 1, see wait_parked) or only makes it likely (a short sleep)
//    under an assertion that holds either way.
//  * Deterministic parking (wait_parked). goro is cooperative: a fiber leaves its processor only
//    by parking, yielding or returning. With procs = 1 a spawned fiber sets a flag and at once
//    calls a select that cannot proceed, with no switch point in between; the main fiber yields
//    until it sees the flag, and being able to run again on the only processor proves that the
//    other fiber is parked inside select (pass 2: its records are queued).
//  * Statistics. Fairness tests accept a per-case count within mean +- 7 sd (see
//    check_uniform): a correct implementation fails one of them with probability < 1e-9.
//  * Stress sizes go through scaled() (GORO_TEST_SCALE); heavy cases are tagged [stress].
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

// ---------------------------------------------------------------------------------------
// Counting heap allocations (for "no heap allocation per select call").
//
// Normally by replacing the global operator new/delete. That is program-wide, so they behave
// exactly like the library's versions for every other test file linked into the same
// executable: every form allocates with malloc/posix_memalign and frees with free, and an
// allocation is counted only while g_count_allocs is set (by alloc_probe, in the allocation
// tests below, never concurrently with another test). Every form is defined.
//
// clang's sanitizer runtimes (ASan, TSan, MSan) are linked statically with their own
// operator new/delete, so a replacement would be a duplicate definition there. Those builds
// count through the sanitizer allocator's malloc hook instead, which sees every allocation,
// operator new included. (g++'s sanitizers use a shared runtime: the replacement works.)
// ---------------------------------------------------------------------------------------
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GORO_SELECT_TEST_MALLOC_HOOK 1
#endif
#endif
#ifndef GORO_SELECT_TEST_MALLOC_HOOK
#define GORO_SELECT_TEST_MALLOC_HOOK 0
#endif

namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<long> g_allocs{0};

void note_alloc() noexcept {
  if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

#if GORO_SELECT_TEST_MALLOC_HOOK
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));
namespace {
void on_malloc(const volatile void*, std::size_t) {
  note_alloc();
}
void on_free(const volatile void*) {}
const bool g_alloc_counting_works = __sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free) != 0;
}  // namespace
#else
namespace {
const bool g_alloc_counting_works = true;

void* counted_malloc(std::size_t n) noexcept {
  note_alloc();
  return std::malloc(n == 0 ? 1 : n);
}
void* counted_aligned(std::size_t n, std::align_val_t al) noexcept {
  note_alloc();
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  void* p = nullptr;
  if (posix_memalign(&p, a, n == 0 ? 1 : n) != 0) return nullptr;
  return p;
}
// Not inlined: GCC would otherwise see free() applied to what operator new returned, inlined
// into user code, and warn (-Wmismatched-new-delete), although the pair is consistent here.
[[gnu::noinline]] void counted_free(void* p) noexcept {
  std::free(p);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
  if (void* p = counted_aligned(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) {
  if (void* p = counted_aligned(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return counted_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return counted_aligned(n, al);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  counted_free(p);
}
#endif

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using goro_test::scaled;
using goro_test::thread_set;
using goro_test::wait_parked;

namespace {

using namespace std::chrono_literals;

// Counts the global allocations between construction and stop() (or destruction).
struct alloc_probe {
  alloc_probe() {
    g_allocs.store(0);
    g_count_allocs.store(true);
  }
  long stop() {
    g_count_allocs.store(false);
    return g_allocs.load();
  }
  ~alloc_probe() { g_count_allocs.store(false); }
};

// splitmix64's finalizer: checksums sum mix(v), so that a lost value and a duplicated one do
// not cancel out as they could in a plain sum.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Fairness. With k cases ready at every draw and a uniform choice, the count of one case
// after n draws is Binomial(n, 1/k): mean n/k, sd = sqrt(n * (1/k) * (1 - 1/k)). A count is
// accepted within mean +- 7 sd. For a normal variable P(|Z| > 7) = 2.6e-12; binomial tails
// are a little heavier where the skew matters (small n, large k), so here are the exact
// two-sided tails, computed with mpmath, for the sizes used (n >= 2000 at every
// GORO_TEST_SCALE, see fairness_draws): per case at most 1.5e-11 (k = 8, n = 2000), 5e-12
// (k = 4), 3e-12 (k = 2, 3). A union bound over the k cases gives per test at most 1.2e-10
// (k = 8), 2e-11 (k = 4), 1e-11 (k = 2, 3); the file's six fairness runs together fail a
// correct implementation with probability < 2e-10. A biased choice is far outside: "first
// ready case in argument order" gives one case all n draws; a random rotation (start at a
// random case, take the next ready one) gives the case after a run of r not-ready ones
// (r+1)/live of the draws, dozens of sd off with the layouts used below.
constexpr double fairness_z = 7.0;

void check_uniform(const std::vector<long>& counts, long n) {
  const double k = static_cast<double>(counts.size());
  const double mean = static_cast<double>(n) / k;
  const double sd = std::sqrt(static_cast<double>(n) * (1.0 / k) * (1.0 - 1.0 / k));
  for (std::size_t i = 0; i < counts.size(); ++i) {
    INFO("case " << i << " chosen " << counts[i] << " times of " << n << "; expected " << mean << " +- "
                 << fairness_z * sd);
    CHECK(std::abs(static_cast<double>(counts[i]) - mean) <= fairness_z * sd);
  }
}

long fairness_draws(long n) {
  return std::max(2000L, scaled(n));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Return value, callbacks, default
// ---------------------------------------------------------------------------------------

TEST_CASE("select returns the argument-order index of the case that ran", "[select]") {
  run_test(1, [] {
    auto a = goro::make_chan<int>(1), b = goro::make_chan<int>(1), c = goro::make_chan<int>(1);
    std::array<goro::chan<int>*, 3> chs{&a, &b, &c};
    for (int round = 0; round < 20; ++round) {
      // Exactly one ready receive case, in each position.
      for (std::size_t which = 0; which < 3; ++which) {
        chs[which]->send(static_cast<int>(10 * round + which));
        std::optional<int> got;
        auto cb = [&got](std::optional<int> v) { got = v; };
        std::size_t i = goro::select(goro::case_recv(a, cb), goro::case_recv(b, cb), goro::case_recv(c, cb));
        REQUIRE(i == which);
        REQUIRE(got == static_cast<int>(10 * round + which));
        REQUIRE(chs[which]->size() == 0);
      }
      // Exactly one ready send case (the others' buffers are full), in each position.
      for (std::size_t which = 0; which < 3; ++which) {
        for (std::size_t k = 0; k < 3; ++k) {
          if (k != which) chs[k]->send(-1);
        }
        std::size_t i =
            goro::select(goro::case_send(a, 100), goro::case_send(b, 101), goro::case_send(c, 102));
        REQUIRE(i == which);
        REQUIRE(chs[which]->try_recv() == static_cast<int>(100 + which));
        for (std::size_t k = 0; k < 3; ++k) {
          if (k != which) REQUIRE(chs[k]->try_recv() == -1);
        }
      }
      // The default in first, middle and last position: its own index when nothing is ready,
      // the ready case's index otherwise.
      REQUIRE(goro::select(goro::case_default(), goro::case_recv(a), goro::case_recv(b)) == 0);
      REQUIRE(goro::select(goro::case_recv(a), goro::case_default(), goro::case_recv(b)) == 1);
      REQUIRE(goro::select(goro::case_recv(a), goro::case_recv(b), goro::case_default()) == 2);
      b.send(1);
      REQUIRE(goro::select(goro::case_default(), goro::case_recv(a), goro::case_recv(b)) == 2);
      a.send(1);
      REQUIRE(goro::select(goro::case_recv(a), goro::case_default(), goro::case_recv(b)) == 0);
      b.send(1);
      REQUIRE(goro::select(goro::case_recv(a), goro::case_recv(b), goro::case_default()) == 1);
      REQUIRE(goro::select(goro::case_default()) == 0);
      REQUIRE(a.size() + b.size() + c.size() == 0);
    }
  });
}

TEST_CASE("only the chosen case's callback runs, with the received value", "[select]") {
  run_test(1, [] {
    auto a = goro::make_chan<int>(1), b = goro::make_chan<int>(1), c = goro::make_chan<int>(1);
    int ran_a = 0, ran_b = 0, ran_c = 0, ran_d = 0;
    std::optional<int> got_a;
    std::size_t c_size_in_callback = 99;
    auto sel = [&] {
      return goro::select(
          goro::case_recv(a, [&](std::optional<int> v) { ++ran_a, got_a = v; }),   // void(std::optional<T>)
          goro::case_recv(b, [&] { ++ran_b; }),                                    // void()
          goro::case_send(c, 7, [&] { ++ran_c, c_size_in_callback = c.size(); }),  // runs after the send
          goro::case_default([&] { ++ran_d; }));
    };
    c.send(0);  // full: the send case is not ready
    REQUIRE(sel() == 3);
    REQUIRE((ran_a == 0 && ran_b == 0 && ran_c == 0 && ran_d == 1));

    a.send(41);
    REQUIRE(sel() == 0);
    REQUIRE((ran_a == 1 && ran_b == 0 && ran_c == 0 && ran_d == 1));
    REQUIRE(got_a == 41);

    b.send(42);
    REQUIRE(sel() == 1);
    REQUIRE((ran_a == 1 && ran_b == 1 && ran_c == 0 && ran_d == 1));
    REQUIRE(b.size() == 0);  // a callback taking nothing still consumed the value

    REQUIRE(c.try_recv() == 0);  // room now: the send case is the only ready one
    REQUIRE(sel() == 2);
    REQUIRE((ran_a == 1 && ran_b == 1 && ran_c == 1 && ran_d == 1));
    REQUIRE(c_size_in_callback == 1);
    REQUIRE(c.try_recv() == 7);

    // A receive case without callback consumes the value too; a default without callback.
    a.send(5);
    REQUIRE(goro::select(goro::case_recv(a), goro::case_default()) == 0);
    REQUIRE(a.size() == 0);
    REQUIRE(goro::select(goro::case_recv(a), goro::case_default()) == 1);

    // A closed channel: the optional callback gets nullopt, the no-argument one just runs.
    a.close();
    got_a = 123;
    REQUIRE(goro::select(goro::case_recv(a, [&](std::optional<int> v) { got_a = v; }),
                         goro::case_default()) == 0);
    REQUIRE_FALSE(got_a.has_value());
    bool ran = false;
    REQUIRE(goro::select(goro::case_recv(a, [&] { ran = true; }), goro::case_default()) == 0);
    REQUIRE(ran);
  });
}

TEST_CASE("select accepts chan, send_chan and recv_chan, const or not, lvalues and temporaries", "[select]") {
  run_test(1, [] {
    auto ch = goro::make_chan<int>(1);
    const goro::chan<int> cch = ch;
    goro::send_chan<int> s = ch;
    const goro::recv_chan<int> r = ch;
    REQUIRE(goro::select(goro::case_send(s, 1), goro::case_default()) == 0);
    REQUIRE(goro::select(goro::case_send(cch, 2), goro::case_default()) == 1);  // full
    std::optional<int> got;
    REQUIRE(goro::select(goro::case_recv(r, [&](std::optional<int> v) { got = v; })) == 0);
    REQUIRE(got == 1);
    REQUIRE(goro::select(goro::case_send(goro::send_chan<int>(ch), 3)) == 0);
    REQUIRE(goro::select(goro::case_recv(goro::recv_chan<int>(ch), [&](std::optional<int> v) { got = v; })) ==
            0);
    REQUIRE(got == 3);
    REQUIRE(goro::select(goro::case_send(ch, 4), goro::case_recv(cch)) ==
            0);  // empty: only the send is ready
    REQUIRE(goro::select(goro::case_send(ch, 5),
                         goro::case_recv(cch, [&](std::optional<int> v) { got = v; })) == 1);
    REQUIRE(got == 4);
  });
}

TEST_CASE("callbacks run with no channel lock held: they may send, receive and select on the same channels",
          "[select]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    auto a = goro::make_chan<int>(1), b = goro::make_chan<int>(0);
    std::atomic<int> echoed{-1};
    goro::go([b, &echoed] { echoed.store(b.recv().value_or(-2)); });  // a partner for the blocking send
    a.send(1);
    std::optional<int> inner;
    std::size_t inner_index = 99;
    std::size_t i =
        goro::select(goro::case_recv(a,
                                     [&](std::optional<int> v) {
                                       a.send(*v + 1);  // same channel as the case being run
                                       inner_index = goro::select(
                                           goro::case_recv(a, [&](std::optional<int> w) { inner = w; }),
                                           goro::case_send(a, 0), goro::case_default());
                                       b.send(*inner * 10);  // blocks until the partner receives
                                     }),
                     goro::case_send(a, 5));  // the buffer is full: not ready
    REQUIRE(i == 0);
    REQUIRE(inner_index == 0);
    REQUIRE(inner == 2);
    REQUIRE(eventually([&] { return echoed.load() == 20; }));
  });
}

TEST_CASE("default runs when nothing is ready: empty, full, unbuffered without partner, nil", "[select]") {
  run_test(1, [] {
    auto empty = goro::make_chan<int>(2), full = goro::make_chan<int>(1), unbuf = goro::make_chan<int>();
    full.send(1);
    goro::chan<int> nil;
    for (int i = 0; i < 100; ++i) {
      int defaults = 0;
      std::size_t r = goro::select(goro::case_recv(empty), goro::case_send(full, 2), goro::case_recv(unbuf),
                                   goro::case_send(unbuf, 3), goro::case_recv(nil), goro::case_send(nil, 4),
                                   goro::case_default([&] { ++defaults; }));
      REQUIRE(r == 6);
      REQUIRE(defaults == 1);
      // One live case plus default (the implementation's single-case shortcut).
      REQUIRE(goro::select(goro::case_recv(empty), goro::case_default()) == 1);
      REQUIRE(goro::select(goro::case_send(unbuf, 5), goro::case_default()) == 1);
    }
    REQUIRE(empty.size() == 0);
    REQUIRE(full.size() == 1);
    REQUIRE(full.try_recv() == 1);
  });
}

TEST_CASE("default never runs while some case stays ready", "[select]") {
  run_test(1, [] {
    auto a = goro::make_chan<int>(1), empty = goro::make_chan<int>(1), full = goro::make_chan<int>(1);
    full.send(0);
    const long n = scaled(100000);
    long defaults = 0, wrong = 0;
    for (long i = 0; i < n; ++i) {
      if (a.size() == 0) a.send(static_cast<int>(i));
      std::optional<int> got;
      std::size_t r = goro::select(goro::case_recv(empty), goro::case_send(full, 1),
                                   goro::case_recv(a, [&](std::optional<int> v) { got = v; }),
                                   goro::case_default([&] { ++defaults; }));
      if (r != 2 || got != static_cast<int>(i)) ++wrong;
      a.send(static_cast<int>(i + 1));
      if (goro::select(goro::case_recv(a, [&](std::optional<int> v) { got = v; }), goro::case_default()) !=
              0 ||
          got != static_cast<int>(i + 1)) {
        ++wrong;
      }
    }
    REQUIRE(defaults == 0);
    REQUIRE(wrong == 0);
  });
}

TEST_CASE("default never runs while a closed channel's case is ready, under concurrent traffic",
          "[select][stress]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    auto busy = goro::make_chan<int>(1), unbuf = goro::make_chan<int>(), closed = goro::make_chan<int>();
    closed.close();
    std::atomic<bool> stop{false};
    std::atomic<int> helpers_done{0}, selectors_done{0};
    std::atomic<long> defaults{0}, bad{0};
    constexpr int nhelpers = 2, nselectors = 3;
    for (int h = 0; h < nhelpers; ++h) {
      goro::go([=, &stop, &helpers_done] {
        // Makes busy and unbuf flip between ready and not ready.
        while (!stop.load()) {
          (void)busy.try_send(h);
          (void)busy.try_recv();
          (void)goro::select(goro::case_send(unbuf, h), goro::case_recv(unbuf), goro::case_default());
          goro::yield();
        }
        helpers_done.fetch_add(1);
      });
    }
    const long n = scaled(20000);
    for (int s = 0; s < nselectors; ++s) {
      goro::go([=, &defaults, &bad, &selectors_done] {
        for (long i = 0; i < n; ++i) {
          std::optional<int> got = 0;
          std::size_t r =
              goro::select(goro::case_recv(busy), goro::case_send(busy, 7), goro::case_recv(unbuf),
                           goro::case_recv(closed, [&](std::optional<int> v) { got = v; }),
                           goro::case_send(unbuf, 8), goro::case_default());
          if (r == 5) defaults.fetch_add(1);
          if (r == 3 && got.has_value()) bad.fetch_add(1);
          if (i % 64 == 0) goro::yield();
        }
        selectors_done.fetch_add(1);
      });
    }
    REQUIRE(eventually([&] { return selectors_done.load() == nselectors; }, 60s));
    stop.store(true);
    REQUIRE(eventually([&] { return helpers_done.load() == nhelpers; }, 60s));
    REQUIRE(defaults.load() == 0);
    REQUIRE(bad.load() == 0);
  });
}

// ---------------------------------------------------------------------------------------
// Fairness
// ---------------------------------------------------------------------------------------

TEST_CASE("several ready cases are chosen uniformly at random (k = 2, 3, 8), not-ready ones never",
          "[select]") {
  const int k = GENERATE(2, 3, 8);
  run_test(1, [k] {
    const long n = fairness_draws(40000);
    INFO("k = " << k << ", draws = " << n);
    auto empty = goro::make_chan<int>(1), full = goro::make_chan<int>(1), unbuf = goro::make_chan<int>();
    full.send(0);
    goro::recv_chan<int> nil;
    std::vector<long> counts(static_cast<std::size_t>(k), 0);
    long others = 0, wrong_value = 0;
    if (k == 2) {
      // Ready cases at argument positions 0 and 4, separated by three not-ready ones.
      auto r0 = goro::make_chan<int>(1), r1 = goro::make_chan<int>(1);
      r0.send(0), r1.send(1);
      for (long i = 0; i < n; ++i) {
        std::optional<int> got;
        auto cb = [&got](std::optional<int> v) { got = v; };
        std::size_t idx =
            goro::select(goro::case_recv(r0, cb), goro::case_recv(empty), goro::case_send(full, 9),
                         goro::case_recv(unbuf), goro::case_recv(r1, cb), goro::case_recv(nil));
        if (idx == 0) {
          ++counts[0];
          if (got != 0) ++wrong_value;
          r0.send(0);
        } else if (idx == 4) {
          ++counts[1];
          if (got != 1) ++wrong_value;
          r1.send(1);
        } else {
          ++others;
        }
      }
    } else if (k == 3) {
      // A buffered value, room for a send, and a closed channel; plus not-ready cases and a
      // default that must never run.
      auto r = goro::make_chan<int>(1), s = goro::make_chan<int>(1), closed = goro::make_chan<int>();
      closed.close();
      r.send(5);
      for (long i = 0; i < n; ++i) {
        std::optional<int> got;
        std::optional<int> got_closed = 0;
        std::size_t idx = goro::select(
            goro::case_recv(empty), goro::case_recv(r, [&](std::optional<int> v) { got = v; }),
            goro::case_send(full, 9), goro::case_recv(unbuf), goro::case_recv(nil), goro::case_send(s, 6),
            goro::case_recv(closed, [&](std::optional<int> v) { got_closed = v; }), goro::case_default());
        if (idx == 1) {
          ++counts[0];
          if (got != 5) ++wrong_value;
          r.send(5);
        } else if (idx == 5) {
          ++counts[1];
          if (s.try_recv() != 6) ++wrong_value;
        } else if (idx == 6) {
          ++counts[2];
          if (got_closed.has_value()) ++wrong_value;
        } else {
          ++others;
        }
      }
    } else {
      std::array<goro::chan<int>, 8> r;
      for (int j = 0; j < 8; ++j) {
        r[j] = goro::make_chan<int>(1);
        r[j].send(j);
      }
      for (long i = 0; i < n; ++i) {
        std::optional<int> got;
        auto cb = [&got](std::optional<int> v) { got = v; };
        // Ready cases at positions 0, 4, 5, 6, 7, 8, 10, 11.
        std::size_t idx =
            goro::select(goro::case_recv(r[0], cb), goro::case_recv(empty), goro::case_recv(unbuf),
                         goro::case_send(full, 9), goro::case_recv(r[1], cb), goro::case_recv(r[2], cb),
                         goro::case_recv(r[3], cb), goro::case_recv(r[4], cb), goro::case_recv(r[5], cb),
                         goro::case_recv(nil), goro::case_recv(r[6], cb), goro::case_recv(r[7], cb));
        static constexpr int ready_of_arg[12] = {0, -1, -1, -1, 1, 2, 3, 4, 5, -1, 6, 7};
        int j = ready_of_arg[idx];
        if (j < 0) {
          ++others;
          continue;
        }
        ++counts[static_cast<std::size_t>(j)];
        if (got != j) ++wrong_value;
        r[static_cast<std::size_t>(j)].send(j);
      }
    }
    REQUIRE(others == 0);
    REQUIRE(wrong_value == 0);
    check_uniform(counts, n);
  });
}

// ---------------------------------------------------------------------------------------
// Nil channels
// ---------------------------------------------------------------------------------------

TEST_CASE("nil channels never fire; with only nil cases, the default runs", "[select]") {
  run_test(1, [] {
    goro::chan<int> nil;
    goro::send_chan<int> nil_s;
    goro::recv_chan<int> nil_r;
    const goro::chan<int> cnil;
    auto ready = goro::make_chan<int>(1);
    for (int i = 0; i < 200; ++i) {
      ready.send(i);
      std::optional<int> got;
      std::size_t r =
          goro::select(goro::case_recv(nil), goro::case_send(nil, 1), goro::case_send(nil_s, 2),
                       goro::case_recv(nil_r), goro::case_recv(ready, [&](std::optional<int> v) { got = v; }),
                       goro::case_recv(cnil), goro::case_send(cnil, 3));
      REQUIRE(r == 4);
      REQUIRE(got == i);
      REQUIRE(goro::select(goro::case_recv(nil), goro::case_send(nil_s, 1), goro::case_recv(nil_r),
                           goro::case_default()) == 3);
      REQUIRE(goro::select(goro::case_default(), goro::case_recv(cnil)) == 0);
    }
    // A send case on a nil channel never moves its value.
    auto p = std::make_unique<int>(7);
    REQUIRE(goro::select(goro::case_send(goro::chan<std::unique_ptr<int>>{}, std::move(p)),
                         goro::case_default()) == 1);
    REQUIRE(p != nullptr);
    REQUIRE(*p == 7);
  });
}

TEST_CASE("select() with no case, or with only nil cases and no default, never returns", "[select]") {
  // Not run_test(): its leftover-fiber check would wait 5 s and then fail, while leftovers are
  // exactly what this test expects. The fibers stay blocked forever; run() returns when its main
  // fiber returns and never resumes them (API.md, Clarifications: run()). Their stacks hold
  // only nil handles, so nothing leaks. Everything is asserted after run() returns.
  constexpr int k = 4;
  std::atomic<int> started{0}, returned{0};
  std::size_t fibers_seen = 0;
  goro::run(
      [&] {
        goro::chan<int> nil;
        goro::send_chan<int> nil_s;
        goro::recv_chan<int> nil_r;
        goro::go([&started, &returned] {
          started.fetch_add(1);
          goro::select();
          returned.fetch_add(1);
        });
        goro::go([nil, &started, &returned] {
          started.fetch_add(1);
          (void)goro::select(goro::case_recv(nil), goro::case_send(nil, 1));
          returned.fetch_add(1);
        });
        goro::go([nil_s, nil_r, &started, &returned] {
          started.fetch_add(1);
          (void)goro::select(goro::case_send(nil_s, 1), goro::case_recv(nil_r, [](std::optional<int>) {}));
          returned.fetch_add(1);
        });
        goro::go([&started, &returned] {
          started.fetch_add(1);
          (void)goro::select(goro::case_recv(goro::recv_chan<int>{}));
          returned.fetch_add(1);
        });
        if (!eventually([&] { return started.load() == k; })) return;
        let_others_run();
        fibers_seen = goro::num_fibers();
      },
      goro::options{.procs = 2});
  REQUIRE(started.load() == k);
  REQUIRE(returned.load() == 0);
  REQUIRE(fibers_seen == k + 1);  // the blocked ones plus the main fiber
}

// ---------------------------------------------------------------------------------------
// Closed channels
// ---------------------------------------------------------------------------------------

TEST_CASE("a receive case on a closed channel is ready, yields nullopt after the buffer, and beats default",
          "[select]") {
  run_test(1, [] {
    auto ch = goro::make_chan<int>(2), empty = goro::make_chan<int>(1);
    ch.send(1), ch.send(2);
    ch.close();
    std::vector<std::optional<int>> seen;
    for (int i = 0; i < 100; ++i) {
      std::optional<int> got = -1;
      std::size_t r =
          goro::select(goro::case_recv(empty), goro::case_recv(ch, [&](std::optional<int> v) { got = v; }),
                       goro::case_default());
      REQUIRE(r == 1);
      seen.push_back(got);
    }
    REQUIRE(seen[0] == 1);
    REQUIRE(seen[1] == 2);
    for (std::size_t i = 2; i < seen.size(); ++i) REQUIRE_FALSE(seen[i].has_value());
  });
}

TEST_CASE(
    "a chosen send case on a closed channel throws closed_channel_error, counts as ready, moves nothing",
    "[select]") {
  run_test(1, [] {
    auto closed = goro::make_chan<std::unique_ptr<int>>(1);
    closed.close();
    bool ran_send = false, ran_default = false;
    auto p = std::make_unique<int>(3);
    REQUIRE_THROWS_AS(goro::select(goro::case_send(closed, std::move(p), [&] { ran_send = true; }),
                                   goro::case_default([&] { ran_default = true; })),
                      goro::closed_channel_error);
    REQUIRE_THROWS_WITH(goro::select(goro::case_send(closed, std::move(p)), goro::case_default()),
                        "send on closed channel");
    REQUIRE_FALSE(ran_send);
    REQUIRE_FALSE(ran_default);
    REQUIRE(p != nullptr);
    REQUIRE(*p == 3);

    // It competes with the other ready cases: over 200 selects both outcomes occur (a correct
    // implementation misses one with probability 2 * 2^-200).
    auto ready = goro::make_chan<int>(1);
    int threw = 0, received = 0;
    for (int i = 0; i < 200; ++i) {
      if (ready.size() == 0) ready.send(i);
      try {
        std::optional<int> got;
        std::size_t r = goro::select(goro::case_recv(ready, [&](std::optional<int> v) { got = v; }),
                                     goro::case_send(closed, std::move(p)), goro::case_default());
        REQUIRE(r == 0);
        REQUIRE(got.has_value());
        ++received;
      } catch (const goro::closed_channel_error& e) {
        REQUIRE(std::string(e.what()) == "send on closed channel");
        ++threw;
      }
      REQUIRE(p != nullptr);
    }
    REQUIRE(threw > 0);
    REQUIRE(received > 0);
  });
}

// ---------------------------------------------------------------------------------------
// Send values: moved only if chosen, lvalues copied
// ---------------------------------------------------------------------------------------

TEST_CASE("a send case moves its rvalue only when chosen and copies an lvalue", "[select]") {
  run_test(1, [] {
    auto pc = goro::make_chan<std::unique_ptr<int>>(1);
    auto ready = goro::make_chan<int>(1);

    SECTION("not ready: another case is chosen, the value stays with the caller") {
      pc.send(std::make_unique<int>(0));  // full
      ready.send(1);
      auto p = std::make_unique<int>(7);
      REQUIRE(goro::select(goro::case_send(pc, std::move(p)), goro::case_recv(ready)) == 1);
      REQUIRE(p != nullptr);
      REQUIRE(*p == 7);
    }

    SECTION("both ready: the value is moved exactly when the send case is chosen") {
      int sends = 0, recvs = 0;
      for (int i = 0; i < 200; ++i) {
        if (ready.size() == 0) ready.send(i);
        auto p = std::make_unique<int>(i);
        int* raw = p.get();
        std::size_t r = goro::select(goro::case_recv(ready), goro::case_send(pc, std::move(p)));
        if (r == 0) {
          ++recvs;
          REQUIRE(p.get() == raw);
        } else {
          ++sends;
          REQUIRE(p == nullptr);
          auto got = pc.try_recv();
          REQUIRE(got.has_value());
          REQUIRE(got->get() == raw);  // the very object, moved, not copied
        }
      }
      REQUIRE(sends > 0);  // each misses with probability 2^-200
      REQUIRE(recvs > 0);
    }

    SECTION("an lvalue is copied even when chosen; const lvalues too") {
      auto vc = goro::make_chan<std::vector<int>>(2);
      std::vector<int> v{1, 2, 3, 4, 5, 6, 7, 8};
      const std::vector<int> cv{9, 9};
      REQUIRE(goro::select(goro::case_send(vc, v)) == 0);
      REQUIRE(goro::select(goro::case_default(), goro::case_send(vc, cv)) == 1);
      REQUIRE(v == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
      REQUIRE(cv == std::vector<int>{9, 9});
      REQUIRE(vc.recv() == v);
      REQUIRE(vc.recv() == cv);
      // Through a hand-off to a parked receiver as well.
      std::atomic<bool> got_it{false};
      goro::go([vc, &got_it] {
        auto w = vc.recv();
        got_it.store(w.has_value() && w->size() == 8);
      });
      goro::yield();  // procs = 1: the receiver parks
      REQUIRE(goro::select(goro::case_send(vc, v)) == 0);
      REQUIRE(v.size() == 8);
      REQUIRE(eventually([&] { return got_it.load(); }));
    }

    SECTION("a parked select's send value is moved only by the partner that takes it") {
      auto unbuf = goro::make_chan<std::unique_ptr<int>>();
      auto other = goro::make_chan<int>();
      // Woken through the other case: the value stays.
      goro::go([other] { other.send(1); });
      auto p = std::make_unique<int>(11);
      REQUIRE(goro::select(goro::case_send(unbuf, std::move(p)), goro::case_recv(other)) == 1);
      REQUIRE(p != nullptr);
      // Woken by a receiver of the send case: the receiver gets the very object.
      std::atomic<int*> got{nullptr};
      goro::go([unbuf, &got] {
        auto w = unbuf.recv();
        got.store(w && *w ? w->release() : nullptr);
      });
      int* raw = p.get();
      REQUIRE(goro::select(goro::case_send(unbuf, std::move(p)), goro::case_recv(other)) == 0);
      REQUIRE(p == nullptr);
      REQUIRE(eventually([&] { return got.load() != nullptr; }));
      REQUIRE(got.load() == raw);
      std::unique_ptr<int> owned(got.load());
      REQUIRE(*owned == 11);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Blocking select
// ---------------------------------------------------------------------------------------

TEST_CASE("a select without default parks until a partner arrives", "[select]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    auto a = goro::make_chan<int>(), b = goro::make_chan<int>(), c = goro::make_chan<int>();
    std::atomic<bool> started{false};
    std::atomic<long> index{-1}, value{-1};
    goro::go([=, &started, &index, &value] {
      std::optional<int> got;
      auto cb = [&got](std::optional<int> v) { got = v; };
      started.store(true);
      std::size_t i = goro::select(goro::case_recv(a, cb), goro::case_recv(b, cb), goro::case_send(c, 77));
      value.store(got.value_or(-2));
      index.store(static_cast<long>(i));
    });
    if (goro::procs() == 1) REQUIRE(wait_parked(started));
    REQUIRE(eventually([&] { return started.load(); }));
    let_others_run();
    REQUIRE(index.load() == -1);  // nothing can be ready: it has not returned
    b.send(5);
    REQUIRE(eventually([&] { return index.load() != -1; }));
    REQUIRE(index.load() == 1);
    REQUIRE(value.load() == 5);

    // The send side, woken by a receiver.
    started.store(false);
    index.store(-1);
    goro::go([=, &started, &index] {
      started.store(true);
      std::size_t i = goro::select(goro::case_recv(a), goro::case_send(c, 77), goro::case_recv(b));
      index.store(static_cast<long>(i));
    });
    if (goro::procs() == 1) REQUIRE(wait_parked(started));
    REQUIRE(eventually([&] { return started.load(); }));
    REQUIRE(c.recv() == 77);
    REQUIRE(eventually([&] { return index.load() != -1; }));
    REQUIRE(index.load() == 1);
    // No stale record of the woken selects is left in a's or b's queues.
    REQUIRE_FALSE(a.try_send(1));
    REQUIRE_FALSE(b.try_send(1));
    REQUIRE_FALSE(c.try_recv().has_value());
  });
}

TEST_CASE("a selecting fiber receives every value in order, from the channel it was sent on", "[select]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    auto a = goro::make_chan<long>(), b = goro::make_chan<long>(), c = goro::make_chan<long>(1);
    const long n = scaled(20000);
    std::atomic<long> bad{0}, done{0};
    goro::go([=, &bad, &done] {
      for (long k = 0; k < n; ++k) {
        std::optional<long> got;
        auto cb = [&got](std::optional<long> v) { got = v; };
        std::size_t i = goro::select(goro::case_recv(a, cb), goro::case_recv(b, cb), goro::case_recv(c, cb));
        if (!got || *got != k || i != static_cast<std::size_t>(k % 3)) bad.fetch_add(1);
      }
      done.store(1);
    });
    for (long k = 0; k < n; ++k) {
      if (k % 3 == 2) {
        // Buffered: wait until the previous value was taken, so order is preserved.
        c.send(k);
        REQUIRE(eventually([&] { return c.size() == 0; }, 60s));
      } else {
        (k % 3 == 0 ? a : b).send(k);
      }
    }
    REQUIRE(eventually([&] { return done.load() == 1; }, 60s));
    REQUIRE(bad.load() == 0);
  });
}

TEST_CASE("a plain thread blocked in select is woken by a fiber, for receive and send cases", "[select]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    auto a = goro::make_chan<int>(), b = goro::make_chan<int>(), c = goro::make_chan<int>();
    std::atomic<bool> entered{false};
    std::atomic<long> index{-1}, value{-1};
    thread_set threads;
    threads.start([=, &entered, &index, &value] {
      std::optional<int> got;
      entered.store(true);
      std::size_t i = goro::select(goro::case_recv(a, [&](std::optional<int> v) { got = v; }),
                                   goro::case_recv(b, [&](std::optional<int> v) { got = v; }));
      value.store(got.value_or(-2));
      index.store(static_cast<long>(i));
    });
    REQUIRE(eventually([&] { return entered.load(); }));
    let_others_run();
    REQUIRE(index.load() == -1);
    b.send(9);  // from the main fiber
    REQUIRE(eventually([&] { return index.load() != -1; }));
    REQUIRE(index.load() == 1);
    REQUIRE(value.load() == 9);
    threads.join();

    // A thread parked on send cases; a spawned fiber receives.
    entered.store(false);
    index.store(-1);
    threads.start([=, &entered, &index] {
      entered.store(true);
      std::size_t i = goro::select(goro::case_send(a, 1), goro::case_send(c, 3), goro::case_recv(b));
      index.store(static_cast<long>(i));
    });
    REQUIRE(eventually([&] { return entered.load(); }));
    let_others_run();
    std::atomic<int> fiber_got{-1};
    goro::go([c, &fiber_got] { fiber_got.store(c.recv().value_or(-2)); });
    REQUIRE(eventually([&] { return index.load() != -1; }));
    threads.join();
    REQUIRE(index.load() == 1);
    REQUIRE(eventually([&] { return fiber_got.load() == 3; }));
  });
}

TEST_CASE("a parked select is woken by close of one of its channels: receive gets nullopt, send throws",
          "[select]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  const bool on_thread = GENERATE(false, true);
  run_test(procs, [on_thread] {
    auto a = goro::make_chan<int>(), b = goro::make_chan<int>(1);
    auto s = goro::make_chan<std::unique_ptr<int>>();
    std::atomic<int> entered{0}, returned{0};
    std::atomic<long> recv_index{-1}, send_index{-1};
    std::atomic<bool> recv_nullopt{false}, send_threw{false}, value_kept{false};
    auto receiver = [=, &entered, &returned, &recv_index, &recv_nullopt] {
      std::optional<int> got = 5;
      entered.fetch_add(1);
      std::size_t i = goro::select(goro::case_recv(a, [&](std::optional<int> v) { got = v; }),
                                   goro::case_recv(b, [&](std::optional<int> v) { got = v; }));
      recv_nullopt.store(!got.has_value());
      recv_index.store(static_cast<long>(i));
      returned.fetch_add(1);
    };
    auto sender = [=, &entered, &returned, &send_index, &send_threw, &value_kept] {
      auto p = std::make_unique<int>(4);
      entered.fetch_add(1);
      try {
        std::size_t i = goro::select(goro::case_recv(a), goro::case_send(s, std::move(p)));
        send_index.store(static_cast<long>(i));
      } catch (const goro::closed_channel_error& e) {
        send_threw.store(std::string(e.what()) == "send on closed channel");
      }
      value_kept.store(p != nullptr && *p == 4);
      returned.fetch_add(1);
    };
    thread_set threads;
    if (on_thread) {
      threads.start(receiver);
      threads.start(sender);
    } else {
      goro::go(receiver);
      goro::go(sender);
    }
    REQUIRE(eventually([&] { return entered.load() == 2; }));
    let_others_run();
    REQUIRE(returned.load() == 0);
    b.close();
    REQUIRE(eventually([&] { return returned.load() == 1; }));
    REQUIRE(recv_index.load() == 1);  // the receiver returned; the sender does not select on b
    REQUIRE(recv_nullopt.load());
    s.close();
    REQUIRE(eventually([&] { return returned.load() == 2; }));
    threads.join();
    REQUIRE(send_threw.load());
    REQUIRE(send_index.load() == -1);
    REQUIRE(value_kept.load());
    // a is still open and usable, with no stale select record in its queue.
    REQUIRE_FALSE(a.try_send(1));
    goro::go([a] { a.send(6); });
    REQUIRE(a.recv() == 6);
  });
}

// ---------------------------------------------------------------------------------------
// The same channel in several cases
// ---------------------------------------------------------------------------------------

TEST_CASE("the same channel may appear in several cases of one select", "[select]") {
  run_test(1, [] {
    SECTION("two receive cases on one buffered channel: both fire, each value once") {
      auto ch = goro::make_chan<int>(4);
      long first = 0, second = 0, sum = 0;
      for (int i = 0; i < 400; ++i) {
        ch.send(i);
        std::optional<int> got;
        auto cb = [&got](std::optional<int> v) { got = v; };
        std::size_t r = goro::select(goro::case_recv(ch, cb), goro::case_recv(ch, cb));
        (r == 0 ? first : second) += 1;
        REQUIRE(got == i);
        sum += *got;
      }
      REQUIRE(sum == 399 * 400 / 2);
      REQUIRE(first > 0);  // each misses with probability 2^-400
      REQUIRE(second > 0);
      REQUIRE(ch.size() == 0);
    }

    SECTION("a send and a receive case on one buffered channel") {
      auto ch = goro::make_chan<int>(1);
      // Capacity 1: empty -> only the send is ready, full -> only the receive.
      for (int i = 0; i < 100; ++i) {
        std::optional<int> got;
        REQUIRE(goro::select(goro::case_send(ch, i),
                             goro::case_recv(ch, [&](std::optional<int> v) { got = v; })) == 0);
        REQUIRE(ch.size() == 1);
        REQUIRE(goro::select(goro::case_send(ch, -1),
                             goro::case_recv(ch, [&](std::optional<int> v) { got = v; })) == 1);
        REQUIRE(got == i);
        REQUIRE(ch.size() == 0);
      }
      // Capacity 2 holding one value: both ready, both chosen over time, values conserved.
      auto ch2 = goro::make_chan<int>(2);
      ch2.send(0);
      int sends = 0, recvs = 0;
      for (int i = 0; i < 400; ++i) {
        std::size_t r = goro::select(goro::case_send(ch2, 1), goro::case_recv(ch2));
        (r == 0 ? sends : recvs) += 1;
        if (ch2.size() == 2) REQUIRE(ch2.try_recv().has_value());
        if (ch2.size() == 0) ch2.send(0);
      }
      REQUIRE(sends > 0);
      REQUIRE(recvs > 0);
    }
  });
}

TEST_CASE("two fibers selecting send and receive on one unbuffered channel pair up, never with themselves",
          "[select]") {
  // Go's TestSelfSelect: a parked select offering both directions on one channel must never be
  // matched with itself; with two participants every select pairs one's send with the other's
  // receive, so both finish the same number of rounds.
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    auto ch = goro::make_chan<int>();
    const long n = scaled(5000);
    std::atomic<long> self{0}, sends{0}, recvs{0}, done{0};
    for (int id = 0; id < 2; ++id) {
      goro::go([=, &self, &sends, &recvs, &done] {
        for (long i = 0; i < n; ++i) {
          std::optional<int> got;
          std::size_t r = id == 0 ? goro::select(goro::case_send(ch, id),
                                                 goro::case_recv(ch, [&](std::optional<int> v) { got = v; }))
                                  : goro::select(goro::case_recv(ch, [&](std::optional<int> v) { got = v; }),
                                                 goro::case_send(ch, id));
          bool sent = (id == 0) == (r == 0);
          if (sent) {
            sends.fetch_add(1);
          } else {
            recvs.fetch_add(1);
            if (!got || *got == id) self.fetch_add(1);
          }
        }
        done.fetch_add(1);
      });
    }
    REQUIRE(eventually([&] { return done.load() == 2; }, 60s));
    REQUIRE(self.load() == 0);
    REQUIRE(sends.load() == n);
    REQUIRE(recvs.load() == n);
  });
}

TEST_CASE("a parked select with several cases on one channel: each is equally likely to meet the partner",
          "[select]") {
  // API.md: a parked select joins its channels' queues in random case order (Go's
  // TestPseudoRandomSend). procs = 1 makes every round deterministic up to that order: the
  // selector announces itself and parks (wait_parked), then the main fiber sends (or
  // receives), and the FIFO queue hands the partner to whichever record was queued first.
  // Bounds as in check_uniform (k = 2).
  const bool sends = GENERATE(false, true);
  run_test(1, [sends] {
    const long n = fairness_draws(20000);
    INFO("send cases: " << sends << ", rounds = " << n);
    auto ch = goro::make_chan<int>();
    std::atomic<long> round{0};
    std::atomic<long> mismatched{0}, not_parked{0};
    std::vector<long> counts(2, 0);
    // Send cases: the value the main fiber received names the case that was taken, and the
    // select must return that index.
    std::vector<int> index_of_round(static_cast<std::size_t>(n), -1),
        value_of_round(static_cast<std::size_t>(n), -2);
    goro::go([=, &round, &mismatched, &counts, &index_of_round] {
      for (long i = 0; i < n; ++i) {
        round.store(i + 1);
        std::optional<int> got;
        auto cb = [&got](std::optional<int> v) { got = v; };
        std::size_t r = sends ? goro::select(goro::case_send(ch, 0), goro::case_send(ch, 1))
                              : goro::select(goro::case_recv(ch, cb), goro::case_recv(ch, cb));
        ++counts[r];
        index_of_round[static_cast<std::size_t>(i)] = static_cast<int>(r);
        if (!sends && got != static_cast<int>(i)) mismatched.fetch_add(1);
      }
    });
    for (long i = 0; i < n; ++i) {
      // The selector has set round = i+1 and, with no switch point in between, parked.
      if (!eventually([&] { return round.load() == i + 1; })) not_parked.fetch_add(1);
      if (sends) {
        value_of_round[static_cast<std::size_t>(i)] = ch.recv().value_or(-3);
      } else {
        ch.send(static_cast<int>(i));
      }
    }
    REQUIRE(eventually([&] { return goro::num_fibers() == 1; }));
    REQUIRE(not_parked.load() == 0);
    REQUIRE(mismatched.load() == 0);
    if (sends) REQUIRE(index_of_round == value_of_round);
    check_uniform(counts, n);
  });
}

// ---------------------------------------------------------------------------------------
// Concurrency stress
// ---------------------------------------------------------------------------------------

TEST_CASE(
    "fibers and threads exchanging values through selects over overlapping channels conserve every value",
    "[select][stress]") {
  // Two kinds of workers: X sends on A or C and receives from B or D; Y the reverse. Each select
  // has both directions on four channels plus a quit case, in an order that differs per worker,
  // so the selects lock overlapping channel sets given in different argument orders. An X and a
  // Y can always pair up, so the system never runs dry; the main fiber closes quit once enough
  // operations happened, then drains what is left in the buffered channels.
  const unsigned procs = GENERATE(2u, 4u);
  run_test(procs, [] {
    auto A = goro::make_chan<std::uint64_t>(), B = goro::make_chan<std::uint64_t>();
    auto C = goro::make_chan<std::uint64_t>(2), D = goro::make_chan<std::uint64_t>(3);
    auto quit = goro::make_chan<int>();
    std::atomic<std::uint64_t> sent_sum{0}, recv_sum{0};
    std::atomic<long> sent_cnt{0}, recv_cnt{0}, bad{0}, exited{0};
    constexpr int nfib = 12, nthr = 2;
    auto worker = [=, &sent_sum, &recv_sum, &sent_cnt, &recv_cnt, &bad, &exited](int id) {
      const bool x = id % 2 == 0;
      const auto s1 = x ? A : B, s2 = x ? C : D, r1 = x ? B : A, r2 = x ? D : C;
      std::uint64_t seq = 0;
      for (bool stop = false; !stop;) {
        const std::uint64_t v = (static_cast<std::uint64_t>(id) << 40) | seq;
        std::optional<std::uint64_t> got;
        bool sent = false;
        auto on_recv = [&got](std::optional<std::uint64_t> g) { got = g; };
        auto on_send = [&sent] { sent = true; };
        auto on_quit = [&stop] { stop = true; };
        switch ((id / 2) % 3) {
          case 0:
            goro::select(goro::case_send(s1, v, on_send), goro::case_recv(r1, on_recv),
                         goro::case_send(s2, v, on_send), goro::case_recv(r2, on_recv),
                         goro::case_recv(quit, on_quit));
            break;
          case 1:
            goro::select(goro::case_recv(quit, on_quit), goro::case_recv(r2, on_recv),
                         goro::case_send(s1, v, on_send), goro::case_recv(r1, on_recv),
                         goro::case_send(s2, v, on_send));
            break;
          default:
            goro::select(goro::case_recv(r1, on_recv), goro::case_send(s2, v, on_send),
                         goro::case_recv(quit, on_quit), goro::case_send(s1, v, on_send),
                         goro::case_recv(r2, on_recv));
            break;
        }
        if (sent) {
          ++seq;
          sent_sum.fetch_add(mix(v));
          sent_cnt.fetch_add(1);
        } else if (!stop) {
          if (!got) {
            bad.fetch_add(1);
          } else {
            recv_sum.fetch_add(mix(*got));
            recv_cnt.fetch_add(1);
          }
        }
      }
      exited.fetch_add(1);
    };
    for (int id = 0; id < nfib; ++id) goro::go(worker, id);
    thread_set threads;
    for (int t = 0; t < nthr; ++t) threads.start([worker, t] { worker(nfib + t); });
    const long target = scaled(40000);
    REQUIRE(eventually([&] { return sent_cnt.load() + recv_cnt.load() >= target; }, 120s));
    quit.close();
    REQUIRE(eventually([&] { return exited.load() == nfib + nthr; }, 60s));
    threads.join();
    std::uint64_t drained_sum = 0;
    long drained_cnt = 0;
    for (const auto& ch : {A, B, C, D}) {
      while (auto v = ch.try_recv()) {
        drained_sum += mix(*v);
        ++drained_cnt;
      }
    }
    REQUIRE(bad.load() == 0);
    REQUIRE(sent_cnt.load() == recv_cnt.load() + drained_cnt);
    REQUIRE(sent_sum.load() == recv_sum.load() + drained_sum);
  });
}

TEST_CASE("producers selecting among send cases, consumers among receive cases, nil-ing closed ones",
          "[select][stress]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    using u64 = std::uint64_t;
    std::array<goro::chan<u64>, 4> chs{goro::make_chan<u64>(), goro::make_chan<u64>(1),
                                       goro::make_chan<u64>(3), goro::make_chan<u64>()};
    constexpr int nprod_fib = 6, nprod_thr = 1, ncons_fib = 4, ncons_thr = 1;
    constexpr int nprod = nprod_fib + nprod_thr, ncons = ncons_fib + ncons_thr;
    const long per = scaled(3000);
    std::atomic<u64> sent_sum{0}, recv_sum{0};
    std::atomic<long> sent_cnt{0}, recv_cnt{0}, prod_done{0}, cons_done{0};
    auto producer = [=, &sent_sum, &sent_cnt, &prod_done](int p) {
      for (long s = 0; s < per; ++s) {
        const u64 v = (static_cast<u64>(p) << 32) | static_cast<u64>(s);
        if (p % 2 == 0) {
          goro::select(goro::case_send(chs[p % 4], v), goro::case_send(chs[(p + 1) % 4], v));
        } else {
          goro::select(goro::case_send(chs[(p + 2) % 4], v), goro::case_send(chs[(p + 3) % 4], v),
                       goro::case_send(chs[p % 4], v));
        }
        sent_sum.fetch_add(mix(v));
        sent_cnt.fetch_add(1);
      }
      if (prod_done.fetch_add(1) + 1 == nprod) {
        for (const auto& ch : chs) ch.close();  // the last producer out closes every channel
      }
    };
    auto consumer = [=, &recv_sum, &recv_cnt, &cons_done](int c) {
      static constexpr int orders[4][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}};
      const int* o = orders[c % 4];
      std::array<goro::chan<u64>, 4> mine = chs;
      auto live = [&] { return mine[0] || mine[1] || mine[2] || mine[3]; };
      while (live()) {
        std::optional<u64> got;
        auto cb = [&got](std::optional<u64> v) { got = v; };
        std::size_t i = goro::select(goro::case_recv(mine[o[0]], cb), goro::case_recv(mine[o[1]], cb),
                                     goro::case_recv(mine[o[2]], cb), goro::case_recv(mine[o[3]], cb));
        if (got) {
          recv_sum.fetch_add(mix(*got));
          recv_cnt.fetch_add(1);
        } else {
          mine[o[i]] = goro::chan<u64>{};  // closed and drained: never select on it again
        }
      }
      cons_done.fetch_add(1);
    };
    thread_set threads;
    for (int c = 0; c < ncons_fib; ++c) goro::go(consumer, c);
    for (int c = 0; c < ncons_thr; ++c) threads.start([consumer, c] { consumer(ncons_fib + c); });
    for (int p = 0; p < nprod_fib; ++p) goro::go(producer, p);
    for (int p = 0; p < nprod_thr; ++p) threads.start([producer, p] { producer(nprod_fib + p); });
    REQUIRE(eventually([&] { return cons_done.load() == ncons; }, 120s));
    threads.join();
    REQUIRE(prod_done.load() == nprod);
    REQUIRE(sent_cnt.load() == nprod * per);
    REQUIRE(recv_cnt.load() == sent_cnt.load());
    REQUIRE(recv_sum.load() == sent_sum.load());
  });
}

TEST_CASE("close storm: every select parked on channels being closed returns", "[select][stress]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const long rounds = scaled(20);
    const int nfib = static_cast<int>(std::max(8L, scaled(200)));
    constexpr int nthr = 3;
    for (long round = 0; round < rounds; ++round) {
      // Nobody sends on R or receives from S: every select stays parked until a close.
      std::array<goro::chan<int>, 4> R{goro::make_chan<int>(), goro::make_chan<int>(2),
                                       goro::make_chan<int>(), goro::make_chan<int>(1)};
      std::array<goro::chan<int>, 4> S{goro::make_chan<int>(), goro::make_chan<int>(1),
                                       goro::make_chan<int>(), goro::make_chan<int>(2)};
      S[1].send(0), S[3].send(0), S[3].send(0);  // full: the send cases are not ready
      std::atomic<int> entered{0}, returned{0}, nullopts{0}, threw{0}, bad{0};
      auto selector = [=, &entered, &returned, &nullopts, &threw, &bad](int id) {
        // Kind 2 has only receive cases (it must return nullopt), kind 3 only send cases (it
        // must throw); kinds 0 and 1 may do either.
        std::optional<int> got = -1;
        auto cb = [&got](std::optional<int> v) { got = v; };
        entered.fetch_add(1);
        try {
          switch (id % 4) {
            case 0:
              goro::select(goro::case_recv(R[0], cb), goro::case_send(S[1], id), goro::case_recv(R[2], cb));
              break;
            case 1:
              goro::select(goro::case_send(S[0], id), goro::case_recv(R[1], cb), goro::case_send(S[3], id),
                           goro::case_recv(R[3], cb));
              break;
            case 2:
              goro::select(goro::case_recv(R[3], cb), goro::case_recv(R[0], cb));
              break;
            default:
              goro::select(goro::case_send(S[2], id), goro::case_send(S[3], id), goro::case_send(S[0], id));
              break;
          }
          if (got.has_value() || id % 4 == 3) {
            bad.fetch_add(1);  // a receive case must have got nullopt
          } else {
            nullopts.fetch_add(1);
          }
        } catch (const goro::closed_channel_error&) {
          if (id % 4 == 2) bad.fetch_add(1);
          threw.fetch_add(1);
        }
        returned.fetch_add(1);
      };
      for (int i = 0; i < nfib; ++i) goro::go(selector, i);
      thread_set threads;
      for (int t = 0; t < nthr; ++t) threads.start([selector, t, nfib] { selector(nfib + t); });
      REQUIRE(eventually([&] { return entered.load() == nfib + nthr; }, 60s));
      if (round == 0) let_others_run();  // most are parked by now (with procs = 1, all fibers are)
      // Closers on other fibers and this one, in different orders.
      std::atomic<int> closers{0};
      goro::go([R, S, &closers] {
        R[0].close(), S[3].close(), R[2].close(), S[0].close();
        closers.fetch_add(1);
      });
      goro::go([R, S, &closers] {
        S[2].close(), R[3].close(), S[1].close();
        closers.fetch_add(1);
      });
      R[1].close();
      REQUIRE(eventually([&] { return closers.load() == 2 && returned.load() == nfib + nthr; }, 60s));
      threads.join();
      REQUIRE(bad.load() == 0);
      REQUIRE(nullopts.load() + threw.load() == nfib + nthr);
    }
  });
}

// ---------------------------------------------------------------------------------------
// No heap allocation per call
// ---------------------------------------------------------------------------------------

TEST_CASE("the allocation counter used below counts operator new", "[select]") {
  REQUIRE(g_alloc_counting_works);
  static std::atomic<void*> sink{nullptr};  // the allocations escape: they cannot be elided
  alloc_probe probe;
  auto p = std::make_unique<long>(1);
  sink.store(p.get());
  auto v = std::make_unique<std::vector<int>>(100);
  sink.store(v->data());
  const long n = probe.stop();
  REQUIRE(n >= 2);
}

TEST_CASE("select allocates nothing per call: ready, default, and parked until a partner arrives",
          "[select]") {
  run_test(1, [] {
    auto a = goro::make_chan<int>(1), b = goro::make_chan<int>(1), c = goro::make_chan<int>(),
         d = goro::make_chan<int>(1);
    d.send(0);  // full
    constexpr int n = 2000;
    long sum = 0;
    auto four = [&] {
      std::optional<int> got;
      auto cb = [&got](std::optional<int> v) { got = v; };
      std::size_t r = goro::select(goro::case_recv(a, cb), goro::case_recv(b, cb), goro::case_send(d, 5),
                                   goro::case_recv(c, cb), goro::case_default([&sum] { sum -= 1; }));
      if (got) sum += *got;
      return r;
    };
    for (int i = 0; i < 10; ++i) (void)four();  // warm-up

    alloc_probe ready_probe;
    long picked = 0;
    for (int i = 0; i < n; ++i) {
      if (a.size() == 0) (void)a.try_send(1);
      if (i % 2 == 0 && b.size() == 0) (void)b.try_send(2);
      picked += four() != 4;
    }
    const long ready_allocs = ready_probe.stop();
    REQUIRE(picked == n);

    alloc_probe default_probe;
    (void)a.try_recv(), (void)b.try_recv();
    long defaults = 0;
    for (int i = 0; i < n; ++i) defaults += four() == 4;
    const long default_allocs = default_probe.stop();
    REQUIRE(defaults == n);

    // Parked: four unbuffered channels, a partner fiber sends on them in turn (and receives
    // on them in the second half). The partner is started before counting.
    std::array<goro::chan<int>, 4> u{goro::make_chan<int>(), goro::make_chan<int>(), goro::make_chan<int>(),
                                     goro::make_chan<int>()};
    std::atomic<bool> partner_done{false};
    constexpr int warm = 10;
    goro::go([u, &partner_done] {
      for (int i = 0; i < warm + n; ++i) u[static_cast<std::size_t>(i % 4)].send(i);
      for (int i = 0; i < n; ++i) (void)u[static_cast<std::size_t>(i % 4)].recv();
      partner_done.store(true);
    });
    long bad = 0;
    auto blocking_recv = [&](int i) {
      std::optional<int> got;
      auto cb = [&got](std::optional<int> v) { got = v; };
      std::size_t r = goro::select(goro::case_recv(u[0], cb), goro::case_recv(u[1], cb),
                                   goro::case_recv(u[2], cb), goro::case_recv(u[3], cb));
      if (r != static_cast<std::size_t>(i % 4) || got != i) ++bad;
    };
    for (int i = 0; i < warm; ++i) blocking_recv(i);
    alloc_probe parked_probe;
    for (int i = warm; i < warm + n; ++i) blocking_recv(i);
    for (int i = 0; i < n; ++i) {
      std::size_t r = goro::select(goro::case_send(u[0], 0), goro::case_send(u[1], 1),
                                   goro::case_send(u[2], 2), goro::case_send(u[3], 3));
      if (r != static_cast<std::size_t>(i % 4)) ++bad;
    }
    const long parked_allocs = parked_probe.stop();
    REQUIRE(bad == 0);
    REQUIRE(eventually([&] { return partner_done.load(); }));

    CHECK(ready_allocs == 0);
    CHECK(default_allocs == 0);
    CHECK(parked_allocs == 0);
  });
}

TEST_CASE("dynamic_select::wait and try_wait allocate nothing after the first wait (32 and 64 cases)",
          "[select]") {
  const int ncases = GENERATE(32, 64);
  run_test(1, [ncases] {
    // Even cases buffered (capacity 1), odd cases unbuffered.
    std::vector<goro::chan<int>> chs;
    goro::dynamic_select<int> ds;
    for (int i = 0; i < ncases; ++i) {
      chs.push_back(goro::make_chan<int>(i % 2 == 0 ? 1 : 0));
      REQUIRE(ds.add_recv(chs.back()) == static_cast<std::size_t>(i));
    }
    for (int i = 0; i < ncases; i += 2) chs[static_cast<std::size_t>(i)].send(i);
    constexpr int n = 2000;
    long bad = 0;
    auto ready_wait = [&] {
      auto r = ds.wait();
      if (r.index % 2 != 0 || r.value != static_cast<int>(r.index)) ++bad;
      (void)chs[r.index].try_send(static_cast<int>(r.index));  // keep every buffered case ready
    };
    ready_wait();  // the first wait sizes the scratch space

    alloc_probe ready_probe;
    for (int i = 0; i < n; ++i) ready_wait();
    const long ready_allocs = ready_probe.stop();

    for (int i = 0; i < ncases; i += 2) (void)chs[static_cast<std::size_t>(i)].try_recv();
    alloc_probe try_probe;
    long nothing = 0;
    for (int i = 0; i < n; ++i) nothing += !ds.try_wait().has_value();
    const long try_allocs = try_probe.stop();
    REQUIRE(nothing == n);

    std::atomic<bool> partner_done{false};
    goro::go([chs, &partner_done] {
      for (int i = 0; i < n; ++i)
        chs[static_cast<std::size_t>((2 * i + 1) % static_cast<int>(chs.size()))].send(i);
      partner_done.store(true);
    });
    alloc_probe parked_probe;
    for (int i = 0; i < n; ++i) {
      auto r = ds.wait();
      if (r.index != static_cast<std::size_t>((2 * i + 1) % ncases) || r.value != i) ++bad;
    }
    const long parked_allocs = parked_probe.stop();
    REQUIRE(bad == 0);
    REQUIRE(eventually([&] { return partner_done.load(); }));
    CHECK(ready_allocs == 0);
    CHECK(try_allocs == 0);
    CHECK(parked_allocs == 0);
  });
}

// ---------------------------------------------------------------------------------------
// dynamic_select
// ---------------------------------------------------------------------------------------

TEST_CASE("dynamic_select: indices, wait, try_wait, closed channels, nil channels", "[select]") {
  run_test(1, [] {
    goro::dynamic_select<int> ds;
    auto a = goro::make_chan<int>(2), b = goro::make_chan<int>(), c = goro::make_chan<int>(1);
    REQUIRE(ds.add_recv(a) == 0);
    REQUIRE(ds.add_recv(goro::recv_chan<int>(b)) == 1);
    REQUIRE(ds.add_recv(goro::recv_chan<int>{}) == 2);  // nil: never fires
    REQUIRE(ds.add_recv(c) == 3);

    REQUIRE_FALSE(ds.try_wait().has_value());
    c.send(30);
    auto r = ds.try_wait();
    REQUIRE(r.has_value());
    REQUIRE(r->index == 3);
    REQUIRE(r->value == 30);
    REQUIRE_FALSE(ds.try_wait().has_value());

    a.send(10), a.send(11);
    auto w = ds.wait();
    REQUIRE(w.index == 0);
    REQUIRE(w.value == 10);
    w = ds.wait();
    REQUIRE(w.index == 0);
    REQUIRE(w.value == 11);

    // Parked, woken by a sender on the unbuffered case.
    goro::go([b] { b.send(20); });
    w = ds.wait();
    REQUIRE(w.index == 1);
    REQUIRE(w.value == 20);

    // A closed channel is ready and yields nullopt (after its buffered values).
    c.send(31);
    c.close();
    w = ds.wait();
    REQUIRE(w.index == 3);
    REQUIRE(w.value == 31);
    for (int i = 0; i < 20; ++i) {
      auto t = ds.try_wait();
      REQUIRE(t.has_value());
      REQUIRE(t->index == 3);
      REQUIRE_FALSE(t->value.has_value());
    }
  });
}

TEST_CASE("dynamic_select::remove: the case never fires again, its index stays reserved, others still work",
          "[select]") {
  run_test(1, [] {
    goro::dynamic_select<int> ds;
    auto a = goro::make_chan<int>(1), b = goro::make_chan<int>(1), c = goro::make_chan<int>(),
         closed = goro::make_chan<int>();
    REQUIRE(ds.add_recv(a) == 0);
    REQUIRE(ds.add_recv(b) == 1);
    REQUIRE(ds.add_recv(c) == 2);
    REQUIRE(ds.add_recv(closed) == 3);
    closed.close();
    a.send(1);
    ds.remove(0);
    ds.remove(3);
    REQUIRE_FALSE(ds.try_wait().has_value());  // only removed cases are ready
    for (int i = 0; i < 200; ++i) {
      b.send(i);
      auto r = ds.wait();
      REQUIRE(r.index == 1);
      REQUIRE(r.value == i);
    }
    REQUIRE(a.size() == 1);  // never taken
    goro::go([c] { c.send(5); });
    auto r = ds.wait();
    REQUIRE(r.index == 2);
    REQUIRE(r.value == 5);
    // A new case gets a fresh index: removed ones stay reserved.
    auto d = goro::make_chan<int>(1);
    REQUIRE(ds.add_recv(d) == 4);
    d.send(40);
    r = ds.wait();
    REQUIRE(r.index == 4);
    REQUIRE(r.value == 40);
    // With every case removed, try_wait finds nothing even though channels are ready.
    ds.remove(1), ds.remove(2), ds.remove(4);
    b.send(1), d.send(1);
    REQUIRE_FALSE(ds.try_wait().has_value());
  });
}

TEST_CASE("dynamic_select::wait from a plain thread is woken by a fiber", "[select]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    auto a = goro::make_chan<int>(), b = goro::make_chan<int>();
    std::atomic<bool> entered{false};
    std::atomic<long> index{-1}, value{-1};
    thread_set threads;
    threads.start([=, &entered, &index, &value] {
      goro::dynamic_select<int> ds;
      ds.add_recv(a);
      ds.add_recv(b);
      entered.store(true);
      auto r = ds.wait();
      value.store(r.value.value_or(-2));
      index.store(static_cast<long>(r.index));
    });
    REQUIRE(eventually([&] { return entered.load(); }));
    let_others_run();
    REQUIRE(index.load() == -1);
    goro::go([b] { b.send(8); });
    REQUIRE(eventually([&] { return index.load() != -1; }));
    threads.join();
    REQUIRE(index.load() == 1);
    REQUIRE(value.load() == 8);
  });
}

TEST_CASE("dynamic_select chooses uniformly among ready cases; removed and not-ready ones never",
          "[select]") {
  run_test(1, [] {
    // Six cases: 0 not ready, 1 removed (but ready), 2..5 ready; k = 4. Bounds as in check_uniform.
    const long n = fairness_draws(40000);
    goro::dynamic_select<int> ds;
    std::vector<goro::chan<int>> chs;
    for (int i = 0; i < 6; ++i) {
      chs.push_back(goro::make_chan<int>(1));
      REQUIRE(ds.add_recv(chs.back()) == static_cast<std::size_t>(i));
      if (i >= 1) chs.back().send(i);
    }
    ds.remove(1);
    std::vector<long> counts(4, 0);
    long wrong = 0;
    for (long i = 0; i < n; ++i) {
      auto r = ds.wait();
      if (r.index < 2 || r.value != static_cast<int>(r.index)) {
        ++wrong;
        continue;
      }
      ++counts[r.index - 2];
      chs[r.index].send(static_cast<int>(r.index));
    }
    REQUIRE(wrong == 0);
    check_uniform(counts, n);
  });
}

TEST_CASE("dynamic_select with removes while producers send conserves every value", "[select][stress]") {
  // Producer i sends its values on channel i (capacities vary) through a select that also has a
  // quit case, then closes the channel. The consumer (the main fiber) waits on every channel,
  // removes a closed one, and also removes a few live ones early; a removed case must never
  // fire again. Once every case is removed, quit stops the producers that still wait, and the
  // values left in buffers are drained: sent = received + drained.
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int nprod = 16;
    const long per = scaled(2000);
    std::vector<goro::chan<std::uint64_t>> chs;
    for (int i = 0; i < nprod; ++i)
      chs.push_back(goro::make_chan<std::uint64_t>(static_cast<std::size_t>(i % 3)));
    auto quit = goro::make_chan<int>();
    std::atomic<std::uint64_t> sent_sum{0};
    std::atomic<long> sent_cnt{0}, prod_done{0};
    for (int i = 0; i < nprod; ++i) {
      goro::go([ch = chs[static_cast<std::size_t>(i)], quit, i, per, &sent_sum, &sent_cnt, &prod_done] {
        long s = 0;
        for (; s < per; ++s) {
          const std::uint64_t v = (static_cast<std::uint64_t>(i) << 32) | static_cast<std::uint64_t>(s);
          if (goro::select(goro::case_send(ch, v), goro::case_recv(quit)) != 0) break;
          sent_sum.fetch_add(mix(v));
          sent_cnt.fetch_add(1);
        }
        if (s == per) ch.close();
        prod_done.fetch_add(1);
      });
    }
    goro::dynamic_select<std::uint64_t> ds;
    for (int i = 0; i < nprod; ++i)
      REQUIRE(ds.add_recv(chs[static_cast<std::size_t>(i)]) == static_cast<std::size_t>(i));
    std::vector<bool> removed(nprod, false);
    int live = nprod;
    std::uint64_t recv_sum = 0;
    long recv_cnt = 0, wrong_index = 0, fired_after_remove = 0;
    int early = 0;
    while (live > 0) {
      auto r = ds.wait();
      if (removed[r.index]) ++fired_after_remove;
      if (!r.value) {
        ds.remove(r.index);
        removed[r.index] = true;
        --live;
        continue;
      }
      if ((*r.value >> 32) != r.index) ++wrong_index;
      recv_sum += mix(*r.value);
      ++recv_cnt;
      // Every 97th value, remove a live odd case (at most four of them) while its producer sends.
      if (recv_cnt % 97 == 0 && early < 4) {
        std::size_t j =
            ((2 * static_cast<std::size_t>(early) + static_cast<std::size_t>(recv_cnt)) % nprod) | 1;
        if (!removed[j]) {
          ds.remove(j);
          removed[j] = true;
          --live;
          ++early;
        }
      }
    }
    quit.close();
    REQUIRE(eventually([&] { return prod_done.load() == nprod; }, 60s));
    std::uint64_t drained_sum = 0;
    long drained_cnt = 0;
    for (const auto& ch : chs) {
      while (auto v = ch.try_recv()) {
        drained_sum += mix(*v);
        ++drained_cnt;
      }
    }
    REQUIRE(fired_after_remove == 0);
    REQUIRE(wrong_index == 0);
    REQUIRE(sent_cnt.load() == recv_cnt + drained_cnt);
    REQUIRE(sent_sum.load() == recv_sum + drained_sum);
  });
}
