// goro/patterns/merge.hpp: merge (fan-in) of any number of channels into one, and
// or_channel, a channel closed as soon as any of several is ("Concurrency in Go", 4).
//
//   auto all = goro::merge(ctx, a, b, c);          // or merge(ctx, std::vector<recv_chan<T>>)
//   auto any = goro::or_channel(ctx, d1, d2, d3);  // closed when d1, d2 or d3 is closed (or
//                                                  // receives a value), or ctx is done
//
// merge: one fiber waits on every input at once with a dynamic_select (reflect.Select), so
// merging N channels costs one fiber and one wait, not N forwarding fibers, and every ready
// input is equally likely to be served next. Values of one input keep their order. The output
// closes when every input is closed and drained, or when ctx is done. Nil inputs are ignored.
//
// Cancellation: the select's cases all have the element type T, so ctx.done() (a channel of
// unit) cannot be one of them. A second fiber waits for the merge's own child context to be
// done and then closes a private channel of T that is a case of the select; the merge cancels
// that child context when it ends for any reason, so the watcher always ends too.
//
// or_channel: one fiber waiting on the inputs and ctx.done(): a dynamic_select for a vector
// of unit channels, a select for a list of channels of any element types. With no non-nil
// input and a context that can never be done, it returns a nil channel (never done) and
// starts nothing. The fiber lives until one input fires or ctx is done: tie it to a context
// that ends.
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "or_done.hpp"

namespace goro {

template <class T>
recv_chan<T> merge(const context& ctx, std::vector<recv_chan<T>> inputs) {
  chan<T> out = make_chan<T>();
  auto [inner, cancel] = with_cancel(ctx);  // (not captured as bindings: clang 14 cannot)
  chan<T> stop = make_chan<T>();
  goro::go([inner = inner, stop] {
    inner.done().recv();
    stop.close();
  });
  goro::go([inner = inner, cancel = std::move(cancel), out, stop, inputs = std::move(inputs)]() mutable {
    dynamic_select<T> sel;
    std::size_t live = 0;
    for (recv_chan<T>& in : inputs) {
      if (!in) continue;
      sel.add_recv(std::move(in));
      ++live;
    }
    inputs = {};
    const std::size_t stop_case = sel.add_recv(stop);
    while (live > 0) {
      auto r = sel.wait();
      if (r.index == stop_case) break;
      if (!r.value) {  // that input is closed and drained
        sel.remove(r.index);
        --live;
        continue;
      }
      if (!send_or_done(inner, out, std::move(*r.value))) break;
    }
    // The watcher must be gone before the output closes: a consumer that sees the close may
    // end run() at once, and a fiber still waiting to run then would never run again (its
    // captures, the context chain among them, would leak). It closes `stop` as its last act
    // while running, and a running fiber always reaches its exit.
    cancel();
    while (stop.recv()) {
    }
    out.close();
  });
  return out;
}

template <class C, class... Cs>
requires(detail::chan_traits<std::remove_cvref_t<C>>::is_chan&&
             detail::chan_traits<std::remove_cvref_t<C>>::can_recv) auto merge(const context& ctx,
                                                                               const C& first,
                                                                               const Cs&... rest) {
  using T = typename detail::chan_traits<std::remove_cvref_t<C>>::value_type;
  std::vector<recv_chan<T>> inputs;
  inputs.reserve(1 + sizeof...(rest));
  inputs.emplace_back(first);
  (inputs.emplace_back(rest), ...);
  return merge(ctx, std::move(inputs));
}

inline recv_chan<unit> or_channel(const context& ctx, std::vector<recv_chan<unit>> inputs) {
  recv_chan<unit> done = ctx.done();
  std::erase_if(inputs, [](const recv_chan<unit>& c) { return !c; });
  if (inputs.empty() && !done) return {};
  chan<unit> out = make_chan<unit>();
  goro::go([out, done, inputs = std::move(inputs)]() mutable {
    dynamic_select<unit> sel;
    for (recv_chan<unit>& in : inputs) sel.add_recv(std::move(in));
    inputs = {};
    if (done) sel.add_recv(done);
    sel.wait();
    out.close();
  });
  return out;
}

// Any mix of receivable channels (a done channel, a timer, a data channel): the first one
// to deliver a value or close makes the result close. One fiber, one select.
template <class... Cs>
requires(sizeof...(Cs) > 0 && ((detail::chan_traits<Cs>::is_chan && detail::chan_traits<Cs>::can_recv) &&
                               ...)) recv_chan<unit> or_channel(const context& ctx, const Cs&... inputs) {
  recv_chan<unit> done = ctx.done();
  if (!done && (!inputs && ...)) return {};
  chan<unit> out = make_chan<unit>();
  goro::go([out, done, ins = std::make_tuple(inputs...)] {
    std::apply([&](const auto&... in) { goro::select(case_recv(in)..., case_recv(done)); }, ins);
    out.close();
  });
  return out;
}

}  // namespace goro
