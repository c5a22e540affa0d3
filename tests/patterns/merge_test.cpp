// tests/patterns/merge_test.cpp: goro/patterns/merge.hpp (merge, or_channel). Conventions:
// patterns_util.hpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
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

namespace {

// Values of input k are k * 100000 + seq.
std::vector<int> tagged(int k, int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(k * 100000 + i);
  return v;
}

// Every input's values, each input's in its order.
bool per_input_order_and_multiset(const std::vector<int>& got, const std::vector<int>& counts) {
  std::map<int, std::vector<int>> by_input;
  for (int v : got) by_input[v / 100000].push_back(v % 100000);
  for (int k = 0; k < static_cast<int>(counts.size()); ++k) {
    const std::vector<int>& seq = by_input[k];
    if (static_cast<int>(seq.size()) != counts[k]) return false;
    for (int i = 0; i < counts[k]; ++i) {
      if (seq[i] != i) return false;
    }
  }
  return by_input.size() == counts.size();  // no value from an input that does not exist
}

}  // namespace

TEST_CASE("merge: the multiset of every input, each input's values in order, then closed",
          "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto a = goro::generator(bg(), tagged(0, 50));
    auto b = goro::generator(bg(), tagged(1, 1));
    auto c = goro::make_chan<int>();  // a chan<T>, not a recv_chan<T>
    goro::go([c] {
      for (int v : tagged(2, 80)) c.send(v);
      c.close();
    });
    auto d = drain(goro::merge(bg(), a, b, c));
    CHECK(d.closed);
    CHECK(d.values.size() == 131);
    CHECK(per_input_order_and_multiset(d.values, {50, 1, 80}));
    CHECK(fibers_back_to(base));  // the merge and its watcher ended with the inputs
  });
}

TEST_CASE("merge of a vector of many concurrently fed inputs", "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    const int k = 16;
    const int per = static_cast<int>(scaled(200));
    std::vector<goro::recv_chan<int>> inputs;
    for (int i = 0; i < k; ++i) {
      auto ch = goro::make_chan<int>(i % 3);  // unbuffered and buffered
      inputs.push_back(ch);
      goro::go([ch, i, per] {
        for (int v : tagged(i, per)) {
          ch.send(v);
          if (v % 17 == 0) goro::yield();
        }
        ch.close();
      });
    }
    auto d = drain(goro::merge(bg(), std::move(inputs)));
    CHECK(d.closed);
    CHECK(d.values.size() == static_cast<std::size_t>(k * per));
    CHECK(per_input_order_and_multiset(d.values, std::vector<int>(k, per)));
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("merge ignores nil inputs; no live input closes the output at once", "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    goro::recv_chan<int> nil;
    auto d = drain(goro::merge(bg(), nil, goro::generator(bg(), {1, 2}), nil, goro::generator(bg(), {3})));
    CHECK(d.closed);  // the nil inputs do not keep it open
    std::sort(d.values.begin(), d.values.end());
    CHECK(d.values == std::vector<int>{1, 2, 3});

    auto only_nil = drain(goro::merge(bg(), nil, goro::chan<int>()));
    CHECK(only_nil.closed);
    CHECK(only_nil.values.empty());

    auto empty = drain(goro::merge(bg(), std::vector<goro::recv_chan<int>>{}));
    CHECK(empty.closed);
    CHECK(empty.values.empty());

    auto shut = goro::make_chan<int>();
    shut.close();
    auto closed_in = drain(goro::merge(bg(), shut));
    CHECK(closed_in.closed);
    CHECK(closed_in.values.empty());
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("merge moves move-only values", "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    std::vector<goro::recv_chan<std::unique_ptr<int>>> inputs;
    for (int k = 0; k < 3; ++k) {
      auto ch = goro::make_chan<std::unique_ptr<int>>(4);
      for (int i = 0; i < 4; ++i) ch.send(std::make_unique<int>(k * 100000 + i));
      ch.close();
      inputs.push_back(ch);
    }
    auto d = drain(goro::merge(bg(), std::move(inputs)));
    REQUIRE(d.closed);
    std::vector<int> got;
    for (auto& p : d.values) {
      REQUIRE(p != nullptr);
      got.push_back(*p);
    }
    CHECK(per_input_order_and_multiset(got, {4, 4, 4}));
  });
}

