// Tests of goro/debug.hpp: fibers(), dump(), stats(), leak_check. Deadlock detection ends the
// process, so it is tested by tests/probe/deadlock_probe.cpp (ctest cases probe_*).
#include <goro/debug.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "catch.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

const goro::fiber_info* find_line(const std::vector<goro::fiber_info>& v, unsigned line) {
  auto it = std::find_if(v.begin(), v.end(), [&](const goro::fiber_info& f) {
    return f.line == line && f.file.find("debug_test.cpp") != std::string::npos;
  });
  return it == v.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("fibers() names each parked fiber's wait reason and spawn site", "[debug]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  goro_test::run_test(procs, [] {
    auto ch = goro::make_chan<int>();
    goro::mutex mu;
    mu.lock();
    // clang-format off
    const unsigned recv_line = __LINE__; goro::go([ch] { (void)ch.recv(); });
    const unsigned mutex_line = __LINE__; goro::go([&mu] { mu.lock(); mu.unlock(); });
    // clang-format on
    REQUIRE(goro_test::eventually([&] {
      auto v = goro::fibers();
      const goro::fiber_info* r = find_line(v, recv_line);
      const goro::fiber_info* m = find_line(v, mutex_line);
      return r != nullptr && r->wait_reason == "chan receive" && m != nullptr && m->wait_reason == "mutex";
    }));
    auto v = goro::fibers();
    const goro::fiber_info* r = find_line(v, recv_line);
    REQUIRE(r != nullptr);
    CHECK(r->state == "waiting");
    CHECK(r->function.find("operator()") != std::string::npos);  // the test body lambda
    // The caller itself is listed, running.
    CHECK(std::any_of(v.begin(), v.end(), [](const goro::fiber_info& f) { return f.state == "running"; }));
    CHECK(v.size() == goro::num_fibers());

    std::ostringstream os;
    goro::dump(os);
    const std::string text = os.str();
    CHECK(text.find("fiber " + std::to_string(r->id) + " [chan receive, ") != std::string::npos);
    CHECK(text.find("debug_test.cpp:" + std::to_string(recv_line)) != std::string::npos);
    CHECK(text.find("[mutex, ") != std::string::npos);

    ch.send(1);
    mu.unlock();
    REQUIRE(goro_test::eventually([&] { return find_line(goro::fibers(), recv_line) == nullptr; }));
  });
}

TEST_CASE("fibers() reports how long a fiber has waited", "[debug]") {
  goro_test::run_test(2, [] {
    auto ch = goro::make_chan<int>();
    const unsigned line = __LINE__ + 1;
    goro::go([ch] { (void)ch.recv(); });
    goro::sleep_for(120ms);
    auto v = goro::fibers();
    const goro::fiber_info* r = find_line(v, line);
    REQUIRE(r != nullptr);
    CHECK(r->wait_reason == "chan receive");
    CHECK(r->waiting >= 50ms);  // coarse clock: never less than the real wait minus its lag
    CHECK(r->waiting < 60s);
    ch.close();
  });
}

TEST_CASE("stats() counts spawns, parks and switches", "[debug]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  goro_test::run_test(procs, [procs] {
    goro::runtime_stats before = goro::stats();
    CHECK(before.procs == procs);
    CHECK(before.fibers_live == 1);  // the main fiber
    auto ch = goro::make_chan<int>();
    constexpr int n = 100;
    for (int i = 0; i < n; ++i) goro::go([ch, i] { ch.send(i); });
    long sum = 0;
    for (int i = 0; i < n; ++i) sum += *ch.recv();
    CHECK(sum == n * (n - 1) / 2);
    goro::runtime_stats after = goro::stats();
    CHECK(after.fibers_spawned >= before.fibers_spawned + n);
    CHECK(after.switches > before.switches);
    CHECK(after.parks > before.parks);  // the main fiber parked on an empty channel at least once

    goro::timer t(1h);
    CHECK(goro::stats().timers_live >= 1);
    t.stop();
  });
}

TEST_CASE("stats() from a plain thread counts threads blocked in goro", "[debug]") {
  goro_test::run_test(2, [] {
    auto ch = goro::make_chan<int>();
    std::thread th([ch] { (void)ch.recv(); });
    REQUIRE(goro_test::eventually([] { return goro::stats().threads_blocked >= 1; }));
    ch.send(7);
    th.join();
    CHECK(goro::stats().threads_blocked == 0);
  });
}

TEST_CASE("leak_check names a fiber that outlives its scope, and passes when fibers end", "[debug]") {
  goro_test::run_test(2, [] {
    auto ch = goro::make_chan<int>();
    unsigned line = 0;
    std::string what;
    try {
      goro::leak_check lc;
      line = __LINE__ + 1;
      goro::go([ch] { (void)ch.recv(); });
      lc.verify(50ms);
    } catch (const goro::fiber_leak_error& e) {
      what = e.what();
      REQUIRE(e.leaked().size() == 1);
      CHECK(e.leaked()[0].wait_reason == "chan receive");
    }
    CHECK(what.find("1 fiber(s) outlived the scope") != std::string::npos);
    CHECK(what.find("debug_test.cpp:" + std::to_string(line)) != std::string::npos);
    ch.close();

    // A fiber that ends within the grace period is not a leak; fibers from before are ignored.
    auto old = goro::make_chan<int>();
    goro::go([old] { (void)old.recv(); });
    {
      goro::leak_check lc;
      goro::go([] { goro::sleep_for(20ms); });
    }  // the destructor verifies, with a grace period
    old.close();
  });
}
