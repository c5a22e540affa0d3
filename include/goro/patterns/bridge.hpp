// goro/patterns/bridge.hpp: bridge, a channel of channels read as one channel
// ("Concurrency in Go", 4).
//
//   chan<recv_chan<int>> streams = ...;
//   for (int v : goro::bridge(ctx, streams)) ...   // every value of the first stream, then
//                                                  // of the second, ... in order
//
// Streams are drained one after another, in the order they arrive; the output closes when
// the channel of streams is closed and its last stream is drained, or when ctx is done. A nil
// stream is skipped (it would never end).
#pragma once

#include <optional>
#include <utility>

#include "or_done.hpp"

namespace goro {

template <class T>
recv_chan<T> bridge(const context& ctx, recv_chan<recv_chan<T>> streams) {
  chan<T> out = make_chan<T>();
  goro::go([ctx, streams = std::move(streams), out] {
    // Forwards one stream until it is drained; false once ctx is done.
    auto drain = [&](const recv_chan<T>& stream) {
      while (std::optional<T> v = recv_or_done(ctx, stream)) {
        if (!send_or_done(ctx, out, std::move(*v))) return false;
      }
      return !ctx.err();
    };
    while (std::optional<recv_chan<T>> stream = recv_or_done(ctx, streams)) {
      if (*stream && !drain(*stream)) break;
    }
    out.close();
  });
  return out;
}
template <class T>
recv_chan<T> bridge(const context& ctx, const chan<recv_chan<T>>& streams) {
  return bridge(ctx, recv_chan<recv_chan<T>>(streams));
}

}  // namespace goro
