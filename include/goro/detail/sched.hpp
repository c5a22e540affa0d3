// goro/detail/sched.hpp: the M:N work-stealing scheduler (Go's runtime/proc.go, adapted).
//
// Model. A runtime owns `procs` processors; each processor is one worker thread (Go's P
// and M merged: goro never hands a processor to another thread, because a fiber that
// blocks the thread in a system call is documented as the user's problem, see
// docs/scheduler.md). A processor runs fibers from, in order:
//   1. every 61st schedule, the global queue first (so injected work cannot starve);
//   2. its `runnext` slot, unless 16 runnext picks in a row already happened (a pair of
//      fibers handing off to each other must not starve the rest of the queue);
//   3. its local ring (runq.hpp);
//   4. the global queue (a batch of it moves to the local ring);
//   5. stealing half of a random victim's ring, victims in a random coprime order, four
//      passes, the last one also taking the victim's runnext.
// When all of that fails the worker thread sleeps on its own futex (0% CPU when idle).
//
// Switching. A fiber that parks, yields or exits switches directly to the next local
// fiber when there is one (one jump), else to its worker's scheduler loop (g0), which
// searches, steals or sleeps. The side that resumes performs the switcher's post-switch
// action (switch.hpp), so a parked fiber becomes visible to wakers only once it is off
// its stack.
//
// Spinning and wake-ups (no lost wake-up). State: nspinning_ (workers searching for work
// without having found any), npidle_ and the idle list (sleeping workers, under mu_).
//  * Submitter (ready/spawn/inject): publishes the fiber in a queue, then a seq_cst fence,
//    then wakep(): if no worker spins and one sleeps, it claims nspinning_ 0->1 and wakes
//    one sleeper, which starts out spinning.
//  * At most about half the busy workers spin (2*nspinning < procs - npidle).
//  * A spinner that finds work stops spinning; if it was the last spinner it calls wakep()
//    so that a burst of work gets another searcher.
//  * A worker going to sleep first checks the global queue and registers as idle under
//    mu_ (so an injector, who pushes under mu_ and then reads npidle_, sees it or was seen);
//    a worker that was spinning then decrements nspinning_, fences, and re-checks every
//    queue. Dekker argument: the submitter does {store queue; fence; load nspinning_} and
//    the spinner does {rmw nspinning_; fence; load queues}, so either the submitter sees
//    the spinner (and relies on it) or the spinner sees the work (and stays awake).
//  * A worker that was not spinning may sleep while another busy worker's local queue has
//    work: that work is not lost, its owner runs it at its next schedule point.
// The sleep itself is a thread_parker: the permit is the truth, so a wake that beats the
// sleep is never lost.
//
// Lock order: runtime::mu_ (global queue, idle list) and stack_pool::mu_ are leaves: they
// may be taken under channel locks (a parking fiber picks its successor before its unlock
// hook runs) and nothing is locked under them. Timers are never fired before a switch, only
// after the unlock hook ran (after_switch), because firing takes channel and timer locks.
//
// Thread-local state: `tls_proc_` names the processor of the calling worker thread. A
// fiber can resume on another thread, so it is read only through current_proc(), which
// the compiler cannot inline or cache across a switch.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "census.hpp"
#include "config.hpp"
#include "fiber.hpp"
#include "futex.hpp"
#include "procs.hpp"
#include "runq.hpp"
#include "spinlock.hpp"
#include "stack.hpp"
#include "switch.hpp"
#include "timer_heap.hpp"
#include "trace.hpp"

namespace goro {

// Runtime options (API.md, Runtime).
struct options {
  unsigned procs = 0;          // 0: env GORO_MAXPROCS, else the cgroup CPU quota, else hardware_concurrency()
  std::size_t stack_size = 0;  // 0: the library default, 256 KiB (detail::default_stack_size)
  // When every fiber is parked and nothing could wake one (docs/debugging.md), print
  // "goro: all fibers are asleep - deadlock!" and a fiber dump to stderr and exit with status
  // 2 (Go's rule and status).
  bool detect_deadlock = true;
  // On SIGQUIT (Ctrl-\), write a dump of every live fiber of every runtime to stderr and go
  // on running (Go dumps and exits). Installs a process-wide handler the first time a
  // runtime with this option starts; it stays installed.
  bool dump_on_sigquit = false;
};

}  // namespace goro

