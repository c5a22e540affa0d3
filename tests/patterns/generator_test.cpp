// tests/patterns/generator_test.cpp: goro/patterns/generator.hpp (generator, generate, repeat,
// repeat_fn, take). Conventions: patterns_util.hpp.
#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using namespace pt;

TEST_CASE("generator: the range's values in order, then closed", "[patterns][generator]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::vector<int> src = iota_vec(100);
    auto out = goro::generator(bg(), src);
    src.assign(100, -1);  // the stage copied the values
    auto d = drain(out);
    CHECK(d.closed);
    CHECK(d.values == iota_vec(100));

    auto d2 = drain(goro::generator(bg(), {5, 6, 7}));  // initializer_list
    CHECK(d2.closed);
    CHECK(d2.values == std::vector<int>{5, 6, 7});

    std::list<std::string> words{"a", "bb", "ccc"};  // not random access
    auto d3 = drain(goro::generator(bg(), words));
    CHECK(d3.closed);
    CHECK(d3.values == std::vector<std::string>{"a", "bb", "ccc"});

    const std::deque<int> dq{3, 4, 5, 6, 7};  // another container, const
    auto d4 = drain(goro::generator(bg(), dq));
    CHECK(d4.closed);
    CHECK(d4.values == std::vector<int>{3, 4, 5, 6, 7});

    auto d5 = drain(goro::generator(bg(), std::vector<int>{}));  // empty: closed at once
    CHECK(d5.closed);
    CHECK(d5.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("generate: each value of f until it returns nullopt; move-only values", "[patterns][generator]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::atomic<int> calls{0};
    auto out = goro::generate(bg(), [&calls, i = 0]() mutable -> std::optional<int> {
      calls.fetch_add(1);
      return i < 5 ? std::optional<int>(i++ * 10) : std::nullopt;
    });
    auto d = drain(out);
    CHECK(d.closed);
    CHECK(d.values == std::vector<int>{0, 10, 20, 30, 40});
    CHECK(calls.load() == 6);  // five values and the nullopt, then never again
    let_others_run();
    CHECK(calls.load() == 6);

    auto ptrs = goro::generate(bg(), [i = 0]() mutable -> std::optional<std::unique_ptr<int>> {
      if (i == 3) return std::nullopt;
      return std::make_unique<int>(i++);
    });
    auto dp = drain(ptrs);
    REQUIRE(dp.closed);
    REQUIRE(dp.values.size() == 3);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(dp.values[i] != nullptr);
      CHECK(*dp.values[i] == i);
    }

    // nullopt at once: closed, nothing sent.
    auto none = goro::generate(bg(), []() -> std::optional<int> { return std::nullopt; });
    auto dn = drain(none);
    CHECK(dn.closed);
    CHECK(dn.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("repeat cycles through its values; repeat_fn calls f over and over", "[patterns][generator]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto [ctx, cancel] = goro::with_cancel(bg());
    auto rep = goro::repeat(ctx, {1, 2, 3});
    std::vector<int> got;
    for (int i = 0; i < 8; ++i) {
      auto v = recv_within(rep);
      REQUIRE(v.has_value());
      got.push_back(*v);
    }
    CHECK(got == std::vector<int>{1, 2, 3, 1, 2, 3, 1, 2});

    std::vector<std::string> words{"x"};
    auto one = goro::repeat(ctx, words);  // a single value, forever
    for (int i = 0; i < 5; ++i) CHECK(recv_within(one) == std::optional<std::string>("x"));

    auto counter = goro::repeat_fn(ctx, [i = 0]() mutable { return i++; });
    for (int i = 0; i < 20; ++i) CHECK(recv_within(counter) == std::optional<int>(i));

    cancel();
    CHECK(drain(rep).closed);
    CHECK(drain(one).closed);
    CHECK(drain(counter).closed);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("repeat of an empty range throws std::invalid_argument and starts nothing",
          "[patterns][generator]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    CHECK_THROWS_AS(goro::repeat(bg(), std::vector<int>{}), std::invalid_argument);
    CHECK_THROWS_AS(goro::repeat(bg(), std::initializer_list<int>{}), std::invalid_argument);
    CHECK_THROWS_AS(goro::repeat(bg(), std::list<int>{}), std::invalid_argument);
    CHECK(goro::num_fibers() == base);
  });
}

TEST_CASE("take: exactly n values, then closed, leaving the rest of the input unread",
          "[patterns][generator]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto [ctx, cancel] = goro::with_cancel(bg());

    auto src = goro::generator(ctx, iota_vec(10));
    auto d = drain(goro::take(ctx, src, 4));
    CHECK(d.closed);
    CHECK(d.values == std::vector<int>{0, 1, 2, 3});
    // take read no more than 4: the fifth value is still the source's next one.
    CHECK(recv_within(src) == std::optional<int>(4));

    // n = 0: closed at once, nothing read.
    auto d0 = drain(goro::take(ctx, src, 0));
    CHECK(d0.closed);
    CHECK(d0.values.empty());
    CHECK(recv_within(src) == std::optional<int>(5));

    // Fewer than n available: everything, then closed.
    auto d1 = drain(goro::take(ctx, src, 100));
    CHECK(d1.closed);
    CHECK(d1.values == std::vector<int>{6, 7, 8, 9});

    // From an endless source, with a chan<T> (not recv_chan) input.
    auto ch = goro::make_chan<int>();
    goro::go([ctx = ctx, ch] {
      for (int i = 0; goro::send_or_done(ctx, ch, i); ++i) {
      }
    });
    auto d2 = drain(goro::take(ctx, ch, 7));
    CHECK(d2.closed);
    CHECK(d2.values == iota_vec(7));
    auto d3 = drain(goro::take(ctx, goro::repeat_fn(ctx, [] { return 1; }), 1000));
    CHECK(d3.closed);
    CHECK(d3.values.size() == 1000);

    cancel();  // ends the endless sources
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("sources and take: cancelling in the middle closes the output and ends every fiber",
          "[patterns][generator]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto check_stops = [&](goro::recv_chan<int> out, goro::cancel_func& cancel, int read_first) {
      for (int i = 0; i < read_first; ++i) REQUIRE(recv_within(out).has_value());
      let_others_run();  // the stage parks on its next send: the consumer stopped reading
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.size() <= 2);  // at most a value or two already on their way
      CHECK(fibers_back_to(base));
    };
    SECTION("generator over a long range") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      check_stops(goro::generator(ctx, iota_vec(100000)), cancel, 5);
    }
    SECTION("generate with an endless function") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      check_stops(goro::generate(ctx, [i = 0]() mutable -> std::optional<int> { return i++; }), cancel, 5);
    }
    SECTION("repeat") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      check_stops(goro::repeat(ctx, {1, 2}), cancel, 5);
    }
    SECTION("repeat_fn") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      check_stops(goro::repeat_fn(ctx, [] { return 3; }), cancel, 5);
    }
    SECTION("take blocked on its output") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      check_stops(goro::take(ctx, goro::repeat(ctx, {1}), 1000000), cancel, 3);
    }
    SECTION("take blocked on an input that never sends") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto in = goro::make_chan<int>();
      auto out = goro::take(ctx, in, 5);
      let_others_run();
      CHECK(nothing_ready(out));
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.empty());
      CHECK(fibers_back_to(base));
    }
    SECTION("a pipeline: take of repeat_fn, the consumer stops after three") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      std::atomic<int> calls{0};
      auto out = goro::take(ctx, goro::repeat_fn(ctx, [&calls] { return calls.fetch_add(1); }), 50);
      for (int i = 0; i < 3; ++i) CHECK(recv_within(out) == std::optional<int>(i));
      cancel();
      CHECK(drain(out).closed);
      CHECK(fibers_back_to(base));
    }
    SECTION("a context cancelled before the call: closed at once") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      cancel();
      std::atomic<int> calls{0};
      auto g = goro::generate(ctx, [&calls]() -> std::optional<int> {
        calls.fetch_add(1);
        return 1;
      });
      CHECK(drain(g).closed);
      CHECK(calls.load() <= 1);
      CHECK(drain(goro::repeat(ctx, {1}), 5000ms, 1000).closed);
      CHECK(drain(goro::generator(ctx, iota_vec(1000)), 5000ms, 2000).closed);
      CHECK(fibers_back_to(base));
    }
  });
}
