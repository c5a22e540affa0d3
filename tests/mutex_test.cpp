// tests/mutex_test.cpp: goro::mutex (API.md "Sync", "Destroy after wake"; docs/sync.md).
//
// Conventions (as in chan_test.cpp): assertions only in the main fiber of run_test() or on the
// test thread; other fibers and plain threads record outcomes in atomics that the main fiber
// checks. No pass/fail depends on timing except one-sided, generous bounds ("gets the lock
// within seconds"). Deterministic parking: with procs = 1 a fiber that sets `started` right
// before a lock() that cannot succeed is parked in it once the main fiber runs again
// (wait_parked, test_util.hpp).
//
// Clang's -Wthread-safety: these tests lock in one fiber and unlock in another, and unlock
// an unlocked mutex on purpose, which the analysis (rightly) rejects.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
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
using goro_test::wait_parked;

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

}  // namespace

TEST_CASE("mutex: try_lock succeeds only on a free mutex", "[mutex]") {
  run_test(2, [] {
    goro::mutex m;
    REQUIRE(m.try_lock());
    REQUIRE_FALSE(m.try_lock());  // not recursive
    std::atomic<int> other{-1};
    goro::go([&] { other.store(m.try_lock() ? 1 : 0); });
    REQUIRE(eventually([&] { return other.load() != -1; }));
    REQUIRE(other.load() == 0);  // held by us: another fiber fails too
    m.unlock();
    REQUIRE(m.try_lock());
    m.unlock();
    m.lock();
    REQUIRE_FALSE(m.try_lock());
    m.unlock();
    // A plain thread sees the same.
    std::atomic<int> from_thread{-1};
    m.lock();
    std::thread([&] { from_thread.store(m.try_lock() ? 1 : 0); }).join();
    REQUIRE(from_thread.load() == 0);
    m.unlock();
    std::thread([&] {
      bool ok = m.try_lock();
      if (ok) m.unlock();
      from_thread.store(ok ? 1 : 0);
    }).join();
    REQUIRE(from_thread.load() == 1);
  });
}

TEST_CASE("mutex: unlock of an unlocked mutex throws std::logic_error and changes nothing", "[mutex]") {
  goro::mutex m;
  REQUIRE_THROWS_AS(m.unlock(), std::logic_error);
  m.lock();
  m.unlock();
  REQUIRE_THROWS_AS(m.unlock(), std::logic_error);  // double unlock
  REQUIRE(m.try_lock());                            // still usable, and free
  REQUIRE_FALSE(m.try_lock());
  m.unlock();
  run_test(1, [] {
    goro::mutex m2;
    bool threw = false;
    try {
      m2.unlock();
    } catch (const std::logic_error&) {
      threw = true;
    }
    REQUIRE(threw);
    REQUIRE(m2.try_lock());
    m2.unlock();
  });
}

TEST_CASE("mutex: std::lock_guard, std::unique_lock and std::scoped_lock work", "[mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::mutex m;
    {
      std::lock_guard<goro::mutex> g(m);
      REQUIRE_FALSE(m.try_lock());
    }
    REQUIRE(m.try_lock());
    m.unlock();
    {
      std::unique_lock<goro::mutex> u(m, std::try_to_lock);
      REQUIRE(u.owns_lock());
      std::atomic<int> other{-1};
      goro::go([&] {
        std::unique_lock<goro::mutex> u2(m, std::try_to_lock);
        other.store(u2.owns_lock() ? 1 : 0);
      });
      REQUIRE(eventually([&] { return other.load() != -1; }));
      REQUIRE(other.load() == 0);
      u.unlock();
      REQUIRE_FALSE(u.owns_lock());
      REQUIRE(m.try_lock());
      m.unlock();
      u.lock();
      REQUIRE_FALSE(m.try_lock());
    }
    REQUIRE(m.try_lock());
    m.unlock();

    // std::scoped_lock over two goro mutexes, taken in opposite orders by fibers and a plain
    // thread: std::lock's deadlock avoidance relies on try_lock; exclusion must hold.
    goro::mutex a, b;
    long guarded = 0;  // guarded by a and b together
    std::atomic<int> violations{0}, finished{0};
    std::atomic<bool> inside{false};
    const long iters = scaled(3000);
    auto worker = [&](bool ab) {
      for (long i = 0; i < iters; ++i) {
        auto body = [&] {
          if (inside.exchange(true)) violations.fetch_add(1);
          ++guarded;
          inside.store(false);
        };
        if (ab) {
          std::scoped_lock l(a, b);
          body();
        } else {
          std::scoped_lock l(b, a);
          body();
        }
        if (i % 64 == 0 && goro::in_fiber()) goro::yield();
      }
      finished.fetch_add(1);
    };
    goro::go(worker, true);
    goro::go(worker, false);
    goro::go(worker, true);
    thread_set threads;
    threads.start([&] { worker(false); });
    REQUIRE(eventually([&] { return finished.load() == 4; }, 30s));
    threads.join();
    REQUIRE(violations.load() == 0);
    std::scoped_lock l(a, b);
    REQUIRE(guarded == 4 * iters);
  });
}

