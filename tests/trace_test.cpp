// Tests of goro/trace.hpp: the Chrome trace JSON holds what happened, and nothing leaks.
#include <goro/trace.hpp>

#include <sstream>
#include <stdexcept>
#include <string>

#include "catch.hpp"
#include "test_util.hpp"

namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a trace records spawns, runs, parks and readies, as Chrome trace JSON", "[trace]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  goro_test::run_test(procs, [procs] {
    goro::trace_start();
    REQUIRE_THROWS_AS(goro::trace_start(), std::logic_error);  // one at a time
    auto ping = goro::make_chan<int>(), pong = goro::make_chan<int>();
    constexpr int fibers = 20, rounds = 50;
    goro::wait_group wg;
    for (int i = 0; i < fibers; ++i) {
      wg.go([ping, pong] {
        for (int r = 0; r < rounds; ++r) pong.send(*ping.recv() + 1);
      });
    }
    long sum = 0;
    for (int r = 0; r < fibers * rounds; ++r) {
      ping.send(r);
      sum += *pong.recv();
    }
    wg.wait();
    CHECK(sum == static_cast<long>(fibers) * rounds * (fibers * rounds + 1) / 2);
    std::ostringstream os;
    std::size_t n = goro::trace_stop(os);
    const std::string json = os.str();
    CHECK(n > static_cast<std::size_t>(fibers));
    CHECK(json.rfind("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", 0) == 0);
    CHECK(json.find("\"events\":" + std::to_string(n) + ",") != std::string::npos);
    CHECK(count(json, "\"name\":\"spawn\"") >= static_cast<std::size_t>(fibers));
    CHECK(count(json, "\"park: chan receive\"") + count(json, "\"park: chan send\"") >= 2u * rounds);
    CHECK(count(json, "\"name\":\"ready\"") >= static_cast<std::size_t>(rounds));
    CHECK(count(json, "\"cat\":\"run\",\"ph\":\"X\"") >= static_cast<std::size_t>(fibers));
    CHECK(count(json, "\"name\":\"thread_name\"") == procs);
    // Balanced brackets and one event per line: a well-formed array.
    CHECK(count(json, "{") == count(json, "}"));
    CHECK(count(json, "[") == count(json, "]"));
    CHECK(json.substr(json.size() - 3) == "}}\n");

    // Stopped: nothing more is recorded, and a stop without a start writes an empty trace.
    std::ostringstream again;
    CHECK(goro::trace_stop(again) == 0);
    CHECK(again.str().find("\"events\":0,") != std::string::npos);
  });
}

TEST_CASE("a full trace buffer drops events and says how many", "[trace]") {
  goro_test::run_test(1, [] {
    goro::trace_start(8);
    for (int i = 0; i < 100; ++i) goro::yield();
    goro::wait_group wg;
    for (int i = 0; i < 50; ++i) wg.go([] {});
    wg.wait();
    std::ostringstream os;
    std::size_t n = goro::trace_stop(os);
    CHECK(n <= 8 + 1);  // 8 events, plus the last run slice closed at the stop
    CHECK(os.str().find("\"dropped\":0}") == std::string::npos);
    REQUIRE_THROWS_AS(goro::trace_start(0), std::invalid_argument);
  });
}
