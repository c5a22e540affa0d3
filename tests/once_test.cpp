// tests/once_test.cpp: goro::once, Go's sync.Once.Do (API.md "Sync"; docs/sync.md).
//
// Chosen behaviour for a throwing f (docs/sync.md, once.hpp): the exception reaches the caller
// that ran f and the once stays not-done, so the next caller (or one already waiting) runs f
// again, as std::call_once does. (Go counts a panicking f as done.)
//
// Conventions as in chan_test.cpp: assertions only in the main fiber; other fibers and plain
// threads record what they saw in atomics.
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using goro_test::scaled;
using goro_test::thread_set;

namespace {

using namespace std::chrono_literals;

struct init_failed {
  int attempt;
};

}  // namespace

TEST_CASE("once: f runs once; later calls do nothing", "[once]") {
  goro::once o;
  int runs = 0;
  o.call([&] { ++runs; });
  o.call([&] { ++runs; });
  o.call([&] { runs += 100; });
  REQUIRE(runs == 1);
  // A move-only callable, passed as an rvalue.
  goro::once o2;
  auto p = std::make_unique<int>(5);
  int got = 0;
  o2.call([q = std::move(p), &got] { got = *q; });
  REQUIRE(got == 5);
}

TEST_CASE("once: many concurrent callers, f runs once and every caller returns after it completed",
          "[once]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int nfib = 16, nthr = 3, n = nfib + nthr;
    const long rounds = scaled(50);
    for (long r = 0; r < rounds; ++r) {
      goro::once o;
      std::atomic<int> runs{0}, returned{0}, saw_unset{0}, entered{0};
      int value = 0;  // written by f only, read by callers after call(): call() must order them
      auto gate = goro::make_chan<int>();
      auto f = [&] {
        runs.fetch_add(1);
        // Take a while, with switch points, so that the other callers arrive meanwhile.
        for (int i = 0; i < 20; ++i) goro::yield();
        std::this_thread::sleep_for(100us);
        value = 42;
      };
      auto caller = [&] {
        entered.fetch_add(1);
        if (goro::in_fiber()) gate.recv();  // start together
        o.call(f);
        if (value != 42) saw_unset.fetch_add(1);
        returned.fetch_add(1);
      };
      for (int i = 0; i < nfib; ++i) goro::go(caller);
      thread_set threads;
      for (int i = 0; i < nthr; ++i) threads.start(caller);
      REQUIRE(eventually([&] { return entered.load() == n; }));
      gate.close();
      REQUIRE(eventually([&] { return returned.load() == n; }));
      threads.join();
      REQUIRE(runs.load() == 1);
      REQUIRE(saw_unset.load() == 0);
    }
  });
}

TEST_CASE("once: callers that arrive while f runs wait for it to complete", "[once]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::once o;
    auto gate = goro::make_chan<int>();
    std::atomic<bool> in_f{false};
    std::atomic<int> runs{0}, returned{0}, saw_unset{0};
    int value = 0;
    goro::go([&] {
      o.call([&] {
        runs.fetch_add(1);
        in_f.store(true);
        gate.recv();  // f blocks until we let it finish
        value = 7;
      });
      returned.fetch_add(1);
    });
    REQUIRE(eventually([&] { return in_f.load(); }));
    auto late = [&] {
      o.call([&] { runs.fetch_add(1); });
      if (value != 7) saw_unset.fetch_add(1);
      returned.fetch_add(1);
    };
    for (int i = 0; i < 4; ++i) goro::go(late);
    thread_set threads;
    threads.start(late);
    let_others_run();
    REQUIRE(returned.load() == 0);  // f has not completed: nobody returns
    gate.close();
    REQUIRE(eventually([&] { return returned.load() == 6; }));
    threads.join();
    REQUIRE(runs.load() == 1);
    REQUIRE(saw_unset.load() == 0);
    o.call([&] { runs.fetch_add(1); });
    REQUIRE(runs.load() == 1);
  });
}

