// tests/patterns/bridge_test.cpp: goro/patterns/bridge.hpp. Conventions: patterns_util.hpp.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using namespace pt;

namespace {

// A buffered channel holding `values`, closed.
goro::recv_chan<int> closed_with(const std::vector<int>& values) {
  auto ch = goro::make_chan<int>(values.size());
  for (int v : values) ch.send(v);
  ch.close();
  return ch;
}

}  // namespace

TEST_CASE("bridge: every value of the first stream, then of the second, ...; nil and empty streams skipped",
          "[patterns][bridge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto streams = goro::make_chan<goro::recv_chan<int>>(8);
    streams.send(goro::generator(bg(), {1, 2, 3}));
    streams.send(closed_with({}));         // empty
    streams.send(goro::recv_chan<int>());  // nil: skipped
    streams.send(closed_with({4, 5}));
    streams.send(goro::generator(bg(), {6}));
    streams.close();
    auto d = drain(goro::bridge(bg(), streams));  // chan<recv_chan<T>> overload
    CHECK(d.closed);
    CHECK(d.values == std::vector<int>{1, 2, 3, 4, 5, 6});
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("bridge: streams are drained in the order they arrive, not by readiness", "[patterns][bridge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto streams = goro::make_chan<goro::recv_chan<int>>(4);  // every stream arrives early
    auto out = goro::bridge(bg(), goro::recv_chan<goro::recv_chan<int>>(streams));
    // The first stream is slow; the second is complete and ready all along.
    auto slow = goro::make_chan<int>();
    goro::go([slow] {
      for (int i = 0; i < 5; ++i) {
        goro::sleep_for(1ms);
        slow.send(i);
      }
      slow.close();
    });
    goro::go([streams, slow] {
      streams.send(slow);
      streams.send(closed_with({100, 101, 102}));
      // A stream that arrives later, while the bridge is still draining the first.
      goro::sleep_for(2ms);
      streams.send(goro::generator(bg(), {200, 201}));
      streams.close();
    });
    auto d = drain(out);
    CHECK(d.closed);
    CHECK(d.values == std::vector<int>{0, 1, 2, 3, 4, 100, 101, 102, 200, 201});
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("bridge: no stream at all closes the output; move-only values pass", "[patterns][bridge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto none = goro::make_chan<goro::recv_chan<int>>();
    none.close();
    auto d = drain(goro::bridge(bg(), none));
    CHECK(d.closed);
    CHECK(d.values.empty());

    auto streams = goro::make_chan<goro::recv_chan<std::unique_ptr<int>>>(2);
    for (int s = 0; s < 2; ++s) {
      auto ch = goro::make_chan<std::unique_ptr<int>>(2);
      ch.send(std::make_unique<int>(s * 10));
      ch.send(std::make_unique<int>(s * 10 + 1));
      ch.close();
      streams.send(ch);
    }
    streams.close();
    auto dp = drain(goro::bridge(bg(), streams));
    REQUIRE(dp.closed);
    REQUIRE(dp.values.size() == 4);
    const int want[] = {0, 1, 10, 11};
    for (int i = 0; i < 4; ++i) {
      REQUIRE(dp.values[i] != nullptr);
      CHECK(*dp.values[i] == want[i]);
    }
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("bridge: cancelling in the middle closes the output and ends the fiber", "[patterns][bridge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    SECTION("the consumer stops reading an endless stream") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto streams = goro::make_chan<goro::recv_chan<int>>(1);
      streams.send(goro::repeat_fn(ctx, [i = 0]() mutable { return i++; }));
      auto out = goro::bridge(ctx, streams);
      for (int i = 0; i < 5; ++i) CHECK(recv_within(out) == std::optional<int>(i));
      let_others_run();
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.size() <= 1);
      CHECK(fibers_back_to(base));
    }
    SECTION("blocked reading a stream that never ends") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto streams = goro::make_chan<goro::recv_chan<int>>(2);
      auto open = goro::make_chan<int>();
      streams.send(open);
      streams.send(closed_with({1, 2}));
      auto out = goro::bridge(ctx, streams);
      let_others_run();
      CHECK(nothing_ready(out));  // the second stream waits for the first
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.empty());
      CHECK(fibers_back_to(base));
    }
    SECTION("blocked on the channel of streams") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto streams = goro::make_chan<goro::recv_chan<int>>(1);
      streams.send(closed_with({1, 2}));
      auto out = goro::bridge(ctx, streams);
      CHECK(recv_within(out) == std::optional<int>(1));
      CHECK(recv_within(out) == std::optional<int>(2));
      let_others_run();
      CHECK(nothing_ready(out));  // the channel of streams is still open
      cancel();
      CHECK(drain(out).closed);
      CHECK(fibers_back_to(base));
    }
  });
}
