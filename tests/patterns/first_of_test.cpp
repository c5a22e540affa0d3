// tests/patterns/first_of_test.cpp: goro/patterns/first_of.hpp. Conventions: patterns_util.hpp.
// first_of() does not wait for the losing replicas: every test waits for them (fibers_back_to)
// before the state they refer to goes away.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using namespace pt;

namespace {

struct replica_error : std::runtime_error {
  std::size_t id;
  explicit replica_error(std::size_t i) : std::runtime_error("replica " + std::to_string(i)), id(i) {}
};

}  // namespace

TEST_CASE("first_of returns the fastest replica's value and cancels the others", "[patterns][first_of]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::atomic<int> cancelled{0}, timed_out{0};
    int v = goro::first_of(bg(), 4, [&](const goro::context& c, std::size_t i) {
      if (i == 2) return 20;
      // The slow replicas: only a cancellation ends them early.
      if (await_done(c, 5000ms)) {
        if (c.err() == goro::errc::canceled) cancelled.fetch_add(1);
      } else {
        timed_out.fetch_add(1);
      }
      return static_cast<int>(i) * 10;
    });
    CHECK(v == 20);
    REQUIRE(eventually([&] { return cancelled.load() + timed_out.load() == 3; }, 8000ms));
    CHECK(cancelled.load() == 3);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("first_of does not wait for the other replicas", "[patterns][first_of]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto gate = goro::make_chan<goro::unit>();
    std::atomic<int> slow_done{0};
    std::string s = goro::first_of(bg(), 3, [gate, &slow_done](const goro::context&, std::size_t i) {
      if (i != 1) {
        gate.recv();  // ignores its context; ends only when the test opens the gate
        slow_done.fetch_add(1);
        return std::string("slow");
      }
      return std::string("fast");
    });
    CHECK(s == "fast");
    CHECK(slow_done.load() == 0);  // returned while the others were still running
    gate.close();
    CHECK(eventually([&] { return slow_done.load() == 2; }));
    CHECK(fibers_back_to(base));  // their results went to buffered slots: nobody blocks
  });
}

TEST_CASE("first_of: a failing replica does not win; when all fail the first failure is rethrown",
          "[patterns][first_of]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    // Two fail at once, the third succeeds later.
    int v = goro::first_of(bg(), 3, [](const goro::context&, std::size_t i) -> int {
      if (i < 2) throw replica_error(i);
      goro::sleep_for(10ms);
      return 5;
    });
    CHECK(v == 5);

    auto error_id = [](std::size_t n, auto f) -> long {
      try {
        (void)goro::first_of(bg(), n, f);
        return -1;
      } catch (const replica_error& e) {
        return static_cast<long>(e.id);
      } catch (...) {
        return -2;
      }
    };
    CHECK(error_id(1, [](const goro::context&, std::size_t) -> int { throw replica_error(7); }) == 7);
    // Replica 0 fails at once, the others well after it: 0's failure is the first.
    CHECK(error_id(3, [](const goro::context&, std::size_t i) -> int {
            if (i > 0) goro::sleep_for(30ms);
            throw replica_error(i);
          }) == 0);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("first_of: ctx done first throws std::system_error(ctx.err())", "[patterns][first_of]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto code_of = [](const goro::context& ctx, std::size_t n, auto f) {
      try {
        (void)goro::first_of(ctx, n, f);
        return std::error_code(1, std::generic_category());
      } catch (const std::system_error& e) {
        return e.code();
      } catch (...) {
        return std::error_code(2, std::generic_category());
      }
    };
    SECTION("cancelled while the replicas run: they see it too") {
      goro::context ctx;
      goro::cancel_func cancel;
      std::tie(ctx, cancel) = goro::with_cancel(bg());
      std::atomic<int> started{0}, saw{0};
      auto gate = goro::make_chan<goro::unit>();
      goro::go([cancel, &started] {
        goro_test::eventually([&] { return started.load() == 3; });
        cancel();
      });
      auto code = code_of(ctx, 3, [&started, &saw, gate](const goro::context& c, std::size_t) {
        started.fetch_add(1);
        if (await_done(c)) saw.fetch_add(1);
        gate.recv();  // no result before first_of has returned
        return 1;
      });
      CHECK(code == goro::errc::canceled);
      CHECK(eventually([&] { return saw.load() == 3; }));
      gate.close();
    }
    SECTION("a deadline") {
      auto [ctx, cancel] = goro::with_timeout(bg(), 10ms);
      auto gate = goro::make_chan<goro::unit>();
      auto code = code_of(ctx, 2, [gate](const goro::context&, std::size_t) {
        gate.recv();
        return 1;
      });
      CHECK(code == goro::errc::deadline_exceeded);
      gate.close();
      cancel();
    }
    SECTION("cancelled before the call, the replicas still busy") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      cancel();
      auto gate = goro::make_chan<goro::unit>();
      auto code = code_of(ctx, 2, [gate](const goro::context&, std::size_t) {
        gate.recv();
        return 1;
      });
      CHECK(code == goro::errc::canceled);
      gate.close();
    }
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("first_of: zero replicas throw std::invalid_argument; each replica has its own f and index",
          "[patterns][first_of]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::atomic<int> calls{0};
    CHECK_THROWS_AS(goro::first_of(bg(), 0,
                                   [&calls](const goro::context&, std::size_t) {
                                     calls.fetch_add(1);
                                     return 1;
                                   }),
                    std::invalid_argument);
    CHECK(calls.load() == 0);
    CHECK(goro::num_fibers() == base);

    struct replica {
      std::mutex* mu;
      std::set<std::size_t>* indices;
      std::atomic<int>* max_calls;
      goro::recv_chan<goro::unit> gate;
      int calls = 0;  // per copy
      int operator()(const goro::context&, std::size_t i) {
        note_max(*max_calls, ++calls);
        {
          std::lock_guard<std::mutex> g(*mu);
          indices->insert(i);
        }
        if (i != 0) gate.recv();  // replica 0 wins
        return static_cast<int>(i);
      }
    };
    std::mutex mu;
    std::set<std::size_t> indices;
    std::atomic<int> max_calls{0};
    auto gate = goro::make_chan<goro::unit>();
    int v = goro::first_of(bg(), 5, replica{&mu, &indices, &max_calls, gate});
    CHECK(v == 0);
    gate.close();
    REQUIRE(fibers_back_to(base));
    CHECK(max_calls.load() == 1);  // no copy was called twice
    std::set<std::size_t> seen;
    {
      std::lock_guard<std::mutex> g(mu);  // the replicas wrote it under mu (TSan found the read)
      seen = indices;
    }
    CHECK(seen == std::set<std::size_t>{0, 1, 2, 3, 4});
  });
}

TEST_CASE("first_of with a move-only result", "[patterns][first_of]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::unique_ptr<int> p = goro::first_of(bg(), 3, [](const goro::context& c, std::size_t i) {
      if (i != 1) await_done(c);
      return std::make_unique<int>(static_cast<int>(i) + 100);
    });
    REQUIRE(p != nullptr);
    CHECK(*p == 101);
    CHECK(fibers_back_to(base));
  });
}
