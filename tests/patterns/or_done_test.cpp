// tests/patterns/or_done_test.cpp: goro/patterns/or_done.hpp (send_or_done, recv_or_done,
// or_done). Conventions: patterns_util.hpp.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <vector>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using namespace pt;

TEST_CASE("send_or_done: sends when the receiver takes it, false when ctx is done first",
          "[patterns][or_done]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto ch = goro::make_chan<int>();
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_cancel(bg());

    std::atomic<int> got{0};
    goro::go([ch, &got] { got.store(ch.recv().value_or(-1)); });
    CHECK(goro::send_or_done(ctx, ch, 7));  // chan<T> overload
    REQUIRE(eventually([&] { return got.load() == 7; }));

    goro::send_chan<int> sc = ch;
    goro::go([ch, &got] { got.store(ch.recv().value_or(-1)); });
    CHECK(goro::send_or_done(ctx, sc, 8));  // send_chan<T> overload
    REQUIRE(eventually([&] { return got.load() == 8; }));

    // Buffered with room: ready at once.
    auto buf = goro::make_chan<int>(1);
    CHECK(goro::send_or_done(ctx, buf, 9));
    CHECK(buf.try_recv() == std::optional<int>(9));

    // Nobody receives: parks until ctx is done, then reports false (the value is not sent).
    std::atomic<int> result{-1};
    goro::go([ctx, ch, &result] { result.store(goro::send_or_done(ctx, ch, 10) ? 1 : 0); });
    let_others_run();
    CHECK(result.load() == -1);  // still parked: nobody cancelled, nobody receives
    cancel();
    REQUIRE(eventually([&] { return result.load() != -1; }));
    CHECK(result.load() == 0);
    CHECK(nothing_ready(goro::recv_chan<int>(ch)));  // the value went nowhere

    // Already done and nobody receives: false at once.
    CHECK_FALSE(goro::send_or_done(ctx, ch, 11));
    // Nil channel and a live background context would block forever; with ctx done: false.
    CHECK_FALSE(goro::send_or_done(ctx, goro::chan<int>(), 12));
  });
}

TEST_CASE("send_or_done on a closed channel throws closed_channel_error", "[patterns][or_done]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto ch = goro::make_chan<int>(4);
    ch.close();
    auto [ctx, cancel] = goro::with_cancel(bg());
    CHECK_THROWS_AS(goro::send_or_done(ctx, ch, 1), goro::closed_channel_error);
    CHECK_THROWS_AS(goro::send_or_done(bg(), goro::send_chan<int>(ch), 1), goro::closed_channel_error);
    cancel();
  });
}

TEST_CASE("recv_or_done: a value, nullopt when closed and drained, nullopt when ctx is done",
          "[patterns][or_done]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_cancel(bg());
    auto ch = goro::make_chan<int>(2);
    ch.send(1);
    ch.send(2);
    ch.close();
    CHECK(goro::recv_or_done(ctx, ch) == std::optional<int>(1));
    CHECK(goro::recv_or_done(ctx, goro::recv_chan<int>(ch)) == std::optional<int>(2));
    CHECK_FALSE(goro::recv_or_done(ctx, ch).has_value());  // closed and drained
    CHECK_FALSE(ctx.err());                                // ... which ctx.err() tells apart

    // Parked on an empty channel until ctx is done.
    auto empty = goro::make_chan<int>();
    std::atomic<int> state{0};  // 0 parked, 1 nullopt, 2 a value
    goro::go([ctx, empty, &state] { state.store(goro::recv_or_done(ctx, empty) ? 2 : 1); });
    let_others_run();
    CHECK(state.load() == 0);
    cancel();
    REQUIRE(eventually([&] { return state.load() != 0; }));
    CHECK(state.load() == 1);
    CHECK(ctx.err() == goro::errc::canceled);

    // A nil channel with a done context: nullopt at once.
    CHECK_FALSE(goro::recv_or_done(ctx, goro::recv_chan<int>()).has_value());
  });
}

TEST_CASE("or_done forwards every value in order and closes when the input closes", "[patterns][or_done]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto in = goro::make_chan<int>();
    const int n = 200;
    goro::go([in] {
      for (int i = 0; i < n; ++i) in.send(i);
      in.close();
    });
    auto out = goro::or_done(bg(), goro::recv_chan<int>(in));
    auto d = drain(out);
    CHECK(d.closed);
    std::vector<int> want;
    for (int i = 0; i < n; ++i) want.push_back(i);
    CHECK(d.values == want);
    CHECK(fibers_back_to(base));

    // An input that is already closed: the output closes at once, no value.
    auto shut = goro::make_chan<int>();
    shut.close();
    auto d2 = drain(goro::or_done(bg(), goro::recv_chan<int>(shut)));
    CHECK(d2.closed);
    CHECK(d2.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("or_done moves move-only values through", "[patterns][or_done]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto in = goro::make_chan<std::unique_ptr<int>>(3);
    for (int i = 0; i < 3; ++i) in.send(std::make_unique<int>(i));
    in.close();
    auto d = drain(goro::or_done(bg(), goro::recv_chan<std::unique_ptr<int>>(in)));
    REQUIRE(d.closed);
    REQUIRE(d.values.size() == 3);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(d.values[i] != nullptr);
      CHECK(*d.values[i] == i);
    }
  });
}

TEST_CASE("or_done: cancelling in the middle closes the output and ends its fiber", "[patterns][or_done]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    SECTION("while forwarding an endless stream (consumer stops reading)") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto in = goro::make_chan<int>();
      goro::go([ctx = ctx, in] {
        for (int i = 0; goro::send_or_done(ctx, in, i); ++i) {
        }
      });
      auto out = goro::or_done(ctx, goro::recv_chan<int>(in));
      for (int i = 0; i < 10; ++i) CHECK(recv_within(out) == std::optional<int>(i));
      let_others_run();  // the stage is now parked sending value 10 (or receiving it)
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.size() <= 1);  // at most the value already on its way
      CHECK(fibers_back_to(base));
    }
    SECTION("while waiting on an input that never sends") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto in = goro::make_chan<int>();
      auto out = goro::or_done(ctx, goro::recv_chan<int>(in));
      let_others_run();
      CHECK(nothing_ready(out));
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.empty());
      CHECK(fibers_back_to(base));
    }
    SECTION("on a nil input") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto out = goro::or_done(ctx, goro::recv_chan<int>());
      let_others_run();
      CHECK(nothing_ready(out));
      cancel();
      CHECK(drain(out).closed);
      CHECK(fibers_back_to(base));
    }
    SECTION("a context cancelled before the call") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      cancel();
      auto in = goro::make_chan<int>(5);
      for (int i = 0; i < 5; ++i) in.send(i);
      auto d = drain(goro::or_done(ctx, goro::recv_chan<int>(in)));
      CHECK(d.closed);
      CHECK(d.values.size() <= 5);
      CHECK(fibers_back_to(base));
    }
  });
}