namespace goro::detail {

class runtime;

// A small, fast, per-processor PRNG (xorshift64*): victim order and select poll order.
struct fast_rng {
  std::uint64_t s;
  std::uint64_t next() noexcept {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  // Uniform in [0, n), n > 0, without bias (Lemire's multiply-shift with rejection).
  std::uint32_t below(std::uint32_t n) noexcept {
    std::uint64_t m = static_cast<std::uint64_t>(static_cast<std::uint32_t>(next() >> 32)) * n;
    auto low = static_cast<std::uint32_t>(m);
    if (low < n) {
      std::uint32_t threshold = static_cast<std::uint32_t>(-n) % n;
      while (low < threshold) {
        m = static_cast<std::uint64_t>(static_cast<std::uint32_t>(next() >> 32)) * n;
        low = static_cast<std::uint32_t>(m);
      }
    }
    return static_cast<std::uint32_t>(m >> 32);
  }
};

struct processor {
  runtime* rt = nullptr;
  unsigned index = 0;
  local_runq runq;
  fiber* current = nullptr;                 // running fiber; null while the scheduler loop runs. Owner only.
  context g0;                               // the worker thread's own stack (scheduler loop)
  std::atomic<std::uint32_t> schedtick{0};  // owner writes; thieves read (is it making progress?)
  std::uint32_t next_streak = 0;
  std::uint32_t timer_tick = 0;  // switches since start, for poll_timers; owner only
  bool spinning = false;         // owner only
  // Idle protocol: `idle`, `idle_next` and `handed_spinning` guarded by runtime::mu_.
  bool idle = false;
  processor* idle_next = nullptr;
  bool handed_spinning = false;
  thread_parker parker;
  // Pending timers armed on this processor (timer_heap.hpp); any thread may add or remove.
  timer_heap timers;
  // Free stack slots, owner only.
  static constexpr unsigned stack_cache_max = 64;
  stack_slot* stacks[stack_cache_max];
  unsigned nstacks = 0;
  // Live fibers started minus fibers ended on this processor; owner writes, anyone reads.
  std::atomic<std::int64_t> live{0};
  std::uint64_t id_next = 0, id_end = 0;  // fiber ids handed out in batches
  fast_rng rng{0};
  std::thread thread;
  // Statistics: written by the owner only (load + store, no read-modify-write), read by anyone.
  std::atomic<std::uint64_t> n_spawned{0}, n_parks{0}, n_switches{0}, n_steals{0};
  // A coarse steady clock for fibers' "waiting since": refreshed every 16th switch and when
  // the worker wakes up, so parking never reads the clock. Owner writes, dumps read.
  std::atomic<std::int64_t> clock_ns{0};
  // Deadlock watch (find_runnable), owner only.
  bool asleep_forever = false;  // counted in thread_census::idle_forever; guarded by runtime::mu_
  std::chrono::milliseconds dl_backoff{100};  // owner only
  trace_buffer trace;                         // goro/trace.hpp; owner appends, trace_stop reads
};

inline void bump(std::atomic<std::uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
inline std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One fiber as a dump sees it (runtime::snapshot_fibers).
struct fiber_snapshot {
  std::uint64_t id = 0;
  fiber_state state = fiber_state::runnable;
  wait_reason reason = wait_reason::none;  // none unless waiting
  std::int64_t waited_ns = 0;              // 0 unless waiting
  const char* file = nullptr;              // spawn site; null for go(f, args...)
  const char* function = nullptr;
  unsigned line = 0;
};

// Totals over a runtime's processors (goro::stats() adds the process-wide parts).
struct runtime_counters {
  std::uint64_t spawned = 0, parks = 0, switches = 0, steals = 0;
  std::size_t live = 0, timers = 0;
  unsigned procs = 0, idle_procs = 0;
};

inline thread_local processor* tls_proc_ = nullptr;

// The processor of the calling thread, or null on a plain thread. Never inlined, and a
// compiler barrier, so no caller can keep a thread_local address across a fiber switch.
GORO_NOINLINE inline processor* current_proc() noexcept {
  processor* p = tls_proc_;
  asm volatile("" ::: "memory");
  return p;
}

// The PRNG of the calling context: its processor's, or the plain thread's own. Use it
// before any switch (a fiber may resume on another processor).
inline fast_rng& local_rng() noexcept {
  if (processor* p = current_proc()) return p->rng;
  thread_local fast_rng r{
      (reinterpret_cast<std::uintptr_t>(&r) ^
       static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) |
      1};
  return r;
}

inline fiber* current_fiber() noexcept {
  processor* p = current_proc();
  return p ? p->current : nullptr;
}

[[noreturn]] inline void fiber_entry(bctx::transfer_t t) noexcept;

// ---- stack overflow on a guard page ----
// A fiber that runs into its guard page faults on its own (exhausted) stack, so the
// handler runs on a per-worker alternate signal stack. It names the fiber and the stack
// size, then aborts; a fault anywhere else goes to the handler that was installed before.
// Sanitizer builds keep the sanitizer's own handler (it reports overflows itself).
inline struct sigaction& previous_segv_action() {
  static struct sigaction old {};
  return old;
}

inline std::size_t runtime_stack_size(const fiber* f) noexcept;

inline void on_segv(int sig, siginfo_t* info, void* uctx) {
  processor* p = tls_proc_;
  fiber* f = p != nullptr ? p->current : nullptr;
  if (f != nullptr) {
    char* addr = static_cast<char*>(info->si_addr);
    // The faulting context's stack pointer tells an overflow apart from a stray pointer
    // even when the fault is not on the guard page (a big frame that jumped over it).
    char* sp = nullptr;
#if defined(__x86_64__)
    sp = reinterpret_cast<char*>(static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
    sp = reinterpret_cast<char*>(static_cast<ucontext_t*>(uctx)->uc_mcontext.sp);
#endif
    bool on_guard = addr >= f->slot->base - page_size() && addr < f->stack_lo;
    bool sp_below = sp != nullptr && sp < f->stack_lo && sp + (1 << 20) > f->slot->base;
    if (on_guard || sp_below) {
      char msg[256];
      int n = std::snprintf(msg, sizeof msg,
                            "goro: stack overflow in fiber %llu: its stack of %zu bytes is exhausted; raise "
                            "goro::options::stack_size\n",
                            static_cast<unsigned long long>(f->id), runtime_stack_size(f));
      if (n > 0) {
        ssize_t w = write(2, msg, static_cast<std::size_t>(n));
        (void)w;
      }
      std::abort();
    }
  }
  struct sigaction& old = previous_segv_action();
  if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != nullptr) {
    old.sa_sigaction(sig, info, uctx);
  } else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler != nullptr) {
    old.sa_handler(sig);
  } else {
    sigaction(SIGSEGV, &old, nullptr);  // default action: the fault repeats and kills us
  }
}

// Installed whenever a runtime starts, unless it is already in place: a framework that
// installed its own handler meanwhile (test runners do, per test) becomes the one we chain to.
inline void install_overflow_handler() {
#if !defined(GORO_ASAN) && !defined(GORO_TSAN)
  static std::mutex mu;
  std::lock_guard<std::mutex> g(mu);
  struct sigaction cur {};
  sigaction(SIGSEGV, nullptr, &cur);
  if ((cur.sa_flags & SA_SIGINFO) != 0 && cur.sa_sigaction == &on_segv) return;
  struct sigaction sa {};
  sa.sa_sigaction = &on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous_segv_action());
#endif
}

// An alternate signal stack for the calling worker thread, for the overflow handler.
class alt_signal_stack {
 public:
  alt_signal_stack() {
#if !defined(GORO_ASAN) && !defined(GORO_TSAN)
    mem_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem_ == MAP_FAILED) {
      mem_ = nullptr;
      return;
    }
    stack_t st{};
    st.ss_sp = mem_;
    st.ss_size = size_;
    sigaltstack(&st, nullptr);
#endif
  }
  ~alt_signal_stack() {
    if (mem_ != nullptr) {
      stack_t st{};
      st.ss_flags = SS_DISABLE;
      sigaltstack(&st, nullptr);
      munmap(mem_, size_);
    }
  }
  alt_signal_stack(const alt_signal_stack&) = delete;
  alt_signal_stack& operator=(const alt_signal_stack&) = delete;

 private:
  void* mem_ = nullptr;
  std::size_t size_ = 64 * 1024;
};

class runtime {
 public:
  explicit runtime(const options& o)
      : nprocs_(resolve_procs(o.procs)),
        stack_size_(o.stack_size == 0 ? default_stack_size : o.stack_size),
        detect_deadlock_(o.detect_deadlock),
        pool_(check_stack_size(o.stack_size)) {
    procs_ = std::make_unique<processor[]>(nprocs_);
    std::uint64_t seed =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (unsigned i = 0; i < nprocs_; ++i) {
      procs_[i].rt = this;
      procs_[i].index = i;
      procs_[i].rng.s = (seed + 0x9E3779B97F4A7C15ull * (i + 1)) | 1;
    }
    build_coprimes();
    install_overflow_handler();
  }

  ~runtime() { shutdown(std::chrono::hours(24 * 365)); }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  unsigned procs() const noexcept { return nprocs_; }
  std::size_t stack_size() const noexcept { return stack_size_; }

  void start() {
    for (unsigned i = 0; i < nprocs_; ++i) {
      processor* p = &procs_[i];
      p->thread = std::thread([this, p] { worker_main(p); });
    }
  }

  // Stops every worker once its running fiber switches away, then joins them. Returns false
  // (and leaks the runtime's memory deliberately) when a worker did not stop in `patience`:
  // a fiber that never yields or sits in a blocking system call. Fibers still alive are
  // never resumed; their stacks are released with the pool (docs/scheduler.md).
  // From here on no fiber is started or resumed: each worker leaves at its next switch.
  // Safe from any thread or fiber, more than once.
  void begin_stop() noexcept {
    stopping_.store(true, std::memory_order_seq_cst);
    std::lock_guard<spinlock> g(mu_);
    while (processor* q = idle_pop_locked()) q->parker.unpark();
  }

