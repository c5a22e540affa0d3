// tests/errgroup_test.cpp: goro::errgroup (API.md, Context and errgroup; Clarifications).
//
// Assertions run only in the main fiber of run_test(); tasks record what they saw in
// atomics. "First failure" is made unambiguous: the later failing tasks wait for g.ctx() to
// be done, which happens only after the first failure has been recorded.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

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

struct task_error : std::runtime_error {
  int id;
  explicit task_error(int i) : std::runtime_error("task " + std::to_string(i)), id(i) {}
};

// g.wait(): the id of the task_error it threw, -1 if it returned, -2 for another exception.
int wait_id(goro::errgroup& g) {
  try {
    g.wait();
    return -1;
  } catch (const task_error& e) {
    return e.id;
  } catch (...) {
    return -2;
  }
}

bool closed(const goro::recv_chan<goro::unit>& ch) {
  return goro::select(goro::case_recv(ch), goro::case_default()) == 0;
}

// Waits for c.done(); false after `limit` (a broken cancellation fails instead of hanging).
bool await_done(const goro::context& c, std::chrono::seconds limit = 10s) {
  return goro::select(goro::case_recv(c.done()), goro::case_recv(goro::after(limit))) == 0;
}

void note_max(std::atomic<int>& peak, int v) {
  int p = peak.load();
  while (p < v && !peak.compare_exchange_weak(p, v)) {
  }
}

}  // namespace

TEST_CASE("errgroup: wait() rethrows the first failure, and a second wait() rethrows it again",
          "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::errgroup g;
    std::atomic<int> ran{0};
    for (int i = 0; i < 10; ++i) g.go([&ran] { ran.fetch_add(1); });
    for (int i = 2; i < 8; ++i) {
      g.go([&g, i] {
        await_done(g.ctx());  // the first failure is recorded by now
        throw task_error(i);
      });
    }
    g.go([] {
      goro::yield();
      throw task_error(1);
    });
    CHECK(wait_id(g) == 1);
    CHECK(wait_id(g) == 1);
    CHECK(ran.load() == 10);
    CHECK(g.ctx().err() == goro::errc::canceled);
  });
}

TEST_CASE("errgroup: wait() from several fibers and plain threads at once", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::errgroup g;
    auto release = goro::make_chan<goro::unit>();
    g.go([release] { release.recv(); });
    g.go([release] {
      release.recv();
      throw task_error(5);
    });
    std::atomic<int> got_five{0}, returned{0};
    goro::wait_group waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.go([&] {
        if (wait_id(g) == 5) got_five.fetch_add(1);
        returned.fetch_add(1);
      });
    }
    thread_set threads;
    threads.start([&] {
      if (wait_id(g) == 5) got_five.fetch_add(1);
      returned.fetch_add(1);
    });
    let_others_run();
    CHECK(returned.load() == 0);  // the tasks are still blocked
    release.close();
    CHECK(wait_id(g) == 5);
    waiters.wait();
    REQUIRE(eventually([&] { return returned.load() == 4; }));
    threads.join();
    CHECK(got_five.load() == 4);
  });
}

TEST_CASE("errgroup: an error_code failure is thrown as std::system_error with that code", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    {
      goro::errgroup g;
      g.go([]() -> std::error_code { return {}; });  // success
      g.go([]() -> std::error_code { return std::make_error_code(std::errc::timed_out); });
      bool caught = false;
      try {
        g.wait();
      } catch (const std::system_error& e) {
        caught = true;
        CHECK(e.code() == std::make_error_code(std::errc::timed_out));
      }
      CHECK(caught);
    }
    {
      goro::errgroup g;
      g.go([]() -> std::error_code { return goro::errc::deadline_exceeded; });
      bool caught = false;
      try {
        g.wait();
      } catch (const std::system_error& e) {
        caught = true;
        CHECK(e.code() == goro::errc::deadline_exceeded);
      }
      CHECK(caught);
    }
    {
      // Only successes: no throw, but ctx() is done afterwards.
      goro::errgroup g;
      for (int i = 0; i < 5; ++i) g.go([]() -> std::error_code { return {}; });
      CHECK_NOTHROW(g.wait());
    }
    {
      // An error_code task may throw as well.
      goro::errgroup g;
      g.go([]() -> std::error_code { throw task_error(3); });
      CHECK(wait_id(g) == 3);
    }
  });
}

