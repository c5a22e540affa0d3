// goro/detail/census.hpp: who could still wake a parked fiber, for deadlock detection.
//
// Go reports "all goroutines are asleep - deadlock!" when no goroutine can run and no
// thread could make one runnable. In C++ any thread of the process may hold a channel and
// send on it later, so goro declares a deadlock only when it can account for every thread of
// the process (read from /proc/self/stat) as one of:
//   * a worker of some runtime, all of them asleep with no timer pending (idle_forever);
//   * a plain thread blocked inside a goro operation (blocked);
//   * a thread waiting in run() for its main fiber (run_callers);
//   * goro's own service thread, the SIGQUIT dumper (helpers);
//   * a sanitizer's own background thread (TSan has one).
// A thread that is anything else (running, sleeping in a system call, blocked on a
// std::mutex) might still wake a fiber, so it vetoes the report: detection errs on the side
// of silence, never reports a program that could make progress.
//
// `epoch` moves whenever something could have happened that the counts do not show (a
// worker woken by a submitter, a thread blocking or unblocking, a run() starting or ending).
// The detector takes the counts twice, a full grace period apart, with the same epoch in
// between, and finally checks that no other thread is running. The *waker* takes a sleeper
// out of the counts (and moves the epoch), never the sleeper when it gets to run: a thread
// that was woken but not yet scheduled must not look asleep.
//
// Counters are process-wide atomics, touched only on slow paths: a worker going to sleep
// with no deadline, a plain thread blocking, run() entry and exit.
#pragma once

#include <dirent.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace goro::detail {

struct thread_census {
  std::atomic<int> workers{0};       // worker threads started and not yet exited (all runtimes)
  std::atomic<int> idle_forever{0};  // workers asleep with no timer deadline
  std::atomic<int> blocked{0};       // plain threads blocked in a goro operation
  std::atomic<int> run_callers{0};   // threads waiting in run() for the main fiber
  std::atomic<int> helpers{0};       // goro's own service threads (the SIGQUIT dumper)
  std::atomic<std::uint64_t> epoch{0};
  // Set in a fork() child: the counts describe the parent's threads, so detection is off.
  std::atomic<bool> forked{false};

  static thread_census& get() noexcept {
    static thread_census c;
    static const bool registered = [] {
      pthread_atfork(nullptr, nullptr, [] { c.forked.store(true, std::memory_order_relaxed); });
      return true;
    }();
    (void)registered;
    return c;
  }
  void bump() noexcept { epoch.fetch_add(1, std::memory_order_seq_cst); }

  // Threads of this process that are not ours (the sanitizer's background thread excluded);
  // -1 when /proc cannot tell.
  int unaccounted_threads() const noexcept {
    int n = process_threads();
    if (n < 0) return -1;
#if defined(GORO_TSAN)
    n -= 1;  // TSan's background thread
#endif
    return n - workers.load(std::memory_order_seq_cst) - blocked.load(std::memory_order_seq_cst) -
           run_callers.load(std::memory_order_seq_cst) - helpers.load(std::memory_order_seq_cst);
  }

  // Whether a thread of this process other than the caller is running or runnable (state R
  // in /proc/self/task/*/stat): the last safety net before a report. False when /proc cannot
  // tell (the counts already said every thread is accounted for).
  static bool others_running() noexcept {
    const long self = syscall(SYS_gettid);
    DIR* d = opendir("/proc/self/task");
    if (d == nullptr) return false;
    bool running = false;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      const long tid = std::atol(e->d_name);
      if (tid == self) continue;
      char path[64];
      std::snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
      if (thread_state(path) == 'R') {
        running = true;
        break;
      }
    }
    closedir(d);
    return running;
  }

  // Reads a /proc stat file into buf and returns its third field (the state letter), which
  // follows the parenthesised command name (the name may hold spaces and parentheses, hence
  // the last ')'); null when the file cannot be read or parsed.
  static const char* stat_fields(const char* path, char* buf, std::size_t size) noexcept {
    std::FILE* f = std::fopen(path, "r");
    if (f == nullptr) return nullptr;
    std::size_t n = std::fread(buf, 1, size - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    const char* p = std::strrchr(buf, ')');
    return p != nullptr && p[1] == ' ' && p[2] != '\0' ? p + 2 : nullptr;
  }

  static char thread_state(const char* path) noexcept {
    char buf[512];
    const char* p = stat_fields(path, buf, sizeof buf);
    return p != nullptr ? *p : '?';
  }

  // Field 20 of /proc/self/stat: the number of threads.
  static int process_threads() noexcept {
    char buf[1024];
    const char* p = stat_fields("/proc/self/stat", buf, sizeof buf);
    for (int field = 3; p != nullptr; ++field) {
      if (field == 20) {
        int threads = 0;
        return std::sscanf(p, "%d", &threads) == 1 ? threads : -1;
      }
      p = std::strchr(p, ' ');
      if (p != nullptr) ++p;
    }
    return -1;
  }
};

}  // namespace goro::detail
