// goro/patterns/supervisor.hpp: a supervisor that restarts a worker whose heartbeat stops
// ("Concurrency in Go", 5: healing unhealthy goroutines).
//
//   std::size_t restarts = goro::supervise(ctx, 1s, [](const goro::context& wctx, goro::pulse beat) {
//     while (!wctx.err()) { beat(); step(wctx); }
//   });
//
// supervise() starts worker(wctx, beat) in a fiber and watches it from the calling fiber:
// whenever `timeout` passes without a beat, or the worker returns or throws, it cancels that
// worker's context wctx (a child of ctx) and starts a fresh one. It returns, with the number
// of restarts, once ctx is done (cancelling the current worker and waiting up to one timeout
// for it to return) or once max_restarts would be
// exceeded (then it throws std::runtime_error naming the last reason, with the worker's
// exception nested when it threw). on_restart, if given, is called before each restart.
//
// A stuck worker is abandoned, not waited for: if it never looks at wctx it stays parked (as
// in Go, nothing can stop a goroutine from outside). Each start copies `worker`.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "../time.hpp"
#include "heartbeat.hpp"

namespace goro {

enum class restart_reason { stalled, returned, threw };

inline const char* to_string(restart_reason r) noexcept {
  switch (r) {
    case restart_reason::stalled:
      return "no heartbeat within the timeout";
    case restart_reason::returned:
      return "the worker returned";
    case restart_reason::threw:
      return "the worker threw";
  }
  return "?";
}

struct supervisor_options {
  std::size_t max_restarts = std::numeric_limits<std::size_t>::max();
  // Called in the supervising fiber before each restart; `error` is set when the worker threw.
  std::function<void(restart_reason reason, std::exception_ptr error)> on_restart;
};

template <class F>
std::size_t supervise(const context& ctx, std::chrono::nanoseconds timeout, F worker,
                      supervisor_options opts = {}) {
  static_assert(std::is_invocable_v<F&, const context&, pulse>,
                "goro::supervise: the worker is called as worker(const goro::context&, goro::pulse)");
  if (timeout <= std::chrono::nanoseconds::zero())
    throw std::invalid_argument("goro::supervise: the heartbeat timeout must be positive");
  const recv_chan<unit> done = ctx.done();
  for (std::size_t restarts = 0;; ++restarts) {
    auto [wctx, cancel] = with_cancel(ctx);
    auto [beat, beats] = make_heartbeat();
    chan<std::exception_ptr> exited = make_chan<std::exception_ptr>(1);  // never blocks the worker
    goro::go([wctx = wctx, beat = beat, exited, worker]() mutable {
      std::exception_ptr e;
      try {
        worker(wctx, beat);
      } catch (...) {
        e = std::current_exception();
      }
      exited.try_send(std::move(e));
    });

    timer t(timeout);
    std::optional<restart_reason> why;
    std::exception_ptr error;
    while (!why) {
      switch (goro::select(
          case_recv(beats), case_recv(t.c()),
          case_recv(exited, [&](std::optional<std::exception_ptr> e) { error = e ? *e : nullptr; }),
          case_recv(done))) {
        case 0:
          t.reset(timeout);
          break;
        case 1:
          why = restart_reason::stalled;
          break;
        case 2:
          why = error ? restart_reason::threw : restart_reason::returned;
          break;
        default:
          // Shutting down: a worker that watches its context returns soon; wait for it (up to
          // one timeout) so that a well-behaved worker never outlives supervise() and what it
          // references. A stuck one is abandoned, as documented.
          cancel();
          goro::select(case_recv(exited), case_recv(after(timeout)));
          return restarts;
      }
    }
    cancel();
    // ctx may have ended together with the worker (one that returns when its context is done
    // does exactly that): shutting down is neither a restart nor a failure.
    if (ctx.err()) return restarts;
    if (restarts == opts.max_restarts) {
      std::string msg = std::string("goro::supervise: giving up after ") + std::to_string(restarts) +
                        " restarts: " + to_string(*why);
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (...) {
          std::throw_with_nested(std::runtime_error(msg));
        }
      }
      throw std::runtime_error(msg);
    }
    if (opts.on_restart) opts.on_restart(*why, error);
  }
}

}  // namespace goro
