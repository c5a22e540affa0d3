// tests/stress_test.cpp: storms across primitives, with fibers and plain threads mixed.
//
//  * Close storm: thousands of fibers and a few plain threads parked on channels as receivers,
//    senders and selects (a receive or send case on the closing channel plus a case on a
//    channel that is never ready); closing wakes each exactly once with the right outcome.
//    A channel never has parked senders and parked receivers at once, so receivers and
//    receive-selects park on `rx` (kept empty) and senders and send-selects on `tx` (kept
//    full); both close in the same storm.
//  * Cancel storm: a chain of 2000 contexts with a 10,000-leaf tree below it, thousands of
//    waiters on leaves and chain nodes (done().recv(), select with after(1h), semaphore
//    acquire(ctx)); cancelling the root wakes all, every err() is canceled and the deadline
//    timers of the cancelled with_timeout contexts and the after(1h) timers are gone. Then
//    the same while a plain thread cancels the root as fibers are still attaching and parking.
//  * MPMC with fibers and plain threads on both sides of one channel, with checksums and
//    per-producer FIFO order.
//
// Conventions as in chan_test.cpp: assertions only on the main fiber of run_test(); fibers and
// threads record what they saw in atomics. "Parked" is proven, not assumed: fibers by their
// state in goro::fibers(), plain threads by goro::stats().threads_blocked. Sizes go through
// scaled() (GORO_TEST_SCALE), except the context chain and tree, which are cheap.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using goro_test::run_test;
using goro_test::scaled;
using goro_test::thread_set;

namespace {

using namespace std::chrono_literals;

// Polls pred, sleeping 1 ms in between (a fiber parks meanwhile: with procs = 1 the others run).
template <class P>
bool wait_for(P&& pred, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    if (goro::in_fiber()) {
      goro::sleep_for(1ms);
    } else {
      std::this_thread::sleep_for(1ms);
    }
  }
  return true;
}

// Fibers of this runtime parked in a channel, select, context or semaphore wait (not asleep).
std::size_t parked_fibers() {
  std::size_t n = 0;
  for (const goro::fiber_info& f : goro::fibers()) {
    if (f.state == "waiting" && f.wait_reason != "sleep") ++n;
  }
  return n;
}

