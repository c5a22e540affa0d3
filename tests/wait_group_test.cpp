// tests/wait_group_test.cpp: goro::wait_group, Go's sync.WaitGroup (API.md "Sync",
// "Clarifications": negative add, destroy after wake; docs/sync.md).
//
// Conventions as in chan_test.cpp: assertions only in the main fiber; other fibers and plain
// threads record what they saw in atomics.
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
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

// Runs `f` and returns the message of the std::logic_error it throws ("" if none).
template <class F>
std::string logic_error_of(F&& f) {
  try {
    f();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("wait_group: wait returns at once on a zero counter", "[wait_group]") {
  goro::wait_group wg;
  wg.wait();  // on the test thread (a plain thread)
  wg.add(0);
  wg.wait();
  wg.add(2);
  wg.add(-2);
  wg.wait();
  run_test(1, [] {
    goro::wait_group wg2;
    wg2.wait();
    wg2.add(1);
    wg2.done();
    wg2.wait();
  });
}

TEST_CASE("wait_group: wait returns only after every done", "[wait_group]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int n = 10;
    goro::wait_group wg;
    auto gate = goro::make_chan<int>();
    std::atomic<int> finished{0}, finished_at_return{-1};
    std::atomic<bool> returned{false};
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      goro::go([&, gate, i] {
        gate.recv();
        if (i % 2 == 0) goro::yield();
        finished.fetch_add(1);
        wg.done();
      });
    }
    goro::go([&] {
      wg.wait();
      finished_at_return.store(finished.load());
      returned.store(true);
    });
    let_others_run();
    REQUIRE_FALSE(returned.load());
    for (int i = 0; i < n - 1; ++i) gate.send(1);  // lets n - 1 of them finish
    let_others_run();
    REQUIRE_FALSE(returned.load());  // one done() is missing
    gate.close();
    wg.wait();
    REQUIRE(finished.load() == n);
    REQUIRE(eventually([&] { return returned.load(); }));
    REQUIRE(finished_at_return.load() == n);
  });
}

TEST_CASE("wait_group: several waiters, fibers and plain threads, all return after the last done",
          "[wait_group]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int nwaiters_fib = 5, nwaiters_thr = 2, nworkers = 6;
    goro::wait_group wg;
    std::atomic<int> finished{0}, waiters_entered{0}, waiters_returned{0}, early{0};
    wg.add(nworkers);
    auto waiter = [&] {
      waiters_entered.fetch_add(1);
      wg.wait();
      if (finished.load() != nworkers) early.fetch_add(1);
      waiters_returned.fetch_add(1);
    };
    for (int i = 0; i < nwaiters_fib; ++i) goro::go(waiter);
    thread_set threads;
    for (int i = 0; i < nwaiters_thr; ++i) threads.start(waiter);
    REQUIRE(eventually([&] { return waiters_entered.load() == nwaiters_fib + nwaiters_thr; }));
    let_others_run();
    REQUIRE(waiters_returned.load() == 0);
    for (int i = 0; i < nworkers; ++i) {
      goro::go([&] {
        finished.fetch_add(1);
        wg.done();
      });
      if (i < nworkers - 1) {
        REQUIRE(eventually([&] { return finished.load() == i + 1; }));
        let_others_run();
        REQUIRE(waiters_returned.load() == 0);
      }
    }
    REQUIRE(eventually([&] { return waiters_returned.load() == nwaiters_fib + nwaiters_thr; }));
    threads.join();
    REQUIRE(early.load() == 0);
  });
}

TEST_CASE("wait_group: reuse over many rounds with concurrent waiters", "[wait_group]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const long rounds = scaled(2000);
    goro::wait_group wg;
    std::atomic<long> work{0}, bad{0};
    long target = 0;  // work done once round r is over
    for (long r = 0; r < rounds; ++r) {
      const int n = 1 + static_cast<int>(r % 4);
      target += n;
      wg.add(n);
      for (int i = 0; i < n; ++i) {
        goro::go([&] {
          if ((work.fetch_add(1) & 1) == 0) goro::yield();
          wg.done();
        });
      }
      // A second waiter in the round; the round is over once both waits returned.
      goro::wait_group round_over;
      round_over.add(1);
      goro::go([&, target] {
        wg.wait();
        if (work.load() < target) bad.fetch_add(1);
        round_over.done();
      });
      wg.wait();
      if (work.load() < target) bad.fetch_add(1);
      round_over.wait();
    }
    REQUIRE(bad.load() == 0);
    REQUIRE(work.load() == target);
  });
}