TEST_CASE("errgroup: ctx() is cancelled on the first failure and the other tasks see it", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::errgroup g;
    const int n = 16;
    std::atomic<int> started{0}, exited{0}, wrong{0};
    for (int i = 0; i < n; ++i) {
      g.go([&] {
        started.fetch_add(1);
        if (!await_done(g.ctx())) wrong.fetch_add(1);
        if (g.ctx().err() != goro::errc::canceled) wrong.fetch_add(1);
        exited.fetch_add(1);
      });
    }
    REQUIRE(eventually([&] { return started.load() == n; }));
    let_others_run();
    CHECK(exited.load() == 0);
    CHECK_FALSE(g.ctx().err());
    g.go([]() -> std::error_code { return std::make_error_code(std::errc::io_error); });
    CHECK_THROWS_AS(g.wait(), std::system_error);
    CHECK(exited.load() == n);
    CHECK(wrong.load() == 0);
    CHECK(g.ctx().err() == goro::errc::canceled);
  });
}

TEST_CASE("errgroup: ctx() is done once wait() returns, even without a failure; the parent is not",
          "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    {
      goro::errgroup g;
      CHECK(static_cast<bool>(g.ctx().done()));  // not via Catch's decomposition (range printing)
      CHECK_FALSE(g.ctx().err());
      g.wait();  // no task at all
      CHECK(g.ctx().err() == goro::errc::canceled);
      CHECK(closed(g.ctx().done()));
    }
    goro::context parent;
    goro::cancel_func cancel_parent;
    std::tie(parent, cancel_parent) =
        goro::with_cancel(goro::with_value(goro::context::background(), "req", 7));
    goro::errgroup g(parent);
    std::atomic<int> live_during{0};
    for (int i = 0; i < 5; ++i) {
      g.go([&] {
        goro::yield();
        if (!g.ctx().err()) live_during.fetch_add(1);
      });
    }
    g.wait();
    CHECK(live_during.load() == 5);
    CHECK(g.ctx().err() == goro::errc::canceled);
    CHECK(closed(g.ctx().done()));
    CHECK_FALSE(parent.err());  // only the group's own child is cancelled
    REQUIRE(g.ctx().value<int>("req") != nullptr);
    CHECK(*g.ctx().value<int>("req") == 7);
    cancel_parent();
  });
}

TEST_CASE("errgroup: cancelling the parent context cancels ctx()", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::context parent;
    goro::cancel_func cancel_parent;
    std::tie(parent, cancel_parent) = goro::with_cancel(goro::context::background());
    goro::errgroup g(parent);
    const int n = 8;
    std::atomic<int> exited{0}, wrong{0};
    for (int i = 0; i < n; ++i) {
      g.go([&] {
        if (!await_done(g.ctx())) wrong.fetch_add(1);
        if (g.ctx().err() != goro::errc::canceled) wrong.fetch_add(1);
        exited.fetch_add(1);
      });
    }
    let_others_run();
    CHECK(exited.load() == 0);
    cancel_parent();
    CHECK(g.ctx().err() == goro::errc::canceled);
    REQUIRE(eventually([&] { return exited.load() == n; }));
    CHECK_NOTHROW(g.wait());  // a cancelled context is not a failure
    CHECK(wrong.load() == 0);

    // A deadline parent: the group's context inherits the deadline and its cause.
    goro::context tp;
    goro::cancel_func cancel_tp;
    std::tie(tp, cancel_tp) = goro::with_timeout(goro::context::background(), 20ms);
    goro::errgroup h(tp);
    CHECK(h.ctx().deadline() == tp.deadline());
    std::atomic<bool> timed_out{false};
    h.go([&h, &timed_out] { timed_out.store(!await_done(h.ctx())); });
    h.wait();
    CHECK_FALSE(timed_out.load());
    CHECK(clk::now() >= *tp.deadline());
    CHECK(h.ctx().err() == goro::errc::deadline_exceeded);
    cancel_tp();
  });
}

TEST_CASE("errgroup: set_limit(n) runs exactly n tasks at once at most; set_limit(-1) removes the limit",
          "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  const int limit = GENERATE(1, 3);
  run_test(procs, [limit] {
    goro::errgroup g;
    g.set_limit(limit);
    std::atomic<int> running{0}, peak{0}, ran{0};
    // Each task holds its slot until `want` tasks ran at once (or a second passed), so the
    // peak reaches what the limit allows; one more yield lets a surplus task show itself.
    auto task = [&](int want) {
      return [&, want] {
        note_max(peak, running.fetch_add(1) + 1);
        auto until = clk::now() + 1s;
        while (peak.load() < want && clk::now() < until) goro::yield();
        goro::yield();
        running.fetch_sub(1);
        ran.fetch_add(1);
      };
    };
    for (int i = 0; i < 40; ++i) g.go(task(limit));
    g.wait();
    CHECK(ran.load() == 40);
    CHECK(peak.load() == limit);

    g.set_limit(-1);
    peak.store(0);
    const int n = 20;
    for (int i = 0; i < n; ++i) g.go(task(n));
    g.wait();
    CHECK(ran.load() == 40 + n);
    CHECK(peak.load() == n);
  });
}

