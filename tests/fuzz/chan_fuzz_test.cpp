// tests/fuzz/chan_fuzz_test.cpp: model-based fuzzing of channels and select (chan_model.hpp).
//
// Random programs of channel operations, selects, closes and timers run on goro with procs = 1
// (checked by exact replay against the reference model, and by the invariants) and procs = 2
// (checked by the invariants). By default the seeds 0, 1, ... are taken until the programs hold
// 4 * 10^6 operations over both processor counts (about 56000 seeds; times GORO_TEST_SCALE:
// the sanitizer presets run a quarter). The driver's closes and drains come on top.
//
// Environment:
//   GORO_FUZZ_SEEDS=n    run n seeds instead. Nightly-style, e.g. 10^6 seeds (~70 * 10^6
//                        operations): GORO_FUZZ_SEEDS=1000000 GORO_FUZZ_FIRST=$(date +%s)000
//                        build/release/tests/goro_tests "[fuzz]"
//   GORO_FUZZ_FIRST=s    start at seed s (default 0; nightly jobs can shard or rotate)
//   GORO_FUZZ_SEED=s     only seed s, GORO_FUZZ_REPEAT times (default 200) with each processor
//                        count, printing its program: the replay of a reported failure (with
//                        procs = 2, or with select's random choices, a run may need repeats)
//
// On a violation the test fails with the seed, the processor count, the violated property, the
// program and every recorded event in order.
//
// Conventions (as in chan_test.cpp): assertions run only on the test thread or in the main
// fiber of run_test(); the fuzzed fibers record, the main fiber checks.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "chan_model.hpp"
#include "test_util.hpp"

using goro_test::run_test;
using goro_test::scaled;
namespace gf = goro_fuzz;

namespace {

std::optional<std::uint64_t> env_u64(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::strtoull(v, nullptr, 0);
}

gf::program program_for(std::uint64_t seed) {
  gf::entropy e(seed);
  return gf::generate(e, seed);
}

struct totals {
  std::size_t programs = 0, ops = 0, aborts = 0;
  gf::replay_stats replay;
  double seconds = 0;
};

struct failure {
  std::uint64_t seed;
  unsigned procs;
  std::string report;
};

// Runs seeds [first, first + count), each `repeat` times, in one runtime with `procs` processors.
std::optional<failure> fuzz(unsigned procs, std::uint64_t first, std::uint64_t count, int repeat,
                            totals& tot) {
  std::optional<failure> bad;
  const auto start = std::chrono::steady_clock::now();
  run_test(procs, [&] {
    for (std::uint64_t seed = first; seed < first + count && !bad; ++seed) {
      const gf::program p = program_for(seed);
      for (int i = 0; i < repeat && !bad; ++i) {
        const gf::trace t = gf::execute(p);
        const gf::verdict v = gf::check(p, t, &tot.replay);
        ++tot.programs;
        tot.ops += t.ops_run();
        tot.aborts += t.aborted ? 1 : 0;
        if (!v.ok) bad = failure{seed, procs, gf::describe(p, t, v)};
      }
    }
  });
  tot.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return bad;
}

void print_totals(unsigned procs, const totals& t) {
  std::printf(
      "[fuzz] procs %u: %zu programs, %zu operations in %.2f s (%.0f ops/s), %zu with deadlock aborts\n",
      procs, t.programs, t.ops, t.seconds, t.seconds > 0 ? static_cast<double>(t.ops) / t.seconds : 0.0,
      t.aborts);
  if (procs == 1) {
    std::printf(
        "[fuzz]   replay: %zu parked, %zu woken by a partner, %zu by close, %zu defaults, %zu timer cases, "
        "%zu closed_channel_errors\n",
        t.replay.parked, t.replay.by_partner, t.replay.by_close, t.replay.defaults, t.replay.timers,
        t.replay.closed_errors);
  }
  std::fflush(stdout);
}

// ---- Hand-made traces for the checker's own tests ----

gf::op mk(gf::op_kind k, int ch, std::int32_t value = 0) {
  gf::op o;
  o.kind = k;
  o.ch = ch;
  o.value = value;
  return o;
}

gf::op recv_or_default(int ch) {
  gf::op o;
  o.kind = gf::op_kind::select;
  o.ncases = 1;
  o.cases[0] = gf::sel_case{gf::dir::recv, ch, 0};
  o.has_default = true;
  return o;
}

// A program and a trace written event by event, as goro with procs = 1 would record them.
struct scripted {
  gf::program p;
  gf::trace t;
  std::uint64_t clock = 0;

