// goro/detail/fiber.hpp: the fiber control block (Go's g) and wait reasons.
//
// The control block lives in the top page of the fiber's own stack slot, right below the
// slot's bookkeeping record, with the fiber's callable stored just below it. Spawning
// therefore allocates nothing beyond taking a pooled stack slot.
//
// Ownership: a fiber is touched by the thread that runs it; while it is suspended, by the
// one party that holds it (a run queue, a wait queue's waker, the scheduler).
#pragma once

#include <atomic>
#include <cstdint>

#include "stack.hpp"
#include "switch.hpp"

namespace goro::detail {

class runtime;

// Why a fiber is parked; one value per blocking site (fiber dumps print them).
enum class wait_reason : std::uint8_t {
  none,
  chan_receive,
  chan_send,
  chan_receive_nil,
  chan_send_nil,
  select,
  select_no_cases,
  sleep,
  sync_mutex,
  sync_rw_mutex,
  sync_cond,
  sync_wait_group,
  sync_semaphore,
  sync_once,
  context_wait,
};

// Where a fiber was started: captured by go() as default arguments (__builtin_FILE and
// friends, which cost nothing at run time: three constants). std::source_location would do
// the same, but clang 14 with libstdc++ 12 cannot use it.
struct spawn_site {
  const char* file = nullptr;
  const char* function = nullptr;
  unsigned line = 0;
  static constexpr spawn_site here(const char* file = __builtin_FILE(),
                                   const char* function = __builtin_FUNCTION(),
                                   unsigned line = __builtin_LINE()) noexcept {
    return {file, function, line};
  }
};

enum class fiber_state : std::uint8_t { runnable, running, waiting };

// The observable fields (id, state, reason, since, site) are atomics read by dumps from any
// thread while the fiber runs elsewhere, so a dump is safe (and TSan-clean) without stopping
// the world; it is a snapshot, exact only when nothing moves (as in a deadlock report).
// Relaxed stores: plain moves on x86-64 and AArch64, so the hot paths pay nothing extra.
struct fiber {
  context ctx;                       // saved registers while suspended
  runtime* rt = nullptr;             // the runtime it belongs to, immutable
  stack_slot* slot = nullptr;        // its stack, immutable
  char* stack_lo = nullptr;          // lowest usable stack byte (overflow check)
  void (*invoke)(fiber*) = nullptr;  // runs, then destroys, the callable at `fn`
  void* fn = nullptr;
  std::atomic<std::uint64_t> id{0};
  std::atomic<fiber_state> state{fiber_state::runnable};
  std::atomic<wait_reason> reason{wait_reason::none};  // written by the fiber itself before parking
  std::atomic<std::int64_t> wait_since_ns{0};          // steady clock (coarse), when it parked
  std::atomic<const char*> site_file{nullptr};
  std::atomic<const char*> site_function{nullptr};
  std::atomic<unsigned> site_line{0};

  // Resets a recycled control block for its next fiber (spawn fills in the rest).
  void reuse() noexcept {
    ctx = context{};
    state.store(fiber_state::runnable, std::memory_order_relaxed);
    reason.store(wait_reason::none, std::memory_order_relaxed);
    wait_since_ns.store(0, std::memory_order_relaxed);
  }
};

inline const char* to_string(wait_reason r) noexcept {
  switch (r) {
    case wait_reason::none:
      return "";
    case wait_reason::chan_receive:
      return "chan receive";
    case wait_reason::chan_send:
      return "chan send";
    case wait_reason::chan_receive_nil:
      return "chan receive (nil chan)";
    case wait_reason::chan_send_nil:
      return "chan send (nil chan)";
    case wait_reason::select:
      return "select";
    case wait_reason::select_no_cases:
      return "select (no cases)";
    case wait_reason::sleep:
      return "sleep";
    case wait_reason::sync_mutex:
      return "mutex";
    case wait_reason::sync_rw_mutex:
      return "rw_mutex";
    case wait_reason::sync_cond:
      return "cond wait";
    case wait_reason::sync_wait_group:
      return "wait_group wait";
    case wait_reason::sync_semaphore:
      return "semaphore acquire";
    case wait_reason::sync_once:
      return "once";
    case wait_reason::context_wait:
      return "context wait";
  }
  return "?";
}

inline const char* to_string(fiber_state s) noexcept {
  switch (s) {
    case fiber_state::runnable:
      return "runnable";
    case fiber_state::running:
      return "running";
    case fiber_state::waiting:
      return "waiting";
  }
  return "?";
}

}  // namespace goro::detail