TEST_CASE("errgroup: at the limit, go() waits for a slot and try_go() returns false", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::errgroup g;
    g.set_limit(2);
    auto release = goro::make_chan<goro::unit>();
    std::atomic<int> ran{0};
    auto blocker = [release, &ran] {
      release.recv();
      ran.fetch_add(1);
    };
    CHECK(g.try_go(blocker));
    CHECK(g.try_go(blocker));
    std::atomic<bool> extra_ran{false};
    CHECK_FALSE(g.try_go([&extra_ran] { extra_ran.store(true); }));

    std::atomic<bool> go_returned{false};
    goro::go([&] {
      g.go([&ran] { ran.fetch_add(1); });
      go_returned.store(true);
    });
    let_others_run();
    CHECK_FALSE(go_returned.load());  // no slot was freed
    CHECK_FALSE(g.try_go([&extra_ran] { extra_ran.store(true); }));

    release.close();
    REQUIRE(eventually([&] { return go_returned.load(); }));
    REQUIRE(eventually([&] { return g.try_go([&ran] { ran.fetch_add(1); }); }));
    g.wait();
    CHECK(ran.load() == 4);
    CHECK_FALSE(extra_ran.load());

    // Without a limit try_go() always starts the task.
    goro::errgroup h;
    int started = 0;
    for (int i = 0; i < 10; ++i) started += h.try_go([&ran] { ran.fetch_add(1); });
    h.wait();
    CHECK(started == 10);
    CHECK(ran.load() == 14);

    // Limit 0: nothing can ever start.
    goro::errgroup z;
    z.set_limit(0);
    CHECK_FALSE(z.try_go([&extra_ran] { extra_ran.store(true); }));
    CHECK_THROWS_AS(z.go([&extra_ran] { extra_ran.store(true); }), std::logic_error);
    z.wait();
    CHECK_FALSE(extra_ran.load());
  });
}

TEST_CASE("errgroup: set_limit() while tasks are active throws std::logic_error", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    goro::errgroup g;
    g.set_limit(1);
    auto release = goro::make_chan<goro::unit>();
    g.go([release] { release.recv(); });
    CHECK_THROWS_AS(g.set_limit(4), std::logic_error);
    CHECK_THROWS_AS(g.set_limit(-1), std::logic_error);
    CHECK_FALSE(g.try_go([] {}));  // the old limit still holds
    release.close();
    g.wait();
    CHECK_NOTHROW(g.set_limit(4));
    CHECK_NOTHROW(g.set_limit(-1));
  });
}

TEST_CASE("errgroup: go() after wait() works and the first failure is kept", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    goro::errgroup g;
    std::atomic<int> ran{0};
    std::atomic<bool> saw_cancel{false};
    g.go([&ran] { ran.fetch_add(1); });
    g.wait();
    g.go([&] {
      ran.fetch_add(1);
      saw_cancel.store(g.ctx().err() == goro::errc::canceled);  // as in Go: ctx is done by now
    });
    g.wait();
    CHECK(ran.load() == 2);
    CHECK(saw_cancel.load());

    goro::errgroup h;
    h.go([] { throw task_error(1); });
    CHECK(wait_id(h) == 1);
    h.go([] { throw task_error(2); });
    CHECK(wait_id(h) == 1);
    h.go([&ran] { ran.fetch_add(1); });
    CHECK(wait_id(h) == 1);
    CHECK(ran.load() == 3);
  });
}

