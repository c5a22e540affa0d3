// pipeline: goro's flagship example. Word-counts and hashes every regular file under a
// directory with a fan-out/fan-in pipeline:
//
//   walker ──paths──▶ N workers ──file_stats──▶ merge ──▶ aggregator (the main fiber)
//
// * the walker and the workers run in one errgroup: a failure anywhere (the directory does not
//   exist, --fail-on-error and a file cannot be read) cancels the group's context, every stage
//   returns, and the error is printed once;
// * the whole run has a deadline (--timeout): when it passes, the stages stop and the summary
//   says the counts are partial;
// * on a terminal, a one-line progress display is refreshed every 100 ms from a ticker case of
//   the aggregator's select; the summary goes to stdout.
//
//   usage: pipeline [DIR] [--workers N] [--timeout SECONDS] [--top K] [--fail-on-error]
//   (DIR defaults to ".", the repository when run by `tools/dev example`)
//
// File reads are blocking system calls made on worker fibers: fine for a local disk, where a
// read takes microseconds (see docs/porting-from-go.md on blocking calls inside fibers).
#include <goro/goro.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct settings {
  fs::path root = ".";
  std::size_t workers = 8;
  std::chrono::milliseconds timeout = 60s;
  std::size_t top = 10;
  bool fail_on_error = false;
};

// What a worker learns from one file.
struct file_stats {
  fs::path path;
  std::uint64_t bytes = 0, lines = 0, words = 0;
  std::uint64_t fnv1a = 0;                                // FNV-1a 64 of the content
  std::unordered_map<std::string, std::uint64_t> counts;  // words of 3+ letters, lower-cased
  std::string error;                                      // non-empty: the file could not be read
};

settings parse_args(int argc, char** argv) {
  settings s;
  bool have_root = false;
  auto number = [&](int& i, const char* flag) -> long {
    if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
    std::string text = argv[++i];
    std::size_t used = 0;
    long v = -1;
    try {
      v = std::stol(text, &used);
    } catch (const std::exception&) {
    }
    if (used != text.size() || v < 0)
      throw std::invalid_argument(std::string(flag) + ": not a count: " + text);
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--workers") {
      s.workers = static_cast<std::size_t>(number(i, "--workers"));
      if (s.workers == 0) throw std::invalid_argument("--workers must be at least 1");
    } else if (a == "--timeout") {
      s.timeout = std::chrono::seconds(number(i, "--timeout"));
    } else if (a == "--timeout-ms") {
      s.timeout = std::chrono::milliseconds(number(i, "--timeout-ms"));
    } else if (a == "--top") {
      s.top = static_cast<std::size_t>(number(i, "--top"));
    } else if (a == "--fail-on-error") {
      s.fail_on_error = true;
    } else if (a.starts_with("--") || have_root) {
      throw std::invalid_argument("unexpected argument: " + a);
    } else {
      s.root = a;
      have_root = true;
    }
  }
  return s;
}

// Build trees and version-control metadata are not the repository's content.
bool skipped_dir(const fs::path& p) {
  const std::string name = p.filename().string();
  return name == ".git" || name == "build" || name == "node_modules";
}

// Sends every regular file under root, stopping early when ctx is done.
void walk(const goro::context& ctx, const fs::path& root, goro::send_chan<fs::path> out) {
  if (!fs::is_directory(root)) throw std::runtime_error("not a directory: " + root.string());
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied), end;
  for (; it != end; ++it) {
    if (it->is_directory() && skipped_dir(it->path())) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (!goro::send_or_done(ctx, out, it->path())) return;
  }
}

file_stats scan(fs::path path) {
  file_stats st;
  st.path = std::move(path);
  std::ifstream in(st.path, std::ios::binary);
  if (!in) {
    st.error = "cannot open";
    return st;
  }
  std::uint64_t h = 14695981039346656037ull;
  std::string word;
  auto end_word = [&] {
    if (word.empty()) return;
    ++st.words;
    if (word.size() >= 3) ++st.counts[word];
    word.clear();
  };
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    const auto n = static_cast<std::size_t>(in.gcount());
    st.bytes += n;
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = static_cast<unsigned char>(buf[i]);
      h = (h ^ c) * 1099511628211ull;
      if (c == '\n') ++st.lines;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        word.push_back(static_cast<char>(c | 0x20));  // ASCII lower case
      } else {
        end_word();
      }
    }
  }
  end_word();
  if (in.bad()) st.error = "read error";
  st.fnv1a = h;
  return st;
}

struct totals {
  std::uint64_t files = 0, unreadable = 0, bytes = 0, lines = 0, words = 0, digest = 0;
  std::unordered_map<std::string, std::uint64_t> counts;
};

