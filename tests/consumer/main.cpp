// A program that uses goro as a user would; tests/consumer/ builds it against an installed goro
// (find_package and pkg-config) and against goro's source tree (add_subdirectory).
#include <goro/goro.hpp>

#include <cstdio>

int main() {
  return goro::run([]() -> int {
    goro::chan<int> ch = goro::make_chan<int>();
    goro::go([ch]() mutable {
      for (int i = 1; i <= 100; ++i) ch.send(i);
      ch.close();
    });
    int sum = 0;
    for (int v : ch) sum += v;
    if (sum != 5050) {
      std::fprintf(stderr, "consumer FAILED: sum of 1..100 is %d, want 5050\n", sum);
      return 1;
    }
    std::printf("consumer ok %d\n", sum);
    return 0;
  });
}
