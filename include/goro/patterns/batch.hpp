// goro/patterns/batch.hpp: batching a stream by size or by time.
//
//   for (std::vector<Event> b : goro::batch(ctx, events, 100, 50ms)) write(b);
//
// Collects values into batches of at most max_size and sends a batch as soon as it is full
// or max_wait after its first value arrived, whichever comes first (max_wait <= 0: by size
// only). When the input is closed the last, partial batch is sent, then the output closes.
// When ctx is done the output closes and a partial batch is dropped. No empty batch is ever
// sent. max_size 0 throws std::invalid_argument.
//
// One fiber; one reused timer, armed only while a batch is open (a stream that stops leaves
// no timer running).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "../time.hpp"
#include "or_done.hpp"

namespace goro {

template <class T>
recv_chan<std::vector<T>> batch(const context& ctx, recv_chan<T> in, std::size_t max_size,
                                std::chrono::nanoseconds max_wait) {
  if (max_size == 0) throw std::invalid_argument("goro::batch: max_size must be at least 1");
  chan<std::vector<T>> out = make_chan<std::vector<T>>();
  goro::go([ctx, in = std::move(in), out, max_size, max_wait] {
    using time_chan = recv_chan<std::chrono::steady_clock::time_point>;
    timer t(std::chrono::hours(1));
    t.stop();
    const time_chan tc = t.c();
    const recv_chan<unit> done = ctx.done();
    std::vector<T> buf;
    auto flush = [&] {
      t.stop();
      bool ok = send_or_done(ctx, out, std::move(buf));
      buf = std::vector<T>();  // (not `= {}`: that picks the initializer_list overload, copies)
      return ok;
    };
    for (bool armed = false;;) {
      std::optional<T> v;
      bool closed = false;
      std::size_t i = goro::select(case_recv(in,
                                             [&](std::optional<T> x) {
                                               closed = !x;
                                               v = std::move(x);
                                             }),
                                   case_recv(armed ? tc : time_chan{}), case_recv(done));
      if (i == 2) break;
      if (i == 1 || closed) {
        armed = false;
        if (!buf.empty() && !flush()) break;
        if (closed) break;
        continue;
      }
      // No reserve(max_size): a time-only batch passes SIZE_MAX, and a flush by time would
      // still pay for max_size slots (review finding).
      buf.push_back(std::move(*v));
      if (buf.size() >= max_size) {
        armed = false;
        if (!flush()) break;
      } else if (buf.size() == 1 && max_wait > std::chrono::nanoseconds::zero()) {
        t.reset(max_wait);
        armed = true;
      }
    }
    out.close();
  });
  return out;
}
template <class T>
recv_chan<std::vector<T>> batch(const context& ctx, const chan<T>& in, std::size_t max_size,
                                std::chrono::nanoseconds max_wait) {
  return batch(ctx, recv_chan<T>(in), max_size, max_wait);
}

}  // namespace goro