  bool shutdown(std::chrono::nanoseconds patience) {
    if (shut_) return true;
    shut_ = true;
    begin_stop();
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (exited_.load(std::memory_order_acquire) < started_.load(std::memory_order_acquire)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        for (unsigned i = 0; i < nprocs_; ++i) procs_[i].thread.detach();
        leaked_ = true;
        return false;
      }
      exit_parker_.park_until(
          std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(10)));
    }
    for (unsigned i = 0; i < nprocs_; ++i) {
      if (procs_[i].thread.joinable()) procs_[i].thread.join();
    }
    drop_timers();
    return true;
  }
  bool leaked() const noexcept { return leaked_; }

  std::size_t num_fibers() const noexcept {
    std::int64_t n = extern_live_.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < nprocs_; ++i) n += procs_[i].live.load(std::memory_order_relaxed);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }

  // Creates a fiber running `fn()` and makes it runnable. From a processor of this runtime
  // it goes into runnext (Go's newproc); from anywhere else, into the global queue.
  template <class Fn>
  void spawn(Fn&& fn, spawn_site site = {}) {
    using F = std::decay_t<Fn>;
    processor* p = current_proc();
    if (p != nullptr && p->rt != this) p = nullptr;
    stack_slot* s = p ? alloc_stack(p) : alloc_stack_shared();
    char* top = pool_.top(s) - 64;  // below the slot record and the canary
    char* fb_addr = align_down(top - sizeof(fiber), alignof(fiber));
    char* fn_addr = align_down(fb_addr - sizeof(F), alignof(F) > 16 ? alignof(F) : 16);
    char* lo = pool_.usable_bottom(s);
    if (fn_addr - lo < static_cast<std::ptrdiff_t>(min_stack_size / 2)) {
      free_stack(p, s);
      throw std::length_error("goro::go: the callable and its arguments (" + std::to_string(sizeof(F)) +
                              " bytes) do not fit in the fiber's stack; raise goro::options::stack_size");
    }
    F* fnp;
    try {
      fnp = ::new (static_cast<void*>(fn_addr)) F(std::forward<Fn>(fn));
    } catch (...) {
      free_stack(p, s);
      throw;
    }
    // The control block is built once per slot and reset on reuse: a dump may still be reading
    // the observable atomics of the slot's previous fiber, and re-running the constructor
    // would write them non-atomically (a data race; review finding).
    fiber* f;
    if (s->fiber_built) {
      f = std::launder(reinterpret_cast<fiber*>(fb_addr));
      f->reuse();
    } else {
      f = ::new (static_cast<void*>(fb_addr)) fiber();
      s->fiber_built = true;
    }
    f->rt = this;
    f->slot = s;
    f->stack_lo = lo;
    f->fn = fnp;
    f->invoke = &invoke_fn<F>;
    char* sp = align_down(fn_addr, 64);
    std::size_t usable = static_cast<std::size_t>(sp - lo);
#if defined(GORO_ASAN)
    // A recycled stack still carries the shadow poison of its previous fiber's frames,
    // which never returned (the fiber switched away for good).
    ASAN_UNPOISON_MEMORY_REGION(lo, usable);
#endif
    f->ctx.fctx = bctx::make_fcontext(sp, usable, &fiber_entry);
#if defined(GORO_ASAN)
    f->ctx.asan_bottom = lo;
    f->ctx.asan_size = usable;
#endif
#if defined(GORO_TSAN)
    f->ctx.tsan_fiber = __tsan_create_fiber(0);
#endif
    f->site_file.store(site.file, std::memory_order_relaxed);
    f->site_function.store(site.function, std::memory_order_relaxed);
    f->site_line.store(site.line, std::memory_order_relaxed);
    if (p != nullptr) {
      f->id.store(next_id(p), std::memory_order_relaxed);
      p->live.store(p->live.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      bump(p->n_spawned);
      s->owner.store(f, std::memory_order_release);
      if (GORO_UNLIKELY(tracing())) trace(p, trace_kind::spawn, f->id.load(std::memory_order_relaxed));
      ready_local(p, f, true);
    } else {
      f->id.store(id_source_.fetch_add(1, std::memory_order_relaxed), std::memory_order_relaxed);
      extern_live_.fetch_add(1, std::memory_order_relaxed);
      extern_spawned_.fetch_add(1, std::memory_order_relaxed);
      s->owner.store(f, std::memory_order_release);
      inject(f);
    }
  }

  // Makes a parked fiber of this runtime runnable. From one of this runtime's processors
  // it goes to runnext (it runs next: a channel hand-off continues at once); otherwise to
  // the global queue. The caller must not touch f's waiter record afterwards.
  void ready(fiber* f) noexcept {
    // No state store here: the waker usually runs on another core, and writing the readied
    // fiber's control block there costs a cache-line transfer per wake-up (measured: MPMC4x4
    // +13%). A dump shows a readied fiber as waiting until it runs (a snapshot anyway).
    processor* p = current_proc();
    if (p != nullptr && p->rt == this) {
      if (GORO_UNLIKELY(tracing())) trace(p, trace_kind::ready, f->id.load(std::memory_order_relaxed));
      ready_local(p, f, true);
    } else {
      inject(f);
    }
  }

  // The calling fiber parks; once it is off its stack, `unlock(arg)` runs on the next
  // context. The fiber resumes when someone calls ready() on it.
  void park(fiber* self, void (*unlock)(void*), void* arg) noexcept {
    processor* p = current_proc();
    self->wait_since_ns.store(p->clock_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
    self->state.store(fiber_state::waiting, std::memory_order_relaxed);
    bump(p->n_parks);
    if (GORO_UNLIKELY(tracing()))
      trace(p, trace_kind::park, self->id.load(std::memory_order_relaxed),
            static_cast<std::uint32_t>(self->reason.load(std::memory_order_relaxed)));
    switch_msg m;
    m.from = &self->ctx;
    m.from_fiber = self;
    m.kind = after_kind::unlock;
    m.unlock = unlock;
    m.unlock_arg = arg;
    switch_away(p, self, m);  // p read once: current_proc() is an opaque call by design
  }

  // The calling fiber gives way to another runnable fiber, if any, and stays runnable.
  void yield_fiber(fiber* self) noexcept {
    processor* p = current_proc();
    if (stopping_.load(std::memory_order_relaxed)) return;
    fiber* next = next_local(p);
    if (next == nullptr) {
      // Nothing else is runnable here: a fiber that spins on yield() must still let this
      // processor's timers fire (it holds no lock, unlike a parking fiber). Not tick-based:
      // this path advances the tick twice per call and could skip every 16th value.
      if (p->timers.earliest() != no_deadline) {
        run_timers(p, false);
        next = next_local(p);
      }
    }
    if (next == nullptr && gq_size_.load(std::memory_order_relaxed) != 0) next = global_get(p);
    if (next == nullptr) return;
    check_stack(self);
    switch_msg m;
    m.from = &self->ctx;
    m.from_fiber = self;
    m.kind = after_kind::requeue;
    next->state.store(fiber_state::running, std::memory_order_relaxed);
    p->current = next;
    switch_msg* r = jump(self->ctx, next->ctx, &m);
    after_switch(r);
  }

  [[noreturn]] void exit_fiber(fiber* self) noexcept {
    processor* p = current_proc();
    p->live.store(p->live.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    switch_msg m;
    m.from = &self->ctx;
    m.from_fiber = self;
    m.kind = after_kind::recycle;
    switch_away(self, m);
    fatal("a finished fiber was resumed");
  }

  // Runs the action the switching side left for us (see switch.hpp), then, every 16th
  // schedule, the processor's due timers: here and not before the switch, because the
  // parking side still holds its channel locks until its unlock hook has run, and a timer
  // firing sends on a channel (reading the clock at every switch would cost more than the
  // switch; idle workers cover every heap).
  void after_switch(switch_msg* m) noexcept {
    run_action(m);
    processor* p = current_proc();
    if (GORO_UNLIKELY(tracing()))
      trace(p, trace_kind::run, p->current ? p->current->id.load(std::memory_order_relaxed) : 0);
    poll_timers(p);
  }

  // Records an event in p's trace buffer (only while tracing; see trace.hpp).
  static void trace(processor* p, trace_kind k, std::uint64_t id, std::uint32_t arg = 0) noexcept {
    p->trace.append(steady_ns(), k, id, arg);
  }

  // Every 16th switch: fire p's due timers. Only where the caller holds no lock.
  void poll_timers(processor* p) noexcept {
    bump(p->n_switches);
    if (++p->timer_tick % 16 == 0) {
      p->clock_ns.store(steady_ns(), std::memory_order_relaxed);
      if (p->timers.earliest() != no_deadline) run_timers(p, false);
    }
  }

  void run_action(switch_msg* m) noexcept {
    switch (m->kind) {
      case after_kind::none:
        break;
      case after_kind::unlock: {
        void (*fn)(void*) = m->unlock;
        void* arg = m->unlock_arg;
        fn(arg);  // from here on the parked fiber may be resumed elsewhere: m is gone
        break;
      }
      case after_kind::requeue: {
        fiber* f = m->from_fiber;
        f->state.store(fiber_state::runnable, std::memory_order_relaxed);
        ready_local(current_proc(), f, false);
        break;
      }
      case after_kind::recycle: {
        fiber* f = m->from_fiber;
#if defined(GORO_TSAN)
        __tsan_destroy_fiber(f->ctx.tsan_fiber);
#endif
        stack_slot* s = f->slot;
        s->owner.store(nullptr, std::memory_order_relaxed);
        static_assert(std::is_trivially_destructible_v<fiber>, "control blocks are reused, never destroyed");
        free_stack(current_proc(), s);
        break;
      }
    }
  }

  // Arms `n` to fire at when_ns (generation `gen`) on the calling processor's heap, or on
  // a processor chosen round-robin when the caller is not one of ours. Shared nodes: call
  // with n->lock held; the new heap entry owns one reference (the caller's).
  void add_timer(timer_node* n, std::int64_t when_ns, std::uint64_t gen) {
    processor* p = current_proc();
    if (p == nullptr || p->rt != this)
      p = &procs_[timer_rr_.fetch_add(1, std::memory_order_relaxed) % nprocs_];
    n->owner = &p->timers;
    n->when_ns = when_ns;
    // Only a new earliest deadline of its heap can be earlier than what a sleeper waits for.
    if (p->timers.push(n, when_ns, gen)) timer_added(when_ns);
  }

  // Whether h is the timer heap of one of this runtime's processors.
  bool owns_heap(const timer_heap* h) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(h);
    return a >= reinterpret_cast<std::uintptr_t>(&procs_[0].timers) &&
           a <= reinterpret_cast<std::uintptr_t>(&procs_[nprocs_ - 1].timers);
  }

  // Active spinning for sync primitives (Go's sync_runtime_canSpin): worth it only when
  // another processor is busy running a fiber that may release the lock soon, and nothing
  // else is waiting to run here (spinning would delay it).
  bool can_spin(const processor* p) const noexcept {
    if (nprocs_ <= 1) return false;
    std::uint32_t others_busy =
        nprocs_ - 1 - npidle_.load(std::memory_order_relaxed) - nspinning_.load(std::memory_order_relaxed);
    return others_busy != 0 && others_busy < nprocs_ && p->runq.empty();
  }

  static runtime* of_current() noexcept {
    processor* p = current_proc();
    return p ? p->rt : nullptr;
  }

  // ---- observability (goro/debug.hpp) ----
  runtime_counters counters() const noexcept {
    runtime_counters c;
    c.spawned = extern_spawned_.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < nprocs_; ++i) {
      processor& p = procs_[i];
      c.spawned += p.n_spawned.load(std::memory_order_relaxed);
      c.parks += p.n_parks.load(std::memory_order_relaxed);
      c.switches += p.n_switches.load(std::memory_order_relaxed);
      c.steals += p.n_steals.load(std::memory_order_relaxed);
      c.timers += p.timers.size();
    }
    c.live = num_fibers();
    c.procs = nprocs_;
    c.idle_procs = npidle_.load(std::memory_order_relaxed);
    return c;
  }

  // Calls fn(index, buffer) for every processor's trace buffer (goro/trace.hpp, with the
  // trace stopped).
  template <class Fn>
  void for_each_trace_buffer(Fn&& fn) const {
    for (unsigned i = 0; i < nprocs_; ++i) fn(i, procs_[i].trace);
  }

  // Every live fiber of this runtime, read field by field without stopping anything (see
  // fiber.hpp), ordered by id. The one reader of the observable fields: dumps, deadlock
  // reports and goro::fibers() all go through it.
  std::vector<fiber_snapshot> snapshot_fibers() const {
    std::vector<fiber_snapshot> rows;
    const std::int64_t now = steady_ns();
    pool_.for_each_owner([&](void* o) {
      const fiber* f = static_cast<const fiber*>(o);
      fiber_snapshot r;
      r.id = f->id.load(std::memory_order_relaxed);
      r.state = f->state.load(std::memory_order_relaxed);
      if (r.state == fiber_state::waiting) {
        r.reason = f->reason.load(std::memory_order_relaxed);
        std::int64_t since = f->wait_since_ns.load(std::memory_order_relaxed);
        if (since > 0 && now > since) r.waited_ns = now - since;
      }
      r.file = f->site_file.load(std::memory_order_relaxed);
      r.function = f->site_function.load(std::memory_order_relaxed);
      r.line = f->site_line.load(std::memory_order_relaxed);
      rows.push_back(r);
    });
    std::sort(rows.begin(), rows.end(),
              [](const fiber_snapshot& a, const fiber_snapshot& b) { return a.id < b.id; });
    return rows;
  }

  // Go-style dump of every live fiber, one paragraph each, ordered by id.
  std::string dump_text() const {
    std::string out;
    char buf[512];
    for (const fiber_snapshot& r : snapshot_fibers()) {
      if (r.state == fiber_state::waiting) {
        std::snprintf(buf, sizeof buf, "fiber %llu [%s, %.3f s]:\n", static_cast<unsigned long long>(r.id),
                      to_string(r.reason), static_cast<double>(r.waited_ns) / 1e9);
      } else {
        std::snprintf(buf, sizeof buf, "fiber %llu [%s]:\n", static_cast<unsigned long long>(r.id),
                      to_string(r.state));
      }
      out += buf;
      if (r.file != nullptr) {
        std::snprintf(buf, sizeof buf, "    started by %s at %s:%u\n\n",
                      r.function != nullptr ? r.function : "?", r.file, r.line);
      } else {
        std::snprintf(buf, sizeof buf, "    started at an unknown place (go() with arguments)\n\n");
      }
      out += buf;
    }
    return out;
  }

 private:
  template <class F>
  static void invoke_fn(fiber* self) noexcept {
    F* fn = static_cast<F*>(self->fn);
    try {
      (*fn)();
      fn->~F();
    } catch (const std::exception& e) {
      fatal("uncaught exception in fiber: %s", e.what());
    } catch (...) {
      fatal("uncaught exception in fiber: (an exception not derived from std::exception)");
    }
  }

  static char* align_down(char* p, std::size_t a) noexcept {
    return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) &
                                   ~(static_cast<std::uintptr_t>(a) - 1));
  }

  static std::size_t check_stack_size(std::size_t s) {
    if (s != 0 && s < min_stack_size) {
      throw std::invalid_argument("goro::options::stack_size must be 0 (default) or at least " +
                                  std::to_string(min_stack_size) + " bytes, got " + std::to_string(s));
    }
    return s;
  }

  std::uint64_t next_id(processor* p) noexcept {
    if (p->id_next == p->id_end) {
      p->id_next = id_source_.fetch_add(16, std::memory_order_relaxed);
      p->id_end = p->id_next + 16;
    }
    return p->id_next++;
  }

  // ---- stacks ----
  stack_slot* alloc_stack(processor* p) {
    if (p->nstacks == 0)
      p->nstacks = static_cast<unsigned>(pool_.take(p->stacks, processor::stack_cache_max / 2));
    return p->stacks[--p->nstacks];
  }
  stack_slot* alloc_stack_shared() {
    stack_slot* s = nullptr;
    pool_.take(&s, 1);
    return s;
  }
  void free_stack(processor* p, stack_slot* s) noexcept {
    if (p == nullptr || p->rt != this) {
      pool_.give(&s, 1);
      return;
    }
    if (p->nstacks == processor::stack_cache_max) {
      constexpr unsigned half = processor::stack_cache_max / 2;
      pool_.give(p->stacks + half, half);
      p->nstacks = half;
    }
    p->stacks[p->nstacks++] = s;
  }

  // ---- run queues ----
  void ready_local(processor* p, fiber* f, bool next) noexcept {
    if (next) {
      f = p->runq.put_next(f);
      if (f == nullptr) {
        wakep();
        return;
      }
    }
    fiber* overflow[local_runq::capacity / 2 + 1];
    std::uint32_t n = p->runq.put(f, overflow);
    if (n != 0) {
      std::lock_guard<spinlock> g(mu_);
      for (std::uint32_t i = 0; i < n; ++i) gq_push_locked(overflow[i]);
    }
    wakep();
  }

  void inject(fiber* f) noexcept {
    {
      std::lock_guard<spinlock> g(mu_);
      gq_push_locked(f);
    }
    wakep();
  }

  // The global queue is a growable ring of pointers, not a list threaded through the
  // fibers: each control block sits on its own stack page, so walking a list costs a
  // cache and TLB miss per fiber (measured: most of spawn+join's time at 2 procs).
  void gq_push_locked(fiber* f) noexcept {
    if (gq_count_ == gq_buf_.size()) gq_grow_locked();
    gq_buf_[(gq_head_ + gq_count_) & (gq_buf_.size() - 1)] = f;
    ++gq_count_;
    gq_size_.store(gq_count_, std::memory_order_relaxed);
  }
  void gq_grow_locked() noexcept {
    std::size_t cap = gq_buf_.size();
    std::vector<fiber*> bigger(cap * 2);  // out of memory here terminates (noexcept)
    for (std::size_t i = 0; i < gq_count_; ++i) bigger[i] = gq_buf_[(gq_head_ + i) & (cap - 1)];
    gq_buf_.swap(bigger);
    gq_head_ = 0;
  }

  // Takes one fiber from the global queue to run and moves a fair share into p's ring.
  fiber* global_get(processor* p) noexcept {
    std::lock_guard<spinlock> g(mu_);
    return global_get_locked(p);
  }
  fiber* global_get_locked(processor* p) noexcept {
    std::size_t size = gq_count_;
    if (size == 0) return nullptr;
    std::size_t n = size / nprocs_ + 1;
    if (n > size) n = size;
    if (n > local_runq::capacity / 2) n = local_runq::capacity / 2;
    fiber* first = gq_pop_locked();
    for (std::size_t i = 1; i < n; ++i) {
      fiber* f = gq_pop_locked();
      // p's ring may be full when called from yield or the periodic check: overflow goes back.
      fiber* overflow[local_runq::capacity / 2 + 1];
      std::uint32_t k = p->runq.put(f, overflow);
      for (std::uint32_t j = 0; j < k; ++j) gq_push_locked(overflow[j]);
    }
    return first;
  }
  fiber* gq_pop_locked() noexcept {
    fiber* f = gq_buf_[gq_head_];
    gq_head_ = (gq_head_ + 1) & (gq_buf_.size() - 1);
    --gq_count_;
    gq_size_.store(gq_count_, std::memory_order_relaxed);
    return f;
  }

  // The next fiber from p's own queues (global queue every 61 ticks), or null.
  fiber* next_local(processor* p) noexcept {
    std::uint32_t tick = p->schedtick.load(std::memory_order_relaxed) + 1;
    p->schedtick.store(tick, std::memory_order_relaxed);
    if (tick % 61 == 0 && gq_size_.load(std::memory_order_relaxed) != 0) {
      if (fiber* f = global_get(p)) return f;
    }
    // runnext first, but after 16 runnext picks in a row the ring gets a turn.
    if (p->next_streak < 16) {
      if (fiber* f = p->runq.take_next()) {
        ++p->next_streak;
        return f;
      }
    }
    p->next_streak = 0;
    if (fiber* f = p->runq.get(false)) return f;
    return p->runq.take_next();
  }

  // ---- idle protocol ----
  void wakep() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (npidle_.load(std::memory_order_relaxed) == 0) return;
    if (nspinning_.load(std::memory_order_relaxed) != 0) return;
    std::uint32_t zero = 0;
    if (!nspinning_.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) return;
    processor* q;
    {
      std::lock_guard<spinlock> g(mu_);
      q = idle_pop_locked(true);
    }
    if (q == nullptr) {
      nspinning_.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
    q->parker.unpark();
  }

  // Takes a sleeping worker off the idle list; `spinning`: it wakes up as a spinner (the
  // caller already counted it in nspinning_). Both written under mu_, read by the worker
  // under mu_ after it wakes.
  processor* idle_pop_locked(bool spinning = false) noexcept {
    processor* q = idle_head_;
    if (q == nullptr) return nullptr;
    idle_head_ = q->idle_next;
    q->idle_next = nullptr;
    q->idle = false;
    q->handed_spinning = spinning;
    npidle_.fetch_sub(1, std::memory_order_seq_cst);
    wake_census_locked(q);
    return q;
  }
  // The waker, not the woken worker, takes a sleeper out of the deadlock census and moves the
  // epoch: a worker that has been woken but not yet scheduled by the OS must not look asleep
  // to the detector (review finding: a delayed wake-up could otherwise be reported).
  static void wake_census_locked(processor* q) noexcept {
    if (!q->asleep_forever) return;
    q->asleep_forever = false;
    thread_census& c = thread_census::get();
    c.idle_forever.fetch_sub(1, std::memory_order_seq_cst);
    c.bump();
  }
  void idle_remove_locked(processor* p) noexcept {
    for (processor** pp = &idle_head_; *pp != nullptr; pp = &(*pp)->idle_next) {
      if (*pp == p) {
        *pp = p->idle_next;
        p->idle_next = nullptr;
        p->idle = false;
        npidle_.fetch_sub(1, std::memory_order_seq_cst);
        return;
      }
    }
  }

  bool any_work() const noexcept {
    if (gq_size_.load(std::memory_order_acquire) != 0) return true;
    for (unsigned i = 0; i < nprocs_; ++i) {
      if (!procs_[i].runq.empty()) return true;
    }
    return false;
  }

  fiber* found(processor* p, fiber* f) noexcept {
    if (p->spinning) {
      p->spinning = false;
      if (nspinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) wakep();
    }
    return f;
  }

  void stop_spinning(processor* p) noexcept {
    if (p->spinning) {
      p->spinning = false;
      nspinning_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  fiber* steal_work(processor* p) noexcept {
    if (nprocs_ == 1) return nullptr;
    for (int pass = 0; pass < 4; ++pass) {
      std::uint32_t start = p->rng.below(nprocs_);
      std::uint32_t step = coprimes_[p->rng.below(static_cast<std::uint32_t>(coprimes_.size()))];
      std::uint32_t idx = start;
      for (unsigned i = 0; i < nprocs_; ++i, idx = (idx + step) % nprocs_) {
        processor* v = &procs_[idx];
        if (v == p) continue;
        if (stopping_.load(std::memory_order_relaxed)) return nullptr;
        if (fiber* f = p->runq.steal_from(v->runq, false)) {
          bump(p->n_steals);
          if (GORO_UNLIKELY(tracing())) trace(p, trace_kind::steal, 0, v->index);
          return f;
        }
        // The victim's runnext is what it will run next: a fiber just readied by a channel
        // hand-off. Take it only on the last pass and only if the victim has not scheduled
        // for a while (it is stuck in a long fiber); otherwise a hand-off pair would be split
        // across processors and every operation would bounce cache lines between cores.
        // Go sleeps "3 us" here, which with Linux's default timer slack is ~50 us; we wait
        // runnext_steal_delay (measured: 3 us split SPSC pairs, 52 ns/item; 20 us kept them
        // together, see the closing notes).
        if (pass == 3 && v->runq.has_next()) {
          std::uint32_t tick = v->schedtick.load(std::memory_order_relaxed);
          auto until = std::chrono::steady_clock::now() + runnext_steal_delay;
          while (std::chrono::steady_clock::now() < until) cpu_relax();
          if (v->schedtick.load(std::memory_order_relaxed) == tick) {
            if (fiber* f = p->runq.steal_from(v->runq, true)) {
              bump(p->n_steals);
              if (GORO_UNLIKELY(tracing())) trace(p, trace_kind::steal, 0, v->index);
              return f;
            }
          }
        }
      }
      if (gq_size_.load(std::memory_order_relaxed) != 0) {
        if (fiber* f = global_get(p)) return f;
      }
    }
    return nullptr;
  }

  static constexpr std::chrono::microseconds spin_window{50};
  static constexpr std::chrono::microseconds runnext_steal_delay{20};

  fiber* find_runnable(processor* p) noexcept {
    std::chrono::steady_clock::time_point spin_since{};
    for (;;) {
      if (stopping_.load(std::memory_order_acquire)) {
        stop_spinning(p);
        return nullptr;
      }
      if (next_deadline() != no_deadline) run_timers(p, true);
      if (fiber* f = next_local(p)) return found(p, f);
      if (gq_size_.load(std::memory_order_relaxed) != 0) {
        if (fiber* f = global_get(p)) return found(p, f);
      }
      if (p->spinning || 2 * nspinning_.load(std::memory_order_relaxed) <
                             nprocs_ - npidle_.load(std::memory_order_relaxed)) {
        if (!p->spinning) {
          p->spinning = true;
          nspinning_.fetch_add(1, std::memory_order_seq_cst);
        }
        if (fiber* f = steal_work(p)) return found(p, f);
        // Keep searching for a short while before sleeping: a producer that readies fibers
        // at a high rate would otherwise pay a futex wake-up for nearly every one (measured:
        // spawn+join at 2 procs went from ~2.5 us to ~0.5 us per fiber). Bounded, so an idle
        // runtime still drops to 0% CPU within microseconds.
        auto now = std::chrono::steady_clock::now();
        if (spin_since == std::chrono::steady_clock::time_point{}) spin_since = now;
        if (now - spin_since < spin_window) {
          for (int i = 0; i < 32; ++i) cpu_relax();
          continue;
        }
      }
      spin_since = {};
      fiber* got = nullptr;
      {
        std::lock_guard<spinlock> g(mu_);
        if (stopping_.load(std::memory_order_relaxed)) {
          stop_spinning(p);
          return nullptr;
        }
        if (gq_size_.load(std::memory_order_relaxed) != 0) {
          got = global_get_locked(p);
        } else {
          GORO_ASSERT(!p->idle);
          p->idle = true;
          p->idle_next = idle_head_;
          idle_head_ = p;
          npidle_.fetch_add(1, std::memory_order_seq_cst);
        }
      }
      if (got != nullptr) return found(p, got);  // found() may take mu_ (wakep)
      // Idle time is when stacks beyond the pool's high-water mark give their pages back;
      // a batch at a time, so that new work is noticed soon.
      if (!p->spinning && pool_.trim(64)) {
        std::lock_guard<spinlock> g(mu_);
        if (p->idle) {
          idle_remove_locked(p);
          continue;
        }
        // Someone woke us meanwhile: take the permit below.
      }
      if (p->spinning) {
        p->spinning = false;
        nspinning_.fetch_sub(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (any_work()) {
          bool was_idle;
          {
            std::lock_guard<spinlock> g(mu_);
            was_idle = p->idle;
            if (was_idle) idle_remove_locked(p);
          }
          if (was_idle) {
            p->spinning = true;
            nspinning_.fetch_add(1, std::memory_order_seq_cst);
            continue;
          }
          // A waker popped us meanwhile and posted our permit: take it below.
        }
      }
      // Sleep until woken or until the earliest timer of any processor is due. We are on
      // the idle list already, so a timer armed after this read finds us there (timer_added).
      std::atomic_thread_fence(std::memory_order_seq_cst);
      std::int64_t deadline = next_deadline();
      if (deadline == no_deadline) {
        sleep_idle(p);
      } else {
        std::int64_t seen = timer_wake_.load(std::memory_order_relaxed);
        while (deadline < seen &&
               !timer_wake_.compare_exchange_weak(seen, deadline, std::memory_order_seq_cst)) {
        }
        p->parker.park_until(steady::time_point(std::chrono::nanoseconds(deadline)));
        std::int64_t mine = deadline;
        timer_wake_.compare_exchange_strong(mine, no_deadline, std::memory_order_seq_cst);
      }
      p->clock_ns.store(steady_ns(), std::memory_order_relaxed);
      // Whatever woke us (a waker that popped us, a timeout, or a permit left over from an
      // earlier wake-up that raced with a timeout), the idle list is the truth: leave it if
      // we are still on it, so that we are never pushed twice.
      {
        std::lock_guard<spinlock> g(mu_);
        if (p->idle) idle_remove_locked(p);
        p->spinning = p->handed_spinning;
        p->handed_spinning = false;
      }
    }
  }

  // ---- sleeping with no timer pending; deadlock detection (census.hpp) ----
  // The worker is on the idle list. Every worker but the last one to fall asleep just parks;
  // the last one (all workers of the process idle with no deadline) is the watcher. It checks
  // that every thread is accounted for, waits a full grace period (leaving early only when it
  // is taken off the idle list), and checks again, requiring the census epoch not to have
  // moved and no other thread of the process to be running (/proc/self/task). Only then is
  // nothing able to wake a fiber: report and exit. Wakers take sleepers out of the census
  // themselves (wake_census_locked, waker::wake, run()'s main fiber), so a thread that was
  // woken but not yet scheduled never looks asleep. When a thread goro does not know about
  // exists, the watcher re-checks with a backoff up to 5 s (that thread may exit, stranding
  // the fibers): one /proc read per period while the whole process idles with parked fibers.
  void sleep_idle(processor* p) noexcept {
    thread_census& c = thread_census::get();
    int idle;
    {
      std::lock_guard<spinlock> g(mu_);
      if (!p->idle) return;  // already woken: take the permit in the caller's cleanup
      p->asleep_forever = true;
      idle = c.idle_forever.fetch_add(1, std::memory_order_seq_cst) + 1;
    }
    if (!detect_deadlock_ || c.forked.load(std::memory_order_relaxed) ||
        idle < c.workers.load(std::memory_order_seq_cst)) {
      p->parker.park();
    } else {
      watch_for_deadlock(p, c);
    }
    std::lock_guard<spinlock> g(mu_);
    if (p->asleep_forever) {  // woke on its own (a timeout of the watcher): nothing happened
      p->asleep_forever = false;
      c.idle_forever.fetch_sub(1, std::memory_order_seq_cst);
    } else {
      p->dl_backoff = std::chrono::milliseconds(100);  // a waker took us: something happened
    }
  }

  bool still_idle(processor* p) noexcept {
    std::lock_guard<spinlock> g(mu_);
    return p->idle;
  }

  bool census_quiet(thread_census& c) const noexcept {
    return (num_fibers() > 0 || c.blocked.load(std::memory_order_seq_cst) > 0) &&
           c.idle_forever.load(std::memory_order_seq_cst) == c.workers.load(std::memory_order_seq_cst) &&
           c.unaccounted_threads() == 0;
  }

  void watch_for_deadlock(processor* p, thread_census& c) noexcept {
    static constexpr std::chrono::milliseconds grace{100}, max_backoff{5000};
    const bool asleep = num_fibers() > 0 || c.blocked.load(std::memory_order_seq_cst) > 0;
    const bool all_idle =
        c.idle_forever.load(std::memory_order_seq_cst) == c.workers.load(std::memory_order_seq_cst);
    if (!asleep || !all_idle) {
      p->parker.park();
      return;
    }
    const std::uint64_t e = c.epoch.load(std::memory_order_seq_cst);
    if (c.unaccounted_threads() != 0) {  // someone we do not know about may still act
      p->parker.park_until(std::chrono::steady_clock::now() + p->dl_backoff);
      p->dl_backoff = std::min(p->dl_backoff * 2, max_backoff);
      return;
    }
    // A full grace period: a leftover permit (a wake that raced with an earlier timeout) ends
    // park_until early without anyone having taken us off the idle list; park again then.
    const auto until = std::chrono::steady_clock::now() + grace;
    do {
      p->parker.park_until(until);
      if (!still_idle(p)) return;  // woken for work
    } while (std::chrono::steady_clock::now() < until);
    if (c.epoch.load(std::memory_order_seq_cst) == e && census_quiet(c) && !thread_census::others_running())
      report_deadlock(c);
  }

  [[noreturn]] void report_deadlock(thread_census& c) noexcept {
    std::string text;
    try {
      text = dump_text();
    } catch (...) {
      text = "(no memory for the fiber dump)\n";
    }
    int blocked = c.blocked.load(std::memory_order_relaxed);
    std::fprintf(stderr, "goro: all fibers are asleep - deadlock!\n");
    if (blocked > 0) std::fprintf(stderr, "(and %d plain thread(s) blocked in goro operations)\n", blocked);
    std::fprintf(stderr, "\n%s", text.c_str());
    std::fprintf(stderr, "goro: deadlock detected; set goro::options::detect_deadlock = false to disable\n");
    std::fflush(stderr);
    std::_Exit(2);  // Go's status for a fatal error; no atexit handlers (they could block)
  }

  // ---- timers ----
  std::int64_t next_deadline() const noexcept {
    std::int64_t d = no_deadline;
    for (unsigned i = 0; i < nprocs_; ++i) d = std::min(d, procs_[i].timers.earliest());
    return d;
  }

  // Fires the due timers of p's heap (and of every heap when `all`: idle workers make sure
  // that a processor busy in a long fiber does not delay its timers).
  void run_timers(processor* p, bool all) noexcept {
    steady::time_point now = steady::now();
    std::int64_t now_ns = to_ns(now);
    for (unsigned i = 0; i < (all ? nprocs_ : 1u); ++i) {
      timer_heap& h = all ? procs_[(p->index + i) % nprocs_].timers : p->timers;
      timer_entry due[32];
      while (std::size_t n = h.pop_due(now_ns, due, 32)) {
        for (std::size_t k = 0; k < n; ++k) fire_entry(due[k], now);
      }
    }
  }

  void fire_entry(const timer_entry& e, steady::time_point now) noexcept {
    timer_node* n = e.node;
    if (!n->shared) {
      n->fire(n, now);  // a sleeping fiber's node: not touched after this
      return;
    }
    bool rearmed = false;
    n->lock.lock();
    bool due = n->gen == e.gen && n->owner != nullptr;
    if (due && n->when_ns > to_ns(now)) {
      // Reset to a later deadline since this entry was pushed (stop_and_rearm leaves the
      // entry where it is then): not due yet, push it again at its deadline. Out of memory,
      // it fires now rather than never (the one case of a value before the deadline).
      try {
        add_timer(n, n->when_ns, n->gen);  // the entry's reference moves to the new entry
        rearmed = true;
        due = false;
      } catch (...) {
      }
    }
    if (due) {
      n->fire(n, now);
      if (n->period.count() > 0) {
        // Ticker: next tick after now, skipping the ones a slow reader missed (as Go).
        std::int64_t period = std::chrono::duration_cast<std::chrono::nanoseconds>(n->period).count();
        // From the node's deadline, not the entry's key: after a reset to a later deadline
        // the key is the old one (stop_and_rearm), and the period starts at the reset.
        std::int64_t base = n->when_ns;
        std::int64_t when = base + period * (1 + (to_ns(now) - base) / period);
        try {
          add_timer(n, when, n->gen);  // the entry's reference moves to the new entry
          rearmed = true;
        } catch (...) {
          n->owner = nullptr;  // out of memory: the ticker stops
        }
      } else {
        n->owner = nullptr;  // fired: no longer pending
      }
    }
    n->lock.unlock();
    if (!rearmed) n->release();
  }

  // A timer was armed at when_ns: make sure some worker wakes up for it. Busy workers check
  // their heaps at schedule points; a sleeping worker that will wake by when_ns needs
  // nothing; otherwise wake an idle worker so that it re-computes its deadline.
  void timer_added(std::int64_t when_ns) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (when_ns >= timer_wake_.load(std::memory_order_relaxed)) return;
    if (npidle_.load(std::memory_order_relaxed) == 0) return;
    processor* q;
    {
      std::lock_guard<spinlock> g(mu_);
      q = idle_pop_locked();
    }
    if (q != nullptr) q->parker.unpark();
  }

  // Shutdown: drops every pending timer's heap reference (stop() on it then finds nothing).
  void drop_timers() noexcept {
    for (unsigned i = 0; i < nprocs_; ++i) {
      for (timer_entry& e : procs_[i].timers.take_all()) {
        timer_node* n = e.node;
        if (!n->shared) continue;  // on an abandoned fiber's stack
        n->lock.lock();
        if (n->owner == &procs_[i].timers) n->owner = nullptr;
        n->lock.unlock();
        n->release();
      }
    }
  }

  void switch_away(fiber* self, switch_msg& m) noexcept {
    switch_away(current_proc(), self, m);
  }
  void switch_away(processor* p, fiber* self, switch_msg& m) noexcept {
    check_stack(self);
    fiber* next = stopping_.load(std::memory_order_relaxed) ? nullptr : next_local(p);
    if (next != nullptr) next->state.store(fiber_state::running, std::memory_order_relaxed);
    p->current = next;
    switch_msg* r = jump(self->ctx, next ? next->ctx : p->g0, &m);
    after_switch(r);
  }

  // The frame address, not a local's: ASan may put locals on its fake stack.
  __attribute__((no_sanitize_address)) static void check_stack(fiber* self) noexcept {
    char* frame = static_cast<char*>(__builtin_frame_address(0));
    if (GORO_UNLIKELY(*stack_pool::canary_below(self->slot->base) != stack_canary ||
                      frame < self->stack_lo)) {
      fatal(
          "stack overflow in fiber %llu: its stack of %zu bytes is exhausted; raise "
          "goro::options::stack_size "
          "(memory next to the stack may be corrupted)",
          static_cast<unsigned long long>(self->id), self->rt->stack_size_);
    }
  }

  void worker_main(processor* p) {
    started_.fetch_add(1, std::memory_order_acq_rel);
    thread_census::get().workers.fetch_add(1, std::memory_order_seq_cst);
    p->clock_ns.store(steady_ns(), std::memory_order_relaxed);
    alt_signal_stack alt;
    prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 us instead of 50 us: timers wake on time
    tls_proc_ = p;
#if defined(GORO_TSAN)
    p->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
    for (;;) {
      fiber* f = find_runnable(p);
      if (f == nullptr) break;
      f->state.store(fiber_state::running, std::memory_order_relaxed);
      p->current = f;
      switch_msg m;
      m.from = &p->g0;
      switch_msg* r = jump(p->g0, f->ctx, &m);
      after_switch(r);
    }
    p->current = nullptr;
    tls_proc_ = nullptr;
    thread_census::get().workers.fetch_sub(1, std::memory_order_seq_cst);
    thread_census::get().bump();
    exited_.fetch_add(1, std::memory_order_acq_rel);
    exit_parker_.unpark();
  }

  void build_coprimes() {
    for (unsigned i = 1; i <= nprocs_; ++i) {
      unsigned a = i, b = nprocs_;
      while (b != 0) {
        unsigned t = a % b;
        a = b;
        b = t;
      }
      if (a == 1) coprimes_.push_back(i);
    }
  }

  const unsigned nprocs_;
  const std::size_t stack_size_;
  const bool detect_deadlock_;
  stack_pool pool_;
  std::unique_ptr<processor[]> procs_;
  std::vector<std::uint32_t> coprimes_;

  spinlock mu_;                                             // global queue, idle list; O(1) work only
  std::vector<fiber*> gq_buf_ = std::vector<fiber*>(1024);  // ring, power of two; guarded by mu_
  std::size_t gq_head_ = 0;                                 // guarded by mu_
  std::size_t gq_count_ = 0;                                // guarded by mu_
  std::atomic<std::size_t> gq_size_{0};                     // written under mu_, read unlocked as a hint
  processor* idle_head_ = nullptr;                          // guarded by mu_
  std::atomic<std::uint32_t> npidle_{0};                    // written under mu_
  std::atomic<std::uint32_t> nspinning_{0};
  std::atomic<std::int64_t> timer_wake_{no_deadline};  // earliest deadline a sleeping worker set
  std::atomic<unsigned> timer_rr_{0};
  std::atomic<bool> stopping_{false};

  // Fibers spawned from plain threads. num_fibers() sums this and every processor's
  // `live` (spawns minus exits on that processor); only the sum is meaningful.
  std::atomic<std::int64_t> extern_live_{0};
  std::atomic<std::uint64_t> extern_spawned_{0};
  std::atomic<std::uint64_t> id_source_{1};
  std::atomic<unsigned> started_{0};
  std::atomic<unsigned> exited_{0};
  thread_parker exit_parker_;
  bool shut_ = false;
  bool leaked_ = false;
};

inline std::size_t runtime_stack_size(const fiber* f) noexcept {
  return f->rt->stack_size();
}

[[noreturn]] inline void fiber_entry(bctx::transfer_t t) noexcept {
  processor* p = current_proc();
  fiber* self = p->current;
  switch_msg* m = land(self->ctx, t);
  self->rt->after_switch(m);
  self->invoke(self);
  self->rt->exit_fiber(self);
}

}  // namespace goro::detail
