// tests/rw_mutex_test.cpp: goro::rw_mutex (API.md "Sync", "Destroy after wake"; docs/sync.md).
//
// Conventions as in chan_test.cpp and mutex_test.cpp: assertions only in the main fiber;
// other fibers and threads record outcomes in atomics. Deterministic arrival order with
// procs = 1 through wait_parked (test_util.hpp).
//
// Clang's -Wthread-safety: these tests lock in one fiber and unlock in another, and misuse
// the lock on purpose, which the analysis (rightly) rejects.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
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
using goro_test::wait_parked;

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

void atomic_max(std::atomic<int>& m, int v) {
  int cur = m.load();
  while (cur < v && !m.compare_exchange_weak(cur, v)) {
  }
}

}  // namespace

TEST_CASE("rw_mutex: try_lock and try_lock_shared", "[rw_mutex]") {
  goro::rw_mutex rw;
  REQUIRE(rw.try_lock());
  REQUIRE_FALSE(rw.try_lock());
  REQUIRE_FALSE(rw.try_lock_shared());
  rw.unlock();
  REQUIRE(rw.try_lock_shared());
  REQUIRE(rw.try_lock_shared());  // readers share
  REQUIRE_FALSE(rw.try_lock());   // a writer excludes readers
  rw.unlock_shared();
  REQUIRE_FALSE(rw.try_lock());  // one reader still holds
  rw.unlock_shared();
  REQUIRE(rw.try_lock());
  rw.unlock();
  rw.lock_shared();
  REQUIRE(rw.try_lock_shared());
  rw.unlock_shared();
  rw.unlock_shared();
  rw.lock();
  REQUIRE_FALSE(rw.try_lock_shared());
  rw.unlock();
  REQUIRE(rw.try_lock());
  rw.unlock();
}

TEST_CASE("rw_mutex: misused unlock and unlock_shared throw std::logic_error and change nothing",
          "[rw_mutex]") {
  goro::rw_mutex rw;
  REQUIRE_THROWS_AS(rw.unlock(), std::logic_error);
  REQUIRE_THROWS_AS(rw.unlock_shared(), std::logic_error);
  REQUIRE(rw.try_lock());  // still free
  rw.unlock();

  rw.lock();  // a writer holds: unlock_shared is misuse and the writer still holds
  REQUIRE_THROWS_AS(rw.unlock_shared(), std::logic_error);
  REQUIRE_FALSE(rw.try_lock_shared());
  rw.unlock();
  REQUIRE_THROWS_AS(rw.unlock(), std::logic_error);  // double unlock

  rw.lock_shared();  // a reader holds: unlock is misuse and the reader still holds
  REQUIRE_THROWS_AS(rw.unlock(), std::logic_error);
  REQUIRE_FALSE(rw.try_lock());
  REQUIRE(rw.try_lock_shared());
  rw.unlock_shared();
  rw.unlock_shared();
  REQUIRE_THROWS_AS(rw.unlock_shared(), std::logic_error);
  REQUIRE(rw.try_lock());
  rw.unlock();

  // The same with waiters queued (the slow paths): misuse leaves the queue alone.
  run_test(1, [] {
    goro::rw_mutex rw2;
    rw2.lock_shared();
    std::atomic<bool> started{false}, got{false};
    goro::go([&] {
      started.store(true);
      rw2.lock();
      got.store(true);
      rw2.unlock();
    });
    REQUIRE(wait_parked(started));
    bool threw = false;
    try {
      rw2.unlock();  // we hold it shared, not exclusively
    } catch (const std::logic_error&) {
      threw = true;
    }
    REQUIRE(threw);
    let_others_run();
    REQUIRE_FALSE(got.load());
    rw2.unlock_shared();
    REQUIRE(eventually([&] { return got.load(); }));
  });
}

