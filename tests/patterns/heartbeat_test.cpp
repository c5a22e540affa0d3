// tests/patterns/heartbeat_test.cpp: goro/patterns/heartbeat.hpp (pulse, make_heartbeat,
// beat_every). Conventions: patterns_util.hpp.
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <tuple>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using goro_test::thread_set;
using namespace pt;

TEST_CASE("pulse never blocks and leaves at most one beat pending", "[patterns][heartbeat]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto [beat, beats] = goro::make_heartbeat();
    CHECK(beats.capacity() == 1);
    CHECK(nothing_ready(beats));
    std::atomic<bool> beaten{false};
    goro::go([beat = beat, &beaten] {         // in a fiber: a pulse that blocks fails instead of hanging
      for (int i = 0; i < 1000; ++i) beat();  // nobody watches: returns every time
      beaten.store(true);
    });
    REQUIRE(eventually([&] { return beaten.load(); }));
    CHECK(beats.size() == 1);
    CHECK(beats.try_recv().has_value());
    CHECK(nothing_ready(beats));  // the other 999 were dropped
    beat();
    CHECK(beats.size() == 1);

    // A worker fiber and a plain thread beating at once, nobody watching.
    std::atomic<int> finished{0};
    goro::go([beat = beat, &finished] {
      for (int i = 0; i < 500; ++i) beat();
      finished.fetch_add(1);
    });
    thread_set threads;
    threads.start([beat = beat, &finished] {
      for (int i = 0; i < 500; ++i) beat();
      finished.fetch_add(1);
    });
    REQUIRE(eventually([&] { return finished.load() == 2; }));
    threads.join();
    CHECK(beats.size() == 1);

    goro::pulse nowhere;  // a pulse that goes nowhere
    nowhere();
    nowhere();
    CHECK(beats.size() == 1);
  });
}

TEST_CASE("a watcher sees a worker's beats, then at most one stale beat", "[patterns][heartbeat]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto [beat, beats] = goro::make_heartbeat();
    std::atomic<bool> worker_done{false};
    goro::go([beat = beat, &worker_done] {
      for (int i = 0; i < 20; ++i) {
        beat();
        goro::sleep_for(1ms);
      }
      worker_done.store(true);
    });
    int seen = 0;
    while (!worker_done.load()) {
      if (goro::select(goro::case_recv(beats), goro::case_recv(goro::after(5ms))) == 0) ++seen;
    }
    CHECK(seen >= 1);
    CHECK(seen <= 20);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("beat_every beats on a timer until its context is done", "[patterns][heartbeat]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_cancel(bg());
    auto [beat, beats] = goro::make_heartbeat();
    std::atomic<bool> returned{false};
    const auto start = clk::now();
    goro::go([ctx, beat = beat, &returned] {
      goro::beat_every(ctx, 5ms, beat);
      returned.store(true);
    });
    for (int i = 0; i < 3; ++i) REQUIRE(recv_within(beats).has_value());
    CHECK(clk::now() - start >= 15ms);  // one beat per interval, never early
    CHECK_FALSE(returned.load());
    cancel();
    REQUIRE(eventually([&] { return returned.load(); }));
    CHECK(fibers_back_to(base));
    // Stopped: at most the one pending beat, and no new one.
    (void)beats.try_recv();
    goro::sleep_for(20ms);
    CHECK(nothing_ready(beats));
  });
}

TEST_CASE("beat_every returns at once for a done context and at a deadline", "[patterns][heartbeat]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto [beat, beats] = goro::make_heartbeat();
    auto [ctx, cancel] = goro::with_cancel(bg());
    cancel();
    goro::beat_every(ctx, 1h, beat);  // in the calling fiber; would never beat
    CHECK(nothing_ready(beats));

    auto [tctx, tcancel] = goro::with_timeout(bg(), 30ms);
    const auto start = clk::now();
    goro::beat_every(tctx, 5ms, beat);
    CHECK(clk::now() - start >= 30ms);
    CHECK(tctx.err() == goro::errc::deadline_exceeded);
    CHECK(beats.size() == 1);  // it beat, and kept at most one beat pending
    tcancel();
  });
}
