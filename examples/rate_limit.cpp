// rate_limit: goro::rate_limiter, a token bucket with golang.org/x/time/rate's semantics.
// A limiter rate_limiter(r, b) refills at r tokens per second up to b tokens ("burst") and
// starts full; each event takes one token.
//
//  1. allow() takes a token or says no at once: a load-shedding server uses it to reject
//     what is over the limit rather than queue it.
//  2. wait(ctx) parks the caller until its token is due: clients sharing one limiter are
//     spaced out, served in the order they asked.
//  3. wait(ctx) knows the future: when the token would come after ctx's deadline, it fails
//     at once instead of sleeping until the deadline only to fail then.
//
// The output holds no timings (they vary from run to run); where time matters, the program
// checks a lower bound the limiter guarantees and prints "ok".
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <system_error>
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

// Ten requests per second, bursts of up to three.
void shed_load() {
  goro::rate_limiter lim(10, 3);
  // allow() reads the clock itself; a run this short normally earns no new token, but on a
  // loaded machine a 100 ms preemption could. allow_n(now, 1) with one fixed `now` asks the
  // same question as allow() at one instant, so the answer cannot depend on scheduling.
  const clk::time_point now = clk::now();
  int allowed = 0;
  for (int i = 0; i < 5; ++i) allowed += lim.allow_n(now, 1);
  std::printf("burst of 5 requests: %d allowed, %d rejected\n", allowed, 5 - allowed);
  // 250 ms later the bucket has refilled 2.5 tokens: two more requests pass, the third not.
  const clk::time_point later = now + 250ms;
  std::printf("250 ms later: %.1f tokens; ", lim.tokens(later));
  bool a = lim.allow_n(later, 1), b = lim.allow_n(later, 1), c = lim.allow_n(later, 1);
  std::printf("next three requests: %s %s %s\n", a ? "allowed" : "rejected", b ? "allowed" : "rejected",
              c ? "allowed" : "rejected");
}

// Three clients share a limiter of one request per 20 ms with a burst of 2: twelve requests
// can only end after the 2 free ones plus 10 x 20 ms.
void space_out() {
  goro::rate_limiter lim(goro::every(20ms), 2);
  int served[3] = {0, 0, 0};  // each client writes its own slot
  const clk::time_point start = clk::now();
  goro::wait_group clients;
  for (int id = 0; id < 3; ++id) {
    clients.go([&lim, &served, id] {
      for (int i = 0; i < 4; ++i) {
        lim.wait();  // background context: waits as long as needed
        ++served[id];
      }
    });
  }
  clients.wait();
  const auto took = clk::now() - start;
  std::printf("served: client 0: %d, client 1: %d, client 2: %d\n", served[0], served[1], served[2]);
  // The limiter never lets an event through before its token is due, so 200 ms is a floor
  // (less a hair: token arithmetic is in doubles, rounded to nanoseconds); how much longer it
  // takes depends on the machine's load, so the program does not check that.
  std::printf("12 requests took at least 200 ms: %s\n", took >= 199ms ? "ok" : "TOO FAST");
}

// One request per 10 s and the only token spent: the next one is due in 10 s, which is past
// a 1 s deadline. wait() throws deadline_exceeded at once, without sleeping.
void give_up_early() {
  goro::rate_limiter lim(goro::every(10s), 1);
  lim.wait();  // takes the token the bucket started with
  auto [ctx, cancel] = goro::with_timeout(goro::context::background(), 1s);
  auto d = goro::defer(cancel);  // Go: defer cancel()
  const clk::time_point start = clk::now();
  try {
    lim.wait(ctx);
    std::printf("second request: allowed (unexpected)\n");
  } catch (const std::system_error& e) {
    std::printf("second request: %s\n", e.code().message().c_str());
  }
  std::printf("failed without waiting for the deadline: %s\n", clk::now() - start < 1s ? "ok" : "NO");
}

}  // namespace

int main() {
  return goro::run([] {
    shed_load();
    space_out();
    give_up_early();
  });
}
