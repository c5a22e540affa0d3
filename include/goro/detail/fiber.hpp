// goro/detail/fiber.hpp: the fiber control block (Go's g) and wait reasons.
//
// The control block lives in the top page of the fiber's own stack slot, right below the
// slot's bookkeeping record, with the fiber's callable stored just below it. Spawning
// therefore allocates nothing beyond taking a pooled stack slot.
//
// Ownership: a fiber is touched by the thread that runs it; while it is suspended, by the
// one party that holds it (a run queue, a wait queue's waker, the scheduler).
#pragma once

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

struct fiber {
  context ctx;                       // saved registers while suspended
  runtime* rt = nullptr;             // the runtime it belongs to, immutable
  stack_slot* slot = nullptr;        // its stack, immutable
  char* stack_lo = nullptr;          // lowest usable stack byte (overflow check)
  void (*invoke)(fiber*) = nullptr;  // runs, then destroys, the callable at `fn`
  void* fn = nullptr;
  std::uint64_t id = 0;
  wait_reason reason = wait_reason::none;  // written by the fiber itself before parking
};

}  // namespace goro::detail
