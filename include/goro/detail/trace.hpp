// goro/detail/trace.hpp: the opt-in event recorder behind goro/trace.hpp.
//
// Each processor appends fixed-size events to its own buffer (no lock, no sharing); the
// buffer is allocated by its owner when it first records in a new trace session, so a
// program that never traces pays one relaxed load of `on` per hook and no memory. A full
// buffer drops events (counted), it never blocks or grows.
//
// Start/stop protocol (no event written to a buffer while it is read):
//   appender: busy = true (seq_cst); if on (seq_cst) { append }; busy = false
//   stopper:  on = false (seq_cst); wait until busy == false on every processor; read
// Dekker: either the appender sees on == false and writes nothing, or the stopper sees busy
// and waits for the append to end. start and stop are serialized by `mu`, and an owner only
// reallocates its buffer after seeing a new `gen`, which start publishes after the previous
// stop finished reading.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>

namespace goro::detail {

enum class trace_kind : std::uint8_t {
  run,    // the processor switched to fiber `id` (0: its scheduler loop, i.e. idle or searching)
  park,   // fiber `id` parked; arg = wait_reason
  spawn,  // fiber `id` was created on this processor
  ready,  // fiber `id` was made runnable by this processor
  steal,  // this processor stole work from processor `arg`; id = 0
};

struct trace_event {
  std::int64_t ts_ns;
  std::uint64_t id;
  trace_kind kind;
  std::uint32_t arg;
};

struct trace_control {
  std::atomic<bool> on{false};
  std::atomic<std::uint64_t> gen{0};
  std::atomic<std::size_t> cap{0};  // events per processor in the current session
  std::atomic<std::int64_t> t0_ns{0};
  std::mutex mu;  // serializes start and stop

  static trace_control& get() noexcept {
    static trace_control c;
    return c;
  }
};

// One processor's buffer; written by its owner only.
struct trace_buffer {
  std::unique_ptr<trace_event[]> ev;
  std::size_t cap = 0;
  std::uint64_t gen = 0;
  std::atomic<std::size_t> n{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<bool> busy{false};

  void append(std::int64_t ts, trace_kind k, std::uint64_t id, std::uint32_t arg) noexcept {
    trace_control& c = trace_control::get();
    busy.store(true, std::memory_order_seq_cst);
    if (c.on.load(std::memory_order_seq_cst)) {
      std::uint64_t g = c.gen.load(std::memory_order_acquire);
      if (gen != g) {  // first event of a new session: (re)allocate, start empty
        std::size_t want = c.cap.load(std::memory_order_relaxed);
        if (cap != want) {
          ev.reset(new (std::nothrow) trace_event[want]);
          cap = ev ? want : 0;
        }
        n.store(0, std::memory_order_relaxed);
        dropped.store(0, std::memory_order_relaxed);
        gen = g;
      }
      std::size_t i = n.load(std::memory_order_relaxed);
      if (i < cap) {
        ev[i] = trace_event{ts, id, k, arg};
        n.store(i + 1, std::memory_order_release);
      } else {
        dropped.store(dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      }
    }
    busy.store(false, std::memory_order_release);
  }
};

inline bool tracing() noexcept {
  return trace_control::get().on.load(std::memory_order_relaxed);
}

}  // namespace goro::detail
