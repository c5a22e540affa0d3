// goro/trace.hpp: an opt-in recorder of scheduler events, written as Chrome trace JSON
// (open it in https://ui.perfetto.dev or chrome://tracing).
//
//   goro::trace_start();                 // from inside run() (or with a default runtime)
//   ... the work to look at ...
//   std::ofstream out("goro-trace.json");
//   goro::trace_stop(out);               // returns the number of events written
//
// What it records, per processor (one trace "thread" each): which fiber ran when (a slice
// per run, named "fiber N"; gaps are the scheduler loop: searching, stealing or asleep),
// and instants for spawn, park (with its wait reason), ready (a fiber made runnable by the
// running one) and steal (with the victim processor). Fibers readied from plain threads or
// timers firing on idle workers show up when they run.
//
// Cost: while no trace runs, each hook is one relaxed load of a flag. While tracing, an event
// costs a clock read and a store into the processor's own buffer (no lock). Each processor
// keeps up to `max_events_per_proc` events (24 bytes each) of a session and drops the rest
// (the JSON says how many). One trace at a time, for the caller's runtime: trace_start()
// throws std::logic_error while a trace runs, trace_stop() without one writes an empty trace.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <stdexcept>
#include <string>

#include "debug.hpp"
#include "detail/trace.hpp"

namespace goro {

inline void trace_start(std::size_t max_events_per_proc = std::size_t{1} << 18) {
  if (max_events_per_proc == 0)
    throw std::invalid_argument("goro::trace_start: max_events_per_proc must be > 0");
  detail::trace_control& c = detail::trace_control::get();
  std::lock_guard<std::mutex> g(c.mu);
  if (c.on.load(std::memory_order_relaxed))
    throw std::logic_error("goro::trace_start: a trace is already running");
  c.cap.store(max_events_per_proc, std::memory_order_relaxed);
  c.t0_ns.store(detail::steady_ns(), std::memory_order_relaxed);
  c.gen.fetch_add(1, std::memory_order_release);
  c.on.store(true, std::memory_order_seq_cst);
}

// Stops the trace and writes it as Chrome trace JSON; returns the number of events written.
inline std::size_t trace_stop(std::ostream& os) {
  detail::trace_control& c = detail::trace_control::get();
  std::lock_guard<std::mutex> g(c.mu);
  const bool was_on = c.on.exchange(false, std::memory_order_seq_cst);
  const std::int64_t t0 = c.t0_ns.load(std::memory_order_relaxed);
  const std::int64_t end = detail::steady_ns();
  const std::uint64_t gen = c.gen.load(std::memory_order_relaxed);
  std::size_t written = 0;
  std::uint64_t dropped = 0;
  std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  out += R"({"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"goro"}})";
  char buf[256];
  auto us = [t0](std::int64_t ns) { return static_cast<double>(ns - t0) / 1000.0; };
  detail::with_caller_runtime([&](detail::runtime* rt) {
    if (rt == nullptr || !was_on) return 0;
    rt->for_each_trace_buffer([&](unsigned proc, detail::trace_buffer& b) {
      while (b.busy.load(std::memory_order_seq_cst)) detail::cpu_relax();  // an append in flight ends soon
      std::snprintf(
          buf, sizeof buf,
          ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"proc %u\"}}",
          proc, proc);
      out += buf;
      if (b.gen != gen) return;  // this processor recorded nothing in this session
      const std::size_t n = b.n.load(std::memory_order_acquire);
      dropped += b.dropped.load(std::memory_order_relaxed);
      std::uint64_t running = 0;  // the fiber whose slice is open, 0 for none
      std::int64_t since = 0;
      auto close_slice = [&](std::int64_t at) {
        if (running == 0) return;
        std::snprintf(
            buf, sizeof buf,
            ",\n{\"name\":\"fiber %llu\",\"cat\":\"run\",\"ph\":\"X\",\"pid\":1,\"tid\":%u,\"ts\":%.3f,"
            "\"dur\":%.3f,\"args\":{\"fiber\":%llu}}",
            static_cast<unsigned long long>(running), proc, us(since), us(at) - us(since),
            static_cast<unsigned long long>(running));
        out += buf;
        ++written;
      };
      // An instant event on this processor's track; `fiber` names the fiber it is about.
      auto instant = [&](const char* name, const char* cat, std::int64_t ts, const std::uint64_t* fiber) {
        char args[48] = "";
        if (fiber != nullptr)
          std::snprintf(args, sizeof args, ",\"args\":{\"fiber\":%llu}",
                        static_cast<unsigned long long>(*fiber));
        std::snprintf(buf, sizeof buf,
                      ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%u,"
                      "\"ts\":%.3f%s}",
                      name, cat, proc, us(ts), args);
        out += buf;
        ++written;
      };
      char name[64];
      for (std::size_t i = 0; i < n; ++i) {
        const detail::trace_event& e = b.ev[i];
        switch (e.kind) {
          case detail::trace_kind::run:
            close_slice(e.ts_ns);
            running = e.id;
            since = e.ts_ns;
            break;
          case detail::trace_kind::park:
            std::snprintf(name, sizeof name, "park: %s",
                          detail::to_string(static_cast<detail::wait_reason>(e.arg)));
            instant(name, "park", e.ts_ns, &e.id);
            break;
          case detail::trace_kind::spawn:
            instant("spawn", "spawn", e.ts_ns, &e.id);
            break;
          case detail::trace_kind::ready:
            instant("ready", "ready", e.ts_ns, &e.id);
            break;
          case detail::trace_kind::steal:
            std::snprintf(name, sizeof name, "steal from proc %u", e.arg);
            instant(name, "steal", e.ts_ns, nullptr);
            break;
        }
      }
      close_slice(end);
    });
    return 0;
  });
  std::snprintf(buf, sizeof buf, "\n],\"otherData\":{\"events\":%zu,\"dropped\":%llu}}\n", written,
                static_cast<unsigned long long>(dropped));
  out += buf;
  os << out;
  return written;
}

}  // namespace goro