void show_progress(const totals& t, std::chrono::steady_clock::duration elapsed) {
  const double s = std::chrono::duration<double>(elapsed).count();
  std::fprintf(stderr, "\r\033[K  %llu files, %.1f MB, %llu words  (%.1f s)",
               static_cast<unsigned long long>(t.files), static_cast<double>(t.bytes) / 1e6,
               static_cast<unsigned long long>(t.words), s);
  std::fflush(stderr);
}

int pipeline(const settings& cfg) {
  const auto start = std::chrono::steady_clock::now();
  auto [deadline_ctx, cancel] = goro::with_timeout(goro::context::background(), cfg.timeout);
  goro::errgroup g(deadline_ctx);
  const goro::context& ctx = g.ctx();  // done on the deadline or on the first failure

  auto paths = goro::make_chan<fs::path>(64);  // a buffer lets the walker run ahead of workers
  g.go([ctx, paths, root = cfg.root] {
    auto closer = goro::defer([&] { paths.close(); });  // also when walk throws
    walk(ctx, root, paths);
  });

  // Fan out: one output channel per worker; fan in: merge them for the aggregator.
  std::vector<goro::recv_chan<file_stats>> outputs;
  for (std::size_t w = 0; w < cfg.workers; ++w) {
    auto out = goro::make_chan<file_stats>();
    outputs.emplace_back(out);
    g.go([ctx, paths, out, strict = cfg.fail_on_error] {
      auto closer = goro::defer([&] { out.close(); });
      while (std::optional<fs::path> p = goro::recv_or_done(ctx, paths)) {
        file_stats st = scan(std::move(*p));
        if (strict && !st.error.empty()) throw std::runtime_error(st.path.string() + ": " + st.error);
        if (!goro::send_or_done(ctx, out, std::move(st))) return;
      }
    });
  }
  goro::recv_chan<file_stats> results = goro::merge(ctx, std::move(outputs));

  // Aggregate in this fiber; a ticker case redraws the progress line when stderr is a terminal.
  totals t;
  const bool tty = isatty(STDERR_FILENO) == 1;
  std::optional<goro::ticker> tick;
  if (tty) tick.emplace(100ms);
  goro::recv_chan<std::chrono::steady_clock::time_point> ticks;  // nil: never fires
  if (tick) ticks = tick->c();
  for (bool open = true; open;) {
    goro::select(goro::case_recv(results,
                                 [&](std::optional<file_stats> st) {
                                   if (!st) {
                                     open = false;
                                     return;
                                   }
                                   ++t.files;
                                   if (!st->error.empty()) {
                                     ++t.unreadable;
                                     return;
                                   }
                                   t.bytes += st->bytes;
                                   t.lines += st->lines;
                                   t.words += st->words;
                                   t.digest ^= st->fnv1a;  // order-independent digest of all contents
                                   for (auto& [w, n] : st->counts) t.counts[w] += n;
                                 }),
                 goro::case_recv(ticks, [&] { show_progress(t, std::chrono::steady_clock::now() - start); }));
  }
  if (tty) std::fprintf(stderr, "\r\033[K");

  try {
    g.wait();  // every stage has returned; rethrows the first failure
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pipeline: %s\n", e.what());
    return 1;
  }
  const bool timed_out = deadline_ctx.err() == goro::errc::deadline_exceeded;
  cancel();

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::pair<std::string, std::uint64_t>> top(t.counts.begin(), t.counts.end());
  const std::size_t k = std::min(cfg.top, top.size());
  std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(k), top.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });

  std::printf("%s %s with %zu workers%s\n", timed_out ? "partial scan of" : "scanned",
              cfg.root.string().c_str(), cfg.workers, timed_out ? " (deadline exceeded)" : "");
  std::printf("files:      %llu (%llu unreadable)\n", static_cast<unsigned long long>(t.files),
              static_cast<unsigned long long>(t.unreadable));
  std::printf("bytes:      %llu\n", static_cast<unsigned long long>(t.bytes));
  std::printf("lines:      %llu\n", static_cast<unsigned long long>(t.lines));
  std::printf("words:      %llu\n", static_cast<unsigned long long>(t.words));
  std::printf("digest:     %016llx\n", static_cast<unsigned long long>(t.digest));
  std::printf("top words: ");
  for (std::size_t i = 0; i < k; ++i) {
    std::printf(" %s(%llu)", top[i].first.c_str(), static_cast<unsigned long long>(top[i].second));
  }
  std::printf("\n");
  std::printf("throughput: %.1f MB/s, %.0f files/s (%.3f s, %u procs)\n",
              static_cast<double>(t.bytes) / 1e6 / secs, static_cast<double>(t.files) / secs, secs,
              goro::procs());
  return timed_out ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  settings cfg;
  try {
    cfg = parse_args(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(
        stderr,
        "pipeline: %s\nusage: pipeline [DIR] [--workers N] [--timeout SECONDS] [--top K] [--fail-on-error]\n",
        e.what());
    return 64;
  }
  return goro::run([&] { return pipeline(cfg); });
}
