// tests/semaphore_test.cpp: goro::semaphore, x/sync/semaphore.Weighted (API.md "Sync" and
// "Clarifications"; docs/sync.md).
//
// Conventions as in chan_test.cpp: assertions only in the main fiber (or on the test thread);
// other fibers and plain threads record outcomes in atomics.
//
// "Somebody waits" probe: try_acquire fails while anyone waits (API.md). With at least one
// unit free, try_acquire(1) therefore fails exactly when a waiter is queued; the probe gives
// the unit back when it got it. Tests use it to know that a waiter has queued, for any procs.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <system_error>
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
using clk = std::chrono::steady_clock;

bool someone_waits(goro::semaphore& s) {
  if (s.try_acquire(1)) {
    s.release(1);
    return false;
  }
  return true;
}

// Outcomes of an acquire(ctx, n) run elsewhere.
enum outcome : int { pending = 0, acquired, canceled, deadline_exceeded, other_error };

outcome acquire_ctx(goro::semaphore& s, const goro::context& ctx, std::int64_t n) {
  try {
    s.acquire(ctx, n);
    return acquired;
  } catch (const std::system_error& e) {
    if (e.code() == goro::errc::canceled) return canceled;
    if (e.code() == goro::errc::deadline_exceeded) return deadline_exceeded;
    return other_error;
  } catch (...) {
    return other_error;
  }
}

void atomic_max(std::atomic<std::int64_t>& m, std::int64_t v) {
  std::int64_t cur = m.load();
  while (cur < v && !m.compare_exchange_weak(cur, v)) {
  }
}

}  // namespace

TEST_CASE("semaphore: weighted try_acquire and release", "[semaphore]") {
  goro::semaphore s(5);
  REQUIRE(s.try_acquire(3));
  REQUIRE_FALSE(s.try_acquire(3));  // 2 left
  REQUIRE(s.try_acquire(2));
  REQUIRE_FALSE(s.try_acquire(1));
  REQUIRE(s.try_acquire(0));  // zero units always fit
  s.acquire(0);
  s.release(4);
  REQUIRE_FALSE(s.try_acquire(5));
  REQUIRE(s.try_acquire(4));
  s.release(5);
  REQUIRE(s.try_acquire());  // n defaults to 1
  s.acquire();
  s.release();
  s.release(1);
  s.acquire(5);
  s.release(5);
  goro::semaphore zero(0);
  REQUIRE(zero.try_acquire(0));
  REQUIRE_THROWS_AS(zero.try_acquire(1), std::logic_error);
}

TEST_CASE("semaphore: errors: negative counts, too large requests, releasing more than held", "[semaphore]") {
  REQUIRE_THROWS_AS(goro::semaphore(-1), std::invalid_argument);
  goro::semaphore s(3);
  REQUIRE_THROWS_AS(s.acquire(-1), std::invalid_argument);
  REQUIRE_THROWS_AS(s.try_acquire(-1), std::invalid_argument);
  REQUIRE_THROWS_AS(s.release(-1), std::invalid_argument);
  REQUIRE_THROWS_AS(s.acquire(goro::context::background(), -1), std::invalid_argument);
  REQUIRE_THROWS_AS(s.acquire(4), std::logic_error);
  REQUIRE_THROWS_AS(s.try_acquire(4), std::logic_error);
  REQUIRE_THROWS_AS(s.release(1), std::logic_error);  // nothing held
  REQUIRE(s.try_acquire(2));
  REQUIRE_THROWS_AS(s.release(3), std::logic_error);  // 2 held
  // The failed calls changed nothing: 2 held, 1 free.
  REQUIRE_FALSE(s.try_acquire(2));
  REQUIRE(s.try_acquire(1));
  s.release(3);
  REQUIRE(s.try_acquire(3));
  s.release(3);
  // invalid_argument is not a logic_error the tests above could confuse with a too large n.
  REQUIRE_THROWS_AS(s.acquire(-5), std::invalid_argument);
}

TEST_CASE("semaphore: acquire waits until enough units are free", "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  const bool thread_waiter = GENERATE(false, true);
  run_test(procs, [thread_waiter] {
    goro::semaphore s(10);
    s.acquire(8);
    std::atomic<bool> started{false}, got{false};
    auto waiter = [&] {
      started.store(true);
      s.acquire(3);
      got.store(true);
    };
    thread_set threads;
    if (thread_waiter) {
      threads.start(waiter);
    } else {
      goro::go(waiter);
    }
    REQUIRE(eventually([&] { return started.load(); }));
    let_others_run();
    REQUIRE_FALSE(got.load());  // 2 free, 3 wanted
    s.release(1);               // 3 free now
    REQUIRE(eventually([&] { return got.load(); }));
    threads.join();
    REQUIRE_FALSE(s.try_acquire(1));  // 7 + 3 held
    s.release(10);
    REQUIRE(s.try_acquire(10));
    s.release(10);
  });
}

