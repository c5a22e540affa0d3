// tests/context_test.cpp: goro::context (API.md, Context and errgroup; Clarifications).
//
// Conventions (as in chan_test.cpp).
//  * Assertions run only in the main fiber of run_test(); other fibers and plain threads
//    record what they saw in atomics.
//  * Timing assertions are one-sided: a deadline never fires early; "not yet" is asserted
//    only where it cannot be wrong (nobody cancelled) or is guarded by the clock.
//  * Freed memory is observed through live_val, a value type with a live-instance counter:
//    a with_value node above or below a cancel node lives exactly as long as that node does.
//  * The structured bindings of with_cancel() are not captured by lambdas (clang 14 cannot);
//    tests that need a context in a lambda use std::tie or init-captures.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using goro_test::eventually;
using goro_test::let_others_run;
using goro_test::run_test;
using goro_test::scaled;
using goro_test::thread_set;

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

const goro::context bg = goro::context::background();

// Counts live instances; a context node that carries one frees it when the node dies.
struct live_val {
  static inline std::atomic<long> live{0};
  int v;
  explicit live_val(int x) noexcept : v(x) { live.fetch_add(1); }
  live_val(const live_val& o) noexcept : v(o.v) { live.fetch_add(1); }
  live_val(live_val&& o) noexcept : v(o.v) { live.fetch_add(1); }
  live_val& operator=(const live_val&) = delete;
  ~live_val() { live.fetch_sub(1); }
};

long live() {
  return live_val::live.load();
}

std::int64_t live_timers() {
  return goro::detail::live_timer_count().load();
}

// A receive on `ch` is ready now. done() channels never carry values, so for them this
// means "closed". A nil channel is never ready.
bool closed(const goro::recv_chan<goro::unit>& ch) {
  return goro::select(goro::case_recv(ch), goro::case_default()) == 0;
}

bool ok(const goro::context& c) {
  return !c.err();
}

// Channel identity and nil-ness, outside Catch's expression decomposition: Catch prints the
// operands of a failed CHECK(a == b) or CHECK(ch) on recv_chans as ranges, i.e. it receives
// from them (and blocks).
bool same(const goro::recv_chan<goro::unit>& a, const goro::recv_chan<goro::unit>& b) {
  return a == b;
}

bool is_nil(const goro::recv_chan<goro::unit>& ch) {
  return !ch;
}

// Waits for c.done() from a fiber or a plain thread; false after `limit`, so that a broken
// cancellation fails the test instead of hanging it.
bool await_done(const goro::context& c, std::chrono::seconds limit = 10s) {
  return goro::select(goro::case_recv(c.done()), goro::case_recv(goro::after(limit))) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Errors and background
// ---------------------------------------------------------------------------------------

TEST_CASE("context errors: category goro.context, Go's messages, an error_code enum", "[context]") {
  STATIC_REQUIRE(std::is_error_code_enum<goro::errc>::value);
  STATIC_REQUIRE(std::is_error_code_enum_v<goro::errc>);
  STATIC_REQUIRE(static_cast<int>(goro::errc::canceled) == 1);

  std::error_code canceled = goro::errc::canceled;  // implicit: is_error_code_enum
  std::error_code exceeded = goro::make_error_code(goro::errc::deadline_exceeded);
  CHECK(std::string(canceled.category().name()) == "goro.context");
  CHECK(&canceled.category() == &goro::context_category());
  CHECK(&exceeded.category() == &goro::context_category());
  CHECK(canceled.message() == "context canceled");
  CHECK(exceeded.message() == "context deadline exceeded");
  CHECK(canceled.value() == 1);
  CHECK(exceeded.value() == 2);
  CHECK(static_cast<bool>(canceled));

  CHECK(canceled == goro::errc::canceled);
  CHECK(exceeded == goro::errc::deadline_exceeded);
  CHECK(canceled != goro::errc::deadline_exceeded);
  CHECK(exceeded != goro::errc::canceled);
  CHECK(std::error_code{} != goro::errc::canceled);
  // Same value, other category: not equal.
  CHECK(canceled != std::error_code(1, std::generic_category()));
  CHECK(canceled != std::error_code(1, std::system_category()));

  std::system_error se(canceled);
  CHECK(se.code() == goro::errc::canceled);
  CHECK(std::string(se.what()).find("context canceled") != std::string::npos);
}

TEST_CASE("background: nil done(), no error, no deadline, no values", "[context]") {
  goro::context c = goro::context::background();
  goro::context d;  // default-constructed: background too
  const goro::context* backgrounds[] = {&c, &d, &bg};
  for (const goro::context* x : backgrounds) {
    CHECK(is_nil(x->done()));
    CHECK(same(x->done(), goro::recv_chan<goro::unit>()));
    CHECK(x->err() == std::error_code{});
    CHECK_FALSE(x->deadline().has_value());
    CHECK(x->value<int>("k") == nullptr);
  }
  // A value over background cannot be cancelled either.
  goro::context v = goro::with_value(bg, "k", 1);
  CHECK(is_nil(v.done()));
  CHECK_FALSE(v.err());
  CHECK_FALSE(v.deadline());
  run_test(1, [] {
    // A nil done() never fires: default wins, as does any other ready case.
    CHECK(goro::select(goro::case_recv(bg.done()), goro::case_default()) == 1);
    CHECK(goro::select(goro::case_recv(bg.done()), goro::case_recv(goro::after(1ms))) == 1);
  });
}

// ---------------------------------------------------------------------------------------
// with_cancel
// ---------------------------------------------------------------------------------------

TEST_CASE("with_cancel: done() is closed once, err() becomes canceled, cancel is idempotent", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_cancel(bg);
    REQUIRE_FALSE(is_nil(ctx.done()));
    CHECK(same(ctx.done(), ctx.done()));  // one channel
    CHECK_FALSE(closed(ctx.done()));
    CHECK(ctx.err() == std::error_code{});
    CHECK_FALSE(ctx.deadline());

    const int n = 8;
    std::atomic<int> woke{0}, got_value{0};
    for (int i = 0; i < n; ++i) {
      goro::go([done = ctx.done(), &woke, &got_value] {
        if (done.recv().has_value()) got_value.fetch_add(1);  // closed: nullopt
        woke.fetch_add(1);
      });
    }
    let_others_run();
    CHECK(woke.load() == 0);  // nobody cancelled
    CHECK(ok(ctx));

    cancel();
    // cancel() returns with the state already visible.
    CHECK(ctx.err() == goro::errc::canceled);
    CHECK(closed(ctx.done()));
    REQUIRE(eventually([&] { return woke.load() == n; }));
    CHECK(got_value.load() == 0);

    // Idempotent: a second close of done() would throw inside the noexcept cancel.
    cancel();
    goro::cancel_func copy = cancel;
    copy();
    CHECK(ctx.err() == goro::errc::canceled);
    goro::context alias = ctx;
    CHECK(alias.err() == goro::errc::canceled);
    CHECK(same(alias.done(), ctx.done()));
    CHECK(closed(alias.done()));  // ready at once
    CHECK_FALSE(alias.done().recv().has_value());

    // done() asked for the first time after cancellation: created closed.
    goro::context late;
    goro::cancel_func late_cancel;
    std::tie(late, late_cancel) = goro::with_cancel(bg);
    late_cancel();
    CHECK(late.err() == goro::errc::canceled);
    REQUIRE_FALSE(is_nil(late.done()));
    CHECK(closed(late.done()));
  });
}

