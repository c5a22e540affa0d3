// tests/patterns/tee_test.cpp: goro/patterns/tee.hpp. Conventions: patterns_util.hpp.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using namespace pt;

TEST_CASE("tee: both outputs get every value, in order, then both close", "[patterns][tee]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::vector<std::string> src;
    for (int i = 0; i < 300; ++i) src.push_back("v" + std::to_string(i));
    auto [a, b] = goro::tee(bg(), goro::generator(bg(), src));
    // Two readers at once, at different paces.
    std::vector<std::string> got_b;
    std::atomic<bool> b_closed{false};
    goro::go([b = b, &got_b, &b_closed] {
      int i = 0;
      for (std::string v : b) {
        got_b.push_back(std::move(v));
        if (++i % 7 == 0) goro::yield();
      }
      b_closed.store(true);
    });
    auto da = drain(a);
    CHECK(da.closed);
    CHECK(da.values == src);
    REQUIRE(eventually([&] { return b_closed.load(); }));
    CHECK(got_b == src);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("tee: the stage moves on only once both outputs took the current value", "[patterns][tee]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto in = goro::make_chan<int>();
    std::atomic<int> sent{0};
    goro::go([in, &sent] {
      for (int i = 1; i <= 3; ++i) {
        in.send(i);
        sent.store(i);
      }
      in.close();
    });
    auto [a, b] = goro::tee(bg(), goro::recv_chan<int>(in));
    CHECK(recv_within(a) == std::optional<int>(1));
    let_others_run();
    CHECK(nothing_ready(a));  // value 2 waits for b to take value 1
    CHECK(sent.load() == 1);  // ... and is not even read from the input yet
    CHECK(recv_within(b) == std::optional<int>(1));
    CHECK(recv_within(b) == std::optional<int>(2));  // b may run ahead by one value
    let_others_run();
    CHECK(nothing_ready(b));
    CHECK(recv_within(a) == std::optional<int>(2));
    CHECK(recv_within(a) == std::optional<int>(3));
    CHECK(recv_within(b) == std::optional<int>(3));
    CHECK(drain(a).closed);
    CHECK(drain(b).closed);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("tee of an empty or closed input closes both outputs", "[patterns][tee]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto in = goro::make_chan<int>();
    in.close();
    auto [a, b] = goro::tee(bg(), in);  // chan<T> overload
    auto da = drain(a);
    auto db = drain(b);
    CHECK(da.closed);
    CHECK(db.closed);
    CHECK(da.values.empty());
    CHECK(db.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("tee: cancelling in the middle closes both outputs and ends the fiber", "[patterns][tee]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    SECTION("both readers stop") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto [a, b] = goro::tee(ctx, goro::repeat_fn(ctx, [i = 0]() mutable { return i++; }));
      for (int i = 0; i < 5; ++i) {
        CHECK(recv_within(a) == std::optional<int>(i));
        CHECK(recv_within(b) == std::optional<int>(i));
      }
      let_others_run();
      cancel();
      auto da = drain(a), db = drain(b);
      CHECK(da.closed);
      CHECK(db.closed);
      CHECK(da.values.size() <= 1);
      CHECK(db.values.size() <= 1);
      CHECK(fibers_back_to(base));
    }
    SECTION("one reader took the value, the other never reads") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto [a, b] = goro::tee(ctx, goro::repeat(ctx, {42}));
      CHECK(recv_within(a) == std::optional<int>(42));
      let_others_run();  // the stage is parked offering 42 to b only
      cancel();
      auto da = drain(a), db = drain(b);
      CHECK(da.closed);
      CHECK(db.closed);
      CHECK(da.values.empty());  // a already had this value; the stage offers it to b only
      CHECK(db.values.size() <= 1);
      CHECK(fibers_back_to(base));
    }
    SECTION("blocked on an input that never sends") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto in = goro::make_chan<int>();
      auto [a, b] = goro::tee(ctx, in);
      let_others_run();
      CHECK(nothing_ready(a));
      cancel();
      CHECK(drain(a).closed);
      CHECK(drain(b).closed);
      CHECK(fibers_back_to(base));
    }
  });
}