TEST_CASE("semaphore: FIFO: smaller acquires that would fit wait behind a large one queued first",
          "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::semaphore s(4);
    s.acquire(3);  // 1 free
    std::atomic<int> state_big{0}, smalls_got{0}, smalls_started{0};
    std::atomic<bool> big_release{false};
    goro::go([&] {
      s.acquire(4);
      state_big.store(1);
      while (!big_release.load()) goro::yield();
      state_big.store(2);
      s.release(4);
    });
    REQUIRE(eventually([&] { return someone_waits(s); }));  // the big one is queued
    // Smaller requests arrive later; each would fit in the free unit.
    auto small = [&] {
      smalls_started.fetch_add(1);
      s.acquire(1);
      if (state_big.load() != 2) smalls_got.fetch_add(100);  // overtook the big one
      smalls_got.fetch_add(1);
      s.release(1);
    };
    constexpr int nsmall_fib = 3, nsmall_thr = 1;
    for (int i = 0; i < nsmall_fib; ++i) goro::go(small);
    thread_set threads;
    for (int i = 0; i < nsmall_thr; ++i) threads.start(small);
    REQUIRE(eventually([&] { return smalls_started.load() == nsmall_fib + nsmall_thr; }));
    let_others_run();
    REQUIRE(smalls_got.load() == 0);
    REQUIRE_FALSE(s.try_acquire(1));  // a unit is free, but somebody waits
    s.release(3);                     // 4 free: the big one gets them all
    REQUIRE(eventually([&] { return state_big.load() == 1; }));
    let_others_run();
    REQUIRE(smalls_got.load() == 0);  // nothing left for them while the big one holds
    big_release.store(true);
    REQUIRE(eventually([&] { return smalls_got.load() >= nsmall_fib + nsmall_thr; }));
    threads.join();
    REQUIRE(smalls_got.load() == nsmall_fib + nsmall_thr);
    REQUIRE(s.try_acquire(4));
    s.release(4);
  });
}

TEST_CASE("semaphore: a large acquire is not starved by a stream of small ones", "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr std::int64_t size = 4;
    goro::semaphore s(size);
    std::atomic<bool> stop{false};
    std::atomic<int> done{0};
    std::atomic<long> small_grants{0};
    constexpr int nsmall = 4;
    for (int i = 0; i < nsmall; ++i) {
      goro::go([&] {
        auto safety = clk::now() + 30s;
        while (!stop.load() && clk::now() < safety) {
          s.acquire(1);
          small_grants.fetch_add(1);
          goro::yield();  // hold across a switch: small holders overlap, never all out at once
          s.release(1);
        }
        done.fetch_add(1);
      });
    }
    REQUIRE(eventually([&] { return small_grants.load() > 100; }));
    std::atomic<int> big_grants{0};
    goro::go([&] {
      for (int i = 0; i < 5; ++i) {
        s.acquire(size);
        big_grants.fetch_add(1);
        s.release(size);
        goro::yield();
      }
      done.fetch_add(1);
    });
    bool ok = eventually([&] { return big_grants.load() == 5; }, 10s);
    stop.store(true);
    REQUIRE(eventually([&] { return done.load() == nsmall + 1; }, 40s));
    INFO("big acquisitions while small ones streamed: " << big_grants.load());
    REQUIRE(ok);
    REQUIRE(s.try_acquire(size));
    s.release(size);
  });
}

TEST_CASE("semaphore: try_acquire fails while anyone waits, even when the units are free", "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::semaphore s(4);
    s.acquire(3);  // 1 free
    std::atomic<bool> got{false};
    goro::go([&] {
      s.acquire(2);
      got.store(true);
    });
    REQUIRE(eventually([&] { return someone_waits(s); }));
    let_others_run();
    REQUIRE_FALSE(got.load());
    for (int i = 0; i < 10; ++i) REQUIRE_FALSE(s.try_acquire(1));
    s.release(1);  // 2 free: the waiter gets them
    REQUIRE(eventually([&] { return got.load(); }));
    REQUIRE_FALSE(s.try_acquire(1));  // 2 + 2 held
    s.release(2);
    REQUIRE(s.try_acquire(2));  // nobody waits any more
    s.release(4);
  });
}

