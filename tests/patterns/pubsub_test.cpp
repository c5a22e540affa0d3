// tests/patterns/pubsub_test.cpp: goro/patterns/pubsub.hpp (hub<T>). Conventions:
// patterns_util.hpp.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
using goro_test::scaled;
using goro_test::thread_set;
using namespace pt;

namespace {

using int_hub = goro::hub<int>;

}  // namespace

TEST_CASE("hub: every subscriber gets every value, in order; close ends every subscription",
          "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    int_hub h;
    const int subs = 3, n = 100;
    std::vector<int_hub::subscription> handles;
    std::vector<std::vector<int>> got(subs);
    std::atomic<int> finished{0};
    for (int s = 0; s < subs; ++s) {
      handles.push_back(h.subscribe(static_cast<std::size_t>(s) * 2));  // buffers 0, 2, 4
      goro::go([ch = handles.back().c(), &got, s, &finished] {
        for (int v : ch) got[s].push_back(v);
        finished.fetch_add(1);
      });
    }
    CHECK(h.subscribers() == 3);
    std::vector<std::size_t> reached;
    for (int i = 0; i < n; ++i) reached.push_back(h.publish(i));
    CHECK(reached == std::vector<std::size_t>(n, 3));
    h.close();
    REQUIRE(eventually([&] { return finished.load() == subs; }));
    for (int s = 0; s < subs; ++s) CHECK(got[s] == iota_vec(n));
    CHECK(h.subscribers() == 0);
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("hub: a dropping subscriber loses what does not fit, the others lose nothing",
          "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    int_hub h;
    auto keep = h.subscribe(10);                           // blocking (default)
    auto lossy = h.subscribe(2, int_hub::overflow::drop);  // drops when full
    // Bounded: a hub that blocked on the dropping subscriber fails instead of hanging.
    auto [guard, cancel_guard] = goro::with_timeout(bg(), 5s);
    std::vector<std::size_t> reached;
    for (int i = 0; i < 5; ++i) reached.push_back(h.publish(guard, i));  // nobody reads meanwhile
    cancel_guard();
    CHECK(reached == std::vector<std::size_t>{2, 2, 1, 1, 1});
    h.close();
    auto dk = drain(keep.c());
    auto dl = drain(lossy.c());
    CHECK(dk.closed);
    CHECK(dl.closed);
    CHECK(dk.values == iota_vec(5));
    CHECK(dl.values == std::vector<int>{0, 1});
  });
}

TEST_CASE("hub: unsubscribe closes the channel; buffered values stay readable", "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    int_hub h;
    auto a = h.subscribe(4);
    auto b = h.subscribe(4);
    CHECK(h.publish(1) == 2);
    CHECK(h.publish(2) == 2);
    a.unsubscribe();
    CHECK(h.subscribers() == 1);
    a.unsubscribe();  // twice: harmless
    CHECK(h.subscribers() == 1);
    CHECK(h.publish(3) == 1);
    auto da = drain(a.c());
    CHECK(da.closed);
    CHECK(da.values == std::vector<int>{1, 2});  // nothing after the unsubscription
    b.unsubscribe();
    CHECK(h.subscribers() == 0);
    CHECK(h.publish(4) == 0);  // nobody left
    auto db = drain(b.c());
    CHECK(db.closed);
    CHECK(db.values == std::vector<int>{1, 2, 3});
  });
}