TEST_CASE("wait_group: a negative counter throws \"negative wait_group counter\" and leaves it unchanged",
          "[wait_group]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::wait_group wg;
    REQUIRE(logic_error_of([&] { wg.done(); }) == "negative wait_group counter");
    REQUIRE(logic_error_of([&] { wg.add(-1); }) == "negative wait_group counter");
    wg.wait();  // still zero
    wg.add(2);
    REQUIRE(logic_error_of([&] { wg.add(-3); }) == "negative wait_group counter");
    // Still 2: a waiter stays blocked through one done() and returns after the second.
    std::atomic<bool> returned{false};
    goro::go([&] {
      wg.wait();
      returned.store(true);
    });
    let_others_run();
    REQUIRE_FALSE(returned.load());
    wg.done();
    let_others_run();
    REQUIRE_FALSE(returned.load());
    REQUIRE(logic_error_of([&] { wg.add(-2); }) == "negative wait_group counter");
    wg.add(-1);  // a negative delta that stays >= 0 is fine
    REQUIRE(eventually([&] { return returned.load(); }));
    REQUIRE(logic_error_of([&] { wg.done(); }) == "negative wait_group counter");
    REQUIRE_THROWS_AS(wg.add(-5), std::logic_error);
    // The failed calls did not break the next round.
    wg.add(3);
    wg.add(-2);
    wg.done();
    wg.wait();
  });
}

TEST_CASE("wait_group: go runs f in a fiber and wait waits for it; f's captures die before done",
          "[wait_group]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::wait_group wg;
    std::atomic<int> ran{0};
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    auto gate = goro::make_chan<int>();
    for (int i = 0; i < 8; ++i) {
      wg.go([&ran, token, gate] {
        gate.recv();
        ran.fetch_add(1);
      });
    }
    token.reset();  // only the fibers' captures hold it now
    std::atomic<bool> returned{false};
    goro::go([&] {
      wg.wait();
      returned.store(true);
    });
    let_others_run();
    REQUIRE_FALSE(returned.load());
    REQUIRE(ran.load() == 0);
    gate.close();
    wg.wait();
    REQUIRE(ran.load() == 8);
    REQUIRE(watch.expired());  // every capture was destroyed before its done()
    REQUIRE(eventually([&] { return returned.load(); }));
    // A move-only callable.
    auto p = std::make_unique<int>(41);
    std::atomic<int> got{0};
    wg.go([q = std::move(p), &got] { got.store(*q + 1); });
    wg.wait();
    REQUIRE(got.load() == 42);
  });
}

TEST_CASE("wait_group: wait from a plain thread", "[wait_group]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::wait_group wg;
    std::atomic<int> finished{0}, seen{-1};
    auto gate = goro::make_chan<int>();
    constexpr int n = 5;
    for (int i = 0; i < n; ++i) {
      wg.go([&, gate] {
        gate.recv();
        finished.fetch_add(1);
      });
    }
    thread_set threads;
    threads.start([&] {
      wg.wait();
      seen.store(finished.load());
    });
    let_others_run();
    REQUIRE(seen.load() == -1);
    gate.close();
    REQUIRE(eventually([&] { return seen.load() != -1; }));
    threads.join();
    REQUIRE(seen.load() == n);
    // And done() from plain threads, wait in the fiber.
    wg.add(3);
    for (int i = 0; i < 3; ++i) threads.start([&] { wg.done(); });
    wg.wait();
    threads.join();
  });
}

TEST_CASE("wait_group: may be destroyed as soon as wait returns", "[wait_group]") {
  // { wait_group wg; wg.go(f); wg.wait(); } (API.md "Destroy after wake"), on the heap so
  // that ASan sees a done() that touches the object after waking the waiter.
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const long rounds = scaled(5000);
    std::atomic<long> ran{0};
    long expected = 0;
    thread_set threads;
    for (long r = 0; r < rounds; ++r) {
      auto wg = std::make_unique<goro::wait_group>();
      const int n = 1 + static_cast<int>(r % 3);
      expected += n;
      for (int i = 0; i < n; ++i) {
        wg->go([&ran] {
          if ((ran.fetch_add(1) & 3) == 0) goro::yield();
        });
      }
      if (r % 128 == 0) {
        goro::wait_group* p = wg.get();
        p->add(1);
        threads.start([p] { p->done(); });
      }
      wg->wait();
      if (ran.load() < expected) (void)wg.release();  // returned early: fibers may still use it
      REQUIRE(ran.load() == expected);
      wg.reset();
      if (r % 128 == 0) threads.join();
    }
    REQUIRE(ran.load() == expected);
  });
}
