// tests/patterns/fan_out_test.cpp: goro/patterns/fan_out.hpp (fan_out, fan_out_ordered).
// Conventions: patterns_util.hpp.
#include <algorithm>
#include <atomic>
#include <chrono>
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
using goro_test::scaled;
using namespace pt;

TEST_CASE("fan_out: the multiset of f's results, n workers at a time, then closed", "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    const int n = 60;
    std::atomic<int> running{0}, peak{0}, calls{0};
    auto out = goro::fan_out(bg(), goro::generator(bg(), iota_vec(n)), 4, [&](int x) {
      note_max(peak, running.fetch_add(1) + 1);
      calls.fetch_add(1);
      goro::sleep_for(1ms);
      running.fetch_sub(1);
      return static_cast<long>(x) * x;
    });
    auto d = drain(out);
    CHECK(d.closed);
    std::sort(d.values.begin(), d.values.end());
    std::vector<long> want;
    for (int i = 0; i < n; ++i) want.push_back(static_cast<long>(i) * i);
    CHECK(d.values == want);
    CHECK(calls.load() == n);
    CHECK(peak.load() <= 4);
    CHECK(peak.load() >= 2);  // the workers do run side by side
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("fan_out: each worker has its own copy of f", "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    std::atomic<int> copies_seen{0};
    struct counting {
      std::atomic<int>* seen;
      int mine = 0;  // per copy
      int operator()(int) {
        if (mine++ == 0) seen->fetch_add(1);
        goro::sleep_for(1ms);
        return mine;
      }
    };
    auto d = drain(goro::fan_out(bg(), goro::generator(bg(), iota_vec(40)), 3, counting{&copies_seen}));
    CHECK(d.closed);
    CHECK(d.values.size() == 40);
    CHECK(copies_seen.load() >= 2);  // one shared f would count one first call
    CHECK(copies_seen.load() <= 3);
  });
}

TEST_CASE("fan_out and fan_out_ordered: zero workers throw std::invalid_argument and start nothing",
          "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto in = goro::make_chan<int>();
    auto f = [](int x) { return x; };
    CHECK_THROWS_AS(goro::fan_out(bg(), in, 0, f), std::invalid_argument);
    CHECK_THROWS_AS(goro::fan_out_ordered(bg(), in, 0, f), std::invalid_argument);
    CHECK(goro::num_fibers() == base);
  });
}

TEST_CASE("fan_out and fan_out_ordered of an empty input close their output", "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto in = goro::make_chan<int>();
    in.close();
    auto f = [](int x) { return std::to_string(x); };
    auto d1 = drain(goro::fan_out(bg(), in, 5, f));
    auto d2 = drain(goro::fan_out_ordered(bg(), in, 5, f));
    CHECK(d1.closed);
    CHECK(d1.values.empty());
    CHECK(d2.closed);
    CHECK(d2.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("fan_out and fan_out_ordered move move-only values", "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    auto make_in = [] {
      auto ch = goro::make_chan<std::unique_ptr<int>>(10);
      for (int i = 0; i < 10; ++i) ch.send(std::make_unique<int>(i));
      ch.close();
      return ch;
    };
    auto f = [](std::unique_ptr<int> p) {
      *p += 100;
      return p;
    };
    auto d = drain(goro::fan_out(bg(), make_in(), 3, f));
    REQUIRE(d.closed);
    std::vector<int> got;
    for (auto& p : d.values) {
      REQUIRE(p != nullptr);
      got.push_back(*p);
    }
    std::sort(got.begin(), got.end());
    std::vector<int> want;
    for (int i = 0; i < 10; ++i) want.push_back(100 + i);
    CHECK(got == want);

    auto dord = drain(goro::fan_out_ordered(bg(), make_in(), 3, f));
    REQUIRE(dord.closed);
    REQUIRE(dord.values.size() == 10);
    for (int i = 0; i < 10; ++i) {
      REQUIRE(dord.values[i] != nullptr);
      CHECK(*dord.values[i] == 100 + i);
    }
  });
}

