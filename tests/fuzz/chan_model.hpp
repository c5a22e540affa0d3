// tests/fuzz/chan_model.hpp: model-based fuzzing of goro's channels and select.
//
// Three parts, all on goro's public API only (no goro::detail):
//
//  1. Programs (generate): a seed, or a fuzzer's bytes, gives K channels (capacity 0..3, some
//     nil) and F fibers (2..6), each a straight-line list of operations: send, recv, try_send
//     (by rvalue and by const lvalue), try_recv, select (1..4 receive/send cases on any channel,
//     nil ones included, plus a default or an after() timer case), close (at most one per
//     channel, placed anywhere: later sends may meet a closed channel), len, and sleep_for.
//     Every sent value is unique in the program. Most operations come in matched pairs (a send
//     in one fiber, a receive of the same channel in another, appended in one global order), so
//     that programs mostly run to their end; the rest are try-operations, selects with default,
//     timers and unmatched blocking operations, which may deadlock.
//
//  2. Execution (execute, from inside a goro fiber): one fiber per program fiber, plus the
//     calling fiber as the "driver". Each operation records its outcome (which case ran, what
//     it received, false/nullopt, which exception) and two stamps from one global atomic
//     counter, taken right before and right after the call: the interval [b, e] contains the
//     operation's linearization point, and the stamps' order is consistent with happens-before.
//     Deadlock: when no operation begins or ends for a while (no fiber in a timed wait) the
//     driver closes the next channel (c0, c1, ...; recorded as an ordinary close operation,
//     flagged "abort"): the senders blocked on it throw, its receivers get nullopt, and the
//     program goes on; once every channel is closed every program finishes.
//     Blocking operations on nil channels are never generated (they could not be unblocked).
//     At the end the driver closes every channel and receives until nullopt, so that every
//     value that was sent successfully is received exactly once by someone.
//
//  3. Checks (check):
//     * check_invariants, for any number of processors: properties every linearizable
//       execution of Go's channel semantics has, stated on the recorded intervals (so they
//       hold whatever the interleaving): each successfully sent value is received exactly once,
//       on its channel, and no value that was not sent successfully is received; FIFO (if
//       send x ended before send y began on a channel, y's receive did not end before x's
//       began); nullopt from a blocking receive only after a close began and after every
//       successfully sent value's receive began; a successful send never begins after a close
//       ended; a send fails with closed_channel_error only if a close began before it ended;
//       at most one successful close per channel; close of nil throws nil_channel_error;
//       select returns only cases it has, never a nil channel's, a default only with every
//       case's channel possibly not ready (not closed before it began; for buffered channels:
//       no value surely buffered throughout, fewer values possibly buffered than the capacity);
//       try_recv/try_send failures likewise; len within the bounds the intervals allow; send
//       values untouched unless chosen; timer values not earlier than their deadline.
//     * check_replay, for procs = 1: an exact replay against a reference model. With one
//       processor fibers do not run in parallel, and goro is cooperative: between the two
//       stamps of an operation no other fiber runs unless the operation parks. So the stamps
//       give the exact order in which operations started, and an operation that the model says
//       completes at once must end right after it began (no other event in between). The model
//       is a plain single-threaded hchan (buffer, closed flag, FIFO queues of parked senders and
//       receivers; a parked select sits in the queue of each of its channels and is removed
//       from all of them when one partner or close claims it) that decides, at each begin
//       event, what the operation does: complete at once with a result, or park. A parked
//       operation's result is fixed by the partner or close that wakes it (FIFO), and must be
//       what it records when it ends. The only nondeterminism left is resolved by looking at
//       the recorded outcome and checking it is allowed: which ready case a select chose (any
//       ready case is allowed; a parked select may be woken through any of its cases on the
//       partner's channel), and timers (a select that reports its timer case may have been
//       claimed by the timer at any time after it parked, so partners never meet it). At the
//       driver's deadlock aborts the model must agree that every unfinished fiber is blocked.
//
// Soundness: the invariants follow from API.md (Channels, Select, Clarifications: FIFO wait
// queues, closed channels, timer values) plus linearizability of channel operations; they hold
// for every interleaving and do not depend on timing. A premature deadlock abort (procs > 1:
// the driver cannot see parked fibers) is an ordinary close, which every check accounts for.
// The replay relies in addition on two properties of one processor: fibers are cooperative (a
// fiber leaves the processor only by parking, yielding or returning; chan_test.cpp relies on it
// too), and yield() switches to another runnable fiber when one exists (API.md). So an
// operation that completes without parking has no other event between its stamps, and the
// driver's quiet_yields yields without any event (with no fiber in a timed wait) prove that
// every program fiber is parked. Timers are the only actors that run unrecorded; see above.
//
// Used by chan_fuzz_test.cpp (seeds, Catch2) and libfuzzer_chan.cpp (bytes, libFuzzer).
#pragma once

#include <goro/goro.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace goro_fuzz {

// ---------------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------------

enum class op_kind : std::uint8_t {
  send,
  recv,
  try_send,
  try_send_copy,
  try_recv,
  select,
  close,
  len,
  sleep
};
enum class dir : std::uint8_t { recv, send };

struct sel_case {
  dir d = dir::recv;
  int ch = 0;
  std::int32_t value = 0;  // send cases: the value offered
};

inline constexpr int max_cases = 4;

struct op {
  op_kind kind = op_kind::recv;
  int ch = -1;               // channel of every kind but select and sleep
  std::int32_t value = 0;    // send, try_send, try_send_copy: the (unique) value
  std::uint32_t micros = 0;  // sleep; select: the timer case's duration
  int ncases = 0;            // select: channel cases, cases[0..ncases) are arguments 0..ncases-1
  bool has_timer = false;    // select: case_recv(after(micros)) is argument ncases
  bool has_default = false;  // select: case_default() is the last argument
  bool abort = false;        // driver: a close made to end a deadlock
  std::array<sel_case, max_cases> cases{};

  int timer_index() const noexcept { return ncases; }
  int default_index() const noexcept { return ncases + (has_timer ? 1 : 0); }
};

struct program {
  std::uint64_t seed = 0;
  std::vector<int> caps;                // per channel: its capacity, or -1 for a nil channel
  std::vector<std::vector<op>> fibers;  // straight-line code of each fiber

  std::size_t op_count() const noexcept {
    std::size_t n = 0;
    for (const auto& f : fibers) n += f.size();
    return n;
  }
};

// Choices for the generator: a seeded PRNG, or the bytes of a fuzzer input (0 once exhausted).
class entropy {
 public:
  explicit entropy(std::uint64_t seed) noexcept : state_(seed) {}
  entropy(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size), bytes_(true) {}

  // A number in [0, bound), bound >= 1.
  std::uint32_t below(std::uint32_t bound) noexcept {
    if (bound <= 1) return 0;
    if (bytes_) {
      std::uint32_t v = byte();
      if (bound > 256) v = v << 8 | byte();
      return v % bound;
    }
    return static_cast<std::uint32_t>(((next() >> 32) * bound) >> 32);
  }
  bool percent(std::uint32_t p) noexcept { return below(100) < p; }

