// tests/patterns/rate_limiter_test.cpp: goro/patterns/rate_limiter.hpp (rate_limiter, every).
// Conventions: patterns_util.hpp. The token arithmetic is checked with explicit time points
// (allow_n(now, n), tokens(now)): deterministic. Waits are checked one-sidedly (never earlier
// than the schedule); where a test must tell "waited" from "did not wait" it uses rates so
// slow that the difference is seconds.
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "../catch.hpp"
#include "../test_util.hpp"
#include "patterns_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using goro_test::thread_set;
using namespace pt;

namespace {

using goro::rate_limiter;

// The error code wait_n threw: {} when it returned, a generic code for another exception.
std::error_code wait_code(rate_limiter& lim, const goro::context& ctx, int n = 1) {
  try {
    lim.wait_n(ctx, n);
    return {};
  } catch (const std::system_error& e) {
    return e.code();
  } catch (const std::invalid_argument&) {
    return std::make_error_code(std::errc::invalid_argument);
  } catch (...) {
    return std::make_error_code(std::errc::io_error);
  }
}

double seconds(clk::duration d) {
  return std::chrono::duration<double>(d).count();
}

const std::error_code invalid = std::make_error_code(std::errc::invalid_argument);

}  // namespace

TEST_CASE("every: events per second for an interval; <= 0 is infinite", "[patterns][rate_limiter]") {
  CHECK(goro::every(100ms) == Approx(10.0));
  CHECK(goro::every(1s) == Approx(1.0));
  CHECK(goro::every(250ms) == Approx(4.0));
  CHECK(goro::every(1ns) == Approx(1e9));
  CHECK(std::isinf(goro::every(0ns)));
  CHECK(std::isinf(goro::every(-5ms)));
  CHECK(goro::every(0ns) == rate_limiter::inf);
}

TEST_CASE("rate_limiter: accessors and invalid construction", "[patterns][rate_limiter]") {
  rate_limiter lim(2.5, 4);
  CHECK(lim.limit() == 2.5);
  CHECK(lim.burst() == 4);
  CHECK(lim.tokens() == Approx(4.0));  // starts full
  rate_limiter ev(goro::every(50ms), 1);
  CHECK(ev.limit() == Approx(20.0));
  CHECK_THROWS_AS(rate_limiter(-1.0, 1), std::invalid_argument);
  CHECK_THROWS_AS(rate_limiter(std::nan(""), 1), std::invalid_argument);
  CHECK_THROWS_AS(rate_limiter(1.0, -1), std::invalid_argument);
  CHECK_NOTHROW(rate_limiter(0.0, 0));
  CHECK_NOTHROW(rate_limiter(rate_limiter::inf, 0));
  CHECK_THROWS_AS(lim.set_limit(-2.0), std::invalid_argument);
  CHECK_THROWS_AS(lim.set_burst(-2), std::invalid_argument);
  CHECK(lim.limit() == 2.5);
  CHECK(lim.burst() == 4);
}

TEST_CASE("rate_limiter: allow_n and tokens at explicit times", "[patterns][rate_limiter]") {
  rate_limiter lim(10, 3);  // a token every 100 ms, bursts of 3
  const auto t0 = clk::now();
  CHECK(lim.tokens(t0) == Approx(3.0));
  CHECK(lim.allow_n(t0, 1));
  CHECK(lim.allow_n(t0, 1));
  CHECK(lim.allow_n(t0, 1));
  CHECK_FALSE(lim.allow_n(t0, 1));  // the burst is spent
  CHECK(lim.tokens(t0) == Approx(0.0).margin(1e-9));

  CHECK(lim.tokens(t0 + 50ms) == Approx(0.5));
  CHECK_FALSE(lim.allow_n(t0 + 50ms, 1));
  CHECK(lim.tokens(t0 + 50ms) == Approx(0.5));  // a refusal takes nothing
  CHECK(lim.allow_n(t0 + 150ms, 1));
  CHECK(lim.tokens(t0 + 150ms) == Approx(0.5));
  CHECK_FALSE(lim.allow_n(t0 + 150ms, 2));
  CHECK(lim.tokens(t0 + 150ms) == Approx(0.5));
  CHECK(lim.tokens(t0 + 350ms) == Approx(2.5));

  CHECK(lim.tokens(t0 + 10s) == Approx(3.0));  // the bucket holds at most burst tokens
  CHECK_FALSE(lim.allow_n(t0 + 10s, 4));       // more than the burst: never
  CHECK(lim.tokens(t0 + 10s) == Approx(3.0));
  CHECK(lim.allow_n(t0 + 10s, 3));
  CHECK(lim.tokens(t0 + 10s) == Approx(0.0).margin(1e-9));
  CHECK(lim.allow_n(t0 + 10s + 200ms, 2));
  CHECK_FALSE(lim.allow_n(t0 + 10s + 200ms, 1));

  // allow() at the real clock: a limiter that refills too slowly to matter here.
  rate_limiter slow(0.001, 2);
  CHECK(slow.allow());
  CHECK(slow.allow());
  CHECK_FALSE(slow.allow());
}

