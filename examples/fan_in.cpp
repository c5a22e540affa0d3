// fan_in: the README's taste of goro. Fan squaring work out to four fibers, fan the results
// back in with select, and give up after a second.
#include <goro/goro.hpp>

#include <cstdio>
using namespace std::chrono_literals;

int main() {
  return goro::run([] {
    auto jobs = goro::make_chan<int>();
    auto results = goro::make_chan<int>(8);
    auto done = goro::make_chan<goro::unit>(4);
    for (int w = 0; w < 4; ++w) {  // fan out
      goro::go([=] {
        for (int n : jobs) results.send(n * n);
        done.send({});
      });
    }
    goro::go([=] {
      for (int n = 1; n <= 100; ++n) jobs.send(n);
      jobs.close();
    });
    goro::go([=] {
      for (int w = 0; w < 4; ++w) done.recv();
      results.close();
    });

    long sum = 0;
    bool open = true;
    auto timeout = goro::after(1s);
    auto add = [&](std::optional<int> v) {
      if (v)
        sum += *v;
      else
        open = false;
    };
    auto give_up = [&] {
      std::puts("timed out");
      open = false;
    };
    while (open) goro::select(goro::case_recv(results, add), goro::case_recv(timeout, give_up));  // fan in
    std::printf("sum of squares: %ld\n", sum);
  });
}
