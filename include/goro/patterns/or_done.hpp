// goro/patterns/or_done.hpp: channel operations that give up when a context is done, and
// or_done ("Concurrency in Go", 4: range over a channel until the context is done).
//
//   if (!goro::send_or_done(ctx, out, v)) return;        // ctx was cancelled first
//   while (auto v = goro::recv_or_done(ctx, in)) ...     // nullopt: closed and drained, or ctx done
//   for (T v : goro::or_done(ctx, in)) ...               // the same, as a channel
//
// Every stage in goro/patterns is built on these two operations: a stage fiber blocks only
// in a select that also waits on ctx.done(), so cancelling the context always lets it finish.
// That is the contract of the whole pattern library: a consumer that stops early cancels the
// context it passed in, and every fiber the patterns started returns (nothing leaks).
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "../chan.hpp"
#include "../context.hpp"
#include "../runtime.hpp"
#include "../select.hpp"

namespace goro {

// Sends v on ch unless ctx is done first; true when the value was sent. When both are ready
// one is chosen at random (Go's select). Throws closed_channel_error if ch is closed.
template <class T>
bool send_or_done(const context& ctx, const send_chan<T>& ch, std::type_identity_t<T> v) {
  return goro::select(case_send(ch, std::move(v)), case_recv(ctx.done())) == 0;
}
template <class T>
bool send_or_done(const context& ctx, const chan<T>& ch, std::type_identity_t<T> v) {
  return goro::select(case_send(ch, std::move(v)), case_recv(ctx.done())) == 0;
}

// Receives from ch unless ctx is done first; nullopt when ch is closed and drained or ctx is
// done (ctx.err() tells them apart).
template <class T>
std::optional<T> recv_or_done(const context& ctx, const recv_chan<T>& ch) {
  std::optional<T> out;
  goro::select(case_recv(ch, [&](std::optional<T> v) { out = std::move(v); }), case_recv(ctx.done()));
  return out;
}
template <class T>
std::optional<T> recv_or_done(const context& ctx, const chan<T>& ch) {
  return recv_or_done(ctx, recv_chan<T>(ch));
}

// A channel that yields in's values until in is closed and drained or ctx is done, then
// closes. One fiber forwards; it ends with the channel.
template <class T>
recv_chan<T> or_done(const context& ctx, recv_chan<T> in) {
  chan<T> out = make_chan<T>();
  goro::go([ctx, in = std::move(in), out]() mutable {
    while (auto v = recv_or_done(ctx, in)) {
      if (!send_or_done(ctx, out, std::move(*v))) break;
    }
    out.close();
  });
  return out;
}

}  // namespace goro