TEST_CASE("merge serves every ready input, not only the first", "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto [ctx, cancel] = goro::with_cancel(bg());
    auto out = goro::merge(ctx, goro::repeat(ctx, {0}), goro::repeat(ctx, {1}), goro::repeat(ctx, {2}));
    int count[3] = {0, 0, 0};
    for (int i = 0; i < 900; ++i) {
      auto v = recv_within(out);
      REQUIRE(v.has_value());
      REQUIRE((*v >= 0 && *v <= 2));
      ++count[*v];
    }
    cancel();
    CHECK(drain(out).closed);
    // Uniform choice among ready inputs gives about 300 each; a merge that favours one input
    // starves the others.
    CHECK(count[0] >= 100);
    CHECK(count[1] >= 100);
    CHECK(count[2] >= 100);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("merge: cancelling in the middle closes the output and ends both fibers", "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    SECTION("the consumer stops reading endless inputs") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto out = goro::merge(ctx, goro::repeat(ctx, {1}), goro::repeat_fn(ctx, [] { return 2; }));
      for (int i = 0; i < 10; ++i) REQUIRE(recv_within(out).has_value());
      let_others_run();  // the merge is parked sending to a consumer that stopped
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.size() <= 1);
      CHECK(fibers_back_to(base));
    }
    SECTION("waiting on inputs that never send") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto a = goro::make_chan<int>(), b = goro::make_chan<int>();
      auto out = goro::merge(ctx, a, b, goro::recv_chan<int>());
      let_others_run();
      CHECK(nothing_ready(out));
      CHECK(goro::num_fibers() == base + 2);  // the merge and its watcher
      cancel();
      auto d = drain(out);
      CHECK(d.closed);
      CHECK(d.values.empty());
      CHECK(fibers_back_to(base));
    }
    SECTION("a parent context cancelled (the merge's own child context follows)") {
      auto [parent, cancel] = goro::with_cancel(bg());
      goro::context ctx = goro::with_value(parent, "k", 1);
      auto a = goro::make_chan<int>();
      auto out = goro::merge(ctx, std::vector<goro::recv_chan<int>>{a});
      goro::go([a] { a.send(5); });
      CHECK(recv_within(out) == std::optional<int>(5));
      cancel();
      CHECK(drain(out).closed);
      CHECK(fibers_back_to(base));
    }
  });
}

// ---------------------------------------------------------------------------------------
// or_channel
// ---------------------------------------------------------------------------------------

TEST_CASE("or_channel of mixed element types closes when any input closes or delivers", "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    auto ci = goro::make_chan<int>();
    auto cs = goro::make_chan<std::string>();
    auto [other, cancel_other] = goro::with_cancel(bg());
    goro::recv_chan<goro::unit> other_done = other.done();
    auto far = goro::after(1h);

    SECTION("a channel closes") {
      auto any = goro::or_channel(bg(), ci, cs, other_done, far);
      REQUIRE_FALSE(is_nil(any));
      let_others_run();
      CHECK(nothing_ready(any));  // nothing fired yet
      cs.close();
      CHECK(drain(any).closed);
    }
    SECTION("a channel delivers a value (it is consumed)") {
      auto any = goro::or_channel(bg(), ci, cs, other_done, far);
      let_others_run();
      CHECK(nothing_ready(any));
      std::atomic<bool> sent{false};
      goro::go([ci, &sent] {
        ci.send(7);
        sent.store(true);
      });
      auto d = drain(any);
      CHECK(d.closed);
      CHECK(d.values.empty());  // closed, never a value
      REQUIRE(eventually([&] { return sent.load(); }));
    }
    SECTION("a context's done channel among them") {
      auto any = goro::or_channel(bg(), ci, cs, other_done, far);
      let_others_run();
      CHECK(nothing_ready(any));
      cancel_other();
      CHECK(drain(any).closed);
    }
    SECTION("a timer channel") {
      const auto start = clk::now();
      auto any = goro::or_channel(bg(), ci, goro::after(10ms), cs);
      CHECK(drain(any).closed);
      CHECK(clk::now() - start >= 10ms);
    }
    SECTION("the ctx argument is done") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto any = goro::or_channel(ctx, ci, cs);
      let_others_run();
      CHECK(nothing_ready(any));
      cancel();
      CHECK(drain(any).closed);
    }
    SECTION("an input that is already closed") {
      auto shut = goro::make_chan<double>();
      shut.close();
      auto any = goro::or_channel(bg(), ci, shut);
      CHECK(drain(any).closed);
    }
    CHECK(fibers_back_to(base));  // its one fiber ended
    cancel_other();
  });
}

