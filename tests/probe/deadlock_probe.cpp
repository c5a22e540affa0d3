// deadlock_probe CASE: small programs that end (or must not end) in goro's deadlock report.
// ctest runs each case and matches its output (tests/CMakeLists.txt, probe_*). Cases that
// must not report print "ok" and exit 0.
#include <goro/goro.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "fibers_only") {
    // The main fiber waits for a result no fiber will send: Go's classic.
    goro::run([] {
      auto results = goro::make_chan<int>();
      auto never = goro::make_chan<int>();
      goro::go([never] { (void)never.recv(); });
      (void)results.recv();
    });
  } else if (what == "mutex_cycle") {
    // Two fibers each hold one mutex and wait for the other's; main waits for both.
    goro::run([] {
      goro::mutex a, b;
      goro::wait_group wg;
      auto has_a = goro::make_chan<goro::unit>(1), has_b = goro::make_chan<goro::unit>(1);
      wg.go([&] {
        a.lock();
        has_a.send({});
        (void)has_b.recv();
        b.lock();  // never returns: fiber 2 holds b and waits for a
        b.unlock();
        a.unlock();
      });
      wg.go([&] {
        b.lock();
        has_b.send({});
        (void)has_a.recv();
        a.lock();
        a.unlock();
        b.unlock();
      });
      wg.wait();
    });
  } else if (what == "thread_blocked") {
    // No run(): the default runtime, and the main thread itself blocked on a channel.
    auto ch = goro::make_chan<int>();
    goro::go([ch] { goro::sleep_for(10ms); });
    (void)ch.recv();
  } else if (what == "thread_will_send") {
    // A plain thread will send later: it could wake the fiber, so this is no deadlock.
    goro::run([] {
      auto ch = goro::make_chan<int>();
      std::thread th([ch] {
        std::this_thread::sleep_for(600ms);
        ch.send(1);
      });
      (void)ch.recv();
      th.join();
    });
    std::puts("ok");
  } else if (what == "timer_pending") {
    // Everything parked, but a timer will fire.
    goro::run([] {
      auto ch = goro::make_chan<int>();
      auto t = goro::after_func(400ms, [ch] { ch.send(1); });  // (a discarded timer is stopped)
      (void)ch.recv();
    });
    std::puts("ok");
  } else if (what == "sigquit") {
    // options::dump_on_sigquit: SIGQUIT prints every fiber and the program goes on; a handler
    // the program installed before still runs.
    static volatile sig_atomic_t chained = 0;
    signal(SIGQUIT, [](int) { chained = 1; });
    goro::run(
        [] {
          auto ch = goro::make_chan<int>();
          auto gone = goro::make_chan<int>();
          goro::go([ch, gone] {
            (void)ch.recv();
            gone.close();
          });
          goro::sleep_for(20ms);
          // To this very thread, then libc calls on it: TSan delivers a signal only when the
          // receiving thread enters an intercepted call (an idle worker in a raw futex wait
          // would hold it until after run() ended).
          pthread_kill(pthread_self(), SIGQUIT);
          for (int i = 0; i < 50; ++i) usleep(10'000);  // the dumper thread writes meanwhile
          ch.close();
          // Wait for the receiver: a fiber still runnable when run() returns is abandoned, and
          // LeakSanitizer would report its captures (then exit before stdout is flushed).
          (void)gone.recv();
        },
        goro::options{.dump_on_sigquit = true});
    if (chained) std::puts("chained");
    std::puts("ok");
  } else if (what == "detection_off") {
    // A real deadlock with detection off: it hangs; the alarm ends it with "no report".
    signal(SIGALRM, [](int) {
      const char msg[] = "no report\n";
      ssize_t w = write(1, msg, sizeof msg - 1);
      (void)w;
      _exit(0);
    });
    alarm(1);
    goro::run([] { (void)goro::make_chan<int>().recv(); }, goro::options{.detect_deadlock = false});
  } else {
    std::fprintf(stderr, "usage: deadlock_probe CASE\n");
    return 64;
  }
  return 0;
}