TEST_CASE("cancel may be called concurrently from many fibers and plain threads", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const long rounds = scaled(100);
    long bad_rounds = 0;
    for (long r = 0; r < rounds; ++r) {
      goro::context root, kid;
      goro::cancel_func cancel_root, cancel_kid;
      std::tie(root, cancel_root) = goro::with_cancel(bg);
      std::tie(kid, cancel_kid) = goro::with_cancel(goro::with_value(root, "k", 1));
      // Nobody has asked for done() yet: the waiters create it while others cancel.
      std::atomic<bool> start{false};
      std::atomic<int> woke{0}, wrong{0};
      goro::wait_group wg;
      for (int i = 0; i < 4; ++i) {
        wg.go([&, i] {
          while (!start.load()) goro::yield();
          if (i % 2 == 0) {
            (i % 4 == 0 ? cancel_root : cancel_kid)();
            goro::cancel_func copy = cancel_root;  // copying while others call it
            copy();
          } else {
            const goro::context& c = i % 4 == 1 ? root : kid;
            // Bounded: a done() that is never closed fails the round instead of hanging.
            if (!await_done(c, 5s) || c.done().recv().has_value()) wrong.fetch_add(1);
            woke.fetch_add(1);
          }
        });
      }
      thread_set threads;
      for (int t = 0; t < 2; ++t) {
        threads.start([&, t] {
          while (!start.load()) std::this_thread::yield();
          if (t == 0) {
            cancel_kid();
            cancel_root();
          } else {
            if (!await_done(kid, 5s) || kid.done().recv().has_value()) wrong.fetch_add(1);
            woke.fetch_add(1);
          }
        });
      }
      start.store(true);
      wg.wait();
      threads.join();
      if (woke.load() != 3 || wrong.load() != 0 || root.err() != goro::errc::canceled ||
          kid.err() != goro::errc::canceled || !closed(root.done()) || !closed(kid.done())) {
        ++bad_rounds;
        break;
      }
    }
    CHECK(bad_rounds == 0);
  });
}

TEST_CASE("a cancel_func may outlive every handle to its context", "[context]") {
  run_test(2, [] {
    REQUIRE(live() == 0);
    const auto timers0 = live_timers();
    goro::cancel_func cf;
    {
      auto p = goro::with_cancel(goro::with_value(bg, "k", live_val(1)));
      cf = p.second;
    }
    CHECK(live() == 1);  // the cancel_func holds the node, the node its parent
    cf();
    cf();
    CHECK(live() == 1);
    cf = nullptr;
    CHECK(live() == 0);

    // Deadline: cancelling stops the timer, which held the node too.
    {
      auto p = goro::with_timeout(goro::with_value(bg, "k", live_val(2)), 1h);
      cf = std::move(p.second);
    }
    CHECK(live() == 1);
    CHECK(live_timers() == timers0 + 1);
    cf();
    cf = nullptr;
    CHECK(live() == 0);
    CHECK(eventually([&] { return live_timers() == timers0; }));

    // Called from a plain thread after the context is gone.
    {
      auto p = goro::with_cancel(goro::with_value(bg, "k", live_val(3)));
      cf = p.second;
    }
    std::thread([cf] { cf(); }).join();
    cf = nullptr;
    CHECK(live() == 0);
  });
}

