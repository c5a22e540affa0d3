// goro/patterns/tee.hpp: tee, one input into two outputs ("Concurrency in Go", 4).
//
//   auto [a, b] = goro::tee(ctx, in);   // each value of in goes to a and to b
//
// Both outputs get every value (copied), in order; the stage moves on to the next value
// only once both took the current one, so the slower reader paces the faster one (as Go's
// tee). The outputs close when in is closed and drained or ctx is done.
#pragma once

#include <optional>
#include <utility>

#include "or_done.hpp"

namespace goro {

template <class T>
std::pair<recv_chan<T>, recv_chan<T>> tee(const context& ctx, recv_chan<T> in) {
  static_assert(std::is_copy_constructible_v<T>, "goro::tee copies each value to both outputs");
  chan<T> out1 = make_chan<T>(), out2 = make_chan<T>();
  goro::go([ctx, in = std::move(in), out1, out2] {
    recv_chan<unit> done = ctx.done();
    // Offers v to both; a channel that took it is set to nil so it is not offered twice.
    auto offer = [&](const T& v) {
      send_chan<T> a = out1, b = out2;
      for (int sent = 0; sent < 2; ++sent) {
        std::size_t i = goro::select(case_send(a, v), case_send(b, v), case_recv(done));
        if (i == 2) return false;
        (i == 0 ? a : b) = send_chan<T>{};
      }
      return true;
    };
    while (std::optional<T> v = recv_or_done(ctx, in)) {
      if (!offer(*v)) break;
    }
    out1.close();
    out2.close();
  });
  return {out1, out2};
}
template <class T>
std::pair<recv_chan<T>, recv_chan<T>> tee(const context& ctx, const chan<T>& in) {
  return tee(ctx, recv_chan<T>(in));
}

}  // namespace goro
