// goro/patterns/fan_out.hpp: fan-out of a stream to N worker fibers, fanned back in, in
// any order (fan_out) or in input order (fan_out_ordered) ("Concurrency in Go", 4).
//
//   auto sizes = goro::fan_out(ctx, paths, 8, [](std::string p) { return file_size(p); });
//   auto same = goro::fan_out_ordered(ctx, paths, 8, [](std::string p) { return file_size(p); });
//
// f(T) -> R runs on the workers; each worker has its own copy of f. The output closes once
// the input is closed and drained and every worker is done, or as soon as ctx is done (a
// worker in the middle of f finishes that call first). f must not throw: a failure that
// should stop the pipeline belongs in an errgroup (see parallel_map).
//
// fan_out: n workers read the input and write the output directly; the last worker to
// finish closes it. Fibers: n.
//
// fan_out_ordered: a dispatcher gives each value a one-slot result channel, queues that
// channel (in input order) for the collector and hands the value with its slot to a worker;
// the collector forwards results slot by slot. At most 2n values are in flight, so a slow
// value holds up at most that much work behind it. Fibers: n + 2; one small allocation (the
// slot) per value.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "or_done.hpp"

namespace goro {

namespace detail {
template <class T, class F>
using fan_out_result_t = std::decay_t<std::invoke_result_t<F&, T&&>>;

inline void check_workers(std::size_t n, const char* who) {
  if (n == 0) throw std::invalid_argument(std::string(who) + ": needs at least one worker");
}
}  // namespace detail

template <class T, class F>
auto fan_out(const context& ctx, recv_chan<T> in, std::size_t workers, F f) {
  using R = detail::fan_out_result_t<T, F>;
  static_assert(!std::is_void_v<R>, "goro::fan_out: f(T) returns the value to pass on");
  detail::check_workers(workers, "goro::fan_out");
  chan<R> out = make_chan<R>();
  auto left = std::make_shared<std::atomic<std::size_t>>(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    goro::go([ctx, in, out, left, f]() mutable {
      while (std::optional<T> v = recv_or_done(ctx, in)) {
        if (!send_or_done(ctx, out, f(std::move(*v)))) break;
      }
      if (left->fetch_sub(1, std::memory_order_acq_rel) == 1) out.close();
    });
  }
  return recv_chan<R>(out);
}
template <class T, class F>
auto fan_out(const context& ctx, const chan<T>& in, std::size_t workers, F f) {
  return fan_out(ctx, recv_chan<T>(in), workers, std::move(f));
}

template <class T, class F>
auto fan_out_ordered(const context& ctx, recv_chan<T> in, std::size_t workers, F f) {
  using R = detail::fan_out_result_t<T, F>;
  static_assert(!std::is_void_v<R>, "goro::fan_out_ordered: f(T) returns the value to pass on");
  detail::check_workers(workers, "goro::fan_out_ordered");
  struct job {
    T value;
    chan<R> slot;
  };
  chan<job> jobs = make_chan<job>();
  chan<chan<R>> order = make_chan<chan<R>>(workers);
  chan<R> out = make_chan<R>();
  // The collector closes `out` only after every worker has returned (the last one closes
  // `idle`): a consumer that sees the close may end run() at once, and a worker still waiting
  // to run would then never run again and leak its captures.
  chan<unit> idle = make_chan<unit>();
  auto left = std::make_shared<std::atomic<std::size_t>>(workers);

  goro::go([ctx, in, jobs, order] {  // dispatcher
    while (std::optional<T> v = recv_or_done(ctx, in)) {
      chan<R> slot = make_chan<R>(1);
      if (!send_or_done(ctx, order, slot) || !send_or_done(ctx, jobs, job{std::move(*v), slot})) break;
    }
    jobs.close();
    order.close();
  });
  for (std::size_t w = 0; w < workers; ++w) {
    goro::go([ctx, jobs, f, idle, left]() mutable {
      while (std::optional<job> j = recv_or_done(ctx, jobs))
        j->slot.send(f(std::move(j->value)));  // never blocks
      if (left->fetch_sub(1, std::memory_order_acq_rel) == 1) idle.close();
    });
  }
  goro::go([ctx, order, out, idle] {  // collector
    while (std::optional<chan<R>> slot = recv_or_done(ctx, order)) {
      std::optional<R> r = recv_or_done(ctx, *slot);
      if (!r || !send_or_done(ctx, out, std::move(*r))) break;
    }
    // Workers end once the dispatcher closed `jobs` (input drained) or ctx is done; when the
    // collector stopped early for ctx, so do they.
    (void)idle.recv();
    out.close();
  });
  return recv_chan<R>(out);
}
template <class T, class F>
auto fan_out_ordered(const context& ctx, const chan<T>& in, std::size_t workers, F f) {
  return fan_out_ordered(ctx, recv_chan<T>(in), workers, std::move(f));
}

}  // namespace goro