int blocked_threads() {
  return goro::stats().threads_blocked;
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer: a checksum that sees duplicates
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Close storm
// ---------------------------------------------------------------------------------------

TEST_CASE("stress: closing channels wakes every parked receiver, sender and select exactly once",
          "[stress]") {
  const unsigned procs = GENERATE(1u, 2u);
  const std::size_t cap = GENERATE(std::size_t{0}, std::size_t{8});
  run_test(procs, [cap] {
    const std::size_t fibers0 = goro::num_fibers();
    const int nrecv = static_cast<int>(scaled(1000)), nsend = static_cast<int>(scaled(1000));
    const int nsel = static_cast<int>(scaled(1000)), nselsend = static_cast<int>(scaled(400));
    const int nfib = nrecv + nsend + nsel + nselsend;
    constexpr int thr_recv = 2, thr_send = 2, thr_sel = 1;
    constexpr int nthr = thr_recv + thr_send + thr_sel;

    for (int round = 0; round < 2; ++round) {
      auto rx = goro::make_chan<long>(cap);  // stays empty: receivers and receive-selects park
      auto tx = goro::make_chan<long>(cap);  // kept full: senders and send-selects park
      for (std::size_t i = 0; i < cap; ++i) REQUIRE(tx.try_send(-1L - static_cast<long>(i)));
      auto never = goro::make_chan<long>();  // nothing is ever sent or received on it outside selects

      std::atomic<int> recv_nullopt{0}, recv_value{0};
      std::atomic<int> send_threw{0}, send_returned{0}, send_other{0};
      std::atomic<int> sel_ok{0}, sel_bad{0}, selsend_threw{0}, selsend_bad{0};
      std::atomic<int> finished{0};

      auto receiver = [rx, &recv_nullopt, &recv_value, &finished] {
        std::optional<long> v = rx.recv();
        (v.has_value() ? recv_value : recv_nullopt).fetch_add(1);
        finished.fetch_add(1);
      };
      auto sender = [tx, &send_threw, &send_returned, &send_other, &finished](long v) {
        try {
          tx.send(v);
          send_returned.fetch_add(1);
        } catch (const goro::closed_channel_error&) {
          send_threw.fetch_add(1);
        } catch (...) {
          send_other.fetch_add(1);
        }
        finished.fetch_add(1);
      };
      // The rx case comes first or second: the returned index must name it either way.
      auto selector = [rx, never, &sel_ok, &sel_bad, &finished](int id) {
        int rx_calls = 0, never_calls = 0;
        std::optional<long> got = 12345;
        auto on_rx = [&](std::optional<long> v) {
          ++rx_calls;
          got = v;
        };
        auto on_never = [&](std::optional<long>) { ++never_calls; };
        std::size_t want = 0, i = 0;
        if (id % 2 == 0) {
          i = goro::select(goro::case_recv(rx, on_rx), goro::case_recv(never, on_never));
        } else {
          want = 1;
          i = goro::select(goro::case_recv(never, on_never), goro::case_recv(rx, on_rx));
        }
        bool ok = i == want && rx_calls == 1 && never_calls == 0 && !got.has_value();
        (ok ? sel_ok : sel_bad).fetch_add(1);
        finished.fetch_add(1);
      };
      auto send_selector = [tx, never, &selsend_threw, &selsend_bad, &finished](long v) {
        try {
          goro::select(goro::case_send(tx, v), goro::case_recv(never));
          selsend_bad.fetch_add(1);  // chose a case without throwing: nothing was ready
        } catch (const goro::closed_channel_error&) {
          selsend_threw.fetch_add(1);
        } catch (...) {
          selsend_bad.fetch_add(1);
        }
        finished.fetch_add(1);
      };

      // Interleaved, so that the kinds mix in the wait queues.
      for (int i = 0; i < std::max({nrecv, nsend, nsel, nselsend}); ++i) {
        if (i < nrecv) goro::go(receiver);
        if (i < nsend) goro::go(sender, 1000L + i);
        if (i < nsel) goro::go(selector, i);
        if (i < nselsend) goro::go(send_selector, 500000L + i);
      }
      thread_set threads;
      for (int t = 0; t < thr_recv; ++t) threads.start(receiver);
      for (int t = 0; t < thr_send; ++t) threads.start([sender, t] { sender(900000L + t); });
      for (int t = 0; t < thr_sel; ++t) threads.start([selector, t] { selector(t); });

      INFO("round " << round);
      REQUIRE(wait_for([&] { return parked_fibers() == static_cast<std::size_t>(nfib); }));
      REQUIRE(wait_for([&] { return blocked_threads() >= nthr; }));
      REQUIRE(finished.load() == 0);  // nothing could proceed before the close
      REQUIRE(rx.size() == 0);
      REQUIRE(tx.size() == cap);
      REQUIRE(goro::num_fibers() == fibers0 + static_cast<std::size_t>(nfib));

      // rx is closed by a plain thread, tx by this fiber, at about the same time.
      threads.start([rx] { rx.close(); });
      tx.close();
      REQUIRE(wait_for([&] { return finished.load() == nfib + nthr; }));
      threads.join();

      REQUIRE(recv_value.load() == 0);
      REQUIRE(recv_nullopt.load() == nrecv + thr_recv);
      REQUIRE(send_returned.load() == 0);
      REQUIRE(send_other.load() == 0);
      REQUIRE(send_threw.load() == nsend + thr_send);
      REQUIRE(sel_bad.load() == 0);
      REQUIRE(sel_ok.load() == nsel + thr_sel);
      REQUIRE(selsend_bad.load() == 0);
      REQUIRE(selsend_threw.load() == nselsend);
      // The buffer kept exactly what was in it before the close; no parked sender's value got in.
      for (std::size_t i = 0; i < cap; ++i) REQUIRE(tx.recv() == -1L - static_cast<long>(i));
      REQUIRE(!tx.recv().has_value());
      REQUIRE(!rx.recv().has_value());
      // No select left a stale waiter on `never`: a non-blocking send finds no receiver.
      REQUIRE(!never.try_send(7L));
      REQUIRE(never.size() == 0);
      REQUIRE(wait_for([&] { return goro::num_fibers() == fibers0; }, 5s));
    }
  });
}

// ---------------------------------------------------------------------------------------
// Cancel storm
// ---------------------------------------------------------------------------------------

TEST_CASE("stress: cancelling the root of a 2000-deep chain over a 10000-leaf tree wakes every waiter",
          "[stress]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    const std::size_t fibers0 = goro::num_fibers();
    const std::size_t timers0 = goro::stats().timers_live;
    constexpr int depth = 2000, mids = 100, per_mid = 100;
    const int nwait = static_cast<int>(scaled(2000));

    auto [root, cancel_root] = goro::with_cancel(goro::context::background());
    std::vector<goro::context> chain{root};  // chain[d] is at depth d
    std::vector<goro::cancel_func> cancels{cancel_root};
    std::size_t with_timers = 0;
    for (int d = 1; d < depth; ++d) {
      const goro::context& parent = chain.back();
      if (d % 11 == 0) {
        chain.push_back(goro::with_value(parent, "depth", d));  // a value node inside the chain
      } else if (d % 7 == 0) {
        // Each deadline earlier than its parent's: every one of these arms a timer of its own.
        auto [c, cf] = goro::with_timeout(parent, 2h - std::chrono::seconds(d));
        chain.push_back(std::move(c));
        cancels.push_back(std::move(cf));
        ++with_timers;
      } else {
        auto [c, cf] = goro::with_cancel(parent);
        chain.push_back(std::move(c));
        cancels.push_back(std::move(cf));
      }
    }
    std::vector<goro::context> tree;  // mids, then leaves
    std::vector<goro::context> leaves;
    for (int m = 0; m < mids; ++m) {
      auto [mid, mcf] = goro::with_cancel(chain.back());
      for (int j = 0; j < per_mid; ++j) {
        if (j % 10 == 0) {
          auto [c, cf] = goro::with_timeout(mid, 1h - std::chrono::milliseconds(j));
          leaves.push_back(std::move(c));
          cancels.push_back(std::move(cf));
          ++with_timers;
        } else {
          auto [c, cf] = goro::with_cancel(mid);
          leaves.push_back(std::move(c));
          cancels.push_back(std::move(cf));
        }
      }
      tree.push_back(std::move(mid));
      cancels.push_back(std::move(mcf));
    }
    REQUIRE(leaves.size() == 10000);
    REQUIRE(goro::stats().timers_live >= timers0 + with_timers);

    goro::semaphore sem(1);
    sem.acquire();  // held: acquire(ctx) waiters park until their context is cancelled

    std::atomic<int> woke{0}, bad{0};
    std::mt19937 rng(7);
    for (int i = 0; i < nwait; ++i) {
      const goro::context& leaf = leaves[rng() % leaves.size()];
      const goro::context& link = chain[rng() % chain.size()];
      switch (i % 4) {
        case 0:
          goro::go([leaf, &woke, &bad] {
            std::optional<goro::unit> v = leaf.done().recv();
            if (v.has_value() || leaf.err() != goro::errc::canceled) bad.fetch_add(1);
            woke.fetch_add(1);
          });
          break;
        case 1:
          goro::go([leaf, &woke, &bad] {
            std::size_t c = goro::select(goro::case_recv(leaf.done()), goro::case_recv(goro::after(1h)));
            if (c != 0 || leaf.err() != goro::errc::canceled) bad.fetch_add(1);
            woke.fetch_add(1);
          });
          break;
        case 2:
          goro::go([leaf, &sem, &woke, &bad] {
            try {
              sem.acquire(leaf);
              bad.fetch_add(1);  // got the unit the main fiber holds
              sem.release();
            } catch (const std::system_error& e) {
              if (e.code() != goro::errc::canceled) bad.fetch_add(1);
            }
            woke.fetch_add(1);
          });
          break;
        default:
          goro::go([link, &woke, &bad] {
            std::size_t c = goro::select(goro::case_recv(goro::after(1h)), goro::case_recv(link.done()));
            if (c != 1 || link.err() != goro::errc::canceled) bad.fetch_add(1);
            woke.fetch_add(1);
          });
          break;
      }
    }
    thread_set threads;
    threads.start([leaf = leaves.back(), &woke, &bad] {
      if (leaf.done().recv().has_value() || leaf.err() != goro::errc::canceled) bad.fetch_add(1);
      woke.fetch_add(1);
    });
    threads.start([link = chain.back(), &woke, &bad] {
      std::size_t c = goro::select(goro::case_recv(link.done()), goro::case_recv(goro::after(1h)));
      if (c != 0 || link.err() != goro::errc::canceled) bad.fetch_add(1);
      woke.fetch_add(1);
    });
    const int nthr = 2;

    REQUIRE(wait_for([&] { return parked_fibers() == static_cast<std::size_t>(nwait); }));
    REQUIRE(wait_for([&] { return blocked_threads() >= nthr; }));
    REQUIRE(woke.load() == 0);
    REQUIRE(!leaves.front().err());
    REQUIRE(!chain.back().err());

    cancel_root();
    // cancel() returns once the whole subtree is cancelled (nobody else cancels here).
    int not_canceled = 0, not_done = 0;
    auto check = [&](const goro::context& c) {
      if (c.err() != goro::errc::canceled) ++not_canceled;
      if (goro::select(goro::case_recv(c.done()), goro::case_default()) != 0) ++not_done;
    };
    for (const auto& c : chain) check(c);
    for (const auto& c : tree) check(c);
    for (const auto& c : leaves) check(c);
    REQUIRE(not_canceled == 0);
    REQUIRE(not_done == 0);

    REQUIRE(wait_for([&] { return woke.load() == nwait + nthr; }));
    threads.join();
    REQUIRE(bad.load() == 0);
    // The cancelled contexts released their deadline timers although every handle and
    // cancel_func is still held; the waiters' after(1h) timers went with their selects.
    REQUIRE(wait_for([&] { return goro::stats().timers_live == timers0; }, 5s));
    // No cancelled acquire(ctx) is left in the semaphore's queue.
    sem.release();
    REQUIRE(sem.try_acquire());
    sem.release();
    for (auto& cf : cancels) cf();  // idempotent
    REQUIRE(wait_for([&] { return goro::num_fibers() == fibers0; }, 5s));
  });
}

