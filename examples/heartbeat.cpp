// heartbeat: goro::supervise heals a worker that gets stuck ("Concurrency in Go", 5).
//
// The worker beats (calls its goro::pulse) as it makes progress. The supervisor restarts it
// whenever no beat arrives within the timeout, each time with a fresh context after
// cancelling the old one. Here the first two starts hang on a reply that never comes, the
// third is healthy: it does its five steps, then asks for a shutdown.
//
// Output order is fixed by causality, not by timing: a worker prints only before it beats,
// and the supervisor's on_restart prints only after it saw that beat and then the timeout.
// The timeout (300 ms) is 15 times the healthy worker's step, so load cannot fake a stall.
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
using namespace std::chrono_literals;

int main() {
  return goro::run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::context::background());
    auto finished = goro::make_chan<goro::unit>(1);  // the healthy worker: "my work is done"
    auto never_answered = goro::make_chan<int>();    // the reply a stuck worker waits for
    std::atomic<int> starts{0};

    // Joins every worker: the supervising fiber counts each start before it makes the
    // fiber (the first start here, the others in on_restart), so wait() cannot miss one.
    goro::wait_group workers;
    workers.add(1);

    auto worker = [&](const goro::context& wctx, goro::pulse beat) {
      auto done = goro::defer([&] { workers.done(); });
      const int id = starts.fetch_add(1) + 1;
      std::printf("worker %d: started\n", id);
      beat();  // alive so far
      if (id <= 2) {
        // Stuck: no more beats. It still watches wctx, or the supervisor's cancel could not
        // end it and nothing would (a fiber cannot be killed from outside, as in Go).
        goro::select(goro::case_recv(never_answered), goro::case_recv(wctx.done()));
      } else {
        for (int step = 1; step <= 5; ++step) {
          if (goro::select(goro::case_recv(goro::after(20ms)), goro::case_recv(wctx.done())) == 1) break;
          std::printf("worker %d: step %d done\n", id, step);
          beat();
        }
        finished.send({});
        // Wait for the shutdown (done() is closed, never sent to), then return. supervise()
        // sees ctx done and this worker returning at about the same time; since ctx is done,
        // it counts that as the end of the supervision, not as a reason to restart.
        wctx.done().recv();
      }
    };

    // Shuts the supervision down when the healthy worker says its work is done.
    goro::wait_group stopper;
    stopper.go([finished, cancel = cancel] {
      finished.recv();
      cancel();
    });

    goro::supervisor_options opts;
    opts.on_restart = [&](goro::restart_reason why, std::exception_ptr) {
      std::printf("supervisor: worker %d is stuck (%s); restarting\n", starts.load(), goro::to_string(why));
      workers.add(1);
    };
    std::printf("supervising with a heartbeat timeout of 300 ms\n");
    std::size_t restarts = goro::supervise(ctx, 300ms, worker, opts);
    std::printf("supervise returned after %zu restarts: %s\n", restarts, ctx.err().message().c_str());

    workers.wait();  // each worker returns once its context is cancelled
    stopper.wait();
    std::printf("all %d workers have exited\n", starts.load());
  });
}