TEST_CASE("or_channel of a vector of unit channels closes when any of them closes", "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    std::vector<goro::chan<goro::unit>> chans;
    std::vector<goro::recv_chan<goro::unit>> inputs;
    for (int i = 0; i < 6; ++i) {
      chans.push_back(goro::make_chan<goro::unit>());
      inputs.push_back(chans.back());
    }
    inputs.push_back(goro::recv_chan<goro::unit>());  // nil: ignored
    SECTION("one input closes") {
      auto any = goro::or_channel(bg(), inputs);
      REQUIRE_FALSE(is_nil(any));
      let_others_run();
      CHECK(nothing_ready(any));
      chans[3].close();
      CHECK(drain(any).closed);
      for (int i = 0; i < 6; ++i) {
        if (i != 3) CHECK(nothing_ready(goro::recv_chan<goro::unit>(chans[i])));  // untouched
      }
    }
    SECTION("ctx is done") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto any = goro::or_channel(ctx, inputs);
      let_others_run();
      CHECK(nothing_ready(any));
      cancel();
      CHECK(drain(any).closed);
    }
    SECTION("only ctx, no input") {
      auto [ctx, cancel] = goro::with_cancel(bg());
      auto any = goro::or_channel(ctx, std::vector<goro::recv_chan<goro::unit>>{});
      REQUIRE_FALSE(is_nil(any));
      let_others_run();
      CHECK(nothing_ready(any));
      cancel();
      CHECK(drain(any).closed);
    }
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("or_channel with no input and a context that is never done is a nil channel and starts nothing",
          "[patterns][merge]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    goro::recv_chan<goro::unit> nil_unit;
    goro::chan<int> nil_int;
    CHECK(is_nil(goro::or_channel(bg(), std::vector<goro::recv_chan<goro::unit>>{})));
    CHECK(is_nil(goro::or_channel(bg(), std::vector<goro::recv_chan<goro::unit>>{nil_unit, nil_unit})));
    CHECK(is_nil(goro::or_channel(bg(), nil_unit, nil_int)));
    // A value context over background can never be done either.
    CHECK(is_nil(goro::or_channel(goro::with_value(bg(), "k", 1), nil_int)));
    CHECK(goro::num_fibers() == base);
  });
}

namespace {
// Counts live copies: a context value that outlives run() means a fiber holding the context
// was abandoned (it was still waiting to run when the consumer ended run()).
struct tracked {
  static inline std::atomic<int> live{0};
  tracked() { live.fetch_add(1); }
  tracked(const tracked&) { live.fetch_add(1); }
  tracked& operator=(const tracked&) = default;
  ~tracked() { live.fetch_sub(1); }
};
}  // namespace

// Regression (a clean-clone CI under ASan caught it through examples/pipeline.cpp): merge
// closed its output before its watcher fiber had run, so a consumer that ended run() as soon
// as the output closed stranded the watcher and leaked the context chain it held.
TEST_CASE("merge and fan_out_ordered: every fiber they started is gone once their output closes",
          "[patterns][merge][fan_out]") {
  const int rounds = static_cast<int>(scaled(300));
  int bad = 0;
  for (int r = 0; r < rounds; ++r) {
    // Each run ends as soon as the output closes: nothing else parks after the loop.
    goro::run(
        [&bad] {
          auto ctx = goro::with_value(goro::context::background(), "k", tracked{});
          int sum = 0;
          for (int v : goro::merge(ctx, goro::generator(ctx, {1, 2, 3}), goro::generator(ctx, {4, 5})))
            sum += v;
          bad += sum != 15;
        },
        goro::options{.procs = 2});
    REQUIRE(tracked::live.load() == 0);
    goro::run(
        [&bad] {
          auto ctx = goro::with_value(goro::context::background(), "k", tracked{});
          int sum = 0;
          for (int v :
               goro::fan_out_ordered(ctx, goro::generator(ctx, {1, 2, 3}), 2, [](int x) { return x * x; }))
            sum += v;
          bad += sum != 14;
        },
        goro::options{.procs = 2});
    REQUIRE(tracked::live.load() == 0);
  }
  CHECK(bad == 0);
}
