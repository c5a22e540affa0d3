// worker_pool: a fixed pool of worker fibers sharing one job channel (Go's "worker pools" from
// Go by Example). A feeder fiber sends the jobs, N workers take them as they become free, and
// the results come back to main on a second channel; a wait_group tells when the last worker
// is done, so the results channel can be closed and main's range-for over it ends.
//
//   feeder --jobs--> worker 1..N --results--> main
//
// The job: the length of the Collatz sequence that starts at n (3n + 1 when odd, n / 2 when
// even, until 1). Results arrive in whatever order the workers finish them, so the program
// indexes them by job before it prints anything: the output does not depend on scheduling.
#include <goro/goro.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace {

constexpr int kWorkers = 4;
constexpr int kJobs = 10'000;

struct result {
  int n;      // the job
  int steps;  // its answer
};

int collatz_steps(long n) {
  int steps = 0;
  for (; n != 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
  return steps;
}

// A worker takes jobs until the channel is closed and drained, then returns. Several workers
// receiving from one channel is safe: each job is delivered to exactly one of them.
void worker(goro::recv_chan<int> jobs, goro::send_chan<result> results) {
  for (int n : jobs) results.send({n, collatz_steps(n)});
}

}  // namespace

int main() {
  return goro::run([] {
    auto jobs = goro::make_chan<int>(kWorkers);  // a small buffer: workers rarely wait for jobs
    auto results = goro::make_chan<result>(kWorkers);

    goro::wait_group workers;
    for (int w = 0; w < kWorkers; ++w) workers.go([=] { worker(jobs, results); });

    // Main must not send every job before it reads results: with small buffers, workers
    // blocked on `results` would stop taking jobs and both sides would wait forever. So a
    // feeder fiber sends the jobs while main collects.
    goro::wait_group helpers;
    helpers.go([jobs] {
      for (int n = 1; n <= kJobs; ++n) jobs.send(n);
      jobs.close();  // lets each worker's range-for end
    });
    // Close `results` once no worker can send any more: that is what ends main's loop.
    helpers.go([&workers, results] {
      workers.wait();
      results.close();
    });

    std::vector<int> steps(kJobs + 1, -1);  // steps[n], -1 while job n has no result
    int received = 0;
    for (result r : results) {
      steps[r.n] = r.steps;
      ++received;
    }
    helpers.wait();  // join the feeder and the closer too: no fiber outlives main

    long total = 0;
    int longest = 1;
    for (int n = 1; n <= kJobs; ++n) {
      total += steps[n];
      if (steps[n] > steps[longest]) longest = n;  // the smallest n wins a tie
    }
    bool all_done = received == kJobs && std::count(steps.begin() + 1, steps.end(), -1) == 0;
    std::printf("%d workers processed %d jobs\n", kWorkers, received);
    std::printf("every job answered exactly once: %s\n", all_done ? "yes" : "NO");
    std::printf("steps of 1..10: ");
    for (int n = 1; n <= 10; ++n) std::printf("%d%c", steps[n], n == 10 ? '\n' : ' ');
    std::printf("total steps: %ld\n", total);
    std::printf("longest chain: n = %d (%d steps)\n", longest, steps[longest]);
    return all_done ? 0 : 1;
  });
}
