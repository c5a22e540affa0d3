// goro/patterns/parallel_map.hpp: bounded parallel map with error propagation.
//
//   std::vector<std::size_t> sizes = goro::parallel_map(ctx, paths, 8,
//       [](const goro::context& ctx, const std::string& p) { return fetch_size(ctx, p); });
//
// Runs f(ctx, item) (or f(item)) for every item of a range, at most `limit` at once (limit
// < 0: no bound; 0 throws std::invalid_argument), each in its own fiber of an errgroup, and
// returns the results in input order. The first failure (f threw) cancels the context the
// other calls see, no further item is started, and parallel_map rethrows that failure once
// every started call has returned. If the caller's ctx is done before every item ran,
// parallel_map throws std::system_error(ctx.err()). Nothing outlives the call. f is shared
// by the calls (taken by reference), so it must be safe to call from several fibers at once.
//
// The range is read in the calling fiber; items of a random-access range of lvalues (a
// vector, an array) are passed by reference, others are copied first.
#pragma once

#include <cstddef>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "../errgroup.hpp"

namespace goro {

template <std::ranges::input_range Range, class F>
auto parallel_map(const context& ctx, Range&& items, int limit, F f) {
  using Ref = std::ranges::range_reference_t<Range>;
  constexpr bool by_ref = std::ranges::random_access_range<Range> && std::ranges::sized_range<Range> &&
                          std::is_lvalue_reference_v<Ref>;
  using Item = std::conditional_t<by_ref, Ref, const std::ranges::range_value_t<Range>&>;
  constexpr bool takes_ctx = std::is_invocable_v<F&, const context&, Item>;
  static_assert(takes_ctx || std::is_invocable_v<F&, Item>,
                "goro::parallel_map: f is called as f(const goro::context&, item) or f(item)");
  using Res =
      std::decay_t<typename std::conditional_t<takes_ctx, std::invoke_result<F&, const context&, Item>,
                                               std::invoke_result<F&, Item>>::type>;
  static_assert(!std::is_void_v<Res>, "goro::parallel_map: f returns the mapped value");
  if (limit == 0) throw std::invalid_argument("goro::parallel_map: limit 0 would never run an item");

  auto map = [&](auto&& seq) {
    const std::size_t n = std::ranges::size(seq);
    std::vector<std::optional<Res>> slots(n);
    {
      errgroup g(ctx);
      g.set_limit(limit);
      for (std::size_t i = 0; i < n; ++i) {
        if (g.ctx().err()) break;  // a call failed (or ctx is done): start nothing more
        g.go([&, i] {
          // go() may have waited for a slot while a call failed or ctx ended: start nothing then
          if (g.ctx().err()) return;
          if constexpr (takes_ctx)
            slots[i].emplace(f(g.ctx(), seq[i]));
          else
            slots[i].emplace(f(seq[i]));
        });
      }
      g.wait();  // rethrows the first failure
    }
    std::vector<Res> out;
    out.reserve(n);
    for (auto& s : slots) {
      if (!s) throw std::system_error(ctx.err(), "goro::parallel_map");  // ctx ended the map early
      out.push_back(std::move(*s));
    }
    return out;
  };
  if constexpr (by_ref) {
    return map(items);
  } else {
    std::vector<std::ranges::range_value_t<Range>> copy(std::ranges::begin(items), std::ranges::end(items));
    return map(std::as_const(copy));
  }
}

}  // namespace goro