TEST_CASE("hub: unsubscribing frees a publisher parked on a full blocking subscriber", "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    int_hub h;
    auto full = h.subscribe(1);
    auto other = h.subscribe(4);
    CHECK(h.publish(1) == 2);  // full's buffer is now full
    std::atomic<long> result{-1};
    goro::go([&h, &result] { result.store(static_cast<long>(h.publish(2))); });
    let_others_run();
    CHECK(result.load() == -1);  // back-pressure: parked on `full`
    full.unsubscribe();
    REQUIRE(eventually([&] { return result.load() != -1; }));
    CHECK(result.load() == 1);  // `other` got it; `full` did not
    auto df = drain(full.c());
    CHECK(df.closed);
    CHECK(df.values == std::vector<int>{1});
    h.close();
    CHECK(drain(other.c()).values == std::vector<int>{1, 2});
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("hub: publish(ctx, v) gives up when ctx is done", "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    int_hub h;
    auto first = h.subscribe(4);
    auto full = h.subscribe(0);  // unbuffered and nobody reads: publish parks here
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_cancel(bg());
    std::atomic<int> state{0};  // 0 parked, 1 returned, 2 system_error canceled, 3 other
    goro::go([&h, ctx, &state] {
      try {
        h.publish(ctx, 5);
        state.store(1);
      } catch (const std::system_error& e) {
        state.store(e.code() == goro::errc::canceled ? 2 : 3);
      } catch (...) {
        state.store(3);
      }
    });
    let_others_run();
    CHECK(state.load() == 0);
    cancel();
    REQUIRE(eventually([&] { return state.load() != 0; }));
    CHECK(state.load() == 2);
    CHECK(first.c().try_recv() == std::optional<int>(5));  // the earlier subscriber has it
    CHECK(h.subscribers() == 2);                           // giving up unsubscribes nobody
    CHECK(fibers_back_to(base));
  });
}

TEST_CASE("hub: after close, publish throws closed_channel_error and subscriptions are closed",
          "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    int_hub h;
    auto s = h.subscribe(4);
    CHECK(h.publish(1) == 1);
    h.close();
    h.close();  // idempotent
    CHECK_THROWS_AS(h.publish(2), goro::closed_channel_error);
    CHECK_THROWS_AS(h.publish(bg(), 2), goro::closed_channel_error);
    auto ds = drain(s.c());
    CHECK(ds.closed);
    CHECK(ds.values == std::vector<int>{1});
    auto late = h.subscribe(4);
    CHECK(closed_now(late.c()));
    CHECK(h.subscribers() == 0);
    late.unsubscribe();  // harmless on a closed hub
    s.unsubscribe();

    // The hub's destructor closes too; a subscription may outlive its hub.
    goro::recv_chan<int> c;
    int_hub::subscription survivor;
    {
      int_hub temp;
      survivor = temp.subscribe(2);
      c = survivor.c();
      temp.publish(9);
    }
    auto dc = drain(c);
    CHECK(dc.closed);
    CHECK(dc.values == std::vector<int>{9});
    survivor.unsubscribe();
  });
}

TEST_CASE("hub: a subscription unsubscribes when destroyed; moves transfer it", "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    int_hub h;
    goro::recv_chan<int> c;
    {
      auto s = h.subscribe(2);
      c = s.c();
      CHECK(h.subscribers() == 1);
    }
    CHECK(h.subscribers() == 0);
    CHECK(closed_now(c));

    auto a = h.subscribe(2);
    goro::recv_chan<int> ca = a.c();
    int_hub::subscription moved(std::move(a));
    CHECK(h.subscribers() == 1);  // moved, not unsubscribed
    CHECK(h.publish(1) == 1);
    a.unsubscribe();  // the moved-from handle owns nothing
    CHECK(h.subscribers() == 1);

    auto b = h.subscribe(2);
    goro::recv_chan<int> cb = b.c();
    CHECK(h.subscribers() == 2);
    moved = std::move(b);  // the old subscription (ca) ends, b's lives on in `moved`
    CHECK(h.subscribers() == 1);
    CHECK(h.publish(2) == 1);
    auto da = drain(ca);
    CHECK(da.closed);
    CHECK(da.values == std::vector<int>{1});
    CHECK(cb.try_recv() == std::optional<int>(2));
    CHECK_FALSE(closed_now(cb));
  });
}

