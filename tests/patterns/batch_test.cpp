// tests/patterns/batch_test.cpp: goro/patterns/batch.hpp. Conventions: patterns_util.hpp.
// Time-based flushes are checked one-sidedly: a batch is never sent before max_wait after its
// first value arrived (measured from before that value was sent).
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using namespace pt;

namespace {

using batches = std::vector<std::vector<int>>;

}  // namespace

TEST_CASE("batch by size: full batches, then the last partial one when the input closes",
          "[patterns][batch]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto d = drain(goro::batch(bg(), goro::generator(bg(), iota_vec(10)), 3, 0ms));
    CHECK(d.closed);
    CHECK(d.values == batches{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}});

    auto exact = drain(goro::batch(bg(), goro::generator(bg(), iota_vec(6)), 3, 1h));
    CHECK(exact.closed);
    CHECK(exact.values == batches{{0, 1, 2}, {3, 4, 5}});  // no empty batch at the end

    auto ones = drain(goro::batch(bg(), goro::generator(bg(), iota_vec(4)), 1, 0ms));
    CHECK(ones.closed);
    CHECK(ones.values == batches{{0}, {1}, {2}, {3}});

    auto in = goro::make_chan<int>();
    in.close();
    auto none = drain(goro::batch(bg(), in, 5, 10ms));  // chan<T> overload, empty input
    CHECK(none.closed);
    CHECK(none.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("batch: max_size 0 throws std::invalid_argument and starts nothing", "[patterns][batch]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto in = goro::make_chan<int>();
    CHECK_THROWS_AS(goro::batch(bg(), in, 0, 10ms), std::invalid_argument);
    CHECK(goro::num_fibers() == base);
  });
}

TEST_CASE("batch by time: a partial batch is sent max_wait after its first value, never empty",
          "[patterns][batch]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto in = goro::make_chan<int>();
    auto out = goro::batch(bg(), in, 100, 20ms);

    auto start = clk::now();
    in.send(1);
    in.send(2);
    auto b = recv_within(out);
    REQUIRE(b.has_value());
    CHECK(clk::now() - start >= 20ms);
    CHECK(*b == std::vector<int>{1, 2});

    // An idle stream sends nothing (no empty batch on a clock).
    goro::sleep_for(50ms);
    CHECK(nothing_ready(out));

    // The clock starts at a batch's first value, not on a fixed period.
    start = clk::now();
    in.send(3);
    goro::sleep_for(10ms);
    in.send(4);
    b = recv_within(out);
    REQUIRE(b.has_value());
    CHECK(clk::now() - start >= 20ms);
    CHECK(*b == std::vector<int>{3, 4});

    // Full before max_wait: sent at once, and the timer of that batch does not cut the next
    // one short. a at 0, b at 10 ms fills the batch; c at 10 ms must wait until 10 + 20 ms.
    auto in2 = goro::make_chan<int>();
    auto small = goro::batch(bg(), goro::recv_chan<int>(in2), 2, 20ms);
    in2.send(10);
    goro::sleep_for(10ms);
    in2.send(11);
    b = recv_within(small);
    REQUIRE(b.has_value());
    CHECK(*b == std::vector<int>{10, 11});
    const auto c_sent = clk::now();
    in2.send(12);
    b = recv_within(small);
    REQUIRE(b.has_value());
    CHECK(clk::now() - c_sent >= 20ms);
    CHECK(*b == std::vector<int>{12});

    in.close();  // both stages end, no empty batch
    in2.close();
    auto rest = drain(out);
    auto rest_small = drain(small);
    CHECK(rest.closed);
    CHECK(rest_small.closed);
    CHECK(rest.values.empty());
    CHECK(rest_small.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("batch: a large max_wait does not hold back a full batch", "[patterns][batch]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto in = goro::make_chan<int>();
    auto out = goro::batch(bg(), in, 3, 1h);
    for (int i = 0; i < 3; ++i) in.send(i);
    bool timed_out = false;
    auto b = recv_within(out, &timed_out, 5000ms);
    CHECK_FALSE(timed_out);
    REQUIRE(b.has_value());
    CHECK(*b == std::vector<int>{0, 1, 2});
    in.send(3);
    in.close();  // the partial batch goes out when the input closes
    auto d = drain(out);
    CHECK(d.closed);
    CHECK(d.values == batches{{3}});
  });
}