// ---------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------

TEST_CASE("cancelling a parent cancels every descendant", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const auto timers0 = live_timers();
    goro::context root;
    goro::cancel_func cancel_root;
    std::tie(root, cancel_root) = goro::with_cancel(bg);

    std::vector<goro::context> all;
    std::vector<goro::cancel_func> cancels;
    auto keep = [&](std::pair<goro::context, goro::cancel_func> p) {
      all.push_back(p.first);
      cancels.push_back(std::move(p.second));
      return std::move(p.first);
    };
    auto keep_value = [&](const goro::context& parent, const char* key) {
      all.push_back(goro::with_value(parent, key, 1));
      return all.back();
    };
    goro::context c1 = keep(goro::with_cancel(root));
    goro::context v1 = keep_value(root, "v1");
    goro::context t1 = keep(goro::with_timeout(root, 1h));
    goro::context d1 = keep(goro::with_deadline(root, clk::now() + 2h));
    // Grandchildren: some register with root through a value node.
    goro::context c1c = keep(goro::with_cancel(c1));
    keep_value(c1, "v2");
    goro::context v1c = keep(goro::with_cancel(v1));
    keep(goro::with_timeout(v1, 30min));
    goro::context t1c = keep(goro::with_cancel(t1));
    keep(goro::with_timeout(t1, 10min));  // earlier than t1's own deadline: a timer of its own
    keep(goro::with_cancel(d1));
    // Deeper.
    goro::context deep = keep_value(c1c, "v3");
    for (int i = 0; i < 5; ++i) deep = keep(i % 2 ? goro::with_cancel(deep) : goro::with_timeout(deep, 1h));
    keep(goro::with_cancel(goro::with_value(v1c, "v4", 4)));
    keep_value(t1c, "v5");

    CHECK(same(v1.done(), root.done()));  // a value node has its canceller's done()
    std::atomic<int> woke{0};
    for (const auto& c : all) {
      REQUIRE_FALSE(is_nil(c.done()));
      goro::go([done = c.done(), &woke] {
        done.recv();
        woke.fetch_add(1);
      });
    }
    let_others_run();
    CHECK(woke.load() == 0);
    CHECK(std::all_of(all.begin(), all.end(), ok));

    cancel_root();
    // Synchronous: every descendant is cancelled when cancel returns.
    int not_canceled = 0, not_closed = 0;
    for (const auto& c : all) {
      if (c.err() != goro::errc::canceled) ++not_canceled;  // the parent's cause, not a deadline
      if (!closed(c.done())) ++not_closed;
    }
    CHECK(not_canceled == 0);
    CHECK(not_closed == 0);
    REQUIRE(eventually([&] { return woke.load() == static_cast<int>(all.size()); }));

    for (auto& f : cancels) f();  // idempotent, the error stays
    CHECK(std::all_of(all.begin(), all.end(),
                      [](const goro::context& c) { return c.err() == goro::errc::canceled; }));
    // Every deadline timer was stopped by the cancellation.
    CHECK(eventually([&] { return live_timers() == timers0; }));
  });
}

TEST_CASE("cancelling a child affects neither its parent nor its siblings", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::context root, a, b, a1, b1;
    goro::cancel_func cancel_root, cancel_a, cancel_b, cancel_a1, cancel_b1;
    std::tie(root, cancel_root) = goro::with_cancel(bg);
    std::tie(a, cancel_a) = goro::with_cancel(root);
    std::tie(b, cancel_b) = goro::with_timeout(goro::with_value(root, "k", 1), 1h);
    goro::context c = goro::with_value(root, "c", 2);
    std::tie(a1, cancel_a1) = goro::with_cancel(a);
    goro::context a2 = goro::with_value(a, "a2", 3);
    std::tie(b1, cancel_b1) = goro::with_cancel(b);

    std::atomic<int> woke_root{0}, woke_b{0};
    goro::go([done = root.done(), &woke_root] {
      done.recv();
      woke_root.fetch_add(1);
    });
    goro::go([done = b1.done(), &woke_b] {
      done.recv();
      woke_b.fetch_add(1);
    });

    cancel_a();
    CHECK(a.err() == goro::errc::canceled);
    CHECK(a1.err() == goro::errc::canceled);
    CHECK(a2.err() == goro::errc::canceled);
    CHECK(closed(a1.done()));
    CHECK(ok(root));
    CHECK(ok(b));
    CHECK(ok(b1));
    CHECK(ok(c));
    CHECK_FALSE(closed(root.done()));
    CHECK_FALSE(closed(b.done()));

    cancel_b1();  // a leaf
    CHECK(b1.err() == goro::errc::canceled);
    CHECK(ok(b));
    CHECK(ok(root));
    REQUIRE(eventually([&] { return woke_b.load() == 1; }));
    cancel_b();
    CHECK(b.err() == goro::errc::canceled);
    let_others_run();
    CHECK(woke_root.load() == 0);
    CHECK(ok(root));
    CHECK(ok(c));

    cancel_root();
    CHECK(c.err() == goro::errc::canceled);
    REQUIRE(eventually([&] { return woke_root.load() == 1; }));
    // Children cancelled earlier keep their state.
    CHECK(a.err() == goro::errc::canceled);
    cancel_a1();
  });
}

