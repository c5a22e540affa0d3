// goro/patterns/first_of.hpp: replicated requests, the first result wins and the others are
// cancelled ("Concurrency in Go", 5).
//
//   std::string page = goro::first_of(ctx, 3, [mirrors](const goro::context& c, std::size_t replica) {
//     return fetch(c, mirrors[replica]);   // by value: the losers may still run after the return
//   });
//
// Starts f(rctx, i) for i in [0, n) in n fibers and returns the first value one of them
// returns; rctx (a child of ctx) is then cancelled, so the others can stop early. It does not
// wait for them: they finish in the background and their results are dropped (each has a
// slot in a buffered channel, so none blocks). Hence f must own what it uses (capture by
// value or shared_ptr): a loser may still run after first_of returned and the caller's frame
// is gone. If every replica throws, first_of rethrows
// the first exception; if ctx is done first, it throws std::system_error(ctx.err()).
// n == 0 throws std::invalid_argument. Each replica gets its own copy of f.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include "or_done.hpp"

namespace goro {

template <class F>
auto first_of(const context& ctx, std::size_t n, F f) {
  using R = std::decay_t<std::invoke_result_t<F&, const context&, std::size_t>>;
  static_assert(!std::is_void_v<R>, "goro::first_of: each replica returns its result");
  if (n == 0) throw std::invalid_argument("goro::first_of: needs at least one replica");
  struct outcome {
    std::optional<R> value;
    std::exception_ptr error;
  };
  auto [rctx, cancel] = with_cancel(ctx);
  chan<outcome> results = make_chan<outcome>(n);
  for (std::size_t i = 0; i < n; ++i) {
    goro::go([rctx = rctx, results, f, i]() mutable {
      outcome o;
      try {
        o.value.emplace(f(rctx, i));
      } catch (...) {
        o.error = std::current_exception();
      }
      results.send(std::move(o));  // n slots: never blocks
    });
  }
  std::exception_ptr first_error;
  for (std::size_t got = 0; got < n; ++got) {
    std::optional<outcome> o = recv_or_done(ctx, results);
    if (!o) {  // ctx is done
      cancel();
      throw std::system_error(ctx.err(), "goro::first_of");
    }
    if (o->value) {
      cancel();
      return std::move(*o->value);
    }
    if (!first_error) first_error = o->error;
  }
  cancel();
  std::rethrow_exception(first_error);
}

}  // namespace goro