TEST_CASE("mutex: mutual exclusion under contention from fibers and plain threads", "[mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int nfib = 8, nthr = 2;
    const long iters = scaled(20000);
    goro::mutex m;
    long counter = 0;  // not atomic: guarded by m
    std::atomic<bool> inside{false};
    std::atomic<int> violations{0}, finished{0};
    auto worker = [&] {
      for (long i = 0; i < iters; ++i) {
        m.lock();
        if (inside.exchange(true)) violations.fetch_add(1);
        long c = counter;
        // Sometimes leave the processor while holding the lock: contenders park.
        if (i % 16 == 0) {
          if (goro::in_fiber()) {
            goro::yield();
          } else {
            std::this_thread::yield();
          }
        }
        counter = c + 1;
        inside.store(false);
        m.unlock();
      }
      finished.fetch_add(1);
    };
    for (int i = 0; i < nfib; ++i) goro::go(worker);
    thread_set threads;
    for (int i = 0; i < nthr; ++i) threads.start(worker);
    REQUIRE(eventually([&] { return finished.load() == nfib + nthr; }, 60s));
    threads.join();
    REQUIRE(violations.load() == 0);
    m.lock();
    REQUIRE(counter == (nfib + nthr) * iters);
    m.unlock();
  });
}

TEST_CASE("mutex: lock blocks while another holds it and returns once it is unlocked", "[mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::mutex m;
    int data = 0;  // guarded by m
    m.lock();
    std::atomic<bool> started{false};
    std::atomic<int> got{-1};
    goro::go([&] {
      started.store(true);
      m.lock();
      got.store(data);
      m.unlock();
    });
    if (goro::procs() == 1) REQUIRE(wait_parked(started));
    let_others_run();
    REQUIRE(got.load() == -1);  // we hold the lock: it cannot have returned
    data = 7;
    m.unlock();
    REQUIRE(eventually([&] { return got.load() != -1; }));
    REQUIRE(got.load() == 7);  // and it sees what we wrote under the lock
  });
}

TEST_CASE("mutex: a plain thread locks while fibers hold it, and fibers wait for a thread", "[mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::mutex m;
    int data = 0;  // guarded by m
    // A fiber holds the lock; a plain thread's lock() blocks until the fiber unlocks.
    std::atomic<bool> holding{false}, release{false};
    std::atomic<int> thread_got{-1};
    goro::go([&] {
      m.lock();
      data = 1;
      holding.store(true);
      while (!release.load()) goro::yield();  // holds the lock across switches
      data = 2;
      m.unlock();
    });
    REQUIRE(eventually([&] { return holding.load(); }));
    thread_set threads;
    threads.start([&] {
      m.lock();
      thread_got.store(data);
      m.unlock();
    });
    let_others_run();
    REQUIRE(thread_got.load() == -1);
    release.store(true);
    REQUIRE(eventually([&] { return thread_got.load() != -1; }));
    threads.join();
    REQUIRE(thread_got.load() == 2);

    // A plain thread holds the lock; a fiber waiting for it parks and does not block its
    // processor: the main fiber keeps running (with procs = 1 too). The thread gives up the
    // lock after a few seconds in any case, so that a wrong implementation fails, not hangs.
    std::atomic<bool> thread_holds{false}, main_progressed{false}, saw_progress{false};
    std::atomic<bool> fiber_started{false}, fiber_got{false};
    threads.start([&] {
      m.lock();
      data = 3;
      thread_holds.store(true);
      auto deadline = clk::now() + 5s;
      while (!main_progressed.load() && clk::now() < deadline) std::this_thread::sleep_for(100us);
      saw_progress.store(main_progressed.load());
      data = 4;
      m.unlock();
    });
    REQUIRE(eventually([&] { return thread_holds.load(); }));
    std::atomic<int> fiber_saw{-1};
    goro::go([&] {
      fiber_started.store(true);
      m.lock();
      fiber_saw.store(data);
      fiber_got.store(true);
      m.unlock();
    });
    REQUIRE(eventually([&] { return fiber_started.load(); }));
    let_others_run();  // the fiber is blocked in lock(); we must still get the processor back
    bool got_early = fiber_got.load();
    main_progressed.store(true);
    REQUIRE(eventually([&] { return fiber_got.load(); }));
    threads.join();
    REQUIRE_FALSE(got_early);
    REQUIRE(saw_progress.load());
    REQUIRE(fiber_saw.load() == 4);
  });
}