TEST_CASE("fan_out_ordered: results in exact input order even when f takes random time",
          "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    const int n = static_cast<int>(scaled(200));
    std::atomic<int> running{0}, peak{0};
    auto out = goro::fan_out_ordered(bg(), goro::generator(bg(), iota_vec(n)), 6, [&](int x) {
      note_max(peak, running.fetch_add(1) + 1);
      // 0 to 3 ms, so later values often finish first.
      goro::sleep_for(std::chrono::microseconds(mix(static_cast<std::uint32_t>(x)) % 3000));
      running.fetch_sub(1);
      return "r" + std::to_string(x);
    });
    auto d = drain(out, 20000ms);
    CHECK(d.closed);
    std::vector<std::string> want;
    for (int i = 0; i < n; ++i) want.push_back("r" + std::to_string(i));
    CHECK(d.values == want);
    CHECK(peak.load() <= 6);
    CHECK(peak.load() >= 2);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("fan_out_ordered: a slow value holds up at most 2n values behind it", "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  const std::size_t workers = GENERATE(1u, 3u);
  CAPTURE(procs, workers);
  run_test(procs, [workers] {
    const std::size_t base = goro::num_fibers();
    auto [ctx, cancel] = goro::with_cancel(bg());
    auto in = goro::make_chan<int>();
    std::atomic<int> taken{0};  // values the stage took from its input
    goro::go([ctx = ctx, in, &taken] {
      for (int i = 0; goro::send_or_done(ctx, in, i); ++i) taken.fetch_add(1);
    });
    auto gate = goro::make_chan<goro::unit>();
    auto out = goro::fan_out_ordered(ctx, in, workers, [gate](int x) {
      if (x == 0) gate.recv();  // the first value is slow
      return x;
    });
    let_others_run();
    let_others_run();
    CHECK(taken.load() <= static_cast<int>(2 * workers));
    CHECK(taken.load() >= 1);
    CHECK(nothing_ready(out));  // nothing passes value 0
    gate.close();
    for (int i = 0; i < 20; ++i) CHECK(recv_within(out) == std::optional<int>(i));
    cancel();
    CHECK(drain(out).closed);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("fan_out and fan_out_ordered: cancelling in the middle closes the output and ends every fiber",
          "[patterns][fan_out]") {
  const unsigned procs = GENERATE(1u, 2u);
  const bool ordered = GENERATE(false, true);
  CAPTURE(procs, ordered);
  run_test(procs, [ordered] {
    const std::size_t base = goro::num_fibers();
    auto stage = [ordered](const goro::context& ctx, goro::recv_chan<int> in, std::size_t n, auto f) {
      return ordered ? goro::fan_out_ordered(ctx, in, n, f) : goro::fan_out(ctx, in, n, f);
    };
    SECTION("the consumer stops reading an endless input") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto out =
          stage(ctx, goro::repeat_fn(ctx, [i = 0]() mutable { return i++; }), 4, [](int x) { return x * 2; });
      for (int i = 0; i < 20; ++i) REQUIRE(recv_within(out).has_value());
      let_others_run();  // the workers are parked on a full pipeline
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.size() <= 8);  // at most what was already on its way
      CHECK(fibers_back_to(base));
    }
    SECTION("the workers wait on an input that never sends") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto in = goro::make_chan<int>();
      auto out = stage(ctx, in, 3, [](int x) { return x; });
      let_others_run();
      CHECK(nothing_ready(out));
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.empty());
      CHECK(fibers_back_to(base));
    }
    SECTION("a worker is in the middle of f: it finishes that call, then everything ends") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto gate = goro::make_chan<goro::unit>();
      std::atomic<int> in_f{0}, finished{0};
      auto out = stage(ctx, goro::repeat(ctx, {1}), 2, [gate, &in_f, &finished](int x) {
        in_f.fetch_add(1);
        gate.recv();
        finished.fetch_add(1);
        return x;
      });
      REQUIRE(eventually([&] { return in_f.load() == 2; }));  // both workers are in f
      cancel();
      let_others_run();
      CHECK(finished.load() == 0);  // f is not interrupted
      gate.close();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.size() <= 2);
      CHECK(fibers_back_to(base));
      CHECK(finished.load() == in_f.load());  // every call that started returned
    }
  });
}
