// tests/cond_test.cpp: goro::cond, Go's sync.Cond (API.md "Sync"; docs/sync.md).
//
// Conventions as in chan_test.cpp: assertions only in the main fiber; other fibers and plain
// threads record what they saw in atomics (or in data guarded by the mutex).
//
// Arrival order of waiters, for any procs: a waiter sets `started` while it holds the mutex
// and then calls wait(), which draws its ticket before it releases the mutex. The next waiter
// is started only once `started` is seen, and needs the mutex first, so tickets follow start
// order. signal() serves the oldest ticket.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

#include <atomic>
#include <chrono>
#include <deque>
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

namespace {

using namespace std::chrono_literals;

// For a waiter that set a flag while holding m and then called wait(): once the flag is seen,
// getting m proves the waiter is inside wait() with its ticket drawn (wait() draws it before
// it releases m), so a signal() or broadcast() from now on is meant for it.
void until_waiting(goro::mutex& m) {
  m.lock();
  m.unlock();
}

// Waiters numbered 0..n-1: even ones fibers, odd ones plain threads (when `threads` is set).
// Each waits once and appends its number to `woken` (guarded by m) when wait() returns.
struct waiters {
  goro::mutex m;
  goro::cond c{m};
  std::vector<int> woken;  // guarded by m
  std::atomic<int> returned{0};
  thread_set threads;

  void start(int n, bool with_threads) {
    for (int i = 0; i < n; ++i) {
      auto started = std::make_shared<std::atomic<bool>>(false);
      auto body = [this, i, started] {
        m.lock();
        started->store(true);
        c.wait();
        woken.push_back(i);
        m.unlock();
        returned.fetch_add(1);
      };
      if (with_threads && i % 2 == 1) {
        threads.start(body);
      } else {
        goro::go(body);
      }
      REQUIRE(eventually([&] { return started->load(); }));
    }
    until_waiting(m);  // the next waiter's lock() did this for the others
  }
  std::vector<int> woken_copy() {
    std::lock_guard<goro::mutex> g(m);
    return woken;
  }
};

}  // namespace

TEST_CASE("cond: signal wakes exactly one waiter, the longest waiting", "[cond]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  const bool with_threads = GENERATE(false, true);
  run_test(procs, [with_threads] {
    constexpr int n = 6;
    waiters w;
    w.start(n, with_threads);
    let_others_run();
    REQUIRE(w.returned.load() == 0);  // nobody signalled
    std::vector<int> expected;
    for (int k = 0; k < n; ++k) {
      w.c.signal();
      expected.push_back(k);
      REQUIRE(eventually([&] { return w.returned.load() == k + 1; }));
      let_others_run();                     // a second wake-up would show now
      REQUIRE(w.returned.load() == k + 1);  // exactly one per signal
      REQUIRE(w.woken_copy() == expected);  // FIFO
    }
    w.c.signal();  // nobody left: no effect
    w.threads.join();
  });
}

TEST_CASE("cond: broadcast wakes every waiter, and only those that waited before it", "[cond]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int n = 7;
    waiters w;
    w.start(n, true);
    let_others_run();
    REQUIRE(w.returned.load() == 0);
    w.c.broadcast();
    REQUIRE(eventually([&] { return w.returned.load() == n; }));
    // A waiter that starts after the broadcast is not woken by it.
    std::atomic<bool> started{false}, late_returned{false};
    goro::go([&] {
      w.m.lock();
      started.store(true);
      w.c.wait();
      w.m.unlock();
      late_returned.store(true);
    });
    REQUIRE(eventually([&] { return started.load(); }));
    until_waiting(w.m);
    let_others_run();
    REQUIRE_FALSE(late_returned.load());
    w.c.broadcast();
    REQUIRE(eventually([&] { return late_returned.load(); }));
    w.threads.join();
    auto woken = w.woken_copy();
    REQUIRE(woken.size() == static_cast<std::size_t>(n));
  });
}

TEST_CASE("cond: wait releases the mutex while waiting and holds it again when it returns", "[cond]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  const bool thread_waiter = GENERATE(false, true);
  run_test(procs, [thread_waiter] {
    goro::mutex m;
    goro::cond c(m);
    int data = 0;  // guarded by m
    std::atomic<bool> started{false}, returned{false}, held_after{false};
    std::atomic<int> seen{-1};
    auto waiter = [&] {
      m.lock();
      started.store(true);
      while (data == 0) c.wait();
      seen.store(data);
      // wait() returned with the mutex locked: try_lock must fail. (If it succeeds, we hold
      // the mutex now anyway, and unlock it below.)
      held_after.store(!m.try_lock());
      data = 100;
      m.unlock();
      returned.store(true);
    };
    thread_set threads;
    if (thread_waiter) {
      threads.start(waiter);
    } else {
      goro::go(waiter);
    }
    REQUIRE(eventually([&] { return started.load(); }));
    // The waiter holds the mutex until wait() releases it; a wait() that kept it would make
    // this fail (not hang).
    REQUIRE(eventually([&] { return m.try_lock(); }));
    data = 1;
    c.signal();  // the waiter drew its ticket before releasing the mutex: it is served
    let_others_run();
    REQUIRE_FALSE(returned.load());  // woken, but wait() cannot return before it has the mutex
    REQUIRE(seen.load() == -1);
    m.unlock();
    REQUIRE(eventually([&] { return returned.load(); }));
    threads.join();
    REQUIRE(seen.load() == 1);
    REQUIRE(held_after.load());
    REQUIRE(m.try_lock());
    REQUIRE(data == 100);
    m.unlock();
  });
}