TEST_CASE("rw_mutex: std::shared_lock, std::unique_lock and std::lock_guard work", "[rw_mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::rw_mutex rw;
    {
      std::shared_lock<goro::rw_mutex> s1(rw);
      REQUIRE(s1.owns_lock());
      std::atomic<int> other{-1}, writer{-1};
      goro::go([&] {
        std::shared_lock<goro::rw_mutex> s2(rw, std::try_to_lock);
        other.store(s2.owns_lock() ? 1 : 0);
        std::unique_lock<goro::rw_mutex> u(rw, std::try_to_lock);
        writer.store(u.owns_lock() ? 1 : 0);
      });
      REQUIRE(eventually([&] { return writer.load() != -1; }));
      REQUIRE(other.load() == 1);
      REQUIRE(writer.load() == 0);
    }
    {
      std::lock_guard<goro::rw_mutex> g(rw);
      REQUIRE_FALSE(rw.try_lock_shared());
    }
    std::unique_lock<goro::rw_mutex> u(rw);
    REQUIRE(u.owns_lock());
    u.unlock();
    std::shared_lock<goro::rw_mutex> s(rw);
    REQUIRE(rw.try_lock_shared());
    rw.unlock_shared();
  });
}

TEST_CASE("rw_mutex: several readers are inside at once, fibers and plain threads", "[rw_mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int nfib = 5, nthr = 2, n = nfib + nthr;
    goro::rw_mutex rw;
    std::atomic<int> inside{0}, max_inside{0}, finished{0}, met{0}, arrived{0};
    auto reader = [&] {
      rw.lock_shared();
      atomic_max(max_inside, inside.fetch_add(1) + 1);
      arrived.fetch_add(1);
      // Stay inside until every reader has arrived: only works if they share the lock.
      // Bounded, so that an exclusive implementation fails instead of hanging.
      if (eventually([&] { return arrived.load() == n; }, 5s)) met.fetch_add(1);
      inside.fetch_sub(1);
      rw.unlock_shared();
      finished.fetch_add(1);
    };
    for (int i = 0; i < nfib; ++i) goro::go(reader);
    thread_set threads;
    for (int i = 0; i < nthr; ++i) threads.start(reader);
    REQUIRE(eventually([&] { return finished.load() == n; }, 60s));
    threads.join();
    REQUIRE(max_inside.load() == n);
    REQUIRE(met.load() == n);
    REQUIRE(rw.try_lock());
    rw.unlock();
  });
}

TEST_CASE("rw_mutex: a writer excludes readers and other writers", "[rw_mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int nreaders = 6, nwriters = 3, nthr_readers = 1, nthr_writers = 1;
    constexpr int total = nreaders + nwriters + nthr_readers + nthr_writers;
    const long iters = scaled(3000);
    goro::rw_mutex rw;
    long a = 0, b = 0;  // guarded by rw; writers keep them equal
    std::atomic<int> readers_inside{0}, writers_inside{0}, violations{0}, finished{0}, max_readers{0};
    auto pause = [](long i) {
      if (i % 8 == 0) {
        if (goro::in_fiber()) {
          goro::yield();
        } else {
          std::this_thread::yield();
        }
      }
    };
    auto writer = [&] {
      for (long i = 0; i < iters; ++i) {
        rw.lock();
        if (writers_inside.fetch_add(1) != 0 || readers_inside.load() != 0) violations.fetch_add(1);
        ++a;
        pause(i);
        ++b;
        writers_inside.fetch_sub(1);
        rw.unlock();
      }
      finished.fetch_add(1);
    };
    auto reader = [&] {
      for (long i = 0; i < iters; ++i) {
        rw.lock_shared();
        atomic_max(max_readers, readers_inside.fetch_add(1) + 1);
        if (writers_inside.load() != 0) violations.fetch_add(1);
        long x = a;
        pause(i);
        if (b != x) violations.fetch_add(1);  // a writer got in while we read
        readers_inside.fetch_sub(1);
        rw.unlock_shared();
      }
      finished.fetch_add(1);
    };
    for (int i = 0; i < nreaders; ++i) goro::go(reader);
    for (int i = 0; i < nwriters; ++i) goro::go(writer);
    thread_set threads;
    for (int i = 0; i < nthr_readers; ++i) threads.start(reader);
    for (int i = 0; i < nthr_writers; ++i) threads.start(writer);
    REQUIRE(eventually([&] { return finished.load() == total; }, 60s));
    threads.join();
    REQUIRE(violations.load() == 0);
    INFO("most readers inside at once: " << max_readers.load());
    CHECK(max_readers.load() >= 2);  // readers did overlap (they yield while inside)
    rw.lock();
    REQUIRE(a == (nwriters + nthr_writers) * iters);
    REQUIRE(b == a);
    rw.unlock();
  });
}

