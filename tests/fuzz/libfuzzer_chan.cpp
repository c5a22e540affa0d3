// tests/fuzz/libfuzzer_chan.cpp: libFuzzer entry point for the channel/select model fuzzer.
//
// The input bytes drive the same program generator as tests/fuzz/chan_fuzz_test.cpp (each
// byte is one generator choice; 0 once they run out). Every input runs with procs = 1 (exact
// replay against the model, plus the invariants) and procs = 2 (the invariants), each in a
// fresh goro::run(). A violation prints the property, the program and the recorded events,
// then aborts, so libFuzzer keeps the input as a crash file.
//
// Build (clang only; not part of the default build or test run), from the repository root:
//   cmake -S . -B build/libfuzzer -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGORO_LIBFUZZER=ON
//         -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DGORO_BUILD_BENCH=OFF
//   cmake --build build/libfuzzer --target goro_fuzz_chan
// Run (the corpus directory collects interesting inputs; -jobs/-workers run several). A full
// program takes a few hundred bytes, so let inputs be that long from the start:
//   mkdir -p build/libfuzzer/corpus
//   build/libfuzzer/tests/goro_fuzz_chan build/libfuzzer/corpus -max_total_time=60
//         -max_len=512 -len_control=0
// Reproduce or minimize a crash:
//   build/libfuzzer/tests/goro_fuzz_chan crash-<sha1>
//   build/libfuzzer/tests/goro_fuzz_chan -minimize_crash=1 -runs=10000 crash-<sha1>
// The instrumented target is built with -fsanitize=fuzzer,address,undefined. Set
// GORO_FUZZ_VERBOSE=1 to print each input's program.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "chan_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  goro_fuzz::entropy e(data, size);
  const goro_fuzz::program p = goro_fuzz::generate(e, 0);
  static const bool verbose = std::getenv("GORO_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "%s", goro_fuzz::to_string(p).c_str());
  for (unsigned procs : {1u, 2u}) {
    std::string failure;
    goro::run(
        [&] {
          const goro_fuzz::trace t = goro_fuzz::execute(p);
          const goro_fuzz::verdict v = goro_fuzz::check(p, t);
          if (!v.ok) failure = goro_fuzz::describe(p, t, v);
        },
        goro::options{.procs = procs});
    if (!failure.empty()) {
      std::fprintf(stderr, "goro_fuzz_chan: procs %u\n%s", procs, failure.c_str());
      std::fflush(stderr);
      std::abort();
    }
  }
  return 0;
}