  scripted(std::vector<int> caps, std::vector<std::vector<gf::op>> fibers) {
    p.caps = std::move(caps);
    p.fibers = std::move(fibers);
    t.procs = 1;
    t.actors.resize(p.fibers.size() + 1);
    for (std::size_t f = 0; f < p.fibers.size(); ++f) {
      t.actors[f].ops = p.fibers[f];
      t.actors[f].recs.resize(p.fibers[f].size());
    }
  }
  std::size_t driver() const { return p.fibers.size(); }
  std::size_t driver_op(gf::op o) {
    t.actors.back().ops.push_back(o);
    t.actors.back().recs.emplace_back();
    return t.actors.back().ops.size() - 1;
  }
  gf::rec& at(std::size_t a, std::size_t k) { return t.actors[a].recs[k]; }
  void begin(std::size_t a, std::size_t k) { at(a, k).b = ++clock; }
  void end(std::size_t a, std::size_t k, gf::res r, std::int32_t value = 0, int idx = -1) {
    gf::rec& x = at(a, k);
    x.e = ++clock;
    x.r = r;
    x.value = value;
    x.idx = idx;
  }
  void now(std::size_t a, std::size_t k, gf::res r, std::int32_t value = 0, int idx = -1) {
    begin(a, k);
    end(a, k, r, value, idx);
  }
  // The driver's final phase for channel c: close (ok or not), then receive `left`, then nullopt.
  void final_drain(int c, gf::res close_result, std::vector<std::int32_t> left = {}) {
    now(driver(), driver_op(mk(gf::op_kind::close, c)), close_result);
    for (std::int32_t v : left) now(driver(), driver_op(mk(gf::op_kind::recv, c)), gf::res::value, v);
    now(driver(), driver_op(mk(gf::op_kind::recv, c)), gf::res::empty);
  }
  gf::verdict invariants() const { return gf::check_invariants(p, t); }
  gf::verdict replay() const { return gf::check_replay(p, t); }
};

using gf::op_kind;
using gf::res;

// cap 1. fiber 0: send v1; send v2; close. fiber 1: recv; recv; recv.
scripted buffered_then_close() {
  scripted s({1}, {{mk(op_kind::send, 0, 1), mk(op_kind::send, 0, 2), mk(op_kind::close, 0)},
                   {mk(op_kind::recv, 0), mk(op_kind::recv, 0), mk(op_kind::recv, 0)}});
  s.now(0, 0, res::ok);        // v1 into the buffer
  s.begin(0, 1);               // v2: buffer full, parks
  s.now(1, 0, res::value, 1);  // takes v1; v2 moves into the buffer, fiber 0 woken
  s.now(1, 1, res::value, 2);  // takes v2
  s.begin(1, 2);               // empty: parks
  s.end(0, 1, res::ok);        // fiber 0 resumes
  s.now(0, 2, res::ok);        // close: wakes fiber 1 with nullopt
  s.end(1, 2, res::empty);
  s.final_drain(0, res::closed_err);
  return s;
}

// cap 2. fiber 0: send v1; close; send v2. fiber 1: recv; recv.
scripted close_with_buffered_value() {
  scripted s({2}, {{mk(op_kind::send, 0, 1), mk(op_kind::close, 0), mk(op_kind::send, 0, 2)},
                   {mk(op_kind::recv, 0), mk(op_kind::recv, 0)}});
  s.now(0, 0, res::ok);
  s.now(0, 1, res::ok);
  s.now(0, 2, res::closed_err);
  s.now(1, 0, res::value, 1);
  s.now(1, 1, res::empty);
  s.final_drain(0, res::closed_err);
  return s;
}

// cap 0. fibers 0 and 1: recv (they park in that order). fiber 2: send v1; send v2.
scripted two_parked_receivers() {
  scripted s(
      {0},
      {{mk(op_kind::recv, 0)}, {mk(op_kind::recv, 0)}, {mk(op_kind::send, 0, 1), mk(op_kind::send, 0, 2)}});
  s.begin(0, 0);
  s.begin(1, 0);
  s.now(2, 0, res::ok);  // to fiber 0, first in the queue
  s.now(2, 1, res::ok);  // to fiber 1
  s.end(1, 0, res::value, 2);
  s.end(0, 0, res::value, 1);
  s.final_drain(0, res::ok);
  return s;
}

}  // namespace