TEST_CASE("a tree of depth 1000: a leaf's cancel is local, a middle node's reaches below, the root's all",
          "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const int depth = 1000;
    std::vector<goro::context> spine;  // spine[i] is the child of spine[i - 1]
    std::vector<goro::cancel_func> spine_cancel;
    std::vector<goro::context> side;  // side[i]: a leaf hanging off spine[i]
    std::vector<goro::cancel_func> side_cancel;
    goro::context parent = bg;
    for (int i = 0; i < depth; ++i) {
      std::pair<goro::context, goro::cancel_func> p;
      if (i % 3 == 1) {
        p = goro::with_cancel(goro::with_value(parent, "level", i));
      } else if (i % 3 == 2) {
        p = goro::with_timeout(parent, 1h + std::chrono::seconds(i));
      } else {
        p = goro::with_cancel(parent);
      }
      spine.push_back(p.first);
      spine_cancel.push_back(std::move(p.second));
      parent = spine.back();
      auto s = goro::with_cancel(parent);
      side.push_back(s.first);
      side_cancel.push_back(std::move(s.second));
    }
    CHECK(*spine.back().value<int>("level") == 997);
    CHECK(spine.back().deadline() == spine[2].deadline());  // the earliest deadline on the path

    auto count_canceled = [](const std::vector<goro::context>& v, int from, int to) {
      int n = 0;
      for (int i = from; i < to; ++i) n += v[i].err() == goro::errc::canceled;
      return n;
    };

    // The leaf of the spine, then a side leaf: only themselves.
    spine_cancel[depth - 1]();
    CHECK(spine[depth - 1].err() == goro::errc::canceled);
    CHECK(count_canceled(spine, 0, depth - 1) == 0);
    CHECK(count_canceled(side, 0, depth - 1) == 0);
    CHECK(side[depth - 1].err() == goro::errc::canceled);  // a child of the cancelled leaf
    side_cancel[10]();
    CHECK(side[10].err() == goro::errc::canceled);
    CHECK(count_canceled(spine, 0, depth - 1) == 0);
    CHECK(count_canceled(side, 0, depth - 1) == 1);

    // A middle node: everything below it.
    std::atomic<int> woke_above{0}, woke_below{0};
    goro::go([done = spine[499].done(), &woke_above] {
      done.recv();
      woke_above.fetch_add(1);
    });
    goro::go([done = spine[900].done(), &woke_below] {
      done.recv();
      woke_below.fetch_add(1);
    });
    spine_cancel[500]();
    CHECK(count_canceled(spine, 0, 500) == 0);
    CHECK(count_canceled(spine, 500, depth) == depth - 500);
    CHECK(count_canceled(side, 0, 500) == 1);
    CHECK(count_canceled(side, 500, depth) == depth - 500);
    REQUIRE(eventually([&] { return woke_below.load() == 1; }));
    let_others_run();
    CHECK(woke_above.load() == 0);

    // The root: all.
    spine_cancel[0]();
    CHECK(count_canceled(spine, 0, depth) == depth);
    CHECK(count_canceled(side, 0, depth) == depth);
    REQUIRE(eventually([&] { return woke_above.load() == 1; }));
  });
}

TEST_CASE("a chain of 100000 contexts is cancelled and destroyed without deep recursion", "[context]") {
  // Runs in a fiber (256 KiB stack): recursion over the chain would overflow it.
  run_test(2, [] {
    const int n = 100000;  // not scaled: the depth is the point
    REQUIRE(live() == 0);

    // Destroyed without cancel: only the last handle holds the chain.
    {
      goro::context c = bg;
      for (int i = 0; i < n; ++i) {
        if (i % 10 == 0) {
          c = goro::with_value(c, "k", live_val(i));
        } else {
          c = goro::with_cancel(c).first;  // the cancel_func is dropped at once
        }
      }
      CHECK(live() == n / 10);
      CHECK(c.value<live_val>("k")->v == n - 10);
      CHECK(c.value<live_val>("nope") == nullptr);  // walks the whole chain
      c = goro::context();
      CHECK(live() == 0);
    }

    // Cancelled from the root, then destroyed while the root lives.
    {
      goro::context root;
      goro::cancel_func cancel_root;
      std::tie(root, cancel_root) = goro::with_cancel(bg);
      goro::context c = root;
      for (int i = 0; i < n; ++i) {
        if (i % 10 == 0) {
          c = goro::with_value(c, "k", live_val(i));
        } else {
          c = goro::with_cancel(c).first;
        }
      }
      auto done = c.done();
      CHECK_FALSE(closed(done));
      cancel_root();
      CHECK(c.err() == goro::errc::canceled);
      CHECK(closed(done));
      done = {};
      c = goro::context();
      CHECK(live() == 0);
      CHECK(root.err() == goro::errc::canceled);
    }

    // Cancelled from the leaf: the rest of the chain is untouched.
    {
      goro::context c = bg;
      goro::cancel_func cancel_leaf;
      std::vector<goro::cancel_func> keep;
      keep.reserve(n);
      for (int i = 0; i < n; ++i) {
        auto p = goro::with_cancel(c);
        c = std::move(p.first);
        keep.push_back(std::move(p.second));
      }
      keep.back()();
      CHECK(c.err() == goro::errc::canceled);
      keep.front()();  // 10^5 - 1 descendants still linked
      CHECK(c.err() == goro::errc::canceled);
      keep.clear();
      c = goro::context();
    }
  });
}

