// Go's concurrent prime sieve, with goro fibers and unbuffered channels. A generator sends
// 2, 3, 4, ... down a channel; every prime that comes out of the chain adds a filter fiber that
// drops that prime's multiples, so each number travels through a chain of fibers:
//
//   generate -> filter(2) -> filter(3) -> filter(5) -> ... -> main
//
// Usage: prime_sieve [N]    prints the first N primes (default 100), ten per line.
//
// Go's version leaves the generator and the filters blocked forever when main returns. Here the
// generator stops at an upper bound for the N-th prime and closes its channel, each filter
// closes its output once its input is closed and drained, and main drains the chain's end, so
// every fiber has finished its work before run() returns.
#include <goro/goro.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace {

// Sends 2, 3, ..., limit to `out`, then closes it.
void generate(goro::send_chan<int> out, int limit) {
  for (int i = 2; i <= limit; ++i) out.send(i);
  out.close();
}

// Copies the values from `in` to `out`, removing those divisible by `prime`.
void filter(goro::recv_chan<int> in, goro::send_chan<int> out, int prime) {
  for (int i : in) {
    if (i % prime != 0) out.send(i);
  }
  out.close();
}

// An upper bound for the n-th prime: p(n) < n (ln n + ln ln n) for n >= 6 (Rosser, 1962).
int nth_prime_bound(int n) {
  if (n < 6) return 11;
  double x = n;
  return static_cast<int>(x * (std::log(x) + std::log(std::log(x))));
}

}  // namespace

int main(int argc, char* argv[]) {
  int n = argc > 1 ? std::atoi(argv[1]) : 100;
  if (argc > 2 || n < 1 || n > 10'000) {
    std::fprintf(stderr, "usage: prime_sieve [N]   (1 <= N <= 10000, default 100)\n");
    return 2;
  }
  return goro::run([n] {
    goro::chan<int> ch = goro::make_chan<int>();
    goro::go(generate, ch, nth_prime_bound(n));
    for (int i = 0; i < n; ++i) {
      int prime = ch.recv().value();  // whatever leaves the chain is prime
      std::printf("%d%c", prime, i % 10 == 9 || i == n - 1 ? '\n' : ' ');
      goro::chan<int> next = goro::make_chan<int>();
      goro::go(filter, ch, next, prime);
      ch = next;
    }
    while (ch.recv()) {
      // Primes past the N-th: drain them until the generator's close reaches the end.
    }
  });
}