 private:
  std::uint32_t byte() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint64_t next() noexcept {  // splitmix64
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t state_ = 0;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t pos_ = 0;
  bool bytes_ = false;
};

struct gen_limits {
  int max_channels = 4;  // 1..max_channels channels
  int max_fibers = 6;    // 2..max_fibers fibers
  int max_steps = 48;    // 1..max_steps generation steps (one or two operations each)
};

// Builds a program from `e`'s choices (see the top of this file).
inline program generate(entropy& e, std::uint64_t seed, const gen_limits& lim = {}) {
  auto pick = [&](int n) { return static_cast<int>(e.below(static_cast<std::uint32_t>(n))); };
  program p;
  p.seed = seed;
  const int nch = 1 + pick(lim.max_channels);
  for (int i = 0; i < nch; ++i) p.caps.push_back(e.below(8) == 0 ? -1 : pick(4));
  if (std::all_of(p.caps.begin(), p.caps.end(), [](int c) { return c < 0; })) p.caps[0] = pick(4);
  const int nf = 2 + pick(lim.max_fibers - 1);
  p.fibers.resize(static_cast<std::size_t>(nf));
  const bool timers = e.below(4) == 0;
  std::vector<char> close_planned(static_cast<std::size_t>(nch), 0);
  std::int32_t next_value = 1;

  auto live = [&](int c) { return p.caps[static_cast<std::size_t>(c)] >= 0; };
  auto open = [&](int c) { return live(c) && !close_planned[static_cast<std::size_t>(c)]; };
  auto pick_where = [&](auto pred) {  // a random channel satisfying pred, or -1
    int start = pick(nch);
    for (int i = 0; i < nch; ++i) {
      int c = (start + i) % nch;
      if (pred(c)) return c;
    }
    return -1;
  };
  auto pick_live = [&] { return pick_where(live); };
  auto pick_open = [&] {
    int c = pick_where(open);
    return c >= 0 ? c : pick_live();
  };
  auto other_fiber = [&](int a) {
    int b = pick(nf - 1);
    return b >= a ? b + 1 : b;
  };
  auto random_case = [&] {
    sel_case c;
    c.ch = pick(nch);
    c.d = e.below(2) == 0 ? dir::recv : dir::send;
    if (c.d == dir::send) c.value = next_value++;
    return c;
  };
  // A select with 1..4 cases; forced_ch >= 0: one of them is (forced_dir, forced_ch).
  auto make_select = [&](int forced_ch, dir forced_dir, std::uint32_t default_pct) {
    op o;
    o.kind = op_kind::select;
    o.ncases = 1 + pick(max_cases);
    const int forced_at = forced_ch >= 0 ? pick(o.ncases) : -1;
    for (int i = 0; i < o.ncases; ++i) {
      auto& c = o.cases[static_cast<std::size_t>(i)];
      if (i == forced_at) {
        c.d = forced_dir;
        c.ch = forced_ch;
        if (c.d == dir::send) c.value = next_value++;
      } else {
        c = random_case();
      }
    }
    if (e.percent(default_pct)) {
      o.has_default = true;
    } else if (timers && e.percent(30)) {
      o.has_timer = true;
      o.micros = e.below(200);
    }
    bool any_live = false;
    for (int i = 0; i < o.ncases; ++i) any_live = any_live || live(o.cases[static_cast<std::size_t>(i)].ch);
    if (!any_live && !o.has_default && !o.has_timer) o.cases[0].ch = pick_live();  // would block forever
    return o;
  };
  auto simple = [&](op_kind k, int ch) {
    op o;
    o.kind = k;
    o.ch = ch;
    if (k == op_kind::send || k == op_kind::try_send || k == op_kind::try_send_copy) o.value = next_value++;
    return o;
  };

  const int steps = 1 + pick(lim.max_steps);
  for (int s = 0; s < steps; ++s) {
    const std::uint32_t r = e.below(100);
    const int f = pick(nf);
    auto& code = p.fibers[static_cast<std::size_t>(f)];
    if (r < 45) {
      // A matched pair: a send on c in fiber f, a receive of c in another fiber.
      const int c = pick_open();
      const int g = other_fiber(f);
      code.push_back(e.percent(60) ? simple(op_kind::send, c) : make_select(c, dir::send, 10));
      p.fibers[static_cast<std::size_t>(g)].push_back(e.percent(60) ? simple(op_kind::recv, c)
                                                                    : make_select(c, dir::recv, 10));
    } else if (r < 52) {
      code.push_back(simple(op_kind::try_send, pick(nch)));
    } else if (r < 55) {
      code.push_back(simple(op_kind::try_send_copy, pick(nch)));
    } else if (r < 63) {
      code.push_back(simple(op_kind::try_recv, pick(nch)));
    } else if (r < 73) {
      code.push_back(make_select(-1, dir::recv, 100));
    } else if (r < 78) {
      code.push_back(make_select(-1, dir::recv, 0));
    } else if (r < 82) {
      code.push_back(simple(op_kind::len, pick(nch)));
    } else if (r < 87) {
      if (timers) {
        op o;
        o.kind = op_kind::sleep;
        o.micros = e.below(100);
        code.push_back(o);
      } else {
        code.push_back(simple(op_kind::try_recv, pick(nch)));
      }
    } else if (r < 92) {
      int c = pick_where(open);
      if (c < 0 || e.percent(5)) c = pick_where([&](int x) { return !live(x); });  // close(nil): throws
      if (c >= 0) {
        if (live(c)) close_planned[static_cast<std::size_t>(c)] = 1;
        code.push_back(simple(op_kind::close, c));
      } else {
        code.push_back(simple(op_kind::len, pick(nch)));
      }
    } else if (r < 96) {
      code.push_back(simple(op_kind::send, pick_live()));  // unmatched: may block until the abort
    } else {
      code.push_back(simple(op_kind::recv, pick_live()));
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------------

enum class res : std::uint8_t {
  pending,     // never completed
  ok,          // send/close/sleep done, try_send true, a select's send case, len (value = size)
  value,       // received `value` (recv, try_recv, a select's receive case)
  empty,       // received nullopt
  fail,        // try_send returned false
  closed_err,  // closed_channel_error (a select: from a send case; idx = -1)
  nil_err,     // nil_channel_error
  other_err,   // anything else (never allowed)
  timer,       // a select's timer case
  dflt,        // a select's default
};

struct rec {
  std::uint64_t b = 0, e = 0;  // stamps right before and right after the call (0: not reached)
  res r = res::pending;
  int idx = -1;              // select: the index select() returned
  std::int32_t value = 0;    // res::value: the value received; len: the size
  bool touched = false;      // a value the API says is left untouched was moved from
  bool early_timer = false;  // a timer case delivered nullopt or a time before its deadline
};

struct actor_trace {
  std::vector<op> ops;  // the driver's are appended while it runs
  std::vector<rec> recs;
};

struct trace {
  unsigned procs = 0;
  bool aborted = false;             // the driver closed a channel to end a deadlock
  bool hung = false;                // some fiber did not finish in time (the trace is incomplete)
  std::vector<actor_trace> actors;  // program fibers 0..F-1, then the driver (F)

  std::size_t ops_run() const noexcept {
    std::size_t n = 0;
    for (const auto& a : actors) {
      for (const auto& r : a.recs) n += r.e != 0 ? 1 : 0;
    }
    return n;
  }
};

inline std::string to_string(const sel_case& c) {
  std::ostringstream s;
  if (c.d == dir::recv) {
    s << "recv c" << c.ch;
  } else {
    s << "send c" << c.ch << " v" << c.value;
  }
  return s.str();
}

inline std::string to_string(const op& o) {
  std::ostringstream s;
  switch (o.kind) {
    case op_kind::send:
      s << "send c" << o.ch << " v" << o.value;
      break;
    case op_kind::recv:
      s << "recv c" << o.ch;
      break;
    case op_kind::try_send:
      s << "try_send c" << o.ch << " v" << o.value;
      break;
    case op_kind::try_send_copy:
      s << "try_send(const&) c" << o.ch << " v" << o.value;
      break;
    case op_kind::try_recv:
      s << "try_recv c" << o.ch;
      break;
    case op_kind::close:
      s << "close c" << o.ch << (o.abort ? " (deadlock abort)" : "");
      break;
    case op_kind::len:
      s << "len c" << o.ch;
      break;
    case op_kind::sleep:
      s << "sleep " << o.micros << "us";
      break;
    case op_kind::select:
      s << "select{";
      for (int i = 0; i < o.ncases; ++i)
        s << (i ? ", " : "") << to_string(o.cases[static_cast<std::size_t>(i)]);
      if (o.has_timer) s << ", after " << o.micros << "us";
      if (o.has_default) s << ", default";
      s << "}";
      break;
  }
  return s.str();
}

inline std::string to_string(const rec& r) {
  std::ostringstream s;
  switch (r.r) {
    case res::pending:
      s << "(not completed)";
      break;
    case res::ok:
      s << "ok";
      break;
    case res::value:
      s << "got v" << r.value;
      break;
    case res::empty:
      s << "nullopt";
      break;
    case res::fail:
      s << "false";
      break;
    case res::closed_err:
      s << "closed_channel_error";
      break;
    case res::nil_err:
      s << "nil_channel_error";
      break;
    case res::other_err:
      s << "unexpected exception or inconsistency";
      break;
    case res::timer:
      s << "timer";
      break;
    case res::dflt:
      s << "default";
      break;
  }
  if (r.idx >= 0) s << " (case " << r.idx << ")";
  if (r.touched) s << " [value touched]";
  if (r.early_timer) s << " [early timer]";
  return s.str();
}

inline std::string to_string(const program& p) {
  std::ostringstream s;
  s << "program (seed " << p.seed << "):";
  for (std::size_t c = 0; c < p.caps.size(); ++c) {
    s << (c ? "," : "") << " c" << c << (p.caps[c] < 0 ? " nil" : " cap " + std::to_string(p.caps[c]));
  }
  s << "\n";
  for (std::size_t f = 0; f < p.fibers.size(); ++f) {
    s << "  fiber " << f << ":";
    for (std::size_t k = 0; k < p.fibers[f].size(); ++k) s << (k ? "; " : " ") << to_string(p.fibers[f][k]);
    s << "\n";
  }
  return s.str();
}

// Every begin and end in stamp order.
inline std::string to_string(const trace& t) {
  struct ev {
    std::uint64_t stamp;
    std::size_t a, k;
    bool end;
  };
  std::vector<ev> evs;
  for (std::size_t a = 0; a < t.actors.size(); ++a) {
    for (std::size_t k = 0; k < t.actors[a].recs.size(); ++k) {
      const rec& r = t.actors[a].recs[k];
      if (r.b != 0) evs.push_back({r.b, a, k, false});
      if (r.e != 0) evs.push_back({r.e, a, k, true});
    }
  }
  std::sort(evs.begin(), evs.end(), [](const ev& x, const ev& y) { return x.stamp < y.stamp; });
  std::ostringstream s;
  s << "trace (procs " << t.procs << (t.aborted ? ", deadlock abort" : "") << (t.hung ? ", HUNG" : "")
    << "):\n";
  const std::size_t driver = t.actors.empty() ? 0 : t.actors.size() - 1;
  for (const ev& x : evs) {
    const op& o = t.actors[x.a].ops[x.k];
    s << "  " << x.stamp << (x.a == driver ? " driver" : " fiber ")
      << (x.a == driver ? "" : std::to_string(x.a)) << " op " << x.k << " " << (x.end ? "end  " : "begin")
      << " " << to_string(o);
    if (x.end) s << " => " << to_string(t.actors[x.a].recs[x.k]);
    s << "\n";
  }
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// Execution on goro
// ---------------------------------------------------------------------------------------------

// The element type: a unique value id, and moves leave a mark, so that "moved from only when
// the operation succeeds" is observable.
struct fv {
  static constexpr std::int32_t moved = -1;
  std::int32_t id;
  explicit fv(std::int32_t v) noexcept : id(v) {}
  fv(const fv&) noexcept = default;
  fv(fv&& o) noexcept : id(o.id) { o.id = moved; }
  fv& operator=(const fv&) noexcept = default;
  fv& operator=(fv&& o) noexcept {
    id = o.id;
    o.id = moved;
    return *this;
  }
  ~fv() = default;
};

using time_point = std::chrono::steady_clock::time_point;

struct exec_options {
  std::chrono::milliseconds hang_limit{30000};  // a program not finished by then is reported
  int quiet_yields = 64;                        // deadlock: no event for this many driver yields
  std::chrono::microseconds quiet_time{100};    // ... and (procs > 1) this long
};

namespace detail {

struct run_state {
  std::atomic<std::uint64_t> clock{0};
  std::atomic<int> timed{0};     // fibers in sleep_for or in a select with a timer case
  std::atomic<int> finished{0};  // program fibers done
  std::vector<int> caps;
  std::vector<goro::chan<fv>> chans;
  trace t;

  std::uint64_t stamp() noexcept { return clock.fetch_add(1, std::memory_order_seq_cst) + 1; }
};

struct select_run {
  select_run(run_state& st, const op& op_, rec& rc) noexcept : s(st), o(op_), r(rc) {}
  run_state& s;
  const op& o;
  rec& r;
  std::array<fv, max_cases> vals{fv(0), fv(0), fv(0), fv(0)};
  goro::recv_chan<time_point> timer;
  time_point deadline{};
};

template <std::size_t I>
auto recv_callback(select_run& x) {
  return [&x](std::optional<fv> v) {
    x.r.idx = static_cast<int>(I);
    if (v) {
      x.r.r = res::value;
      x.r.value = v->id;
    } else {
      x.r.r = res::empty;
    }
  };
}

// Builds goro::select(...) with exactly the program's cases, in order: one instantiation per
// shape (receive/send per case, then timer, default or neither).
template <std::size_t N, class... Cs>
std::size_t select_with(select_run& x, Cs&&... cs) {
  if constexpr (sizeof...(Cs) == N) {
    if (x.o.has_default) return goro::select(std::forward<Cs>(cs)..., goro::case_default());
    if (x.o.has_timer) {
      return goro::select(std::forward<Cs>(cs)...,
                          goro::case_recv(x.timer, [&x](std::optional<time_point> t) {
                            x.r.idx = static_cast<int>(N);
                            x.r.r = res::timer;
                            if (!t || *t < x.deadline) x.r.early_timer = true;
                          }));
    }
    return goro::select(std::forward<Cs>(cs)...);
  } else {
    constexpr std::size_t i = sizeof...(Cs);
    const sel_case& c = x.o.cases[i];
    const goro::chan<fv>& ch = x.s.chans[static_cast<std::size_t>(c.ch)];
    if (c.d == dir::recv) {
      return select_with<N>(x, std::forward<Cs>(cs)..., goro::case_recv(ch, recv_callback<i>(x)));
    }
    return select_with<N>(x, std::forward<Cs>(cs)..., goro::case_send(ch, std::move(x.vals[i])));
  }
}

inline void run_select(run_state& s, const op& o, rec& r) {
  select_run x(s, o, r);
  for (int i = 0; i < o.ncases; ++i)
    x.vals[static_cast<std::size_t>(i)].id = o.cases[static_cast<std::size_t>(i)].value;
  if (o.has_timer) s.timed.fetch_add(1);
  r.b = s.stamp();
  if (o.has_timer) {
    x.deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(o.micros);
    x.timer = goro::after(std::chrono::microseconds(o.micros));
  }
  try {
    std::size_t idx = 0;
    switch (o.ncases) {
      case 1:
        idx = select_with<1>(x);
        break;
      case 2:
        idx = select_with<2>(x);
        break;
      case 3:
        idx = select_with<3>(x);
        break;
      default:
        idx = select_with<4>(x);
        break;
    }
    const int i = static_cast<int>(idx);
    if (i < o.ncases && o.cases[idx].d == dir::send) {
      r.r = res::ok;
      r.idx = i;
    } else if (i < o.ncases || (o.has_timer && i == o.timer_index())) {
      if (r.idx != i) r.r = res::other_err;  // select returned another case than the callback ran for
    } else {
      r.r = res::dflt;
      r.idx = i;
    }
  } catch (const goro::closed_channel_error&) {
    r.r = res::closed_err;
    r.idx = -1;
  } catch (...) {
    r.r = res::other_err;
  }
  r.e = s.stamp();
  for (int i = 0; i < o.ncases; ++i) {
    const auto& c = o.cases[static_cast<std::size_t>(i)];
    const bool sent = r.r == res::ok && r.idx == i;
    if (c.d == dir::send && !sent && x.vals[static_cast<std::size_t>(i)].id != c.value) r.touched = true;
  }
  if (o.has_timer) {
    x.timer = {};
    s.timed.fetch_sub(1);
  }
}

inline void set_received(rec& r, std::optional<fv>&& v) {
  if (v) {
    r.r = res::value;
    r.value = v->id;
  } else {
    r.r = res::empty;
  }
}

inline void run_op(run_state& s, const op& o, rec& r) {
  if (o.kind == op_kind::select) {
    run_select(s, o, r);
    return;
  }
  if (o.kind == op_kind::sleep) {
    s.timed.fetch_add(1);
    r.b = s.stamp();
    goro::sleep_for(std::chrono::microseconds(o.micros));
    r.r = res::ok;
    r.e = s.stamp();
    s.timed.fetch_sub(1);
    return;
  }
  const goro::chan<fv>& ch = s.chans[static_cast<std::size_t>(o.ch)];
  r.b = s.stamp();
  try {
    switch (o.kind) {
      case op_kind::send:
        ch.send(fv(o.value));
        r.r = res::ok;
        break;
      case op_kind::recv:
        set_received(r, ch.recv());
        break;
      case op_kind::try_send: {
        fv v(o.value);
        bool done = false;
        try {
          done = ch.try_send(std::move(v));
        } catch (...) {
          if (v.id != o.value) r.touched = true;
          throw;
        }
        r.r = done ? res::ok : res::fail;
        if (!done && v.id != o.value) r.touched = true;
        break;
      }
      case op_kind::try_send_copy: {
        const fv v(o.value);
        r.r = ch.try_send(v) ? res::ok : res::fail;
        break;
      }
      case op_kind::try_recv:
        set_received(r, ch.try_recv());
        break;
      case op_kind::close:
        ch.close();
        r.r = res::ok;
        break;
      case op_kind::len: {
        const int cap = s.caps[static_cast<std::size_t>(o.ch)];
        r.value = static_cast<std::int32_t>(ch.size());
        r.r = ch.capacity() == static_cast<std::size_t>(cap < 0 ? 0 : cap) ? res::ok : res::other_err;
        break;
      }
      default:
        r.r = res::other_err;
        break;
    }
  } catch (const goro::closed_channel_error&) {
    r.r = res::closed_err;
  } catch (const goro::nil_channel_error&) {
    r.r = res::nil_err;
  } catch (...) {
    r.r = res::other_err;
  }
  r.e = s.stamp();
}

inline void run_fiber(const std::shared_ptr<run_state>& st, std::size_t a) {
  actor_trace& at = st->t.actors[a];
  for (std::size_t k = 0; k < at.ops.size(); ++k) run_op(*st, at.ops[k], at.recs[k]);
  st->finished.fetch_add(1);
}

inline void driver_op(run_state& s, op o) {
  actor_trace& d = s.t.actors.back();
  d.ops.push_back(o);
  d.recs.emplace_back();
  run_op(s, d.ops.back(), d.recs.back());
}

}  // namespace detail

// Runs `p` on goro and returns what every operation observed. Call it from a goro fiber (the
// driver); the runtime's processor count decides how the program's fibers interleave.
inline trace execute(const program& p, const exec_options& opt = {}) {
  using clock = std::chrono::steady_clock;
  auto st = std::make_shared<detail::run_state>();  // stuck fibers (a hang) keep it alive
  const std::size_t nf = p.fibers.size();
  st->caps = p.caps;
  for (int c : p.caps)
    st->chans.push_back(c < 0 ? goro::chan<fv>{} : goro::make_chan<fv>(static_cast<std::size_t>(c)));
  st->t.procs = goro::procs();
  st->t.actors.resize(nf + 1);
  for (std::size_t f = 0; f < nf; ++f) {
    st->t.actors[f].ops = p.fibers[f];
    st->t.actors[f].recs.resize(p.fibers[f].size());
  }
  for (std::size_t f = 0; f < nf; ++f) goro::go(detail::run_fiber, st, f);

  const bool one_proc = goro::procs() == 1;
  const auto start = clock::now();
  std::uint64_t last = st->clock.load();
  auto quiet_since = start;
  int quiet = 0;
  std::size_t next_abort = 0;
  while (st->finished.load() < static_cast<int>(nf)) {
    goro::yield();
    const std::uint64_t now_clock = st->clock.load();
    const auto now = clock::now();
    if (now_clock != last) {
      last = now_clock;
      quiet = 0;
      quiet_since = now;
      continue;
    }
    ++quiet;
    if (now - start > opt.hang_limit) {
      st->t.hung = true;
      return st->t;  // a copy: the stuck fibers still refer to st
    }
    if (st->timed.load() != 0 || quiet < opt.quiet_yields) continue;
    if (!one_proc && now - quiet_since < opt.quiet_time) continue;
    // Deadlock (or, with several processors, perhaps only a slow phase): close the next channel
    // and see how far the program gets then (one channel at a time keeps the rest interesting).
    while (next_abort < p.caps.size() && p.caps[next_abort] < 0) ++next_abort;
    if (next_abort == p.caps.size()) continue;  // all closed: the program must finish now
    st->t.aborted = true;
    op o;
    o.kind = op_kind::close;
    o.ch = static_cast<int>(next_abort++);
    o.abort = true;
    detail::driver_op(*st, o);
  }
  // Every program fiber is done: close each channel and receive what is left.
  for (std::size_t c = 0; c < p.caps.size(); ++c) {
    if (p.caps[c] < 0) continue;
    op o;
    o.kind = op_kind::close;
    o.ch = static_cast<int>(c);
    detail::driver_op(*st, o);
    o.kind = op_kind::recv;
    for (int n = 0; n < p.caps[c] + 8; ++n) {  // a closed channel holds at most cap values
      detail::driver_op(*st, o);
      if (st->t.actors.back().recs.back().r != res::value) break;
    }
  }
  return std::move(st->t);
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

struct verdict {
  bool ok = true;
  std::string why;
};

namespace detail {

inline std::string where(const trace& t, std::size_t a, std::size_t k) {
  std::ostringstream s;
  const rec& r = t.actors[a].recs[k];
  if (a + 1 == t.actors.size()) {
    s << "driver";
  } else {
    s << "fiber " << a;
  }
  s << " op " << k << " (" << to_string(t.actors[a].ops[k]) << ") [" << r.b << ", " << r.e << "] => "
    << to_string(r);
  return s.str();
}

// The invariants of the top of this file, on the recorded intervals.
class invariant_checker {
 public:
  invariant_checker(const program& p, const trace& t) : p_(p), t_(t), ch_(p.caps.size()) {}

  verdict run() {
    if (t_.hung) return fail("a fiber did not finish (hang)");
    if (t_.actors.size() != p_.fibers.size() + 1) return fail("internal: trace and program differ");
    std::int32_t maxv = 0;
    for (const auto& a : t_.actors) {
      for (const op& o : a.ops) {
        maxv = std::max(maxv, o.value);
        for (const auto& c : o.cases) maxv = std::max(maxv, c.value);
      }
    }
    sent_.assign(static_cast<std::size_t>(maxv) + 1, ref{});
    got_.assign(static_cast<std::size_t>(maxv) + 1, ref{});
    for (std::size_t a = 0; a < t_.actors.size(); ++a) {
      if (t_.actors[a].recs.size() != t_.actors[a].ops.size()) return fail("internal: ops and recs differ");
      for (std::size_t k = 0; k < t_.actors[a].ops.size(); ++k) {
        if (!classify(a, k)) return verdict{false, why_};
      }
    }
    if (!values() || !per_channel()) return verdict{false, why_};
    return {};
  }

 private:
  struct ref {
    std::size_t a = static_cast<std::size_t>(-1), k = 0;
    bool set() const noexcept { return a != static_cast<std::size_t>(-1); }
  };
  struct obs {
    ref at;
    std::uint64_t b, e;
  };
  struct per_chan {
    std::vector<std::int32_t> sent;  // values sent successfully
    std::vector<obs> closes_ok, closes_err, send_closed, none_recv, try_recv_empty, try_send_fail;
    std::vector<std::pair<obs, std::int32_t>> lens;
  };

  verdict fail(const std::string& why) { return verdict{false, why}; }
  bool bad(const std::string& why) {
    why_ = why;
    return false;
  }
  static bool note(std::vector<obs>& list, const obs& o) {
    list.push_back(o);
    return true;
  }
  const rec& R(ref x) const { return t_.actors[x.a].recs[x.k]; }
  const op& O(ref x) const { return t_.actors[x.a].ops[x.k]; }
  std::string W(ref x) const { return where(t_, x.a, x.k); }
  bool nil(int c) const { return p_.caps[static_cast<std::size_t>(c)] < 0; }
  int cap(int c) const { return std::max(0, p_.caps[static_cast<std::size_t>(c)]); }
  per_chan& C(int c) { return ch_[static_cast<std::size_t>(c)]; }

  bool add_sent(ref x, int c, std::int32_t v) {
    if (v <= 0 || static_cast<std::size_t>(v) >= sent_.size() || sent_[static_cast<std::size_t>(v)].set()) {
      return bad("internal: value v" + std::to_string(v) + " is not unique: " + W(x));
    }
    sent_[static_cast<std::size_t>(v)] = x;
    sent_ch_.resize(sent_.size(), -1);
    sent_ch_[static_cast<std::size_t>(v)] = c;
    C(c).sent.push_back(v);
    return true;
  }
  bool add_got(ref x, int c, std::int32_t v) {
    if (v <= 0 || static_cast<std::size_t>(v) >= got_.size()) {
      return bad("received v" + std::to_string(v) + ", which no operation sends: " + W(x));
    }
    if (got_[static_cast<std::size_t>(v)].set()) {
      return bad("value v" + std::to_string(v) + " received twice: " + W(got_[static_cast<std::size_t>(v)]) +
                 " and " + W(x));
    }
    got_[static_cast<std::size_t>(v)] = x;
    got_ch_.resize(got_.size(), -1);
    got_ch_[static_cast<std::size_t>(v)] = c;
    return true;
  }

  // Sorts one operation's outcome into the per-channel lists; rejects impossible outcomes.
  bool classify(std::size_t a, std::size_t k) {
    const ref x{a, k};
    const op& o = O(x);
    const rec& r = R(x);
    const obs ob{x, r.b, r.e};
    if (r.b == 0 || r.e == 0 || r.r == res::pending) return bad("operation never completed: " + W(x));
    if (r.e <= r.b) return bad("internal: stamps out of order: " + W(x));
    if (r.r == res::other_err) return bad("unexpected exception or inconsistent select result: " + W(x));
    if (r.touched) return bad("a value was moved from although the operation did not send it: " + W(x));
    if (r.early_timer) return bad("a timer case delivered nullopt or a time before its deadline: " + W(x));
    auto expect = [&](bool cond) {
      return cond ? true : bad("outcome not allowed for this operation: " + W(x));
    };
    switch (o.kind) {
      case op_kind::send:
        if (nil(o.ch)) return bad("internal: blocking send on a nil channel generated");
        if (r.r == res::ok) return add_sent(x, o.ch, o.value);
        if (r.r == res::closed_err) return note(C(o.ch).send_closed, ob);
        return expect(false);
      case op_kind::recv:
        if (nil(o.ch)) return bad("internal: blocking recv on a nil channel generated");
        if (r.r == res::value) return add_got(x, o.ch, r.value);
        if (r.r == res::empty) return note(C(o.ch).none_recv, ob);
        return expect(false);
      case op_kind::try_send:
      case op_kind::try_send_copy:
        if (nil(o.ch)) return expect(r.r == res::fail);
        if (r.r == res::ok) return add_sent(x, o.ch, o.value);
        if (r.r == res::fail) return note(C(o.ch).try_send_fail, ob);
        if (r.r == res::closed_err) return note(C(o.ch).send_closed, ob);
        return expect(false);
      case op_kind::try_recv:
        if (nil(o.ch)) return expect(r.r == res::empty);
        if (r.r == res::value) return add_got(x, o.ch, r.value);
        if (r.r == res::empty) return note(C(o.ch).try_recv_empty, ob);
        return expect(false);
      case op_kind::close:
        if (nil(o.ch)) return expect(r.r == res::nil_err);
        if (r.r == res::ok) return note(C(o.ch).closes_ok, ob);
        if (r.r == res::closed_err) return note(C(o.ch).closes_err, ob);
        return expect(false);
      case op_kind::len:
        if (r.r != res::ok) return expect(false);
        if (nil(o.ch)) return expect(r.value == 0);
        C(o.ch).lens.push_back({ob, r.value});
        return true;
      case op_kind::sleep:
        return expect(r.r == res::ok);
      case op_kind::select:
        return classify_select(x, o, r);
    }
    return expect(false);
  }

  bool classify_select(ref x, const op& o, const rec& r) {
    switch (r.r) {
      case res::value:
      case res::empty:
      case res::ok: {
        if (r.idx < 0 || r.idx >= o.ncases) return bad("select returned a case it does not have: " + W(x));
        const sel_case& c = o.cases[static_cast<std::size_t>(r.idx)];
        if (nil(c.ch)) return bad("select chose a case on a nil channel: " + W(x));
        if ((c.d == dir::send) != (r.r == res::ok))
          return bad("select case outcome of the wrong kind: " + W(x));
        if (r.r == res::ok) return add_sent(x, c.ch, c.value);
        if (r.r == res::value) return add_got(x, c.ch, r.value);
        C(c.ch).none_recv.push_back(obs{x, r.b, r.e});
        return true;
      }
      case res::closed_err:
        for (int i = 0; i < o.ncases; ++i) {
          const sel_case& c = o.cases[static_cast<std::size_t>(i)];
          if (c.d == dir::send && !nil(c.ch)) {
            sel_closed_.push_back(x);
            return true;
          }
        }
        return bad("select threw closed_channel_error without a send case on a channel: " + W(x));
      case res::timer:
        if (!o.has_timer || r.idx != o.timer_index())
          return bad("select reported a timer it does not have: " + W(x));
        return true;
      case res::dflt:
        if (!o.has_default || r.idx != o.default_index())
          return bad("select took a default it does not have: " + W(x));
        sel_default_.push_back(x);
        return true;
      default:
        return bad("outcome not allowed for a select: " + W(x));
    }
  }

  const obs* close_ok(int c) const {
    const auto& v = ch_[static_cast<std::size_t>(c)].closes_ok;
    return v.empty() ? nullptr : &v.front();
  }
  // Some value of c sent before [b, e] began and received after it ended: in the buffer throughout.
  bool surely_buffered(int c, std::uint64_t b, std::uint64_t e, std::int32_t* count = nullptr) const {
    std::int32_t n = 0;
    for (std::int32_t v : ch_[static_cast<std::size_t>(c)].sent) {
      if (R(sent_[static_cast<std::size_t>(v)]).e < b && R(got_[static_cast<std::size_t>(v)]).b > e) ++n;
    }
    if (count != nullptr) *count = n;
    return n > 0;
  }
  // How many values of c may have been in the buffer at some instant of [b, e].
  std::int32_t maybe_buffered(int c, std::uint64_t b, std::uint64_t e) const {
    std::int32_t n = 0;
    for (std::int32_t v : ch_[static_cast<std::size_t>(c)].sent) {
      if (R(sent_[static_cast<std::size_t>(v)]).b < e && R(got_[static_cast<std::size_t>(v)]).e > b) ++n;
    }
    return n;
  }

  // Each successful send received exactly once, on its channel, not before it was sent.
  bool values() {
    for (std::size_t v = 1; v < sent_.size(); ++v) {
      const ref s = sent_[v], g = got_[v];
      if (g.set() && !s.set()) {
        return bad("received v" + std::to_string(v) + ", which was never sent successfully: " + W(g));
      }
      if (s.set() && !g.set()) {
        return bad("v" + std::to_string(v) + " was sent but never received (lost): " + W(s));
      }
      if (!s.set()) continue;
      if (sent_ch_[v] != got_ch_[v]) {
        return bad("v" + std::to_string(v) + " was received from another channel: " + W(s) + " / " + W(g));
      }
      if (R(g).e < R(s).b) return bad("v" + std::to_string(v) + " was received before it was sent: " + W(g));
    }
    return true;
  }

  bool per_channel() {
    for (int c = 0; c < static_cast<int>(ch_.size()); ++c) {
      if (!nil(c) && !channel(c)) return false;
    }
    for (ref x : sel_closed_) {
      const op& o = O(x);
      bool possible = false;
      for (int i = 0; i < o.ncases; ++i) {
        const sel_case& c = o.cases[static_cast<std::size_t>(i)];
        const obs* cl = c.d == dir::send && !nil(c.ch) ? close_ok(c.ch) : nullptr;
        possible = possible || (cl != nullptr && cl->b < R(x).e);
      }
      if (!possible)
        return bad("select threw closed_channel_error but no send case's channel was closed: " + W(x));
    }
    for (ref x : sel_default_) {
      const op& o = O(x);
      const rec& r = R(x);
      for (int i = 0; i < o.ncases; ++i) {
        const sel_case& c = o.cases[static_cast<std::size_t>(i)];
        if (nil(c.ch)) continue;
        const obs* cl = close_ok(c.ch);
        if (cl != nullptr && cl->e < r.b) {
          return bad("select took default although case " + std::to_string(i) +
                     "'s channel was closed: " + W(x));
        }
        if (cap(c.ch) > 0 && c.d == dir::recv && surely_buffered(c.ch, r.b, r.e)) {
          return bad("select took default although a value was buffered in case " + std::to_string(i) +
                     "'s channel throughout: " + W(x));
        }
        if (cap(c.ch) > 0 && c.d == dir::send && maybe_buffered(c.ch, r.b, r.e) < cap(c.ch)) {
          return bad("select took default although case " + std::to_string(i) +
                     "'s buffer always had room: " + W(x));
        }
      }
    }
    return true;
  }

  bool channel(int c) {
    const per_chan& pc = C(c);
    if (pc.closes_ok.size() > 1) {
      return bad("two closes of c" + std::to_string(c) + " succeeded: " + W(pc.closes_ok[0].at) + " and " +
                 W(pc.closes_ok[1].at));
    }
    const obs* cl = close_ok(c);
    auto closed_before_end = [&](const obs& o) { return cl != nullptr && cl->b < o.e; };
    for (const obs& o : pc.closes_err) {
      if (!closed_before_end(o)) return bad("close threw but no other close came first: " + W(o.at));
    }
    for (const obs& o : pc.send_closed) {
      if (!closed_before_end(o)) return bad("send threw closed_channel_error on an open channel: " + W(o.at));
    }
    for (const obs& o : pc.try_send_fail) {
      if (cl != nullptr && cl->e < o.b) return bad("try_send returned false on a closed channel: " + W(o.at));
      if (cap(c) > 0 && maybe_buffered(c, o.b, o.e) < cap(c)) {
        return bad("try_send returned false although the buffer always had room: " + W(o.at));
      }
    }
    for (const obs& o : pc.try_recv_empty) {
      if (cap(c) > 0 && surely_buffered(c, o.b, o.e)) {
        return bad("try_recv returned nullopt although a value was buffered throughout: " + W(o.at));
      }
    }
    for (const auto& [o, n] : pc.lens) {
      std::int32_t lo = 0;
      surely_buffered(c, o.b, o.e, &lo);
      const std::int32_t hi = std::min(cap(c), maybe_buffered(c, o.b, o.e));
      if (n < lo || n > hi) {
        return bad("len " + std::to_string(n) + " outside [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]: " + W(o.at));
      }
    }
    // Successful sends: not after the close; FIFO; received before any nullopt.
    std::uint64_t last_recv_begin = 0;
    ref last_recv;
    struct sr {
      std::uint64_t sb, se, rb, re;
      std::int32_t v;
    };
    std::vector<sr> xs;
    xs.reserve(pc.sent.size());
    for (std::int32_t v : pc.sent) {
      const ref s = sent_[static_cast<std::size_t>(v)], g = got_[static_cast<std::size_t>(v)];
      if (cl != nullptr && cl->e < R(s).b) {
        return bad("send succeeded after the channel was closed: " + W(s) + " (close: " + W(cl->at) + ")");
      }
      if (R(g).b > last_recv_begin) {
        last_recv_begin = R(g).b;
        last_recv = g;
      }
      xs.push_back({R(s).b, R(s).e, R(g).b, R(g).e, v});
    }
    for (const obs& o : pc.none_recv) {
      if (!closed_before_end(o)) return bad("receive returned nullopt before any close: " + W(o.at));
      if (last_recv_begin > o.e) {
        return bad("receive returned nullopt before the buffer was drained: " + W(o.at) + ", then " +
                   W(last_recv));
      }
    }
    // FIFO: no x, y with send(x) ending before send(y) begins and recv(y) ending before recv(x)
    // begins. Sorted by send end, the sends that ended before y began are a prefix; compare the
    // latest receive-begin among them with y's receive end.
    std::sort(xs.begin(), xs.end(), [](const sr& p, const sr& q) { return p.se < q.se; });
    std::vector<std::size_t> best(xs.size());  // index of the max rb in xs[0..i]
    for (std::size_t i = 0; i < xs.size(); ++i)
      best[i] = (i > 0 && xs[best[i - 1]].rb > xs[i].rb) ? best[i - 1] : i;
    for (const sr& y : xs) {
      auto it =
          std::lower_bound(xs.begin(), xs.end(), y.sb, [](const sr& p, std::uint64_t b) { return p.se < b; });
      if (it == xs.begin()) continue;
      const sr& x = xs[best[static_cast<std::size_t>(it - xs.begin()) - 1]];
      if (x.rb > y.re) {
        return bad("FIFO violated on c" + std::to_string(c) + ": v" + std::to_string(x.v) +
                   " was sent before v" + std::to_string(y.v) +
                   " but received after it: " + W(sent_[static_cast<std::size_t>(x.v)]) + "; " +
                   W(sent_[static_cast<std::size_t>(y.v)]) + "; " + W(got_[static_cast<std::size_t>(y.v)]) +
                   "; " + W(got_[static_cast<std::size_t>(x.v)]));
      }
    }
    return true;
  }

  const program& p_;
  const trace& t_;
  std::vector<per_chan> ch_;
  std::vector<ref> sent_, got_;
  std::vector<int> sent_ch_, got_ch_;
  std::vector<ref> sel_closed_, sel_default_;
  std::string why_;
};

// The exact replay for procs = 1 (see the top of this file).
class replay {
 public:
  struct stats {
    std::size_t parked = 0, by_partner = 0, by_close = 0, defaults = 0, timers = 0, closed_errors = 0;
  };

  replay(const program& p, const trace& t) : p_(p), t_(t) {}

  verdict run(stats* st) {
    if (t_.hung) return verdict{false, "a fiber did not finish (hang)"};
    for (int cap : p_.caps) {
      mchan c;
      c.nil = cap < 0;
      c.cap = std::max(0, cap);
      ch_.push_back(c);
    }
    actors_.resize(t_.actors.size());
    struct ev {
      std::uint64_t stamp;
      std::size_t a, k;
      bool end;
    };
    std::vector<ev> evs;
    for (std::size_t a = 0; a < t_.actors.size(); ++a) {
      if (t_.actors[a].ops.empty()) actors_[a].st = state::done;
      for (std::size_t k = 0; k < t_.actors[a].recs.size(); ++k) {
        const rec& r = t_.actors[a].recs[k];
        if (r.b == 0 || r.e == 0) return verdict{false, "operation never completed: " + where(t_, a, k)};
        evs.push_back({r.b, a, k, false});
        evs.push_back({r.e, a, k, true});
      }
    }
    std::sort(evs.begin(), evs.end(), [](const ev& x, const ev& y) { return x.stamp < y.stamp; });
    for (const ev& x : evs) {
      a_ = x.a;
      k_ = x.k;
      if (immediate_ != none && !(x.end && x.a == immediate_)) {
        return fail("another fiber ran while " + where(t_, immediate_, actors_[immediate_].next) +
                    " was in an operation the model completes at once (goro parked it)");
      }
      if (!(x.end ? end() : begin())) return verdict{false, why_};
    }
    for (std::size_t a = 0; a < actors_.size(); ++a) {
      if (actors_[a].st != state::done)
        return verdict{false, "internal: actor " + std::to_string(a) + " not done"};
    }
    for (std::size_t c = 0; c < ch_.size(); ++c) {
      const mchan& m = ch_[c];
      if (!m.nil && (!m.buf.empty() || !m.recvq.empty() || !m.sendq.empty() || !m.closed)) {
        return verdict{false, "after the final drain the model's c" + std::to_string(c) +
                                  " still holds values or waiters (goro's drain ended early)"};
      }
    }
    if (st != nullptr) {
      st->parked += stats_.parked;
      st->by_partner += stats_.by_partner;
      st->by_close += stats_.by_close;
      st->defaults += stats_.defaults;
      st->timers += stats_.timers;
      st->closed_errors += stats_.closed_errors;
    }
    return {};
  }

 private:
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  enum class state : std::uint8_t { idle, immediate, parked, timed, woken, done };
  enum class mstat : std::uint8_t { done, closed, not_ready, error };
  struct entry {
    std::size_t actor;
    std::uint32_t mask;  // select: the cases (bits) this entry stands for; plain ops: 1
  };
  struct mchan {
    int cap = 0;
    bool nil = false;
    bool closed = false;
    std::deque<std::int32_t> buf;
    std::deque<entry> recvq, sendq;
  };
  struct expect {
    res r = res::pending;
    std::uint32_t mask = 1;  // select: the cases the result may come from
    std::int32_t value = 0;
    // close() of a channel on which a select waits both to receive and to send: the API does
    // not say which case wakes, so the send case's error is allowed too.
    std::uint32_t alt_send_mask = 0;
  };
  struct mactor {
    state st = state::idle;
    std::size_t next = 0;
    expect want;
  };

  verdict fail(const std::string& why) {
    why_ = why;
    return verdict{false, why_};
  }
  bool bad(const std::string& why) {
    why_ = where(t_, a_, k_) + ": " + why;
    return false;
  }
  const op& O(std::size_t a, std::size_t k) const { return t_.actors[a].ops[k]; }
  const rec& R(std::size_t a, std::size_t k) const { return t_.actors[a].recs[k]; }
  mchan& C(int c) { return ch_[static_cast<std::size_t>(c)]; }

  bool can_recv(int c) {
    const mchan& m = C(c);
    return !m.nil && (!m.sendq.empty() || !m.buf.empty() || m.closed);
  }
  bool can_send(int c) {
    const mchan& m = C(c);
    return !m.nil && (m.closed || !m.recvq.empty() || static_cast<int>(m.buf.size()) < m.cap);
  }

  // A partner or close takes w: its operation's result is fixed, and a select leaves every queue.
  // (w by value: it is usually a queue's front, which the erasing below overwrites.)
  void claim(const entry w, const expect& want, bool by_close) {
    mactor& m = actors_[w.actor];
    m.st = state::woken;
    m.want = want;
    for (mchan& c : ch_) {
      auto gone = [&](const entry& x) { return x.actor == w.actor; };
      c.recvq.erase(std::remove_if(c.recvq.begin(), c.recvq.end(), gone), c.recvq.end());
      c.sendq.erase(std::remove_if(c.sendq.begin(), c.sendq.end(), gone), c.sendq.end());
    }
    ++(by_close ? stats_.by_close : stats_.by_partner);
  }

  mstat do_send(int c, std::int32_t v) {
    mchan& m = C(c);
    if (m.closed) return mstat::closed;
    if (!m.recvq.empty()) {
      claim(m.recvq.front(), expect{res::value, m.recvq.front().mask, v}, false);
      return mstat::done;
    }
    if (static_cast<int>(m.buf.size()) < m.cap) {
      m.buf.push_back(v);
      return mstat::done;
    }
    return mstat::not_ready;
  }

  mstat do_recv(int c, std::int32_t& v) {
    mchan& m = C(c);
    if (!m.sendq.empty()) {
      const entry w = m.sendq.front();
      std::int32_t sv = 0;
      const op& so = O(w.actor, actors_[w.actor].next);
      if (so.kind == op_kind::select) {
        // Which of its send cases on c met us: the one the select reports.
        const rec& sr = R(w.actor, actors_[w.actor].next);
        if (sr.r != res::ok || sr.idx < 0 || sr.idx >= 32 || ((w.mask >> sr.idx) & 1u) == 0) {
          bad("the model matches it with the select of " + where(t_, w.actor, actors_[w.actor].next) +
              ", first in c" + std::to_string(c) + "'s send queue, but that select reports another outcome");
          return mstat::error;
        }
        sv = so.cases[static_cast<std::size_t>(sr.idx)].value;
      } else {
        sv = so.value;
      }
      if (m.cap == 0) {
        v = sv;
      } else {
        v = m.buf.front();
        m.buf.pop_front();
        m.buf.push_back(sv);
      }
      claim(w, expect{res::ok, w.mask, 0}, false);
      return mstat::done;
    }
    if (!m.buf.empty()) {
      v = m.buf.front();
      m.buf.pop_front();
      return mstat::done;
    }
    return m.closed ? mstat::closed : mstat::not_ready;
  }

  void do_close(int c) {
    mchan& m = C(c);
    m.closed = true;
    while (!m.recvq.empty()) {
      const entry w = m.recvq.front();
      expect want{res::empty, w.mask, 0};
      for (const entry& s : m.sendq) want.alt_send_mask |= s.actor == w.actor ? s.mask : 0;
      claim(w, want, true);
    }
    while (!m.sendq.empty()) claim(m.sendq.front(), expect{res::closed_err, m.sendq.front().mask, 0}, true);
  }

  void enqueue(std::deque<entry>& q, std::size_t a, std::uint32_t bits) {
    if (!q.empty() && q.back().actor == a) {
      q.back().mask |= bits;  // the same select's cases on one channel are adjacent
    } else {
      q.push_back({a, bits});
    }
  }

  // The operation being replayed completes at once with `want` (its end must be the next event).
  bool immediate(const expect& want) {
    actors_[a_].st = state::immediate;
    actors_[a_].want = want;
    immediate_ = a_;
    return true;
  }
  // It blocks until a partner, close or timer decides its result.
  bool park() {
    actors_[a_].st = state::parked;
    ++stats_.parked;
    return true;
  }

  bool begin() {
    mactor& m = actors_[a_];
    if (m.st != state::idle || m.next != k_) return bad("internal: events out of program order");
    const op& o = O(a_, k_);
    if (o.abort) {
      for (std::size_t f = 0; f + 1 < actors_.size(); ++f) {
        const state s = actors_[f].st;
        if (s != state::done && s != state::parked) {
          return bad("the driver saw no progress and closed a channel, but the model says fiber " +
                     std::to_string(f) + " could still run (a lost wake-up or a starved fiber)");
        }
      }
    }
    std::int32_t v = 0;
    switch (o.kind) {
      case op_kind::send:
      case op_kind::try_send:
      case op_kind::try_send_copy: {
        const bool blocking = o.kind == op_kind::send;
        if (C(o.ch).nil) {
          if (blocking) return park();  // never generated: blocks forever
          return immediate({res::fail});
        }
        switch (do_send(o.ch, o.value)) {
          case mstat::done:
            return immediate({res::ok});
          case mstat::closed:
            return immediate({res::closed_err});
          case mstat::not_ready:
            if (!blocking) return immediate({res::fail});
            enqueue(C(o.ch).sendq, a_, 1);
            return park();
          case mstat::error:
            return false;
        }
        return false;
      }
      case op_kind::recv:
      case op_kind::try_recv: {
        const bool blocking = o.kind == op_kind::recv;
        if (C(o.ch).nil) {
          if (blocking) return park();
          return immediate({res::empty});
        }
        switch (do_recv(o.ch, v)) {
          case mstat::done:
            return immediate({res::value, 1, v});
          case mstat::closed:
            return immediate({res::empty});
          case mstat::not_ready:
            if (!blocking) return immediate({res::empty});
            enqueue(C(o.ch).recvq, a_, 1);
            return park();
          case mstat::error:
            return false;
        }
        return false;
      }
      case op_kind::close:
        if (C(o.ch).nil) return immediate({res::nil_err});
        if (C(o.ch).closed) return immediate({res::closed_err});
        do_close(o.ch);
        return immediate({res::ok});
      case op_kind::len:
        return immediate({res::ok, 1, static_cast<std::int32_t>(C(o.ch).nil ? 0 : C(o.ch).buf.size())});
      case op_kind::sleep:
        m.st = state::timed;
        return true;
      case op_kind::select:
        return begin_select(o, R(a_, k_));
    }
    return bad("internal: unknown operation");
  }

  bool begin_select(const op& o, const rec& r) {
    std::uint32_t ready = 0, closed_send = 0;
    for (int i = 0; i < o.ncases; ++i) {
      const sel_case& c = o.cases[static_cast<std::size_t>(i)];
      if (c.d == dir::recv ? can_recv(c.ch) : can_send(c.ch)) ready |= 1u << i;
      if (c.d == dir::send && !C(c.ch).nil && C(c.ch).closed) closed_send |= 1u << i;
    }
    auto list = [&](std::uint32_t bits) {
      std::string s;
      for (int i = 0; i < o.ncases; ++i) {
        if ((bits >> i) & 1u) s += (s.empty() ? "" : ", ") + std::to_string(i);
      }
      return s;
    };
    auto block_or_fail = [&](const std::string& what) {
      if (ready != 0) return bad(what + ", but case(s) " + list(ready) + " could proceed at once");
      if (o.has_default) return bad(what + ", but nothing could proceed and it has a default");
      for (int i = 0; i < o.ncases; ++i) {
        const sel_case& c = o.cases[static_cast<std::size_t>(i)];
        if (C(c.ch).nil) continue;
        enqueue(c.d == dir::recv ? C(c.ch).recvq : C(c.ch).sendq, a_, 1u << i);
      }
      return park();
    };
    switch (r.r) {
      case res::dflt:
        if (!o.has_default || r.idx != o.default_index())
          return bad("select reported a default it does not have");
        if (ready != 0) return bad("select took default although case(s) " + list(ready) + " could proceed");
        ++stats_.defaults;
        return immediate({res::dflt});
      case res::timer:
        // Claimed by its timer at some instant after it began (before any partner came).
        if (!o.has_timer || r.idx != o.timer_index()) return bad("select reported a timer it does not have");
        ++stats_.timers;
        actors_[a_].st = state::timed;
        return true;
      case res::value:
      case res::empty:
      case res::ok: {
        const int i = r.idx;
        if (i < 0 || i >= o.ncases) return bad("select reported a case it does not have");
        const sel_case& c = o.cases[static_cast<std::size_t>(i)];
        if (C(c.ch).nil || (c.d == dir::send) != (r.r == res::ok)) {
          return bad("select reported a case that cannot have that outcome");
        }
        if (((ready >> i) & 1u) == 0) return block_or_fail("select reported case " + std::to_string(i));
        std::int32_t v = 0;
        mstat s = c.d == dir::recv ? do_recv(c.ch, v) : do_send(c.ch, c.value);
        if (s == mstat::error) return false;
        if (s == mstat::done) {
          return immediate(c.d == dir::recv ? expect{res::value, 1u << i, v} : expect{res::ok, 1u << i, 0});
        }
        return immediate(c.d == dir::recv ? expect{res::empty, 1u << i, 0}
                                          : expect{res::closed_err, 1u << i, 0});
      }
      case res::closed_err:
        if (closed_send != 0) return immediate({res::closed_err});
        return block_or_fail("select threw closed_channel_error");
      default:
        return bad("select reported an outcome no select has");
    }
  }

  bool end() {
    mactor& m = actors_[a_];
    const op& o = O(a_, k_);
    const rec& r = R(a_, k_);
    if (m.next != k_) return bad("internal: events out of program order");
    switch (m.st) {
      case state::immediate:
      case state::woken: {
        const expect& w = m.want;
        bool same = w.r == r.r;
        if (same && (r.r == res::value || o.kind == op_kind::len)) same = w.value == r.value;
        if (same && o.kind == op_kind::select && (r.r == res::value || r.r == res::empty || r.r == res::ok)) {
          same = r.idx >= 0 && r.idx < 32 && ((w.mask >> r.idx) & 1u) != 0;
        }
        same = same || (w.alt_send_mask != 0 && r.r == res::closed_err);
        if (!same) {
          rec want_rec;
          want_rec.r = w.r;
          want_rec.value = w.value;
          return bad("the model expected " + to_string(want_rec) +
                     (o.kind == op_kind::select && w.r != res::dflt
                          ? " (from case mask " + std::to_string(w.mask) + ")"
                          : std::string()) +
                     (m.st == state::woken ? " (woken by a partner or close)" : " (at once)"));
        }
        if (r.r == res::closed_err) ++stats_.closed_errors;
        break;
      }
      case state::timed:
        if (o.kind == op_kind::sleep && r.r != res::ok) return bad("sleep_for reported an outcome");
        break;
      case state::parked:
        return bad("returned while the model has it blocked: no partner, close or timer could have woken it");
      default:
        return bad("internal: end without begin");
    }
    if (immediate_ == a_) immediate_ = none;
    m.st = ++m.next == t_.actors[a_].ops.size() ? state::done : state::idle;
    return true;
  }

  const program& p_;
  const trace& t_;
  std::vector<mchan> ch_;
  std::vector<mactor> actors_;
  std::size_t immediate_ = none;
  std::size_t a_ = 0, k_ = 0;  // the event being replayed
  stats stats_;
  std::string why_;
};

}  // namespace detail

using replay_stats = detail::replay::stats;

inline verdict check_invariants(const program& p, const trace& t) {
  return detail::invariant_checker(p, t).run();
}

// Exact replay against the model; only meaningful for a trace recorded with procs = 1.
inline verdict check_replay(const program& p, const trace& t, replay_stats* stats = nullptr) {
  return detail::replay(p, t).run(stats);
}

// Everything that applies to the trace's processor count.
inline verdict check(const program& p, const trace& t, replay_stats* stats = nullptr) {
  verdict v = check_invariants(p, t);
  if (v.ok && t.procs == 1) v = check_replay(p, t, stats);
  return v;
}

// The failure report: the violation, the program and the recorded events.
inline std::string describe(const program& p, const trace& t, const verdict& v) {
  return "violation: " + v.why + "\n" + to_string(p) + to_string(t);
}

}  // namespace goro_fuzz
