// goro/patterns/generator.hpp: sources and the take stage ("Concurrency in Go", 4).
//
//   auto nums = goro::generator(ctx, std::vector{1, 2, 3});   // 1 2 3, then closed
//   auto next = goro::generate(ctx, [i = 0]() mutable -> std::optional<int> {  // until nullopt
//     return i < 3 ? std::optional(i++) : std::nullopt; });
//   auto ones = goro::repeat(ctx, {1});                       // 1 1 1 ... forever
//   auto rnd = goro::repeat_fn(ctx, [] { return rand(); });   // f() forever
//   for (int v : goro::take(ctx, rnd, 10)) ...                // the first 10, then closed
//
// Each stage is one fiber writing an unbuffered channel that it closes when it ends. Sources
// run until exhausted or until ctx is done: an endless source (repeat, repeat_fn) ends only
// with its context, so a consumer that stops reading cancels ctx (see or_done.hpp). take()
// reads no more than n values and leaves the rest of its input unread.
//
// Callbacks run on the stage's fiber and must not throw (an exception escaping a fiber ends
// the process, as an unrecovered panic in Go); use parallel_map or errgroup for fallible work.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "or_done.hpp"

namespace goro {

// The values of a range (copied into the stage), in order, then closes.
template <std::ranges::input_range R>
requires std::copy_constructible<std::ranges::range_value_t<R>> recv_chan<std::ranges::range_value_t<R>>
generator(const context& ctx, R&& values) {
  using T = std::ranges::range_value_t<R>;
  chan<T> out = make_chan<T>();
  goro::go([ctx, out, vals = std::vector<T>(std::ranges::begin(values), std::ranges::end(values))]() mutable {
    for (T& v : vals) {
      if (!send_or_done(ctx, out, std::move(v))) break;
    }
    out.close();
  });
  return out;
}
template <class T>
recv_chan<T> generator(const context& ctx, std::initializer_list<T> values) {
  return generator(ctx, std::vector<T>(values));
}

// f() -> std::optional<T>: each value it returns, until it returns nullopt.
template <class F>
auto generate(const context& ctx, F&& f) {
  using O = std::invoke_result_t<std::decay_t<F>&>;
  static_assert(
      requires { typename O::value_type; } && std::is_same_v<O, std::optional<typename O::value_type>>,
      "goro::generate: the function returns std::optional<T> (nullopt ends the stream)");
  using T = typename O::value_type;
  chan<T> out = make_chan<T>();
  goro::go([ctx, out, fn = std::forward<F>(f)]() mutable {
    while (!ctx.err()) {
      std::optional<T> v = fn();
      if (!v || !send_or_done(ctx, out, std::move(*v))) break;
    }
    out.close();
  });
  return recv_chan<T>(out);
}

// The values of a range over and over, until ctx is done. An empty range throws
// std::invalid_argument (it would produce nothing forever).
template <std::ranges::input_range R>
requires std::copy_constructible<std::ranges::range_value_t<R>> recv_chan<std::ranges::range_value_t<R>>
repeat(const context& ctx, R&& values) {
  using T = std::ranges::range_value_t<R>;
  std::vector<T> vals(std::ranges::begin(values), std::ranges::end(values));
  if (vals.empty()) throw std::invalid_argument("goro::repeat: no values to repeat");
  chan<T> out = make_chan<T>();
  goro::go([ctx, out, vals = std::move(vals)] {
    for (bool more = true; more;) {
      for (const T& v : vals) {
        if (!(more = send_or_done(ctx, out, v))) break;
      }
    }
    out.close();
  });
  return out;
}
template <class T>
recv_chan<T> repeat(const context& ctx, std::initializer_list<T> values) {
  return repeat(ctx, std::vector<T>(values));
}

// f() over and over, until ctx is done.
template <class F>
auto repeat_fn(const context& ctx, F&& f) {
  using T = std::decay_t<std::invoke_result_t<std::decay_t<F>&>>;
  static_assert(!std::is_void_v<T>, "goro::repeat_fn: the function returns the value to send");
  chan<T> out = make_chan<T>();
  goro::go([ctx, out, fn = std::forward<F>(f)]() mutable {
    while (!ctx.err() && send_or_done(ctx, out, fn())) {
    }
    out.close();
  });
  return recv_chan<T>(out);
}

// The first n values of in (fewer if in closes first or ctx is done), then closes.
template <class T>
recv_chan<T> take(const context& ctx, recv_chan<T> in, std::size_t n) {
  chan<T> out = make_chan<T>();
  goro::go([ctx, in = std::move(in), out, n] {
    for (std::size_t i = 0; i < n; ++i) {
      std::optional<T> v = recv_or_done(ctx, in);
      if (!v || !send_or_done(ctx, out, std::move(*v))) break;
    }
    out.close();
  });
  return out;
}
template <class T>
recv_chan<T> take(const context& ctx, const chan<T>& in, std::size_t n) {
  return take(ctx, recv_chan<T>(in), n);
}

}  // namespace goro