TEST_CASE("a cancelled child is released at once while its parent lives on", "[context]") {
  run_test(2, [] {
    REQUIRE(live() == 0);
    const auto timers0 = live_timers();
    goro::context parent;
    goro::cancel_func cancel_parent;
    std::tie(parent, cancel_parent) = goro::with_cancel(bg);
    const long n = scaled(100000);
    long most = 0, wrong = 0;
    for (long i = 0; i < n; ++i) {
      // The child owns a value above it and one below it.
      auto [c, cancel] = goro::with_cancel(goro::with_value(parent, "up", live_val(1)));
      goro::context leaf = goro::with_value(c, "down", live_val(2));
      if (i % 10 == 0) {
        // A deadline child under it: its timer must go with the cancellation.
        auto [t, cancel_t] = goro::with_timeout(goro::with_value(leaf, "t", live_val(3)), 1h);
        if (i % 20 == 0) cancel_t();
        cancel();
        wrong += t.err() != goro::errc::canceled;
      } else {
        cancel();
      }
      wrong += c.err() != goro::errc::canceled;
      wrong += leaf.value<live_val>("up")->v != 1;  // values outlive cancellation while held
      most = std::max(most, live());
    }
    CHECK(wrong == 0);
    CHECK(most <= 3);
    CHECK(live() == 0);  // nothing held by the parent
    CHECK(eventually([&] { return live_timers() == timers0; }));
    CHECK(ok(parent));  // children never cancel their parent
    cancel_parent();
  });
}

TEST_CASE("a child dropped without cancel is freed while its parent lives on", "[context]") {
  run_test(2, [] {
    REQUIRE(live() == 0);
    goro::context parent;
    goro::cancel_func cancel_parent;
    std::tie(parent, cancel_parent) = goro::with_cancel(bg);
    const long n = scaled(100000);
    for (long i = 0; i < n; ++i) {
      auto [c, cancel] = goro::with_cancel(goro::with_value(parent, "up", live_val(1)));
      goro::context grandchild = goro::with_value(goro::with_cancel(c).first, "down", live_val(2));
      (void)grandchild;
    }  // handles and cancel_funcs dropped, nothing cancelled
    CHECK(live() == 0);
    CHECK(ok(parent));
    // The parent still cancels the children it has.
    goro::context kept;
    goro::cancel_func cancel_kept;
    std::tie(kept, cancel_kept) = goro::with_cancel(goro::with_value(parent, "k", live_val(3)));
    cancel_parent();
    CHECK(kept.err() == goro::errc::canceled);
    kept = goro::context();
    CHECK(live() == 1);  // cancel_kept holds it
    cancel_kept = nullptr;
    CHECK(live() == 0);
  });
}

TEST_CASE("children created and dropped while their parent is being cancelled", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    REQUIRE(live() == 0);
    const long rounds = scaled(40);
    long wrong_total = 0;
    for (long r = 0; r < rounds; ++r) {
      goro::context parent;
      goro::cancel_func cancel_parent;
      std::tie(parent, cancel_parent) = goro::with_cancel(bg);
      std::atomic<long> wrong{0};
      std::atomic<bool> cancel_returned{false};
      goro::wait_group wg;
      auto body = [&](int seed) {
        std::vector<goro::context> kept;
        for (int i = 0; i < 200; ++i) {
          auto p = (i + seed) % 3 == 0 ? goro::with_cancel(goro::with_value(parent, "k", live_val(i)))
                                       : goro::with_cancel(parent);
          if (i % 2 == 0) {
            kept.push_back(std::move(p.first));
          } else if (i % 4 == 1) {
            p.second();
          }  // else: dropped without cancel
          if (i % 50 == 0) goro::yield();
        }
        // Once cancel_parent() has returned, every child is cancelled: linked ones by the
        // cancellation, later ones at birth. (parent.err() alone is set before the
        // descendants are processed.)
        while (!cancel_returned.load()) goro::yield();
        for (const auto& k : kept) {
          if (k.err() != goro::errc::canceled) wrong.fetch_add(1);
          if (!closed(k.done())) wrong.fetch_add(1);
        }
      };
      for (int f = 0; f < 3; ++f) wg.go([&body, f] { body(f); });
      thread_set threads;
      threads.start([&body] { body(7); });
      for (int i = 0; i < static_cast<int>(r % 5); ++i) goro::yield();
      cancel_parent();
      cancel_returned.store(true);
      wg.wait();
      threads.join();
      wrong_total += wrong.load();
    }
    CHECK(wrong_total == 0);
    CHECK(live() == 0);
  });
}