TEST_CASE("stress: a plain thread cancels the root while fibers attach children and park", "[stress]") {
  const unsigned procs = GENERATE(1u, 2u);
  run_test(procs, [] {
    const std::size_t fibers0 = goro::num_fibers();
    const std::size_t timers0 = goro::stats().timers_live;
    constexpr int mids = 100, per_mid = 100, nsub = 4;
    const int nwait = static_cast<int>(scaled(3000));

    for (int round = 0; round < 2; ++round) {
      INFO("round " << round);
      auto [root, cancel_root] = goro::with_cancel(goro::context::background());
      std::vector<goro::context> tree;
      std::vector<goro::cancel_func> mid_cancels, cancels;
      for (int m = 0; m < mids; ++m) {
        auto [mid, mcf] = goro::with_cancel(root);
        for (int j = 0; j < per_mid; ++j) {
          auto [c, cf] = j % 10 == 0 ? goro::with_timeout(mid, 1h) : goro::with_cancel(mid);
          tree.push_back(std::move(c));
          cancels.push_back(std::move(cf));
        }
        tree.push_back(std::move(mid));
        mid_cancels.push_back(std::move(mcf));
      }

      std::atomic<int> started{0}, woke{0}, bad{0}, subs_done{0};
      // Each waiter attaches a child of its own to a node of the tree, then waits on it.
      auto waiter = [&tree, &started, &woke, &bad](int i) {
        const goro::context& parent = tree[static_cast<std::size_t>(i * 7919) % tree.size()];
        auto [c, cf] = i % 3 == 0 ? goro::with_timeout(parent, 1h) : goro::with_cancel(parent);
        started.fetch_add(1);
        if (i % 2 == 0) {
          if (c.done().recv().has_value()) bad.fetch_add(1);
        } else {
          std::size_t k = goro::select(goro::case_recv(goro::after(1h)), goro::case_recv(c.done()));
          if (k != 1) bad.fetch_add(1);
        }
        if (c.err() != goro::errc::canceled) bad.fetch_add(1);
        cf();
        woke.fetch_add(1);
      };
      // The root's canceller: a plain thread, once half the waiters have started.
      thread_set canceller;
      canceller.start([&started, nwait, cancel = cancel_root] {
        while (started.load() < nwait / 2) std::this_thread::yield();
        cancel();
      });
      for (int i = 0; i < nwait; ++i) {
        goro::go(waiter, i);
        if (i == nwait / 3) {
          // Other cancellers race with the root's, on some subtrees.
          for (int s = 0; s < nsub; ++s) {
            goro::go([cf = mid_cancels[static_cast<std::size_t>(s * 17)], &subs_done] {
              goro::yield();
              cf();
              subs_done.fetch_add(1);
            });
          }
        }
        if (i % 64 == 0) goro::yield();
      }
      REQUIRE(wait_for([&] { return woke.load() == nwait && subs_done.load() == nsub; }));
      canceller.join();
      REQUIRE(bad.load() == 0);
      // Every cancel() has returned: each node was reached by the root's or a subtree's cascade.
      int not_canceled = 0;
      for (const auto& c : tree) {
        if (c.err() != goro::errc::canceled) ++not_canceled;
      }
      REQUIRE(not_canceled == 0);
      REQUIRE(root.err() == goro::errc::canceled);
      REQUIRE(wait_for([&] { return goro::stats().timers_live == timers0; }, 5s));
      for (auto& cf : cancels) cf();
      REQUIRE(wait_for([&] { return goro::num_fibers() == fibers0; }, 5s));
    }
  });
}