TEST_CASE("rw_mutex: a waiting writer makes new readers queue behind it", "[rw_mutex]") {
  // procs = 1 fixes the arrival order: reader R0 (us) holds; writer W queues; then a new
  // reader R1 must not join R0 (try_lock_shared fails, lock_shared waits) and gets in only
  // after W.
  run_test(1, [] {
    goro::rw_mutex rw;
    rw.lock_shared();
    std::vector<char> order;  // appended by the fibers, each while holding rw
    std::atomic<bool> w_started{false}, r_started{false};
    std::atomic<int> done{0};
    goro::go([&] {
      w_started.store(true);
      rw.lock();
      order.push_back('W');
      goro::yield();
      rw.unlock();
      done.fetch_add(1);
    });
    REQUIRE(wait_parked(w_started));
    REQUIRE_FALSE(rw.try_lock_shared());  // a writer waits: no new reader gets in
    goro::go([&] {
      r_started.store(true);
      rw.lock_shared();
      order.push_back('R');
      rw.unlock_shared();
      done.fetch_add(1);
    });
    REQUIRE(wait_parked(r_started));
    let_others_run();
    REQUIRE(order.empty());  // both wait for our read lock
    rw.unlock_shared();
    REQUIRE(eventually([&] { return done.load() == 2; }));
    REQUIRE(order == std::vector<char>{'W', 'R'});
  });
}

TEST_CASE("rw_mutex: readers queued during a write get in before the next writer", "[rw_mutex]") {
  // procs = 1 fixes the arrival order: we hold the write lock; writer W2 queues, then
  // readers R1 and R2 queue. Go's RWMutex lets the readers in first when we unlock.
  run_test(1, [] {
    goro::rw_mutex rw;
    rw.lock();
    std::vector<char> order;
    std::atomic<int> done{0}, readers_together{0}, readers_in{0};
    std::atomic<bool> started[3] = {false, false, false};
    goro::go([&] {
      started[0].store(true);
      rw.lock();
      order.push_back('W');
      rw.unlock();
      done.fetch_add(1);
    });
    REQUIRE(wait_parked(started[0]));
    for (int i = 1; i <= 2; ++i) {
      goro::go([&, i] {
        started[i].store(true);
        rw.lock_shared();
        order.push_back('R');
        readers_in.fetch_add(1);
        // Both readers hold the lock together before either leaves.
        if (eventually([&] { return readers_in.load() == 2; }, 5s)) readers_together.fetch_add(1);
        rw.unlock_shared();
        done.fetch_add(1);
      });
      REQUIRE(wait_parked(started[i]));
    }
    let_others_run();
    REQUIRE(order.empty());
    rw.unlock();
    REQUIRE(eventually([&] { return done.load() == 3; }, 10s));
    REQUIRE(order == std::vector<char>{'R', 'R', 'W'});
    REQUIRE(readers_together.load() == 2);
  });
}

TEST_CASE("rw_mutex: a continuous stream of overlapping readers does not starve a writer", "[rw_mutex]") {
  // The readers hold the lock across switch points and overlap, so the reader count never
  // drops to zero by itself: a reader-preferring lock would never let the writer in.
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::rw_mutex rw;
    std::atomic<bool> stop{false};
    std::atomic<int> readers_done{0}, readers_in{0};
    constexpr int nreaders = 4;
    for (int i = 0; i < nreaders; ++i) {
      goro::go([&] {
        auto safety = clk::now() + 30s;
        while (!stop.load() && clk::now() < safety) {
          rw.lock_shared();
          readers_in.fetch_add(1);
          goro::yield();
          goro::yield();
          rw.unlock_shared();
        }
        readers_done.fetch_add(1);
      });
    }
    REQUIRE(eventually([&] { return readers_in.load() > 100; }));  // the stream is flowing
    std::atomic<int> writes{0};
    std::atomic<bool> writer_done{false};
    goro::go([&] {
      for (int i = 0; i < 10; ++i) {
        rw.lock();
        writes.fetch_add(1);
        rw.unlock();
        goro::yield();
      }
      writer_done.store(true);
    });
    bool ok = eventually([&] { return writer_done.load(); }, 10s);
    stop.store(true);
    REQUIRE(eventually([&] { return readers_done.load() == nreaders && writer_done.load(); }, 40s));
    INFO("writes done while readers streamed: " << writes.load());
    REQUIRE(ok);
  });
}

