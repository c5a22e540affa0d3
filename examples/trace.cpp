// trace: records what goro's scheduler did while a small pipeline ran, as a Chrome trace.
//
//   trace [FILE]      (default goro-trace.json; open it in https://ui.perfetto.dev)
//
// Each processor is a row; each slice is a fiber running, named by its id. Instants mark
// spawns, parks (with the reason: "chan receive", "select", ...), fibers made ready, steals.
#include <goro/goro.hpp>

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "goro-trace.json";
  return goro::run([&] {
    goro::trace_start();

    // The work to look at: a generator, three squaring workers, a merge and a sum.
    auto ctx = goro::context::background();
    auto numbers = goro::generate(ctx, [n = 0]() mutable -> std::optional<long> {
      if (n == 2000) return std::nullopt;
      return n++;
    });
    auto squares = goro::fan_out(ctx, numbers, 3, [](long x) { return x * x; });
    long sum = 0;
    for (long v : squares) sum += v;

    std::ofstream out(path);
    std::size_t events = goro::trace_stop(out);
    out.close();
    if (!out) {
      std::fprintf(stderr, "trace: cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("sum of squares below 2000: %ld\n", sum);
    std::printf("wrote %s: open it in https://ui.perfetto.dev or chrome://tracing\n", path.c_str());
    std::fprintf(stderr, "trace: %zu events\n", events);
    return 0;
  });
}
