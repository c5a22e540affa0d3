// tests/patterns/parallel_map_test.cpp: goro/patterns/parallel_map.hpp. Conventions:
// patterns_util.hpp. "First failure" is made unambiguous as in errgroup_test.cpp: the later
// failing calls wait for their context to be done, which happens only after the first failure
// has been recorded.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
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

namespace {

struct item_error : std::runtime_error {
  int id;
  explicit item_error(int i) : std::runtime_error("item " + std::to_string(i)), id(i) {}
};

// Runs parallel_map and returns the id of the item_error it threw (-1: returned, -2: other).
template <class R, class F>
int map_error_id(const goro::context& ctx, R&& items, int limit, F f) {
  try {
    (void)goro::parallel_map(ctx, std::forward<R>(items), limit, std::move(f));
    return -1;
  } catch (const item_error& e) {
    return e.id;
  } catch (...) {
    return -2;
  }
}

}  // namespace

TEST_CASE("parallel_map: results in input order, f(item) and f(ctx, item)", "[patterns][parallel_map]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    const std::vector<int> items = iota_vec(40);
    auto r1 = goro::parallel_map(bg(), items, 8, [](int x) {
      goro::sleep_for(
          std::chrono::microseconds(mix(static_cast<std::uint32_t>(x)) % 2000));  // finish out of order
      return "s" + std::to_string(x);
    });
    REQUIRE(r1.size() == items.size());
    for (int i = 0; i < 40; ++i) CHECK(r1[i] == "s" + std::to_string(i));

    std::atomic<int> saw_done{0};
    auto r2 = goro::parallel_map(bg(), items, -1, [&saw_done](const goro::context& c, int x) {
      if (c.err()) saw_done.fetch_add(1);
      goro::sleep_for(std::chrono::microseconds(mix(static_cast<std::uint32_t>(x) + 7) % 2000));
      return x * 3;
    });
    REQUIRE(r2.size() == items.size());
    for (int i = 0; i < 40; ++i) CHECK(r2[i] == i * 3);
    CHECK(saw_done.load() == 0);  // nothing failed: the calls' context is live
    CHECK(fibers_back_to(base));  // nothing outlives the call
  });
}

TEST_CASE("parallel_map: the limit bounds the calls running at once; a negative limit does not",
          "[patterns][parallel_map]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    std::atomic<int> running{0}, peak{0};
    auto r = goro::parallel_map(bg(), iota_vec(30), 3, [&](int x) {
      note_max(peak, running.fetch_add(1) + 1);
      goro::sleep_for(1ms);
      running.fetch_sub(1);
      return x;
    });
    CHECK(r == iota_vec(30));
    CHECK(peak.load() <= 3);
    CHECK(peak.load() >= 2);

    // No bound: all 12 calls are in f at once (each waits until the others are there).
    running = 0;
    peak = 0;
    auto r2 = goro::parallel_map(bg(), iota_vec(12), -1, [&](int x) {
      note_max(peak, running.fetch_add(1) + 1);
      goro_test::eventually([&] { return running.load() >= 12; }, 3000ms);
      return x;
    });
    CHECK(r2 == iota_vec(12));
    CHECK(peak.load() == 12);
  });
}

TEST_CASE("parallel_map: limit 0 throws std::invalid_argument; an empty range gives an empty vector",
          "[patterns][parallel_map]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::atomic<int> calls{0};
    auto f = [&calls](int x) {
      calls.fetch_add(1);
      return x;
    };
    CHECK_THROWS_AS(goro::parallel_map(bg(), iota_vec(3), 0, f), std::invalid_argument);
    CHECK(goro::parallel_map(bg(), std::vector<int>{}, 4, f).empty());
    CHECK(goro::parallel_map(bg(), std::vector<int>{}, -1, f).empty());
    CHECK(calls.load() == 0);
    CHECK(goro::num_fibers() == base);
  });
}

TEST_CASE("parallel_map: vector items by reference, other ranges copied; f is shared",
          "[patterns][parallel_map]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    std::vector<int> items = iota_vec(10);
    auto same = goro::parallel_map(bg(), items, 4, [&items](const int& x) { return &x == &items[x]; });
    CHECK(std::count(same.begin(), same.end(), true) == 10);

    std::list<std::string> words{"a", "bb", "ccc", "dddd"};
    auto lens = goro::parallel_map(bg(), words, 2, [](const std::string& w) { return w.size(); });
    CHECK(lens == std::vector<std::size_t>{1, 2, 3, 4});

    const std::set<int> keys{5, 1, 3, 0, 2, 4};  // in set order
    auto squares = goro::parallel_map(bg(), keys, 3, [](int x) { return x * x; });
    CHECK(squares == std::vector<int>{0, 1, 4, 9, 16, 25});

    struct recorder {
      std::mutex* mu;
      std::set<const void*>* seen;
      int operator()(int x) const {
        std::lock_guard<std::mutex> g(*mu);
        seen->insert(this);
        return x;
      }
    };
    std::mutex mu;
    std::set<const void*> seen;
    (void)goro::parallel_map(bg(), iota_vec(20), 5, recorder{&mu, &seen});
    CHECK(seen.size() == 1);  // one f for every call
  });
}