TEST_CASE("hub: publishers and subscribers on plain threads", "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    int_hub h;
    const int n = 200;
    std::atomic<int> subscribed{0}, finished{0};
    std::vector<int> thread_got, fiber_got;
    thread_set threads;
    threads.start([&] {
      auto s = h.subscribe(3);
      subscribed.fetch_add(1);
      for (int v : s.c()) thread_got.push_back(v);
      finished.fetch_add(1);
    });
    auto fs = h.subscribe(1);
    goro::go([ch = fs.c(), &fiber_got, &finished] {
      for (int v : ch) fiber_got.push_back(v);
      finished.fetch_add(1);
    });
    REQUIRE(eventually([&] { return subscribed.load() == 1; }));
    std::atomic<int> published{0};
    threads.start([&] {
      for (int i = 0; i < n; ++i) {
        if (h.publish(i) == 2) published.fetch_add(1);
      }
    });
    REQUIRE(eventually([&] { return published.load() == n; }));
    h.close();
    REQUIRE(eventually([&] { return finished.load() == 2; }));
    threads.join();
    CHECK(thread_got == iota_vec(n));
    CHECK(fiber_got == iota_vec(n));
  });
}

TEST_CASE("hub: concurrent publishers, subscribers joining and leaving", "[patterns][pubsub]") {
  const unsigned procs = GENERATE(1u, 2u);
  CAPTURE(procs);
  run_test(procs, [] {
    const std::size_t base = goro::num_fibers();
    goro::hub<std::pair<int, int>> h;  // (publisher, sequence)
    const int pubs = 3;
    const int per = static_cast<int>(scaled(300));

    // Two steady subscribers see everything, each publisher's values in order.
    std::atomic<int> bad_order{0}, steady_done{0};
    std::vector<int> steady_count(2, 0);
    std::vector<goro::hub<std::pair<int, int>>::subscription> steady;
    for (int s = 0; s < 2; ++s) {
      steady.push_back(h.subscribe(8));
      goro::go([ch = steady.back().c(), s, &steady_count, &bad_order, &steady_done] {
        std::map<int, int> next;
        for (auto [p, i] : ch) {
          if (i != next[p]) bad_order.fetch_add(1);
          next[p] = i + 1;
          ++steady_count[s];
        }
        steady_done.fetch_add(1);
      });
    }
    // Churning subscribers: subscribe, read a little, drop the subscription (blocking ones
    // must not wedge the publishers).
    std::atomic<bool> stop{false};
    std::atomic<int> churners_done{0}, churn_bad{0};
    for (int c = 0; c < 3; ++c) {
      goro::go([&h, &stop, &churners_done, &churn_bad, c] {
        while (!stop.load()) {
          auto s = h.subscribe(c, c == 2 ? goro::hub<std::pair<int, int>>::overflow::drop
                                         : goro::hub<std::pair<int, int>>::overflow::block);
          std::map<int, int> last;
          for (int k = 0; k < 5; ++k) {
            auto v = recv_within(s.c(), nullptr, 20ms);
            if (!v) break;
            auto it = last.find(v->first);
            if (it != last.end() && v->second <= it->second) churn_bad.fetch_add(1);
            last[v->first] = v->second;
          }
        }  // each subscription ends here
        churners_done.fetch_add(1);
      });
    }
    std::atomic<int> pubs_done{0};
    thread_set threads;
    for (int p = 0; p < pubs; ++p) {
      auto publish_all = [&h, &pubs_done, p, per] {
        for (int i = 0; i < per; ++i) h.publish({p, i});
        pubs_done.fetch_add(1);
      };
      if (p == 0) {
        threads.start(publish_all);  // one publisher is a plain thread
      } else {
        goro::go(publish_all);
      }
    }
    REQUIRE(eventually([&] { return pubs_done.load() == pubs; }, 20000ms));
    stop.store(true);
    REQUIRE(eventually([&] { return churners_done.load() == 3; }));
    h.close();
    REQUIRE(eventually([&] { return steady_done.load() == 2; }));
    threads.join();
    CHECK(bad_order.load() == 0);
    CHECK(churn_bad.load() == 0);
    CHECK(steady_count[0] == pubs * per);
    CHECK(steady_count[1] == pubs * per);
    CHECK(fibers_back_to(base));
  });
}