// Values are moved through the stage, never copied.
struct copy_counted {
  static inline std::atomic<int> copies{0};
  int v = 0;
  explicit copy_counted(int x) : v(x) {}
  copy_counted(const copy_counted& o) : v(o.v) { copies.fetch_add(1); }
  copy_counted(copy_counted&& o) noexcept : v(o.v) {}
  copy_counted& operator=(const copy_counted& o) {
    v = o.v;
    copies.fetch_add(1);
    return *this;
  }
  copy_counted& operator=(copy_counted&& o) noexcept {
    v = o.v;
    return *this;
  }
};

TEST_CASE("batch moves its values, it never copies them", "[patterns][batch]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto in = goro::make_chan<copy_counted>(5);
    for (int i = 0; i < 5; ++i) in.send(copy_counted(i));
    in.close();
    copy_counted::copies = 0;
    auto out = goro::batch(bg(), in, 2, 0ms);
    std::vector<int> sizes, values;
    for (;;) {
      auto b = recv_within(out);
      if (!b) break;
      sizes.push_back(static_cast<int>(b->size()));
      for (auto& x : *b) values.push_back(x.v);
    }
    CHECK(sizes == std::vector<int>{2, 2, 1});
    CHECK(values == iota_vec(5));
    CHECK(copy_counted::copies.load() == 0);
  });
}

// Regression: batch.hpp's flush once reset its buffer with `buf = {}`, which selects
// std::vector's initializer_list assignment and required a copyable T.
TEST_CASE("batch moves move-only values", "[patterns][batch]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto in = goro::make_chan<std::unique_ptr<int>>(5);
    for (int i = 0; i < 5; ++i) in.send(std::make_unique<int>(i));
    in.close();
    auto d = drain(goro::batch(bg(), in, 2, 0ms));
    REQUIRE(d.closed);
    REQUIRE(d.values.size() == 3);
    CHECK(d.values[0].size() == 2);
    CHECK(d.values[1].size() == 2);
    CHECK(d.values[2].size() == 1);
    int want = 0;
    for (auto& b : d.values) {
      for (auto& p : b) {
        REQUIRE(p != nullptr);
        CHECK(*p == want++);
      }
    }
  });
}

TEST_CASE("batch: cancelling in the middle closes the output, drops the partial batch, ends the fiber",
          "[patterns][batch]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    SECTION("with a partial batch open") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto in = goro::make_chan<int>();
      auto out = goro::batch(ctx, in, 10, 1h);
      in.send(1);
      in.send(2);
      let_others_run();
      CHECK(nothing_ready(out));
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.empty());  // dropped, not sent
      CHECK(fibers_back_to(base));
    }
    SECTION("blocked sending a full batch nobody reads") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto out = goro::batch(ctx, goro::repeat(ctx, {7}), 4, 0ms);
      CHECK(recv_within(out) == std::optional<std::vector<int>>(std::vector<int>{7, 7, 7, 7}));
      let_others_run();  // the next batch is full and waits for the consumer
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.size() <= 1);
      CHECK(fibers_back_to(base));
    }
    SECTION("an endless stream batched by time and size, consumer stops after three") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto out = goro::batch(ctx, goro::repeat_fn(ctx, [i = 0]() mutable { return i++; }), 5, 5ms);
      int next = 0;
      for (int k = 0; k < 3; ++k) {
        auto b = recv_within(out);
        REQUIRE(b.has_value());
        REQUIRE_FALSE(b->empty());
        CHECK(b->size() <= 5);
        for (int v : *b) CHECK(v == next++);  // nothing lost, nothing reordered
      }
      cancel();
      CHECK(drain(out).closed);
      CHECK(fibers_back_to(base));
    }
    SECTION("waiting on an idle input") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto in = goro::make_chan<int>();
      auto out = goro::batch(ctx, in, 3, 5ms);
      let_others_run();
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.empty());
      CHECK(fibers_back_to(base));
    }
  });
}