TEST_CASE("parallel_map: the first failure is rethrown after every started call returned",
          "[patterns][parallel_map]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::atomic<int> started{0}, saw_cancel{0}, returned{0};
    int id = map_error_id(bg(), iota_vec(8), -1, [&](const goro::context& c, int x) -> int {
      started.fetch_add(1);
      if (x == 3) throw item_error(3);
      // The others wait for the failure to reach them, then take a while to return.
      if (await_done(c)) saw_cancel.fetch_add(1);
      goro::sleep_for(5ms);
      returned.fetch_add(1);
      if (x == 6) throw item_error(6);  // a later failure is not the one rethrown
      return x;
    });
    CHECK(id == 3);
    // Calls whose fiber had not begun when item 3 failed are skipped, so 1..8 calls start.
    const int n = started.load();
    CHECK(n >= 1);
    CHECK(n <= 8);
    CHECK(saw_cancel.load() == n - 1);  // the failure cancelled the context the other calls see
    CHECK(returned.load() == n - 1);    // rethrown only once every started call returned
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("parallel_map: no item is started after the first failure", "[patterns][parallel_map]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    SECTION("limit 1: item 0 fails while the caller waits for a slot for item 1") {
      std::atomic<int> calls{0};
      int id = map_error_id(bg(), iota_vec(10), 1, [&](int x) -> int {
        calls.fetch_add(1);
        let_others_run();  // the caller is now waiting for the slot
        if (x == 0) throw item_error(0);
        return x;
      });
      CHECK(id == 0);
      CHECK(calls.load() == 1);
    }
    SECTION("limit 2: item 1 fails while item 0 runs and the caller waits for a slot") {
      std::atomic<int> calls{0};
      int id = map_error_id(bg(), iota_vec(10), 2, [&](const goro::context& c, int x) -> int {
        calls.fetch_add(1);
        if (x == 1) {
          let_others_run();
          throw item_error(1);
        }
        await_done(c);
        return x;
      });
      CHECK(id == 1);
      CHECK(calls.load() == 2);
    }
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("parallel_map: a caller context done before every item ran gives std::system_error(ctx.err())",
          "[patterns][parallel_map]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    SECTION("cancelled before the call: no item runs") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      cancel();
      std::atomic<int> calls{0};
      std::error_code code;
      try {
        (void)goro::parallel_map(ctx, iota_vec(5), 2, [&calls](int x) {
          calls.fetch_add(1);
          return x;
        });
      } catch (const std::system_error& e) {
        code = e.code();
      }
      CHECK(code == goro::errc::canceled);
      CHECK(calls.load() == 0);
    }
    SECTION("cancelled in the middle: the running calls see it, the map throws") {
      goro::context ctx;
      goro::cancel_func cancel;
      std::tie(ctx, cancel) = goro::with_cancel(bg());
      std::atomic<int> calls{0}, saw{0};
      goro::go([&calls, cancel] {
        goro_test::eventually([&] { return calls.load() >= 2; });
        cancel();
      });
      std::error_code code;
      try {
        (void)goro::parallel_map(ctx, iota_vec(10), 2, [&](const goro::context& c, int x) {
          calls.fetch_add(1);
          if (await_done(c)) saw.fetch_add(1);
          return x;
        });
      } catch (const std::system_error& e) {
        code = e.code();
      }
      CHECK(code == goro::errc::canceled);
      CHECK(saw.load() == calls.load());
      CHECK(calls.load() < 10);
    }
    SECTION("cancelled while the only slot is busy and one item is left") {
      goro::context ctx;
      goro::cancel_func cancel;
      std::tie(ctx, cancel) = goro::with_cancel(bg());
      std::atomic<int> calls{0};
      goro::go([&calls, cancel] {
        goro_test::eventually([&] { return calls.load() >= 1; });
        cancel();
      });
      std::error_code code;
      bool returned = false;
      try {
        (void)goro::parallel_map(ctx, iota_vec(2), 1, [&calls](int x) {
          calls.fetch_add(1);
          goro::sleep_for(20ms);  // ignores ctx; the caller waits for the slot meanwhile
          return x;
        });
        returned = true;
      } catch (const std::system_error& e) {
        code = e.code();
      }
      CHECK_FALSE(returned);  // item 1 had not run when ctx was done
      CHECK(code == goro::errc::canceled);
      CHECK(calls.load() == 1);
    }
    SECTION("a deadline") {
      auto [ctx, cancel] = goro::with_timeout(bg(), 10ms);
      std::error_code code;
      try {
        (void)goro::parallel_map(ctx, iota_vec(4), 1, [](const goro::context& c, int x) {
          await_done(c);
          return x;
        });
      } catch (const std::system_error& e) {
        code = e.code();
      }
      CHECK(code == goro::errc::deadline_exceeded);
      cancel();
    }
    CHECK(fibers_back_to(base));
  });
}