// ---------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------

TEST_CASE("with_timeout fires: done() closes, err() is deadline_exceeded, never early", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    const auto timers0 = live_timers();
    auto before = clk::now();
    goro::context ctx, child;
    goro::cancel_func cancel, cancel_child;
    std::tie(ctx, cancel) = goro::with_timeout(bg, 30ms);
    auto after = clk::now();
    REQUIRE(ctx.deadline());
    const auto dl = *ctx.deadline();
    CHECK(dl >= before + 30ms);
    CHECK(dl <= after + 30ms);
    std::tie(child, cancel_child) = goro::with_cancel(ctx);
    CHECK(child.deadline() == ctx.deadline());
    CHECK(goro::with_value(ctx, "k", 1).deadline() == ctx.deadline());

    std::atomic<int> woke{0}, early{0};
    goro::go([done = ctx.done(), dl, &woke, &early] {
      done.recv();
      if (clk::now() < dl) early.fetch_add(1);
      woke.fetch_add(1);
    });
    thread_set threads;
    threads.start([done = child.done(), dl, &woke, &early] {
      done.recv();
      if (clk::now() < dl) early.fetch_add(1);
      woke.fetch_add(1);
    });
    CHECK((ok(ctx) || clk::now() >= dl));

    REQUIRE(await_done(ctx));
    CHECK_FALSE(ctx.done().recv().has_value());
    CHECK(clk::now() >= dl);
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
    // The cause propagates. The timer's fiber cancels the child right after the parent (as
    // in Go, not atomically with it): only cancel() returning guarantees the whole subtree.
    CHECK(eventually([&] { return child.err() == goro::errc::deadline_exceeded; }));
    CHECK(closed(child.done()));
    REQUIRE(eventually([&] { return woke.load() == 2; }));
    threads.join();
    CHECK(early.load() == 0);

    cancel();  // after the deadline: no change
    cancel_child();
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
    CHECK(child.err() == goro::errc::deadline_exceeded);
    CHECK(eventually([&] { return live_timers() == timers0; }));

    // with_deadline keeps the exact time point.
    auto t = clk::now() + 20ms;
    auto [d, cancel_d] = goro::with_deadline(bg, t);
    CHECK(d.deadline() == t);
    REQUIRE(await_done(d));
    CHECK(clk::now() >= t);
    CHECK(d.err() == goro::errc::deadline_exceeded);
  });
}

TEST_CASE("a child's deadline is the earlier of its own and its parent's", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::context parent, early, late, late_d, plain;
    goro::cancel_func cancel_parent, cancel_early, cancel_late, cancel_late_d, cancel_plain;
    std::tie(parent, cancel_parent) = goro::with_timeout(bg, 200ms);
    const auto pdl = *parent.deadline();
    std::tie(early, cancel_early) = goro::with_timeout(goro::with_value(parent, "k", 1), 20ms);
    std::tie(late, cancel_late) = goro::with_timeout(parent, 1h);
    std::tie(late_d, cancel_late_d) = goro::with_deadline(parent, pdl + 1ns);
    std::tie(plain, cancel_plain) = goro::with_cancel(parent);
    REQUIRE(early.deadline());
    CHECK(*early.deadline() < pdl);
    CHECK(late.deadline() == pdl);
    CHECK(late_d.deadline() == pdl);
    CHECK(plain.deadline() == pdl);

    // The early child fires on its own.
    REQUIRE(await_done(early));
    CHECK(clk::now() >= *early.deadline());
    CHECK(early.err() == goro::errc::deadline_exceeded);
    CHECK((ok(parent) || clk::now() >= pdl));
    CHECK((ok(late) || clk::now() >= pdl));

    // The late ones fire with their parent, not after their own deadline.
    REQUIRE(await_done(late));
    CHECK(clk::now() >= pdl);
    CHECK(late.err() == goro::errc::deadline_exceeded);
    CHECK(parent.err() == goro::errc::deadline_exceeded);
    // Siblings are cancelled one after the other by the parent's timer fiber.
    CHECK(eventually([&] { return late_d.err() == goro::errc::deadline_exceeded; }));
    CHECK(eventually([&] { return plain.err() == goro::errc::deadline_exceeded; }));
    cancel_parent();
    cancel_early();
    cancel_late();
    cancel_late_d();
    cancel_plain();
  });
}