TEST_CASE("rw_mutex: a continuous stream of writers does not starve readers", "[rw_mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::rw_mutex rw;
    std::atomic<bool> stop{false};
    std::atomic<int> writers_done{0}, writes{0};
    constexpr int nwriters = 3;
    for (int i = 0; i < nwriters; ++i) {
      goro::go([&] {
        auto safety = clk::now() + 30s;
        while (!stop.load() && clk::now() < safety) {
          rw.lock();
          writes.fetch_add(1);
          goro::yield();
          rw.unlock();
        }
        writers_done.fetch_add(1);
      });
    }
    REQUIRE(eventually([&] { return writes.load() > 100; }));
    std::atomic<int> reads{0};
    std::atomic<bool> reader_done{false};
    goro::go([&] {
      for (int i = 0; i < 10; ++i) {
        rw.lock_shared();
        reads.fetch_add(1);
        rw.unlock_shared();
        goro::yield();
      }
      reader_done.store(true);
    });
    bool ok = eventually([&] { return reader_done.load(); }, 10s);
    stop.store(true);
    REQUIRE(eventually([&] { return writers_done.load() == nwriters && reader_done.load(); }, 40s));
    INFO("reads done while writers streamed: " << reads.load());
    REQUIRE(ok);
  });
}

TEST_CASE("rw_mutex: a plain thread waits for a fiber's write lock and vice versa", "[rw_mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::rw_mutex rw;
    int data = 0;  // guarded by rw
    rw.lock();
    std::atomic<int> thread_saw{-1};
    thread_set threads;
    threads.start([&] {
      rw.lock_shared();
      thread_saw.store(data);
      rw.unlock_shared();
    });
    let_others_run();
    REQUIRE(thread_saw.load() == -1);
    data = 5;
    rw.unlock();
    REQUIRE(eventually([&] { return thread_saw.load() != -1; }));
    threads.join();
    REQUIRE(thread_saw.load() == 5);

    // A thread holds the write lock; a fiber's lock_shared parks without blocking the
    // processor (the thread gives up after a few seconds in any case).
    std::atomic<bool> holds{false}, progressed{false}, saw_progress{false};
    std::atomic<int> fiber_saw{-1};
    threads.start([&] {
      rw.lock();
      data = 6;
      holds.store(true);
      auto deadline = clk::now() + 5s;
      while (!progressed.load() && clk::now() < deadline) std::this_thread::sleep_for(100us);
      saw_progress.store(progressed.load());
      data = 7;
      rw.unlock();
    });
    REQUIRE(eventually([&] { return holds.load(); }));
    std::atomic<bool> fiber_started{false};
    goro::go([&] {
      fiber_started.store(true);
      rw.lock_shared();
      fiber_saw.store(data);
      rw.unlock_shared();
    });
    REQUIRE(eventually([&] { return fiber_started.load(); }));
    let_others_run();
    bool early = fiber_saw.load() != -1;
    progressed.store(true);
    REQUIRE(eventually([&] { return fiber_saw.load() != -1; }));
    threads.join();
    REQUIRE_FALSE(early);
    REQUIRE(saw_progress.load());
    REQUIRE(fiber_saw.load() == 7);
  });
}

TEST_CASE("rw_mutex: a writer handed the lock happens after readers that left before it queued",
          "[rw_mutex]") {
  // Reader R1 leaves by the fast path while reader R2 still holds; writer W then queues and
  // R2's unlock_shared() hands it the lock. Everything R1 did under its read lock must happen
  // before W's critical section (else W's write races with R1's read). The threads signal
  // each other with relaxed atomics only, so the lock is the only source of ordering; a
  // missing edge shows as a data race under TSan (on x86 nothing else can see it).
  // (Found once: the old state-word implementation set its pending bit with a relaxed CAS,
  // so W never acquired R1's release.)
  for (int round = 0; round < 3; ++round) {
    goro::rw_mutex rw;
    int data = 0;  // guarded by rw
    int seen = -1;
    std::atomic<int> step{0};
    auto wait_step = [&step](int s) {
      while (step.load(std::memory_order_relaxed) < s) std::this_thread::sleep_for(50us);
    };
    std::thread r1([&] {
      rw.lock_shared();
      seen = data;
      step.store(1, std::memory_order_relaxed);
      wait_step(2);
      rw.unlock_shared();  // fast path: R2 still holds, nobody queued yet
      step.store(3, std::memory_order_relaxed);
    });
    std::thread r2([&] {
      wait_step(1);
      rw.lock_shared();
      step.store(2, std::memory_order_relaxed);
      wait_step(4);
      std::this_thread::sleep_for(20ms);  // W queues meanwhile (almost surely)
      rw.unlock_shared();                 // hands the lock to W
    });
    std::thread w([&] {
      wait_step(3);
      step.store(4, std::memory_order_relaxed);
      rw.lock();
      data = 1;
      rw.unlock();
    });
    r1.join();
    r2.join();
    w.join();
    REQUIRE(seen == 0);
    REQUIRE(data == 1);
  }
}

