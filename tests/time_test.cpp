// Tests for goro/time.hpp: sleep, after, timer, ticker, after_func, tick, and the timers
// inside the scheduler (detail/timer_heap.hpp). Timing assertions only bound one side
// (never earlier than asked) or use generous margins; ordering tests use absolute deadlines
// far enough apart that scheduling noise cannot reorder them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "test_util.hpp"

using namespace std::chrono_literals;
using goro_test::run_test;
using goro_test::scaled;
using clk = std::chrono::steady_clock;

namespace {
std::int64_t live_timers() {
  return goro::detail::live_timer_count().load();
}
}  // namespace

TEST_CASE("timer_heap pops entries in deadline order", "[time]") {
  goro::detail::timer_heap h;
  std::vector<goro::detail::timer_node> nodes(2000);
  std::mt19937 rng(42);
  for (auto& n : nodes) h.push(&n, static_cast<std::int64_t>(rng() % 100000), 0);
  // Remove a third of them from the middle of the heap.
  for (std::size_t i = 0; i < nodes.size(); i += 3) CHECK(h.remove(&nodes[i]));
  CHECK_FALSE(h.remove(&nodes[0]));
  goro::detail::timer_entry out[16];
  std::int64_t prev = -1;
  std::size_t total = 0;
  bool ordered = true;
  for (std::int64_t now = 0; now < 100000 + 777; now += 777) {
    while (std::size_t k = h.pop_due(now, out, 16)) {
      for (std::size_t i = 0; i < k; ++i) {
        ordered = ordered && out[i].when_ns >= prev && out[i].when_ns <= now;
        prev = out[i].when_ns;
        ++total;
      }
    }
  }
  CHECK(ordered);
  CHECK(total == nodes.size() - (nodes.size() + 2) / 3);
  CHECK(h.earliest() == goro::detail::no_deadline);
}

TEST_CASE("sleep_for parks the fiber at least as long as asked", "[time]") {
  unsigned p = GENERATE(1u, 2u);
  run_test(p, [] {
    auto t0 = clk::now();
    goro::sleep_for(20ms);
    CHECK(clk::now() - t0 >= 20ms);
    goro::sleep_for(0ms);   // returns at once
    goro::sleep_for(-5ms);  // likewise
    auto t1 = clk::now() + 5ms;
    goro::sleep_until(t1);
    CHECK(clk::now() >= t1);
  });
}

TEST_CASE("a sleeping fiber does not block its processor", "[time]") {
  run_test(1, [] {
    std::atomic<bool> slept{false};
    goro::go([&] {
      goro::sleep_for(50ms);
      slept = true;
    });
    goro::yield();  // the other fiber is now asleep; we still run on the only processor
    CHECK_FALSE(slept.load());
    CHECK(goro_test::eventually([&] { return slept.load(); }));
  });
}