TEST_CASE("cond: a signal or broadcast with no waiter is not remembered", "[cond]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::mutex m;
    goro::cond c(m);
    c.signal();
    c.broadcast();
    c.signal();
    std::atomic<bool> started{false}, returned{false};
    goro::go([&] {
      m.lock();
      started.store(true);
      c.wait();
      m.unlock();
      returned.store(true);
    });
    REQUIRE(eventually([&] { return started.load(); }));
    until_waiting(m);
    let_others_run();
    REQUIRE_FALSE(returned.load());  // the earlier signals did not count
    c.signal();
    REQUIRE(eventually([&] { return returned.load(); }));
    // Once served, a second wait blocks again; a signal while nobody waits is lost.
    c.signal();
    std::atomic<bool> started2{false}, returned2{false};
    thread_set threads;
    threads.start([&] {
      m.lock();
      started2.store(true);
      c.wait();
      m.unlock();
      returned2.store(true);
    });
    REQUIRE(eventually([&] { return started2.load(); }));
    until_waiting(m);
    let_others_run();
    REQUIRE_FALSE(returned2.load());
    c.broadcast();
    REQUIRE(eventually([&] { return returned2.load(); }));
    threads.join();
  });
}

TEST_CASE("cond: wait without the mutex throws and does not swallow a later signal", "[cond]") {
  run_test(1, [] {
    goro::mutex m;
    goro::cond c(m);
    REQUIRE_THROWS_AS(c.wait(), std::logic_error);  // misuse: the mutex is not locked
    std::atomic<bool> started{false}, returned{false};
    goro::go([&] {
      m.lock();
      started.store(true);
      c.wait();
      m.unlock();
      returned.store(true);
    });
    REQUIRE(eventually([&] { return started.load(); }));
    until_waiting(m);
    c.signal();  // must serve the real waiter, not a ticket left behind by the misuse
    REQUIRE(eventually([&] { return returned.load(); }, 2000ms));
  });
}

TEST_CASE("cond: bounded queue with fibers and threads on both sides loses no wake-up", "[cond]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    constexpr int nprod = 3, ncons = 3, nthr_prod = 1, nthr_cons = 1;
    constexpr std::size_t capacity = 4;
    const long per_producer = scaled(3000);
    const long total = (nprod + nthr_prod) * per_producer;
    goro::mutex m;
    goro::cond not_full(m), not_empty(m);
    std::deque<long> q;  // guarded by m
    long taken = 0;      // guarded by m
    std::atomic<long> sum{0};
    std::atomic<int> finished{0};
    auto producer = [&](int id) {
      for (long i = 0; i < per_producer; ++i) {
        std::unique_lock<goro::mutex> l(m);
        while (q.size() == capacity) not_full.wait();
        q.push_back(id * per_producer + i);
        not_empty.signal();
      }
      finished.fetch_add(1);
    };
    auto consumer = [&] {
      long local = 0;
      for (;;) {
        std::unique_lock<goro::mutex> l(m);
        while (q.empty() && taken < total) not_empty.wait();
        if (q.empty()) break;  // everything taken
        local += q.front();
        q.pop_front();
        if (++taken == total) not_empty.broadcast();  // release the other consumers
        not_full.signal();
      }
      sum.fetch_add(local);
      finished.fetch_add(1);
    };
    thread_set threads;
    for (int i = 0; i < ncons; ++i) goro::go(consumer);
    for (int i = 0; i < nthr_cons; ++i) threads.start(consumer);
    for (int i = 0; i < nprod; ++i) goro::go(producer, i);
    for (int i = 0; i < nthr_prod; ++i) threads.start([&producer, i] { producer(nprod + i); });
    REQUIRE(eventually([&] { return finished.load() == nprod + ncons + nthr_prod + nthr_cons; }, 60s));
    threads.join();
    REQUIRE(sum.load() == total * (total - 1) / 2);
  });
}

TEST_CASE("cond: the cond and its mutex may be destroyed as soon as wait returns", "[cond]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    struct object {
      goro::mutex m;
      goro::cond c{m};
      bool ready = false;  // guarded by m
    };
    const long rounds = scaled(3000);
    thread_set threads;
    for (long r = 0; r < rounds; ++r) {
      auto* o = new object;
      auto notify = [o, r] {
        o->m.lock();
        o->ready = true;
        if (r % 2 == 0) {
          o->c.signal();
        } else {
          o->c.broadcast();
        }
        o->m.unlock();  // no access to *o afterwards: the waiter may free it
      };
      if (r % 128 == 0) {
        threads.start(notify);
      } else {
        goro::go(notify);
      }
      o->m.lock();
      while (!o->ready) o->c.wait();
      o->m.unlock();
      delete o;
      if (r % 128 == 0) threads.join();
    }
  });
}
