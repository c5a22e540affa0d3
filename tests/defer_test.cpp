// tests/defer_test.cpp: goro::defer, the porting helper for Go's defer (API.md, Porting helper).
#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using goro_test::run_test;

namespace {

int free_calls = 0;
void free_function() {
  ++free_calls;
}

}  // namespace

TEST_CASE("defer runs its function at scope exit, not before", "[defer]") {
  int calls = 0;
  {
    auto d = goro::defer([&] { ++calls; });
    CHECK(calls == 0);
  }
  CHECK(calls == 1);

  // A function pointer, and an lvalue callable that is copied (the original stays usable).
  {
    auto d = goro::defer(free_function);
    auto e = goro::defer(&free_function);
  }
  CHECK(free_calls == 2);
  std::function<void()> f = [&] { ++calls; };
  { auto d = goro::defer(f); }
  CHECK(calls == 2);
  REQUIRE(f);
  f();
  CHECK(calls == 3);
}

TEST_CASE("deferred functions of one scope run in reverse order", "[defer]") {
  std::vector<int> order;
  {
    auto a = goro::defer([&] { order.push_back(1); });
    auto b = goro::defer([&] { order.push_back(2); });
    {
      auto inner = goro::defer([&] { order.push_back(0); });  // its own block ends first
    }
    auto c = goro::defer([&] { order.push_back(3); });
  }
  CHECK(order == std::vector<int>{0, 3, 2, 1});
}

TEST_CASE("defer runs while an exception unwinds, before the handler", "[defer]") {
  std::vector<int> order;
  bool ran_before_handler = false;
  try {
    auto a = goro::defer([&] { order.push_back(1); });
    auto b = goro::defer([&] { order.push_back(2); });
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
    ran_before_handler = order.size() == 2;
  }
  CHECK(ran_before_handler);
  CHECK(order == std::vector<int>{2, 1});

  // Through a function boundary, and when the deferred function itself does not throw.
  int calls = 0;
  auto thrower = [&] {
    auto d = goro::defer([&] { ++calls; });
    throw 7;
  };
  CHECK_THROWS_AS(thrower(), int);
  CHECK(calls == 1);
}

TEST_CASE("dismiss() disarms a deferred function", "[defer]") {
  int calls = 0;
  {
    auto d = goro::defer([&] { ++calls; });
    d.dismiss();
    d.dismiss();  // harmless twice
  }
  CHECK(calls == 0);
  try {
    auto d = goro::defer([&] { ++calls; });
    d.dismiss();
    throw 1;
  } catch (int) {
  }
  CHECK(calls == 0);
}

TEST_CASE("a moved-from guard runs nothing; the moved-to guard runs once", "[defer]") {
  int calls = 0;
  {
    auto a = goro::defer([&] { ++calls; });
    {
      auto b = std::move(a);
      CHECK(calls == 0);
    }
    CHECK(calls == 1);  // b ran at the end of its block
  }
  CHECK(calls == 1);  // a, moved from, did nothing

  {
    auto a = goro::defer([&] { ++calls; });
    a.dismiss();
    auto b = std::move(a);  // a dismissed guard moves as dismissed
  }
  CHECK(calls == 1);

  // The callable is moved along, not copied: a move-only capture works.
  auto p = std::make_unique<int>(5);
  int seen = 0;
  {
    auto a = goro::defer([q = std::move(p), &seen] { seen = *q; });
    auto b = std::move(a);
  }
  CHECK(seen == 5);
}

TEST_CASE("defer: the guard type is move-only, its destructor noexcept when the function is", "[defer]") {
  auto nothrow = [] {};
  auto may_throw = [] { throw 1; };
  using G = decltype(goro::defer(nothrow));
  using H = decltype(goro::defer(may_throw));
  STATIC_REQUIRE(std::is_move_constructible_v<G>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<G>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<G>);
  STATIC_REQUIRE(std::is_nothrow_destructible_v<G> == std::is_nothrow_invocable_v<decltype(nothrow)&>);
  STATIC_REQUIRE_FALSE(std::is_nothrow_destructible_v<H>);
  // A throwing deferred function, with no exception in flight, propagates (Go: a deferred
  // call may panic).
  CHECK_THROWS_AS([&] { auto d = goro::defer(may_throw); }(), int);
}

TEST_CASE("defer in fibers: Go's `defer wg.Done()` and `defer cancel()`", "[defer]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    goro::wait_group wg;
    std::atomic<int> done{0};
    const int n = 20;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      goro::go([&wg, &done, i] {
        auto d = goro::defer([&wg] { wg.done(); });
        if (i % 2) {
          done.fetch_add(1);
          return;  // early return: the deferred done() still runs
        }
        goro::yield();
        done.fetch_add(1);
      });
    }
    wg.wait();
    CHECK(done.load() == n);

    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_cancel(goro::context::background());
    {
      auto d = goro::defer(cancel);  // copies the cancel_func
    }
    CHECK(ctx.err() == goro::errc::canceled);
  });
}