// ---------------------------------------------------------------------------------------
// MPMC with fibers and plain threads on both sides
// ---------------------------------------------------------------------------------------

TEST_CASE("stress: fibers and plain threads as producers and consumers of one channel conserve every value",
          "[stress]") {
  const unsigned procs = GENERATE(1u, 2u);
  const std::size_t cap = GENERATE(std::size_t{0}, std::size_t{8});
  run_test(procs, [cap] {
    constexpr int fib_prod = 3, thr_prod = 2, fib_cons = 3, thr_cons = 2;
    constexpr int nprod = fib_prod + thr_prod, ncons = fib_cons + thr_cons;
    const std::uint64_t n = static_cast<std::uint64_t>(scaled(6000));  // values per producer
    auto data = goro::make_chan<std::uint64_t>(cap);
    auto never = goro::make_chan<std::uint64_t>();
    auto prod_done = goro::make_chan<int>(nprod);
    auto cons_done = goro::make_chan<int>(ncons);
    std::atomic<std::uint64_t> count{0}, sum{0}, hash{0};
    std::atomic<int> order_bad{0}, foreign{0};

    // Value: producer id in the high half, sequence number 1..n in the low half. Odd
    // producers send through a select that also offers a receive on `never`.
    auto producer = [data, never, prod_done, n](int id) {
      for (std::uint64_t s = 1; s <= n; ++s) {
        std::uint64_t v = (static_cast<std::uint64_t>(id) << 32) | s;
        if (id % 2 == 0) {
          data.send(v);
        } else {
          goro::select(goro::case_send(data, v), goro::case_recv(never));
        }
      }
      prod_done.send(id);
    };
    // One consumer sees each producer's values in the order they were sent (FIFO queues).
    auto consumer = [data, never, cons_done, &count, &sum, &hash, &order_bad, &foreign](int id) {
      std::array<std::uint64_t, nprod> last{};
      std::uint64_t c = 0, s = 0, h = 0;
      auto take = [&](std::uint64_t v) {
        auto p = static_cast<std::size_t>(v >> 32);
        std::uint64_t seq = v & 0xffffffffu;
        if (p >= nprod) {
          foreign.fetch_add(1);
          return;
        }
        if (seq <= last[p]) order_bad.fetch_add(1);
        last[p] = seq;
        ++c;
        s += v;
        h += mix(v);
      };
      if (id % 2 == 0) {
        for (std::uint64_t v : data) take(v);
      } else {
        for (;;) {
          std::optional<std::uint64_t> got;
          bool closed = false;
          goro::select(goro::case_recv(never), goro::case_recv(data, [&](std::optional<std::uint64_t> v) {
                         closed = !v.has_value();
                         got = v;
                       }));
          if (closed) break;
          if (got) take(*got);
        }
      }
      count.fetch_add(c);
      sum.fetch_add(s);
      hash.fetch_add(h);
      cons_done.send(id);
    };

    for (int c = 0; c < fib_cons; ++c) goro::go(consumer, c);
    for (int p = 0; p < fib_prod; ++p) goro::go(producer, p);
    thread_set threads;
    for (int c = fib_cons; c < ncons; ++c) threads.start([consumer, c] { consumer(c); });
    for (int p = fib_prod; p < nprod; ++p) threads.start([producer, p] { producer(p); });

    for (int p = 0; p < nprod; ++p) REQUIRE(prod_done.recv().has_value());
    data.close();
    for (int c = 0; c < ncons; ++c) REQUIRE(cons_done.recv().has_value());
    threads.join();

    std::uint64_t want_sum = 0, want_hash = 0;
    for (int p = 0; p < nprod; ++p) {
      for (std::uint64_t s = 1; s <= n; ++s) {
        std::uint64_t v = (static_cast<std::uint64_t>(p) << 32) | s;
        want_sum += v;
        want_hash += mix(v);
      }
    }
    REQUIRE(foreign.load() == 0);
    REQUIRE(order_bad.load() == 0);
    REQUIRE(count.load() == nprod * n);
    REQUIRE(sum.load() == want_sum);
    REQUIRE(hash.load() == want_hash);
    REQUIRE(!data.try_recv().has_value());
    REQUIRE(!never.try_send(std::uint64_t{1}));
  });
}