TEST_CASE("semaphore: acquire(ctx) with a context already done throws at once and takes nothing",
          "[semaphore]") {
  run_test(2, [] {
    goro::semaphore s(3);
    auto [ctx, cancel] = goro::with_cancel(goro::context::background());
    cancel();
    REQUIRE(acquire_ctx(s, ctx, 1) == canceled);  // although the units are free
    REQUIRE(acquire_ctx(s, ctx, 0) == canceled);
    REQUIRE(acquire_ctx(s, ctx, 5) == canceled);  // too large, but ctx is done already
    auto [dctx, dcancel] = goro::with_timeout(goro::context::background(), -1ms);
    REQUIRE(acquire_ctx(s, dctx, 2) == deadline_exceeded);
    dcancel();
    REQUIRE(s.try_acquire(3));  // nothing was taken
    s.release(3);
    // A background context never cancels: acquire(ctx, n) is acquire(n).
    s.acquire(goro::context::background(), 2);
    REQUIRE_FALSE(s.try_acquire(2));
    s.release(2);
    // A live context with free units: granted at once.
    auto [lctx, lcancel] = goro::with_cancel(goro::context::background());
    REQUIRE(acquire_ctx(s, lctx, 3) == acquired);
    lcancel();  // cancelling afterwards changes nothing
    REQUIRE_FALSE(s.try_acquire(1));
    s.release(3);
    REQUIRE(s.try_acquire(3));
    s.release(3);
  });
}

TEST_CASE("semaphore: cancelling the context of a waiting acquire(ctx) throws errc::canceled",
          "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  const bool thread_waiter = GENERATE(false, true);
  run_test(procs, [thread_waiter] {
    goro::semaphore s(2);
    s.acquire(1);  // 1 free
    auto [ctx, cancel] = goro::with_cancel(goro::context::background());
    std::atomic<int> result{pending};
    auto waiter = [&, ctx = ctx] { result.store(acquire_ctx(s, ctx, 2)); };
    thread_set threads;
    if (thread_waiter) {
      threads.start(waiter);
    } else {
      goro::go(waiter);
    }
    REQUIRE(eventually([&] { return someone_waits(s); }));
    let_others_run();
    REQUIRE(result.load() == pending);
    cancel();
    REQUIRE(eventually([&] { return result.load() != pending; }));
    threads.join();
    REQUIRE(result.load() == canceled);
    // The waiter left the queue and took nothing: 1 held by us, 1 free, nobody waits.
    REQUIRE_FALSE(someone_waits(s));
    REQUIRE(s.try_acquire(1));
    s.release(2);
    REQUIRE(s.try_acquire(2));
    s.release(2);
  });
}

TEST_CASE("semaphore: acquire(ctx) on a timeout context throws errc::deadline_exceeded after the timeout",
          "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::semaphore s(1);
    s.acquire(1);
    auto [ctx, cancel] = goro::with_timeout(goro::context::background(), 20ms);
    auto t0 = clk::now();
    outcome r = acquire_ctx(s, ctx, 1);
    auto took = clk::now() - t0;
    cancel();
    REQUIRE(r == deadline_exceeded);
    REQUIRE(took >= 19ms);  // the context's timer cannot fire early (1 ms for clock rounding)
    s.release(1);
    REQUIRE(s.try_acquire(1));  // the timed-out waiter left nothing behind
    s.release(1);
  });
}

TEST_CASE("semaphore: acquire(ctx) granted by a release before the context ends", "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::semaphore s(3);
    s.acquire(3);
    auto [ctx, cancel] = goro::with_cancel(goro::context::background());
    std::atomic<int> result{pending};
    goro::go([&, ctx = ctx] { result.store(acquire_ctx(s, ctx, 2)); });
    s.release(1);
    REQUIRE(eventually([&] { return someone_waits(s); }));
    let_others_run();
    REQUIRE(result.load() == pending);
    s.release(1);  // 2 free: granted
    REQUIRE(eventually([&] { return result.load() != pending; }));
    REQUIRE(result.load() == acquired);
    cancel();  // too late to matter
    let_others_run();
    REQUIRE_FALSE(s.try_acquire(1));  // 1 (ours) + 2 (the waiter's) held
    s.release(3);
    REQUIRE(s.try_acquire(3));
    s.release(3);
  });
}