TEST_CASE("with_deadline in the past and with_timeout(<= 0) are cancelled at once", "[context]") {
  run_test(2, [] {
    const auto timers0 = live_timers();
    const auto t = clk::now() - 1s;
    auto [a, cancel_a] = goro::with_deadline(bg, t);
    CHECK(a.err() == goro::errc::deadline_exceeded);
    CHECK(closed(a.done()));
    CHECK(a.deadline() == t);
    cancel_a();
    CHECK(a.err() == goro::errc::deadline_exceeded);

    auto [b, cancel_b] = goro::with_timeout(bg, 0ns);
    CHECK(b.err() == goro::errc::deadline_exceeded);
    auto [c, cancel_c] = goro::with_timeout(bg, -5s);
    CHECK(c.err() == goro::errc::deadline_exceeded);
    CHECK(closed(c.done()));

    // Under a live parent: the parent is untouched.
    goro::context parent;
    goro::cancel_func cancel_parent;
    std::tie(parent, cancel_parent) = goro::with_cancel(bg);
    auto [d, cancel_d] = goro::with_deadline(goro::with_value(parent, "k", 1), t);
    CHECK(d.err() == goro::errc::deadline_exceeded);
    CHECK(*d.value<int>("k") == 1);
    CHECK(ok(parent));
    CHECK(live_timers() == timers0);  // nothing to arm
    cancel_b();
    cancel_c();
    cancel_d();
    cancel_parent();
  });
}

TEST_CASE("far-future deadlines mean never, not an overflow into the past", "[context]") {
  run_test(1, [] {
    auto bg = goro::context::background();
    auto [a, cancel_a] = goro::with_timeout(bg, std::chrono::nanoseconds::max());
    auto [b, cancel_b] = goro::with_deadline(bg, clk::time_point::max());
    auto [c, cancel_c] = goro::with_timeout(bg, std::chrono::hours(24 * 365 * 200));
    goro::sleep_for(20ms);
    CHECK_FALSE(a.err());
    CHECK_FALSE(b.err());
    CHECK_FALSE(c.err());
    CHECK_FALSE(a.deadline().has_value());  // saturated to "no deadline"
    CHECK_FALSE(b.deadline().has_value());
    REQUIRE(c.deadline().has_value());
    CHECK(*c.deadline() > clk::now() + std::chrono::hours(24 * 365 * 100));
    cancel_a();
    cancel_b();
    cancel_c();
    CHECK(a.err() == goro::errc::canceled);
    CHECK(b.err() == goro::errc::canceled);
    CHECK(c.err() == goro::errc::canceled);
  });
}

TEST_CASE("a child of a cancelled parent is born cancelled with the parent's error", "[context]") {
  run_test(2, [] {
    const auto timers0 = live_timers();
    auto [p, cancel_p] = goro::with_cancel(bg);
    cancel_p();
    auto [c1, cancel_c1] = goro::with_cancel(p);
    auto [c2, cancel_c2] = goro::with_timeout(p, 1h);
    auto [c3, cancel_c3] = goro::with_deadline(p, clk::now() - 1s);  // the parent's cause wins
    goro::context v = goro::with_value(p, "k", 1);
    auto [c4, cancel_c4] = goro::with_cancel(v);
    for (const goro::context* c : {&c1, &c2, &c3, &v, &c4}) {
      CHECK(c->err() == goro::errc::canceled);
      CHECK(closed(c->done()));
    }
    CHECK(live_timers() == timers0);  // no timer for a child born cancelled

    auto [q, cancel_q] = goro::with_timeout(bg, -1ms);
    auto [d1, cancel_d1] = goro::with_cancel(q);
    auto [d2, cancel_d2] = goro::with_timeout(goro::with_value(q, "k", 2), 1h);
    CHECK(d1.err() == goro::errc::deadline_exceeded);
    CHECK(d2.err() == goro::errc::deadline_exceeded);
    CHECK(closed(d2.done()));
    CHECK(d2.deadline() == q.deadline());
    for (auto* f : {&cancel_c1, &cancel_c2, &cancel_c3, &cancel_c4, &cancel_q, &cancel_d1, &cancel_d2})
      (*f)();
  });
}

TEST_CASE("a deadline context dropped without cancel lives until its deadline, then is freed", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    REQUIRE(live() == 0);
    const auto timers0 = live_timers();
    goro::context parent;
    goro::cancel_func cancel_parent;
    std::tie(parent, cancel_parent) = goro::with_cancel(bg);
    const int n = 50;
    const auto start = clk::now();
    const auto d = 40ms;
    for (int i = 0; i < n; ++i) {
      auto p = goro::with_timeout(goro::with_value(parent, "k", live_val(i)),
                                  d + std::chrono::microseconds(i * 100));
      goro::context leaf = goro::with_value(p.first, "leaf", live_val(i));
      if (i % 2) (void)leaf.done();  // some with a done channel
    }  // every handle and cancel_func dropped: the pending timers hold the nodes
    // The leaves went with their last handle; the timers hold the rest until the deadline.
    CHECK((live() == n || clk::now() >= start + d));
    REQUIRE(eventually([&] { return live() == 0; }));  // the rest when the timers fired
    CHECK(clk::now() >= start + d);
    CHECK(eventually([&] { return live_timers() == timers0; }));
    CHECK(ok(parent));
    cancel_parent();
  });
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