TEST_CASE("many sleeping fibers wake in deadline order", "[time]") {
  unsigned p = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(scaled(100'000));
  run_test(p, [n] {
    // Absolute deadlines in 10 buckets at least 50 ms apart: waking a bucket's fibers takes
    // well under that, so a correct scheduler never lets a bucket overtake the one before the
    // previous.
    constexpr int buckets = 10;
    clk::duration spacing{};  // both published to the fibers by closing `gate`
    clk::time_point base;
    std::atomic<int> early{0};
    auto gate = goro::make_chan<goro::unit>();
    auto out = goro::make_chan<int>(static_cast<std::size_t>(n));
    auto t_spawn = clk::now();
    for (int i = 0; i < n; ++i) {
      int b = static_cast<int>((static_cast<unsigned>(i) * 2654435761u) % buckets);
      goro::go([=, &base, &spacing, &early] {
        gate.recv();
        auto deadline = base + b * spacing;
        goro::sleep_until(deadline);
        if (clk::now() < deadline) early.fetch_add(1);
        out.send(b);
      });
    }
    // Sized from what spawning cost here (sanitizers make fibers 10-50x slower): every fiber
    // is asleep before `base`, and a bucket's wake-ups take well under `spacing`.
    auto spawn_cost = clk::now() - t_spawn;
    spacing = std::max<clk::duration>(50ms, 4 * spawn_cost / buckets);
    base = clk::now() + std::max<clk::duration>(250ms, 3 * spawn_cost);
    gate.close();
    int max_seen = -1, late_inversions = 0;
    for (int i = 0; i < n; ++i) {
      int b = *out.recv();
      if (b < max_seen - 1) ++late_inversions;
      max_seen = std::max(max_seen, b);
    }
    CHECK(early.load() == 0);  // never before the deadline
    INFO("fibers woken more than one bucket out of order: " << late_inversions);
    CHECK(late_inversions == 0);
  });
}

TEST_CASE("after delivers the firing time once, never before the deadline", "[time]") {
  run_test(2, [] {
    auto t0 = clk::now();
    auto c = goro::after(10ms);
    CHECK(c.capacity() == 1);
    auto v = c.recv();
    REQUIRE(v.has_value());
    CHECK(*v >= t0 + 10ms);
    CHECK(clk::now() >= *v);
    CHECK_FALSE(c.try_recv().has_value());  // exactly one value
  });
}

TEST_CASE("select with a timeout case", "[time]") {
  run_test(2, [] {
    auto never = goro::make_chan<int>();
    auto t0 = clk::now();
    bool timed_out = false;
    std::size_t i =
        goro::select(goro::case_recv(never), goro::case_recv(goro::after(15ms), [&] { timed_out = true; }));
    CHECK(i == 1);
    CHECK(timed_out);
    CHECK(clk::now() - t0 >= 15ms);
    // A ready channel beats a timeout.
    auto ready = goro::make_chan<int>(1);
    ready.send(1);
    CHECK(goro::select(goro::case_recv(ready), goro::case_recv(goro::after(1h))) == 0);
  });
}

TEST_CASE("after in a select loop leaves no timer behind", "[time]") {
  run_test(2, [] {
    auto before = live_timers();
    auto ch = goro::make_chan<int>(1);
    const long n = scaled(1'000'000);
    for (long i = 0; i < n; ++i) {
      ch.send(1);
      goro::select(goro::case_recv(ch), goro::case_recv(goro::after(1h)));
    }
    CHECK(live_timers() == before);
  });
}

TEST_CASE("timer: stop reports whether it stopped a pending timer; no stale value after stop", "[time]") {
  run_test(2, [] {
    auto before = live_timers();
    {
      goro::timer t(1h);
      CHECK(live_timers() == before + 1);
      CHECK(t.stop());
      CHECK_FALSE(t.stop());
      CHECK_FALSE(t.c().try_recv().has_value());
    }
    {
      // Fired but not received: still active in Go 1.23 terms; stop discards the value.
      goro::timer t(1ms);
      goro::sleep_for(20ms);
      CHECK(t.stop());
      CHECK_FALSE(t.c().try_recv().has_value());
    }
    {
      // Fired and received: stop finds nothing to do.
      goro::timer t(1ms);
      CHECK(t.c().recv().has_value());
      CHECK_FALSE(t.stop());
    }
    CHECK(live_timers() == before);
  });
}

TEST_CASE("timer: reset re-arms; no value from before the reset arrives after it", "[time]") {
  run_test(2, [] {
    goro::timer t(1ms);
    goro::sleep_for(20ms);  // fired, value buffered
    auto t0 = clk::now();
    CHECK(t.reset(30ms));  // the buffered value is discarded
    auto v = t.c().recv();
    REQUIRE(v.has_value());
    CHECK(*v >= t0 + 30ms);
    CHECK_FALSE(t.reset(1h));  // fired and received: not active
    CHECK(t.reset(1h));        // pending
    CHECK(t.stop());
  });
}

TEST_CASE("timer: a reset to a later deadline never fires at the old one", "[time]") {
  unsigned p = GENERATE(1u, 2u);
  run_test(p, [] {
    {
      // The pending entry keeps its place in the heap (the lazy path) and must be pushed
      // again, not fired, when the old deadline comes.
      goro::timer t(10ms);
      auto t0 = clk::now();
      CHECK(t.reset(80ms));
      auto v = t.c().recv();
      REQUIRE(v.has_value());
      CHECK(*v >= t0 + 80ms);
    }
    {
      // Later, then earlier again: the earlier deadline wins (the entry moves up).
      goro::timer t(50ms);
      CHECK(t.reset(1h));
      auto t1 = clk::now();
      CHECK(t.reset(20ms));
      auto v = t.c().recv();
      REQUIRE(v.has_value());
      CHECK(*v >= t1 + 20ms);
      CHECK(*v < t1 + 1min);
    }
    {
      // Later, then stopped: nothing arrives, and stop saw it pending.
      goro::timer t(5ms);
      CHECK(t.reset(15ms));
      CHECK(t.stop());
      goro::sleep_for(40ms);
      CHECK_FALSE(t.c().try_recv().has_value());
    }
    {
      // A ticker moved later: its first tick comes after the new period.
      goro::ticker k(10ms);
      auto t2 = clk::now();
      k.reset(60ms);
      auto v = k.c().recv();
      REQUIRE(v.has_value());
      CHECK(*v >= t2 + 60ms);
      k.stop();
    }
    {
      // A keep-alive timer reset many times holds one heap entry, not one per reset.
      const std::size_t base = goro::stats().timers_live;
      goro::timer t(1h);
      for (int i = 0; i < 1000; ++i) CHECK(t.reset(1h));
      CHECK(goro::stats().timers_live == base + 1);
      CHECK(t.stop());
      CHECK(goro::stats().timers_live == base);
    }
  });
}

TEST_CASE("ticker: a reset to a later period restarts the phase even when the firer is late", "[time]") {
  // One processor and a fiber that never switches: the old entry (due at +10 ms) is popped
  // only after the new deadline. The tick after that must follow the new phase.
  run_test(1, [] {
    auto spin_until = [](clk::time_point t) {
      while (clk::now() < t) {
      }
    };
    auto s = clk::now();
    goro::ticker k(10ms);
    spin_until(s + 30ms);
    auto r = clk::now();
    k.reset(100ms);
    spin_until(r + 105ms);
    auto v1 = k.c().recv();
    auto v2 = k.c().recv();
    REQUIRE((v1 && v2));
    CHECK(*v1 >= r + 100ms);
    CHECK(*v2 >= r + 200ms);
    k.stop();
  });
}

namespace {
struct peek_timer : goro::timer {
  using goro::timer::timer;
  goro::detail::timer_node* node() { return node_; }
};
}  // namespace

TEST_CASE("timer: stop reports pending while a firer holds its early entry", "[time]") {
  // After a reset to 1h the heap still has the entry due at +1 ms; an idle worker pops it and
  // waits for the node lock we hold. The timer is pending (1h away): stop must say so.
  run_test(2, [] {
    int wrong = 0;
    for (int i = 0; i < 20; ++i) {
      peek_timer t(1ms);
      CHECK(t.reset(1h));
      t.node()->lock.lock();
      auto s = clk::now();
      while (clk::now() < s + 5ms) {
      }
      t.node()->lock.unlock();
      if (!t.stop()) ++wrong;
      CHECK_FALSE(t.c().try_recv().has_value());
    }
    CHECK(wrong == 0);
  });
}

TEST_CASE("timer: resets to later deadlines racing with early entries never deliver early",
          "[time][stress]") {
  unsigned p = GENERATE(1u, 2u, 4u);
  run_test(p, [] {
    const long rounds = scaled(2'000);
    goro::timer t(std::chrono::microseconds(50));
    long early = 0, fired = 0;
    for (long i = 0; i < rounds; ++i) {
      // Push the deadline back a little, repeatedly, while the earlier entries come due.
      auto deadline = clk::now() + std::chrono::microseconds(20 + i % 50);
      t.reset(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clk::now()));
      if (i % 4 == 0) goro::yield();
      if (i % 16 == 15) {
        auto v = t.c().recv();  // let it fire: the value must not precede the last deadline
        if (v && *v < deadline) ++early;
        ++fired;
      }
    }
    t.stop();
    CHECK(early == 0);
    CHECK(fired == rounds / 16);
  });
}

TEST_CASE("timer stop and reset race with firing without stale values", "[time][stress]") {
  unsigned p = GENERATE(1u, 2u, 4u);
  run_test(p, [] {
    const long rounds = scaled(20'000);
    goro::timer t(1h);
    long stale = 0;
    for (long i = 0; i < rounds; ++i) {
      // Arm a timer that is about to fire, then stop it, sometimes right as it fires.
      t.reset(std::chrono::microseconds(i % 7));
      if (i % 3 == 0) goro::yield();
      t.stop();
      if (t.c().try_recv().has_value()) ++stale;  // Go 1.23: nothing after stop
    }
    CHECK(stale == 0);
  });
}

TEST_CASE("destroying a timer cancels it", "[time]") {
  run_test(2, [] {
    auto before = live_timers();
    std::atomic<int> ran{0};
    {
      goro::timer t(1h);
      auto f = goro::after_func(5ms, [&] { ran = 1; });
    }
    goro::sleep_for(30ms);
    CHECK(ran.load() == 0);
    CHECK(live_timers() == before);
  });
}

TEST_CASE("ticker ticks, drops ticks for a slow reader, never queues more than one", "[time]") {
  run_test(2, [] {
    goro::ticker k(2ms);
    auto c = k.c();
    auto v1 = c.recv();
    auto v2 = c.recv();
    REQUIRE((v1 && v2));
    CHECK(*v2 > *v1);       // values are firing times: a late first tick can make the gap < 2 ms
    goro::sleep_for(30ms);  // ~15 ticks pass unread
    CHECK(c.size() == 1);
    CHECK(c.try_recv().has_value());
    CHECK_FALSE(c.try_recv().has_value());
    k.stop();
    goro::sleep_for(10ms);
    CHECK_FALSE(c.try_recv().has_value());  // stopped: no tick, and none left from before
    k.reset(3ms);
    CHECK(c.recv().has_value());
    k.stop();
  });
}

TEST_CASE("ticker and tick reject or nil a non-positive interval", "[time]") {
  REQUIRE_THROWS_AS(goro::ticker(0ms), std::invalid_argument);
  REQUIRE_THROWS_WITH(goro::ticker(-1ms), Catch::Contains("non-positive interval"));
  CHECK_FALSE(static_cast<bool>(goro::tick(0ms)));
}

TEST_CASE("tick's ticker lives as long as its channel", "[time]") {
  run_test(2, [] {
    auto before = live_timers();
    {
      auto c = goro::tick(2ms);
      CHECK(live_timers() == before + 1);
      CHECK(c.recv().has_value());
      CHECK(c.recv().has_value());
    }
    CHECK(live_timers() == before);
  });
}

TEST_CASE("after_func runs f once in a new fiber; stop before firing prevents it", "[time]") {
  unsigned p = GENERATE(1u, 2u);
  run_test(p, [] {
    std::atomic<int> runs{0};
    std::atomic<bool> in_fiber{false};
    auto done = goro::make_chan<goro::unit>(1);
    auto t = goro::after_func(5ms, [&, done] {
      in_fiber = goro::in_fiber();
      runs.fetch_add(1);
      done.send({});
    });
    done.recv();
    goro::sleep_for(20ms);
    CHECK(runs.load() == 1);
    CHECK(in_fiber.load());
    CHECK((t.c() == goro::recv_chan<clk::time_point>{}));  // AfterFunc timers have no channel (double parens:
                                                           // Catch would iterate a channel to print it)

    std::atomic<int> stopped_runs{0};
    auto s = goro::after_func(20ms, [&] { stopped_runs.fetch_add(1); });
    CHECK(s.stop());
    goro::sleep_for(40ms);
    CHECK(stopped_runs.load() == 0);
    // Reset re-arms it.
    CHECK_FALSE(s.reset(2ms));
    CHECK(goro_test::eventually([&] { return stopped_runs.load() == 1; }));
  });
}

TEST_CASE("timers and sleep from plain threads", "[time]") {
  // No run() in progress: timers use the default runtime; threads block.
  auto t0 = clk::now();
  goro::sleep_for(5ms);
  CHECK(clk::now() - t0 >= 5ms);
  auto v = goro::after(5ms).recv();
  REQUIRE(v.has_value());
  goro::timer t(1h);
  std::thread th([&] { CHECK(t.stop()); });
  th.join();
  std::atomic<bool> ran{false};
  auto f = goro::after_func(1ms, [&] { ran = true; });
  auto deadline = clk::now() + 5s;
  while (!ran.load() && clk::now() < deadline) std::this_thread::sleep_for(1ms);
  CHECK(ran.load());
}

TEST_CASE("idle workers sleep until the next timer instead of spinning", "[time]") {
  run_test(2, [] {
    // Only timers pending: a fiber sleeps 400 ms; CPU use over that time must stay low.
    auto cpu = [] {
      timespec ts{};
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    };
    goro::sleep_for(60ms);  // let spinners settle
    double c0 = cpu();
    auto t0 = clk::now();
    goro::sleep_for(400ms);
    double used = cpu() - c0;
    double wall = std::chrono::duration<double>(clk::now() - t0).count();
    INFO("cpu " << used << " s over " << wall << " s");
    CHECK(used < 0.1 * wall);
  });
}