TEST_CASE("once: a throwing f propagates to its caller and the next call runs f again", "[once]") {
  goro::once o;
  int attempts = 0;
  auto f = [&] {
    ++attempts;
    if (attempts < 3) throw init_failed{attempts};
  };
  int caught = 0;
  for (int i = 0; i < 2; ++i) {
    try {
      o.call(f);
    } catch (const init_failed& e) {
      REQUIRE(e.attempt == i + 1);
      ++caught;
    }
  }
  REQUIRE(caught == 2);
  REQUIRE(attempts == 2);
  o.call(f);  // third attempt succeeds
  REQUIRE(attempts == 3);
  o.call(f);  // done now
  o.call([] { throw init_failed{-1}; });
  REQUIRE(attempts == 3);
  // The same from a fiber.
  run_test(1, [] {
    goro::once o2;
    bool threw = false;
    try {
      o2.call([] { throw std::runtime_error("no"); });
    } catch (const std::runtime_error&) {
      threw = true;
    }
    REQUIRE(threw);
    int runs = 0;
    o2.call([&] { ++runs; });
    o2.call([&] { ++runs; });
    REQUIRE(runs == 1);
  });
}

TEST_CASE("once: when f throws while others wait, one waiter retries and the rest see its success",
          "[once]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::once o;
    auto gate = goro::make_chan<int>();
    std::atomic<int> attempts{0}, threw{0}, returned{0}, saw_unset{0}, failures_seen_by_waiters{0};
    std::atomic<bool> first_in_f{false};
    int value = 0;
    auto f = [&] {
      int a = attempts.fetch_add(1);
      if (a == 0) {
        first_in_f.store(true);
        gate.recv();  // the others arrive and wait meanwhile
        throw init_failed{a};
      }
      goro::yield();
      value = 9;
    };
    goro::go([&] {
      try {
        o.call(f);
      } catch (const init_failed&) {
        threw.fetch_add(1);
      }
      returned.fetch_add(1);
    });
    REQUIRE(eventually([&] { return first_in_f.load(); }));
    constexpr int nwait_fib = 5, nwait_thr = 2;
    std::atomic<int> waiting{0};
    auto waiter = [&] {
      waiting.fetch_add(1);
      try {
        o.call(f);
        if (value != 9) saw_unset.fetch_add(1);
      } catch (const init_failed&) {
        failures_seen_by_waiters.fetch_add(1);
      }
      returned.fetch_add(1);
    };
    for (int i = 0; i < nwait_fib; ++i) goro::go(waiter);
    thread_set threads;
    for (int i = 0; i < nwait_thr; ++i) threads.start(waiter);
    REQUIRE(eventually([&] { return waiting.load() == nwait_fib + nwait_thr; }));
    let_others_run();
    REQUIRE(returned.load() == 0);
    gate.close();  // f throws in the first caller
    REQUIRE(eventually([&] { return returned.load() == 1 + nwait_fib + nwait_thr; }));
    threads.join();
    REQUIRE(threw.load() == 1);                     // only the caller that ran f sees its throw
    REQUIRE(failures_seen_by_waiters.load() == 0);  // the retry succeeded
    REQUIRE(attempts.load() == 2);                  // exactly one waiter ran f again
    REQUIRE(saw_unset.load() == 0);
  });
}

TEST_CASE("once: may be destroyed as soon as a waiting call returns", "[once]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const long rounds = scaled(3000);
    std::atomic<long> runs{0};
    for (long r = 0; r < rounds; ++r) {
      auto* o = new goro::once;
      std::atomic<bool> in_f{false};
      auto gate = goro::make_chan<int>(1);
      goro::go([o, &runs, &in_f, gate] {
        o->call([&] {
          in_f.store(true);
          gate.recv();
          runs.fetch_add(1);
        });  // its last access to *o happens before the waiter below may return
      });
      REQUIRE(eventually([&] { return in_f.load(); }));
      if (r % 2 == 0) gate.send(1);  // sometimes f ends before we wait, sometimes after
      goro::go([gate, r] {
        if (r % 2 == 1) gate.send(1);
      });
      o->call([&] { runs.fetch_add(100); });  // waits for the running f
      delete o;
      // in_f is read by the fiber's f before call() returns to us; the fiber is past it.
      REQUIRE(eventually([&] { return goro::num_fibers() == 1; }));
    }
    REQUIRE(runs.load() == rounds);
  });
}