TEST_CASE("rw_mutex: may be destroyed right after the last unlock", "[rw_mutex]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    struct object {
      goro::rw_mutex rw;
      int refs;
    };
    constexpr int parties = 4;
    const long rounds = scaled(3000);
    std::atomic<long> deleted{0};
    auto drop = [&deleted](object* o, int spins) {
      for (int i = 0; i < spins; ++i) {
        if (i % 2 == 0) {
          o->rw.lock_shared();
          if (goro::in_fiber()) goro::yield();
          o->rw.unlock_shared();
        } else {
          o->rw.lock();
          o->rw.unlock();
        }
      }
      o->rw.lock();
      bool last = --o->refs == 0;
      o->rw.unlock();
      if (last) {
        delete o;
        deleted.fetch_add(1);
      }
    };
    thread_set threads;
    for (long r = 0; r < rounds; ++r) {
      auto* o = new object{{}, parties};
      for (int i = 0; i < parties - 2; ++i) goro::go(drop, o, i + 1);
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

    // A writer queued behind readers: the last unlock_shared() hands it the lock, and it
    // frees the lock as soon as it has unlocked it again.
    constexpr int readers = 3;
    std::atomic<long> entered{0};
    for (long r = 0; r < rounds; ++r) {
      auto* rw = new goro::rw_mutex;
      auto read = [&entered](goro::rw_mutex* x) {
        x->lock_shared();
        entered.fetch_add(1);
        if (goro::in_fiber()) goro::yield();
        x->unlock_shared();  // no access to *x afterwards
      };
      for (int i = 0; i < readers - 1; ++i) goro::go(read, rw);
      if (r % 64 == 0) {
        threads.start([read, rw] { read(rw); });
      } else {
        goro::go(read, rw);
      }
      REQUIRE(eventually([&] { return entered.load() == (r + 1) * readers; }));
      rw->lock();  // waits for the readers still inside
      rw->unlock();
      delete rw;
      if (r % 64 == 0) threads.join();
    }
  });
}

TEST_CASE("rw_mutex: a reader that waited for the writer may destroy it right away", "[rw_mutex]") {
  // The writer's unlock() lets the reader in before it is done with the object; the reader
  // then leaves and deletes the rw_mutex (ASan reports a use after free if unlock() touches
  // the object afterwards and the destructor does not wait for it).
  const long rounds = scaled(5000);
  for (long i = 0; i < rounds; ++i) {
    auto* rw = new goro::rw_mutex;
    rw->lock();
    std::atomic<bool> go{false};
    std::thread t([&] {
      while (!go.load()) {
      }
      rw->unlock();
    });
    go.store(true);
    rw->lock_shared();
    rw->unlock_shared();
    delete rw;
    t.join();
  }
}

TEST_CASE("rw_mutex: unlock_shared while a writer holds and readers queue throws and strands no one",
          "[rw_mutex]") {
  run_test(1, [] {
    goro::rw_mutex rw;
    rw.lock();
    std::atomic<bool> started{false}, got{false};
    goro::go([&] {
      started.store(true);
      rw.lock_shared();
      got.store(true);
      rw.unlock_shared();
    });
    REQUIRE(wait_parked(started));
    REQUIRE_THROWS_AS(rw.unlock_shared(), std::logic_error);
    REQUIRE_FALSE(got.load());
    rw.unlock();
    REQUIRE(eventually([&] { return got.load(); }));
    REQUIRE(rw.try_lock());  // nobody left inside
    rw.unlock();
  });
}
