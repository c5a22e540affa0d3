// timeout_and_cancel: three ways a goro::context stops work that is no longer wanted.
//
//  1. with_timeout: the caller selects on the answer and on ctx.done(), so a slow operation
//     costs it the timeout, not the operation's time.
//  2. with_cancel: a consumer that has what it needs cancels, and the producer, whose sends
//     also wait on ctx.done(), stops instead of blocking forever on a send nobody takes.
//  3. errgroup: the first task that fails cancels the group's context, and the other tasks,
//     which watch it, return early; wait() rethrows the failure.
//
// Every slow operation here also watches its context, so every fiber ends and is joined
// before main returns. The durations are far apart (50 ms against 10 s), so what happens
// first does not depend on how loaded the machine is.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

// A simulated remote call that takes `latency`, or less if ctx ends first. Returns nullopt
// when it gave up (the reason is ctx.err()).
std::optional<std::string> query(const goro::context& ctx, std::chrono::milliseconds latency) {
  if (goro::select(goro::case_recv(goro::after(latency)), goro::case_recv(ctx.done())) == 1) return {};
  return "answer after " + std::to_string(latency.count()) + " ms";
}

// Runs query() in its own fiber (as a client library would) and waits for the answer or the
// context, whichever comes first. The answer channel has a slot so that a late answer never
// blocks its sender; `wg` joins that fiber.
void call_with_timeout(std::chrono::milliseconds latency, std::chrono::milliseconds timeout) {
  auto [ctx, cancel] = goro::with_timeout(goro::context::background(), timeout);
  auto stop = goro::defer(cancel);  // Go: defer cancel() -- releases the timer early
  auto answer = goro::make_chan<std::string>(1);
  goro::wait_group wg;
  wg.go([ctx = ctx, answer, latency] {
    if (auto a = query(ctx, latency)) answer.send(*a);
  });
  std::optional<std::string> got;
  if (goro::select(goro::case_recv(answer, [&got](std::optional<std::string> a) { got = std::move(a); }),
                   goro::case_recv(ctx.done())) == 0) {
    std::printf("got %s\n", got->c_str());
  } else {
    std::printf("gave up: %s\n", ctx.err().message().c_str());
  }
  cancel();  // the query, if still running, has no one to answer to
  wg.wait();
}

// A producer of 1, 2, 3, ... for as long as anyone wants them.
void produce(const goro::context& ctx, goro::send_chan<int> out, int& sent) {
  for (int i = 1; goro::send_or_done(ctx, out, i); ++i) sent = i;
}

}  // namespace

int main() {
  return goro::run([] {
    std::printf("-- with_timeout\n");
    call_with_timeout(10ms, 10s);  // answers well within its timeout
    call_with_timeout(10s, 50ms);  // would take 10 s: the caller stops waiting after 50 ms

    std::printf("-- with_cancel\n");
    {
      auto [ctx, cancel] = goro::with_cancel(goro::context::background());
      auto [child, cancel_child] = goro::with_timeout(ctx, 10s);  // a child ends with its parent
      auto numbers = goro::make_chan<int>();                      // unbuffered: the producer is never ahead
      int sent = 0;
      goro::wait_group wg;
      wg.go([&, ctx = ctx] { produce(ctx, numbers, sent); });
      for (int i = 0; i < 3; ++i) std::printf("took %d\n", *numbers.recv());
      cancel();  // enough: the producer's next send sees ctx.done() and it returns
      wg.wait();
      std::printf("producer stopped after %d values: %s\n", sent, ctx.err().message().c_str());
      std::printf("child context: %s\n", child.err().message().c_str());
      cancel_child();
    }

    std::printf("-- errgroup\n");
    const char* names[] = {"cache", "database", "search"};
    std::string outcome[3];  // each task writes only its own entry; read after wait()
    const clk::time_point start = clk::now();
    goro::errgroup g;
    g.go([&] { outcome[0] = "hit"; });  // no waiting: succeeds whatever the others do
    g.go([&] {
      goro::sleep_for(20ms);
      outcome[1] = "failed";
      throw std::runtime_error("database: connection refused");
    });
    g.go([&] {  // would take 10 s, but stops as soon as the group's context is cancelled
      outcome[2] = query(g.ctx(), 10s) ? "answered" : "stopped: " + g.ctx().err().message();
    });
    try {
      g.wait();
      std::printf("all tasks succeeded\n");
    } catch (const std::exception& e) {
      std::printf("wait: %s\n", e.what());
    }
    for (int i = 0; i < 3; ++i) std::printf("%s: %s\n", names[i], outcome[i].c_str());
    std::printf("the group did not wait for the slow task: %s\n", clk::now() - start < 5s ? "ok" : "NO");
  });
}