TEST_CASE("semaphore: a cancelled waiter at the head lets the waiters behind it in", "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::semaphore s(3);
    s.acquire(2);  // 1 free
    auto [ctx, cancel] = goro::with_cancel(goro::context::background());
    std::atomic<int> head{pending};
    goro::go([&, ctx = ctx] { head.store(acquire_ctx(s, ctx, 3)); });
    REQUIRE(eventually([&] { return someone_waits(s); }));
    // Behind it: requests that fit in the free unit but must wait for the head.
    std::atomic<int> behind_got{0}, behind_started{0};
    auto behind = [&] {
      behind_started.fetch_add(1);
      s.acquire(1);
      behind_got.fetch_add(1);
    };
    goro::go(behind);
    thread_set threads;
    threads.start(behind);
    REQUIRE(eventually([&] { return behind_started.load() == 2; }));
    let_others_run();
    REQUIRE(behind_got.load() == 0);
    cancel();  // the head leaves: the first one behind it fits, the second waits for a unit
    REQUIRE(eventually([&] { return head.load() != pending && behind_got.load() == 1; }));
    REQUIRE(head.load() == canceled);
    let_others_run();
    REQUIRE(behind_got.load() == 1);  // 2 + 1 held, nothing free
    s.release(1);
    REQUIRE(eventually([&] { return behind_got.load() == 2; }));
    threads.join();
    s.release(3);
    REQUIRE(s.try_acquire(3));
    s.release(3);
  });
}

TEST_CASE("semaphore: a too large acquire(ctx, n) waits for the context, then throws", "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::semaphore s(2);
    // Timeout: returns only when the deadline passes, with deadline_exceeded.
    {
      auto [ctx, cancel] = goro::with_timeout(goro::context::background(), 20ms);
      auto t0 = clk::now();
      outcome r = acquire_ctx(s, ctx, 3);
      auto took = clk::now() - t0;
      cancel();
      REQUIRE(r == deadline_exceeded);
      REQUIRE(took >= 19ms);
    }
    // Cancel: it waits until cancelled and does not hold up other acquirers meanwhile.
    auto [ctx, cancel] = goro::with_cancel(goro::context::background());
    std::atomic<int> result{pending};
    std::atomic<bool> started{false};
    goro::go([&, ctx = ctx] {
      started.store(true);
      result.store(acquire_ctx(s, ctx, 3));
    });
    REQUIRE(eventually([&] { return started.load(); }));
    let_others_run();
    REQUIRE(result.load() == pending);
    REQUIRE(s.try_acquire(2));  // it does not queue: it can never be served
    s.release(2);
    cancel();
    REQUIRE(eventually([&] { return result.load() != pending; }));
    REQUIRE(result.load() == canceled);
  });
}

TEST_CASE("semaphore: concurrency never exceeds the size, with weights, cancellations and threads",
          "[semaphore]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr std::int64_t size = 5;
    constexpr int nfib = 8, nthr = 2;
    const long iters = scaled(1500);
    goro::semaphore s(size);
    std::atomic<std::int64_t> in_use{0}, max_in_use{0};
    std::atomic<long> over{0}, grants{0}, cancels{0}, errors{0};
    std::atomic<int> finished{0};
    auto worker = [&](unsigned seed) {
      std::minstd_rand rng(seed);
      for (long i = 0; i < iters; ++i) {
        const std::int64_t n = 1 + static_cast<std::int64_t>(rng() % size);
        bool got = true;
        switch (rng() % 4) {
          case 0:
            got = s.try_acquire(n);
            break;
          case 1: {
            // A short timeout: some of these give up, often right as units arrive.
            auto [ctx, cancel] =
                goro::with_timeout(goro::context::background(), std::chrono::microseconds(rng() % 200));
            outcome r = acquire_ctx(s, ctx, n);
            cancel();
            got = r == acquired;
            if (r == canceled || r == other_error) errors.fetch_add(1);
            if (!got) cancels.fetch_add(1);
            break;
          }
          default:
            s.acquire(n);
        }
        if (!got) continue;
        grants.fetch_add(1);
        std::int64_t now = in_use.fetch_add(n) + n;
        if (now > size) over.fetch_add(1);
        atomic_max(max_in_use, now);
        if (i % 4 == 0) {
          if (goro::in_fiber()) {
            goro::yield();
          } else {
            std::this_thread::yield();
          }
        }
        in_use.fetch_sub(n);
        s.release(n);
      }
      finished.fetch_add(1);
    };
    for (int i = 0; i < nfib; ++i) goro::go(worker, 1000u + static_cast<unsigned>(i));
    thread_set threads;
    for (int i = 0; i < nthr; ++i) threads.start([&worker, i] { worker(2000u + static_cast<unsigned>(i)); });
    REQUIRE(eventually([&] { return finished.load() == nfib + nthr; }, 60s));
    threads.join();
    INFO("grants " << grants.load() << ", timeouts " << cancels.load() << ", most units in use "
                   << max_in_use.load());
    REQUIRE(over.load() == 0);
    REQUIRE(errors.load() == 0);
    REQUIRE(max_in_use.load() <= size);
    REQUIRE(grants.load() > 0);
    REQUIRE(s.try_acquire(size));  // every unit came back, and nobody is left queued
    s.release(size);
  });
}