TEST_CASE("mutex: starvation mode gives a long-waiting locker the lock against a hammering crowd",
          "[mutex]") {
  // Go's TestMutexFairness. The hammers re-lock right after each unlock and hold the lock
  // across a switch point; in normal mode the woken waiter almost always loses to them (with
  // procs = 1 it always does: it only runs while a hammer holds the lock). After 1 ms of
  // waiting it switches the mutex to starvation mode and unlock() hands it the lock.
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::mutex m;
    std::atomic<bool> stop{false};
    std::atomic<int> hammers_done{0}, acquired{0};
    const int nhammers = static_cast<int>(goro::procs()) + 2, rounds = 10;
    for (int h = 0; h < nhammers; ++h) {
      goro::go([&] {
        auto safety = clk::now() + 30s;  // ends the hammering if the test failed
        while (!stop.load() && clk::now() < safety) {
          m.lock();
          goro::yield();
          m.unlock();
        }
        hammers_done.fetch_add(1);
      });
    }
    std::atomic<bool> waiter_done{false};
    goro::go([&] {
      for (int i = 0; i < rounds; ++i) {
        goro::sleep_for(100us);
        m.lock();
        m.unlock();
        acquired.fetch_add(1);
      }
      waiter_done.store(true);
    });
    auto t0 = clk::now();
    bool all = eventually([&] { return waiter_done.load(); }, 10s);
    auto took = clk::now() - t0;
    int in_time = acquired.load();
    stop.store(true);
    REQUIRE(eventually([&] { return hammers_done.load() == nhammers && waiter_done.load(); }, 40s));
    INFO("procs " << goro::procs() << ": lock acquisitions by the starved waiter: " << in_time << " of "
                  << rounds << " in " << std::chrono::duration<double>(took).count() << " s");
    REQUIRE(all);
    // The mutex is in a sane state afterwards (starvation mode ended with its last waiter).
    REQUIRE(m.try_lock());
    m.unlock();
  });
}

TEST_CASE("mutex: may be destroyed right after the last unlock", "[mutex]") {
  // A reference-counted object whose count is guarded by its own mutex: whoever drops the last
  // reference deletes the object (and its mutex) right after unlock(). An unlock() that still
  // touched the mutex after releasing it would be a use after free (ASan).
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    struct object {
      goro::mutex m;
      int refs;
    };
    constexpr int parties = 4;  // 2 fibers, a fiber or (every 64th round) a thread, and us
    const long rounds = scaled(3000);
    std::atomic<long> deleted{0};
    auto drop = [&deleted](object* o, int spins) {
      for (int i = 0; i < spins; ++i) {  // some contention first
        o->m.lock();
        if (i % 2 == 0 && goro::in_fiber()) goro::yield();
        o->m.unlock();
      }
      o->m.lock();
      bool last = --o->refs == 0;
      o->m.unlock();
      if (last) {
        delete o;
        deleted.fetch_add(1);
      }
    };
    thread_set threads;
    for (long r = 0; r < rounds; ++r) {
      auto* o = new object{{}, parties};
      for (int i = 0; i < parties - 2; ++i) goro::go(drop, o, i);
      if (r % 64 == 0) {
        threads.start([drop, o] { drop(o, 3); });
      } else {
        goro::go(drop, o, 3);
      }
      drop(o, static_cast<int>(r % 3));
      if (r % 64 == 0) {
        REQUIRE(eventually([&] { return deleted.load() == r + 1; }));
        threads.join();
      }
    }
    REQUIRE(eventually([&] { return deleted.load() == rounds; }));
  });
}
