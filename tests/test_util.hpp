// tests/test_util.hpp: shared helpers for goro's tests.
//
// run_test(procs, body) runs `body` as the main fiber of a fresh runtime with `procs`
// processors. An exception escaping the body (a failed REQUIRE, say) would terminate the
// process inside a fiber, so it is carried out of run() and rethrown on the test thread.
// Afterwards it checks that every fiber the body started has finished: tests are also
// leak checks.
#pragma once

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"

namespace goro_test {

// Scale for stress loops: GORO_TEST_SCALE (default 1; sanitizer builds run with less).
inline double scale() {
  static const double s = [] {
    const char* e = std::getenv("GORO_TEST_SCALE");
    double v = e ? std::atof(e) : 1.0;
    return v > 0 ? v : 1.0;
  }();
  return s;
}
inline long scaled(long n) {
  long v = static_cast<long>(static_cast<double>(n) * scale());
  return v < 1 ? 1 : v;
}

template <class F>
void run_test(unsigned procs, F&& body) {
  std::exception_ptr failure;
  std::size_t leftover = 0;
  goro::run(
      [&] {
        try {
          body();
        } catch (...) {
          failure = std::current_exception();
          return;
        }
        // Fibers the body started may still be finishing their last steps: give them a moment.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (goro::num_fibers() > 1 && std::chrono::steady_clock::now() < deadline) goro::yield();
        leftover = goro::num_fibers() - 1;
      },
      goro::options{.procs = procs});
  if (failure) std::rethrow_exception(failure);
  INFO("fibers still alive when the test body returned: " << leftover);
  CHECK(leftover == 0);
}

// Polls `pred` (yielding) until it holds or `timeout` passes; returns its last value.
template <class P>
bool eventually(P&& pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    if (goro::in_fiber()) {
      goro::yield();
    } else {
      std::this_thread::yield();
    }
  }
  return true;
}

// True once `started` is set, with one processor: a fiber that set it right before blocking
// is then parked (it cannot run again until this fiber yields or blocks). Tests use it to
// fix the arrival order of waiters.
inline bool wait_parked(const std::atomic<bool>& started) {
  return goro::procs() == 1 && eventually([&] { return started.load(); });
}

// Yields a while so that a fiber that *could* (wrongly) proceed gets every chance to.
inline void let_others_run() {
  using namespace std::chrono_literals;
  for (int i = 0; i < 200; ++i) goro::yield();
  std::this_thread::sleep_for(2ms);
  for (int i = 0; i < 200; ++i) goro::yield();
}

// Plain threads joined on success; detached on a failed REQUIRE (they may be stuck in a
// channel operation or a select) so that the failure is reported instead of hanging.
struct thread_set {
  std::vector<std::thread> v;
  template <class F>
  void start(F&& f) {
    v.emplace_back(std::forward<F>(f));
  }
  void join() {
    for (auto& t : v) t.join();
    v.clear();
  }
  ~thread_set() {
    for (auto& t : v) {
      if (t.joinable()) t.detach();
    }
  }
};

}  // namespace goro_test