TEST_CASE("fuzz: programs are reproducible from their seed", "[fuzz]") {
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const gf::program a = program_for(seed), b = program_for(seed);
    REQUIRE(gf::to_string(a) == gf::to_string(b));
    REQUIRE(a.fibers.size() >= 2);
    REQUIRE(a.fibers.size() <= 6);
  }
  // Fuzzer bytes drive the same generator; an empty input is a valid (tiny) program.
  const std::uint8_t bytes[] = {3, 1, 2, 0, 5, 9, 200, 17, 4, 4, 4};
  gf::entropy e(bytes, sizeof bytes);
  const gf::program p = gf::generate(e, 0);
  CHECK(p.op_count() >= 1);
  gf::entropy none(nullptr, 0);
  CHECK(gf::generate(none, 0).op_count() >= 1);
}

TEST_CASE("fuzz: the checker accepts correct traces and rejects corrupted ones", "[fuzz]") {
  SECTION("correct hand-made traces pass both checks") {
    for (const scripted& s : {buffered_then_close(), close_with_buffered_value(), two_parked_receivers()}) {
      const gf::verdict inv = s.invariants(), rep = s.replay();
      INFO(inv.why << rep.why);
      CHECK(inv.ok);
      CHECK(rep.ok);
    }
  }
  SECTION("a duplicated value") {
    scripted s = buffered_then_close();
    s.at(1, 1).value = 1;
    CHECK_FALSE(s.invariants().ok);
    CHECK_FALSE(s.replay().ok);
    CHECK(s.invariants().why.find("received twice") != std::string::npos);
  }
  SECTION("a reordered pair (FIFO)") {
    scripted s = buffered_then_close();
    s.at(1, 0).value = 2;
    s.at(1, 1).value = 1;
    CHECK(s.invariants().why.find("FIFO") != std::string::npos);
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("nullopt before the buffer was drained") {
    scripted s = close_with_buffered_value();
    s.at(1, 0).r = res::empty;
    s.at(1, 1).r = res::value;
    s.at(1, 1).value = 1;
    CHECK(s.invariants().why.find("before the buffer was drained") != std::string::npos);
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("a send that succeeded after close") {
    scripted s = close_with_buffered_value();
    s.at(0, 2).r = res::ok;
    // ... and v2 was there for the drain, so only the ordering gives it away.
    s.t.actors.back() = {};
    s.final_drain(0, res::closed_err, {2});
    CHECK(s.invariants().why.find("send succeeded after the channel was closed") != std::string::npos);
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("a lost value") {
    scripted s = close_with_buffered_value();
    s.at(1, 0).r = res::empty;
    CHECK(s.invariants().why.find("never received") != std::string::npos);
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("a value nobody sent, a failed send's value") {
    scripted s = close_with_buffered_value();
    s.at(1, 0).value = 2;  // v2's send threw
    CHECK_FALSE(s.invariants().ok);
    s.at(1, 0).value = 77;
    CHECK_FALSE(s.invariants().ok);
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("default although a value was buffered throughout") {
    scripted s({1}, {{mk(op_kind::send, 0, 1)}, {recv_or_default(0), mk(op_kind::recv, 0)}});
    s.now(0, 0, res::ok);
    s.now(1, 0, res::dflt, 0, 1);
    s.now(1, 1, res::value, 1);
    s.final_drain(0, res::ok);
    CHECK(s.invariants().why.find("select took default") != std::string::npos);
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("only the replay sees: default while a sender was parked on an unbuffered channel") {
    scripted s({0}, {{mk(op_kind::send, 0, 1)}, {recv_or_default(0), mk(op_kind::recv, 0)}});
    s.begin(0, 0);  // parks
    s.now(1, 0, res::dflt, 0, 1);
    s.now(1, 1, res::value, 1);
    s.end(0, 0, res::ok);
    s.final_drain(0, res::ok);
    CHECK(s.invariants().ok);  // with procs = 2 this could be a legitimate race
    const gf::verdict v = s.replay();
    CHECK_FALSE(v.ok);
    CHECK(v.why.find("select took default") != std::string::npos);
  }
  SECTION("only the replay sees: parked receivers served out of FIFO order") {
    scripted s = two_parked_receivers();
    s.at(1, 0).value = 1;
    s.at(0, 0).value = 2;
    CHECK(s.invariants().ok);  // the intervals overlap: no FIFO conclusion without the model
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("only the replay sees: an operation that should have completed at once parked") {
    // The buffer has room, so the send completes at once; with procs = 1 no other fiber can run
    // between its begin and its end.
    scripted s({1}, {{mk(op_kind::send, 0, 1)}, {mk(op_kind::try_recv, 0)}});
    s.begin(0, 0);
    s.now(1, 0, res::empty);
    s.end(0, 0, res::ok);
    s.final_drain(0, res::ok, {1});
    CHECK(s.invariants().ok);
    const gf::verdict v = s.replay();
    CHECK_FALSE(v.ok);
    CHECK(v.why.find("another fiber ran") != std::string::npos);
  }
  SECTION("two successful closes") {
    scripted s = close_with_buffered_value();
    s.t.actors.back().recs[0].r = res::ok;  // the driver's close succeeded too
    CHECK(s.invariants().why.find("two closes") != std::string::npos);
    CHECK_FALSE(s.replay().ok);
  }
  SECTION("a close that throws with no close before it") {
    scripted s = close_with_buffered_value();
    s.at(0, 1).r = res::closed_err;  // the program's close threw; the driver's (later) failed too
    CHECK(s.invariants().why.find("close threw") != std::string::npos);
    CHECK_FALSE(s.replay().ok);
  }
}

TEST_CASE("fuzz: corrupting recorded goro traces is detected", "[fuzz]") {
  // Real traces (procs = 1) of the first seeds, each mutated in ways no correct execution
  // allows: a received value swapped with another receive's, replaced by a value never sent
  // successfully, or duplicated.
  std::vector<std::pair<gf::program, gf::trace>> runs;
  std::string first_failure;
  run_test(1, [&] {
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
      gf::program p = program_for(seed);
      gf::trace t = gf::execute(p);
      const gf::verdict v = gf::check(p, t);
      if (!v.ok && first_failure.empty()) first_failure = gf::describe(p, t, v);
      runs.emplace_back(std::move(p), std::move(t));
    }
  });
  INFO(first_failure);
  REQUIRE(first_failure.empty());
  std::size_t mutations = 0;
  for (const auto& [p, t] : runs) {
    std::vector<std::pair<std::size_t, std::size_t>> got;  // operations that received a value
    for (std::size_t a = 0; a < t.actors.size(); ++a) {
      for (std::size_t k = 0; k < t.actors[a].recs.size(); ++k) {
        if (t.actors[a].recs[k].r == res::value) got.emplace_back(a, k);
      }
    }
    for (std::size_t i = 0; i + 1 < got.size(); ++i) {
      const auto [a1, k1] = got[i];
      const auto [a2, k2] = got[i + 1];
      gf::trace swapped = t, dup = t, foreign = t;
      std::swap(swapped.actors[a1].recs[k1].value, swapped.actors[a2].recs[k2].value);
      dup.actors[a2].recs[k2].value = t.actors[a1].recs[k1].value;
      foreign.actors[a1].recs[k1].value = 1'000'000;
      INFO("seed " << p.seed << ", receives " << a1 << "/" << k1 << " and " << a2 << "/" << k2);
      CHECK_FALSE(gf::check(p, swapped).ok);
      CHECK_FALSE(gf::check(p, dup).ok);
      CHECK_FALSE(gf::check(p, foreign).ok);
      // The swap on its own: the invariants catch it only when the intervals allow no other
      // order; the replay always does.
      CHECK_FALSE(gf::check_replay(p, swapped).ok);
      ++mutations;
    }
  }
  CHECK(mutations > 100);
}

TEST_CASE("fuzz: random channel and select programs behave as the model allows", "[fuzz]") {
  const std::optional<std::uint64_t> one = env_u64("GORO_FUZZ_SEED");
  std::uint64_t first = one ? *one : env_u64("GORO_FUZZ_FIRST").value_or(0);
  std::uint64_t count = 1;
  int repeat = 1;
  if (one) {
    repeat = static_cast<int>(env_u64("GORO_FUZZ_REPEAT").value_or(200));
    std::printf("[fuzz] seed %llu, %d runs per processor count\n%s", static_cast<unsigned long long>(*one),
                repeat, gf::to_string(program_for(*one)).c_str());
  } else if (auto n = env_u64("GORO_FUZZ_SEEDS")) {
    count = *n;
  } else {
    // Enough seeds for 4 * 10^6 operations over both processor counts (each program runs twice).
    const std::size_t target = static_cast<std::size_t>(scaled(4'000'000));
    std::size_t ops = 0;
    count = 0;
    while (2 * ops < target) ops += program_for(first + count++).op_count();
  }
  for (unsigned procs : {1u, 2u}) {
    totals tot;
    const std::optional<failure> bad = fuzz(procs, first, count, repeat, tot);
    print_totals(procs, tot);
    if (bad) {
      FAIL("seed " << bad->seed << " with procs " << bad->procs << " (replay: GORO_FUZZ_SEED=" << bad->seed
                   << " goro_tests \"[fuzz]\")\n"
                   << bad->report);
    }
  }
}