TEST_CASE("rate_limiter: set_limit and set_burst keep the tokens earned so far", "[patterns][rate_limiter]") {
  rate_limiter lim(10, 5);
  const auto t0 = clk::now();
  REQUIRE(lim.allow_n(t0, 5));
  lim.set_limit(100, t0 + 100ms);  // 1 token earned at the old rate
  CHECK(lim.limit() == 100);
  CHECK(lim.tokens(t0 + 100ms) == Approx(1.0));
  CHECK(lim.tokens(t0 + 110ms) == Approx(2.0));  // then 100 per second
  lim.set_burst(1, t0 + 110ms);
  CHECK(lim.burst() == 1);
  CHECK(lim.tokens(t0 + 120ms) == Approx(1.0));  // capped by the new burst
  CHECK_FALSE(lim.allow_n(t0 + 120ms, 2));
  CHECK(lim.allow_n(t0 + 120ms, 1));
}

TEST_CASE("rate_limiter::wait: immediate while tokens last; n > burst and a done context throw",
          "[patterns][rate_limiter]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    rate_limiter lim(0.01, 3);  // one token per 100 s: any real wait would time the test out
    CHECK(wait_code(lim, bg()) == std::error_code{});
    CHECK(wait_code(lim, bg(), 2) == std::error_code{});  // n == burst is fine
    CHECK(lim.tokens() == Approx(0.0).margin(0.01));

    rate_limiter full(0.01, 3);
    CHECK(wait_code(full, bg(), 4) == invalid);  // n > burst
    CHECK(full.tokens() == Approx(3.0).margin(0.01));
    auto [ctx, cancel] = goro::with_cancel(bg());
    cancel();
    CHECK(wait_code(full, ctx) == goro::errc::canceled);  // even with tokens there
    CHECK(full.tokens() == Approx(3.0).margin(0.01));     // and none taken

    // An infinite limit: no waiting, no burst limit.
    rate_limiter unlimited(rate_limiter::inf, 0);
    for (int i = 0; i < 100; ++i) REQUIRE(unlimited.allow());
    CHECK(unlimited.allow_n(clk::now(), 1000000));
    CHECK(wait_code(unlimited, bg(), 1000) == std::error_code{});
  });
}

TEST_CASE("rate_limiter::wait: a deadline that cannot be met throws deadline_exceeded at once",
          "[patterns][rate_limiter]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    rate_limiter lim(0.1, 1);  // a token every 10 s
    REQUIRE(lim.allow());
    auto [ctx, cancel] = goro::with_timeout(bg(), 2s);
    const auto start = clk::now();
    CHECK(wait_code(lim, ctx) == goro::errc::deadline_exceeded);
    CHECK(clk::now() - start < 1s);
    CHECK_FALSE(ctx.err());      // it did not wait for the deadline
    CHECK(lim.tokens() > -0.5);  // and reserved nothing
    CHECK(lim.tokens() < 0.5);
    cancel();

    // A deadline that can be met: waits, then returns.
    rate_limiter fast(100, 1);  // a token every 10 ms
    const auto t_drain = clk::now();
    REQUIRE(fast.allow());
    auto [ctx2, cancel2] = goro::with_timeout(bg(), 5s);
    CHECK(wait_code(fast, ctx2) == std::error_code{});
    CHECK(clk::now() - t_drain >= 9ms);  // never earlier than the next token
    cancel2();
  });
}