TEST_CASE("value lookup walks the chain: nearest key wins, wrong type or absent key gives nullptr",
          "[context]") {
  run_test(1, [] {
    goro::context v1 = goro::with_value(bg, "a", 1);
    goro::context v2 = goro::with_value(v1, "b", std::string("bee"));
    auto [c, cancel] = goro::with_cancel(v2);
    goro::context v3 = goro::with_value(c, "a", 2);
    auto [t, cancel_t] = goro::with_timeout(v3, 1h);

    REQUIRE(t.value<int>("a") != nullptr);
    CHECK(*t.value<int>("a") == 2);  // nearest
    CHECK(*v3.value<int>("a") == 2);
    CHECK(*v2.value<int>("a") == 1);  // parents are immutable
    CHECK(*v1.value<int>("a") == 1);
    REQUIRE(t.value<std::string>("b") != nullptr);
    CHECK(*t.value<std::string>("b") == "bee");  // through cancel and deadline nodes
    CHECK(*c.value<std::string>("b") == "bee");
    CHECK(t.value<long>("a") == nullptr);  // wrong type
    CHECK(t.value<const char*>("b") == nullptr);
    CHECK(t.value<int>("zzz") == nullptr);  // absent
    CHECK(t.value<int>("") == nullptr);
    CHECK(v1.value<std::string>("b") == nullptr);    // a child's value is not the parent's
    CHECK(t.value<int>("a") == v3.value<int>("a"));  // the same object, not a copy
    goro::context copy = t;
    CHECK(copy.value<int>("a") == t.value<int>("a"));

    // A nearer key of another type hides the farther ones.
    goro::context hide = goro::with_value(t, "a", std::string("str"));
    CHECK(hide.value<int>("a") == nullptr);
    CHECK(*hide.value<std::string>("a") == "str");

    // The key is copied; the empty key is a key; move-only values work.
    std::string key = "dynamic";
    goro::context dyn = goro::with_value(hide, key, std::make_unique<int>(5));
    key = "changed";
    REQUIRE(dyn.value<std::unique_ptr<int>>("dynamic") != nullptr);
    CHECK(**dyn.value<std::unique_ptr<int>>("dynamic") == 5);
    CHECK(dyn.value<std::unique_ptr<int>>("changed") == nullptr);
    goro::context empty = goro::with_value(dyn, "", 9);
    CHECK(*empty.value<int>("") == 9);
    CHECK(*empty.value<std::string>("a") == "str");
    // Values survive cancellation.
    cancel();
    CHECK(*t.value<int>("a") == 2);
    CHECK(*t.value<std::string>("b") == "bee");
    cancel_t();
  });
}

// ---------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------

TEST_CASE("select on ctx.done() ends a worker loop", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_cancel(bg);
    auto ch = goro::make_chan<int>();
    std::atomic<int> got{0};
    std::atomic<bool> stopped{false};
    goro::go([ch, ctx, &got, &stopped] {
      for (bool run = true; run;) {
        goro::select(goro::case_recv(ch,
                                     [&](std::optional<int> v) {
                                       if (v) got.fetch_add(*v);
                                     }),
                     goro::case_recv(ctx.done(), [&] { run = false; }));
      }
      stopped.store(true);
    });
    for (int i = 0; i < 100; ++i) ch.send(1);
    REQUIRE(eventually([&] { return got.load() == 100; }));
    let_others_run();
    CHECK_FALSE(stopped.load());
    cancel();
    REQUIRE(eventually([&] { return stopped.load(); }));

    // A timeout's done() against a longer after(), from the main fiber.
    auto [t, cancel_t] = goro::with_timeout(bg, 10ms);
    std::size_t i = goro::select(goro::case_recv(goro::after(1h)), goro::case_recv(t.done()));
    CHECK(i == 1);
    CHECK(t.err() == goro::errc::deadline_exceeded);
    cancel_t();
    // Already cancelled: ready at once, beats default.
    CHECK(goro::select(goro::case_recv(ctx.done()), goro::case_default()) == 0);
  });
}

TEST_CASE("plain threads wait on ctx.done()", "[context]") {
  const unsigned procs = GENERATE(1u, 2u, 4u);
  run_test(procs, [] {
    goro::context ctx, tctx;
    goro::cancel_func cancel, cancel_t;
    std::tie(ctx, cancel) = goro::with_cancel(bg);
    std::tie(tctx, cancel_t) = goro::with_timeout(goro::with_value(bg, "k", 1), 30ms);
    std::atomic<int> woke{0}, woke_t{0}, wrong{0};
    thread_set threads;
    for (int i = 0; i < 3; ++i) {
      threads.start([ctx, &woke, &wrong] {
        if (ctx.done().recv().has_value()) wrong.fetch_add(1);
        if (ctx.err() != goro::errc::canceled) wrong.fetch_add(1);
        woke.fetch_add(1);
      });
    }
    for (int i = 0; i < 2; ++i) {
      threads.start([tctx, &woke_t, &wrong] {
        goro::select(goro::case_recv(tctx.done()));  // select from a plain thread too
        if (clk::now() < *tctx.deadline()) wrong.fetch_add(1);
        if (tctx.err() != goro::errc::deadline_exceeded) wrong.fetch_add(1);
        woke_t.fetch_add(1);
      });
    }
    let_others_run();
    CHECK(woke.load() == 0);  // nobody cancelled ctx
    cancel();
    REQUIRE(eventually([&] { return woke.load() == 3 && woke_t.load() == 2; }));
    threads.join();
    CHECK(wrong.load() == 0);
    cancel_t();
  });
}