TEST_CASE("errgroup: failures of any type are captured, never terminate", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    {
      goro::errgroup g;
      std::atomic<int> ran{0};
      for (int i = 0; i < 50; ++i) {
        switch (i % 5) {
          case 0:
            g.go([&ran] {
              ran.fetch_add(1);
              throw 42;
            });
            break;
          case 1:
            g.go([&ran] {
              ran.fetch_add(1);
              throw std::string("str");
            });
            break;
          case 2:
            g.go([&ran, i] {
              ran.fetch_add(1);
              throw task_error(i);
            });
            break;
          case 3:
            g.go([&ran]() -> std::error_code {
              ran.fetch_add(1);
              throw std::runtime_error("rt");
            });
            break;
          default:
            g.go([&ran]() -> std::error_code {
              ran.fetch_add(1);
              return std::make_error_code(std::errc::io_error);
            });
        }
      }
      CHECK(wait_id(g) != -1);
      CHECK(ran.load() == 50);
    }
    {
      // A non-std exception comes back as it was thrown.
      goro::errgroup g;
      g.go([] { throw 42; });
      int got = 0;
      try {
        g.wait();
      } catch (int v) {
        got = v;
      }
      CHECK(got == 42);
    }
    {
      // Nested groups: the inner failure becomes the outer one.
      goro::errgroup outer;
      outer.go([] {
        goro::errgroup inner;
        inner.go([] { throw task_error(7); });
        inner.wait();
      });
      CHECK(wait_id(outer) == 7);
    }
    {
      // Destroyed without wait(): the destructor waits for the tasks and does not rethrow.
      std::atomic<bool> finished{false};
      {
        goro::errgroup g;
        g.go([] { throw task_error(9); });
        g.go([&finished] {
          goro::sleep_for(2ms);
          finished.store(true);
        });
      }
      CHECK(finished.load());
    }
  });
}

TEST_CASE("errgroup: go() from many fibers and plain threads at once", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  const int limit = GENERATE(-1, 2);
  run_test(procs, [limit] {
    goro::errgroup g;
    g.set_limit(limit);
    std::atomic<int> ran{0}, running{0}, peak{0};
    auto task = [&] {
      note_max(peak, running.fetch_add(1) + 1);
      goro::yield();
      running.fetch_sub(1);
      ran.fetch_add(1);
    };
    const int per = static_cast<int>(scaled(100));
    goro::wait_group spawners;
    for (int f = 0; f < 4; ++f) {
      spawners.go([&] {
        for (int i = 0; i < per; ++i) g.go(task);
      });
    }
    thread_set threads;
    std::atomic<int> threads_done{0};
    for (int t = 0; t < 2; ++t) {
      threads.start([&] {
        for (int i = 0; i < per; ++i) g.go(task);
        threads_done.fetch_add(1);
      });
    }
    spawners.wait();
    // Not join() at once: with a limit the threads wait for slots that only tasks running on
    // this fiber's processor free, and join() would block that processor.
    REQUIRE(eventually([&] { return threads_done.load() == 2; }, std::chrono::seconds(30)));
    threads.join();
    CHECK_NOTHROW(g.wait());
    CHECK(ran.load() == 6 * per);
    if (limit > 0) CHECK(peak.load() <= limit);
  });
}

TEST_CASE("errgroup: a task's captures are destroyed before wait() returns", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    // Counts destructions of live (not moved-from) instances.
    struct capture {
      std::atomic<int>* destroyed;
      explicit capture(std::atomic<int>* d) : destroyed(d) {}
      capture(capture&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
      capture(const capture&) = delete;
      ~capture() {
        if (destroyed != nullptr) destroyed->fetch_add(1);
      }
    };
    const int rounds = static_cast<int>(scaled(200));
    int wrong = 0;
    for (int r = 0; r < rounds; ++r) {
      std::atomic<int> destroyed{0};
      goro::errgroup g;
      for (int i = 0; i < 4; ++i) {
        g.go([c = capture(&destroyed), i] {
          if (i == 3) throw task_error(i);
        });
      }
      (void)wait_id(g);
      wrong += destroyed.load() != 4;
    }
    CHECK(wrong == 0);
  });
}

TEST_CASE("errgroup: destroyed as soon as wait() returns", "[errgroup]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const long n = scaled(2000);
    std::atomic<long> ran{0};
    long failures = 0, expected_failures = 0;
    for (long i = 0; i < n; ++i) {
      if (i % 4 == 0) {
        // The documented form, on the stack.
        goro::errgroup g;
        g.go([&ran] { ran.fetch_add(1); });
        g.wait();
        continue;
      }
      auto g = std::make_unique<goro::errgroup>();  // on the heap: ASan sees any late access
      if (i % 4 == 1) g->set_limit(1);
      g->go([&ran] { ran.fetch_add(1); });
      if (i % 4 == 2) {
        g->go([] { throw task_error(0); });
        ++expected_failures;
      }
      try {
        g->wait();
      } catch (const task_error&) {
        ++failures;
      }
      g.reset();
    }
    CHECK(ran.load() == n);
    CHECK(failures == expected_failures);
  });
}