TEST_CASE("rate_limiter::wait: waiters are paced and served in the order they called",
          "[patterns][rate_limiter]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [procs] {
    const std::size_t base = goro::num_fibers();
    const int k = 5;
    rate_limiter lim(100, 10);  // 10 ms per token
    const auto t_drain = clk::now();
    REQUIRE(lim.allow_n(t_drain, 10));
    std::vector<clk::time_point> woke(k);
    std::vector<int> rank(k, -1);
    std::atomic<int> seq{0}, failed{0}, finished{0};
    for (int i = 0; i < k; ++i) {
      goro::go([&, i] {
        if (wait_code(lim, bg())) failed.fetch_add(1);
        woke[i] = clk::now();
        rank[i] = seq.fetch_add(1);
        finished.fetch_add(1);
      });
      // Waiter i has reserved once the bucket is i + 1 tokens below what time refilled.
      REQUIRE(eventually([&] {
        auto now = clk::now();
        return lim.tokens(now) - seconds(now - t_drain) * 100 < -(i + 1) + 0.5;
      }));
    }
    REQUIRE(eventually([&] { return finished.load() == k; }));
    CHECK(failed.load() == 0);
    for (int i = 0; i < k; ++i) {
      CAPTURE(i);
      // The i-th caller's tokens are the (i+1)-th after the drain: 10 ms each.
      CHECK(woke[i] >= t_drain + (i + 1) * 10ms - 100us);
      if (procs == 1) CHECK(rank[i] == i);  // FIFO by reservation
    }
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("rate_limiter::wait: a cancelled wait throws and gives its tokens back",
          "[patterns][rate_limiter]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    rate_limiter lim(0.1, 1);  // a token every 10 s
    REQUIRE(lim.allow());

    auto start_waiter = [&](const goro::context& ctx, std::atomic<int>& state, std::error_code& code) {
      goro::go([&lim, ctx, &state, &code] {
        code = wait_code(lim, ctx);
        state.store(1);
      });
    };

    SECTION("one waiter") {
      goro::context ctx;
      goro::cancel_func cancel;
      std::tie(ctx, cancel) = goro::with_cancel(bg());
      std::atomic<int> state{0};
      std::error_code code;
      start_waiter(ctx, state, code);
      REQUIRE(eventually([&] { return lim.tokens() < -0.5; }));  // reserved: in debt
      let_others_run();
      CHECK(state.load() == 0);  // parked
      cancel();
      REQUIRE(eventually([&] { return state.load() == 1; }));
      CHECK(code == goro::errc::canceled);
      CHECK(lim.tokens() > -0.5);  // the token is back
      CHECK(lim.tokens() < 0.5);
    }
    SECTION("two waiters; the first cancels: its slot is relied on, nothing comes back") {
      goro::context ca, cb;
      goro::cancel_func cancel_a, cancel_b;
      std::tie(ca, cancel_a) = goro::with_cancel(bg());
      std::tie(cb, cancel_b) = goro::with_cancel(bg());
      std::atomic<int> sa{0}, sb{0};
      std::error_code code_a, code_b;
      start_waiter(ca, sa, code_a);
      REQUIRE(eventually([&] { return lim.tokens() < -0.5; }));
      start_waiter(cb, sb, code_b);
      REQUIRE(eventually([&] { return lim.tokens() < -1.5; }));
      cancel_a();
      REQUIRE(eventually([&] { return sa.load() == 1; }));
      CHECK(code_a == goro::errc::canceled);
      CHECK(lim.tokens() < -1.5);  // b's reservation comes after a's: a gives nothing back
      CHECK(sb.load() == 0);
      cancel_b();
      REQUIRE(eventually([&] { return sb.load() == 1; }));
      CHECK(code_b == goro::errc::canceled);
      CHECK(lim.tokens() > -1.5);  // b was the last reservation: its token is back
      CHECK(lim.tokens() < -0.5);
    }
    SECTION("two waiters; the last cancels first, then the other: both come back") {
      goro::context ca, cb;
      goro::cancel_func cancel_a, cancel_b;
      std::tie(ca, cancel_a) = goro::with_cancel(bg());
      std::tie(cb, cancel_b) = goro::with_cancel(bg());
      std::atomic<int> sa{0}, sb{0};
      std::error_code code_a, code_b;
      start_waiter(ca, sa, code_a);
      REQUIRE(eventually([&] { return lim.tokens() < -0.5; }));
      start_waiter(cb, sb, code_b);
      REQUIRE(eventually([&] { return lim.tokens() < -1.5; }));
      cancel_b();
      REQUIRE(eventually([&] { return sb.load() == 1; }));
      CHECK(code_b == goro::errc::canceled);
      CHECK(lim.tokens() > -1.5);
      CHECK(lim.tokens() < -0.5);
      cancel_a();
      REQUIRE(eventually([&] { return sa.load() == 1; }));
      CHECK(code_a == goro::errc::canceled);
      CHECK(lim.tokens() > -0.5);
      CHECK(lim.tokens() < 0.5);
    }
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("rate_limiter with a zero limit allows the burst once, then nothing", "[patterns][rate_limiter]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    rate_limiter lim(0, 2);
    CHECK(lim.allow());
    CHECK(lim.allow());
    CHECK_FALSE(lim.allow());
    CHECK_FALSE(lim.allow_n(clk::now() + 24h, 1));  // no refill, ever
    CHECK(lim.tokens(clk::now() + 24h) == Approx(0.0).margin(1e-9));

    rate_limiter w(0, 1);
    CHECK(wait_code(w, bg()) == std::error_code{});  // the burst
    auto [ctx, cancel] = goro::with_timeout(bg(), 1h);
    CHECK(wait_code(w, ctx) == invalid);  // would never end: throws instead of hanging
    cancel();
  });
}

