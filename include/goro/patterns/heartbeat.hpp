// goro/patterns/heartbeat.hpp: heartbeats, a worker's "I am alive" signal
// ("Concurrency in Go", 5).
//
//   auto [beat, beats] = goro::make_heartbeat();
//   goro::go([=] { for (;;) { beat(); work(); } });          // the worker
//   goro::select(goro::case_recv(beats), goro::case_recv(goro::after(1s)));   // the watcher
//
//   goro::go([=] { goro::beat_every(ctx, 100ms, beat); });    // beats on a timer while ctx lasts
//
// A pulse never blocks the worker: the heartbeat channel holds one beat and further beats
// are dropped until the watcher takes it, so a worker nobody watches loses nothing but the
// beats, and a watcher sees at most one stale beat. The supervisor (supervisor.hpp) watches
// heartbeats to restart a stuck worker.
#pragma once

#include <chrono>
#include <utility>

#include "../time.hpp"
#include "or_done.hpp"

namespace goro {

// The worker's side of a heartbeat: calling it sends a beat if none is pending.
class pulse {
 public:
  pulse() = default;  // a pulse that goes nowhere
  explicit pulse(send_chan<unit> ch) noexcept : ch_(std::move(ch)) {}
  void operator()() const { ch_.try_send(unit{}); }

 private:
  send_chan<unit> ch_;
};

// A pulse and the channel its beats arrive on.
inline std::pair<pulse, recv_chan<unit>> make_heartbeat() {
  chan<unit> ch = make_chan<unit>(1);
  return {pulse(ch), ch};
}

// Beats every interval until ctx is done (in the calling fiber).
inline void beat_every(const context& ctx, std::chrono::nanoseconds interval, const pulse& p) {
  ticker t(interval);
  const recv_chan<unit> done = ctx.done();
  while (goro::select(case_recv(t.c()), case_recv(done)) == 0) p();
}

}  // namespace goro