TEST_CASE(
    "rate_limiter with a zero limit: a wait without deadline past the burst throws std::invalid_argument",
    "[patterns][rate_limiter]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    rate_limiter w(0, 1);
    CHECK(wait_code(w, bg()) == std::error_code{});  // the burst
    // Neither returning (there is no token, ever) nor hanging: std::invalid_argument.
    const auto start = clk::now();
    std::atomic<int> state{0};
    std::error_code code;
    goro::go([&] {
      code = wait_code(w, bg());
      state.store(1);
    });
    REQUIRE(eventually([&] { return state.load() == 1; }, 2000ms));
    CHECK(code == invalid);
    CHECK(clk::now() - start < 1s);
  });
}

TEST_CASE("rate_limiter from plain threads: wait paces a thread, a cancelled wait wakes it, allow is exact",
          "[patterns][rate_limiter]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    {
      rate_limiter lim(100, 1);  // 10 ms per token
      std::atomic<long long> elapsed_us{-1};
      std::atomic<int> errors{0};
      thread_set threads;
      threads.start([&] {
        const auto start = clk::now();
        for (int i = 0; i < 4; ++i) {
          if (wait_code(lim, bg())) errors.fetch_add(1);  // the first is the burst
        }
        elapsed_us.store(std::chrono::duration_cast<std::chrono::microseconds>(clk::now() - start).count());
      });
      REQUIRE(eventually([&] { return elapsed_us.load() >= 0; }));
      threads.join();
      CHECK(errors.load() == 0);
      CHECK(elapsed_us.load() >= 29000);  // three more tokens, 10 ms each
    }
    {
      rate_limiter lim(0.1, 1);
      REQUIRE(lim.allow());
      goro::context ctx;
      goro::cancel_func cancel;
      std::tie(ctx, cancel) = goro::with_cancel(bg());
      std::atomic<int> state{0};
      std::error_code code;
      thread_set threads;
      threads.start([&] {
        code = wait_code(lim, ctx);
        state.store(1);
      });
      REQUIRE(eventually([&] { return lim.tokens() < -0.5; }));
      cancel();  // from a fiber
      REQUIRE(eventually([&] { return state.load() == 1; }));
      threads.join();
      CHECK(code == goro::errc::canceled);
      CHECK(lim.tokens() > -0.5);
    }
    {
      rate_limiter lim(0.001, 50);  // 50 tokens, no refill to speak of
      std::atomic<int> allowed{0}, done{0};
      thread_set threads;
      for (int t = 0; t < 2; ++t) {
        threads.start([&] {
          for (int i = 0; i < 40; ++i) allowed.fetch_add(lim.allow() ? 1 : 0);
          done.fetch_add(1);
        });
      }
      for (int f = 0; f < 4; ++f) {
        goro::go([&] {
          for (int i = 0; i < 40; ++i) {
            allowed.fetch_add(lim.allow() ? 1 : 0);
            if (i % 8 == 0) goro::yield();
          }
          done.fetch_add(1);
        });
      }
      REQUIRE(eventually([&] { return done.load() == 6; }));
      threads.join();
      CHECK(allowed.load() == 50);
    }
  });
}
