// goro/detail/procs.hpp: how many processors a runtime gets when options.procs is 0.
//
// Order (API.md): GORO_MAXPROCS, else the cgroup CPU quota (v2 cpu.max, v1
// cpu.cfs_quota_us / cpu.cfs_period_us, rounded up, at least 1), else
// std::thread::hardware_concurrency(). The cgroup root and /proc/self/cgroup are
// parameters so that tests can feed crafted files.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace goro::detail {

inline constexpr unsigned max_procs = 1024;

// Parses a cgroup v2 cpu.max line ("max 100000" or "150000 100000").
inline std::optional<unsigned> parse_cpu_max(const std::string& line) {
  std::istringstream in(line);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  char* end = nullptr;
  long long q = std::strtoll(quota.c_str(), &end, 10);
  if (end == quota.c_str() || *end != '\0' || q <= 0) return std::nullopt;
  long long n = (q + period - 1) / period;
  return static_cast<unsigned>(std::clamp<long long>(n, 1, max_procs));
}

inline std::optional<std::string> read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return std::nullopt;
  return line;
}

// The CPU limit of the calling process's cgroup, or nullopt when there is none.
inline std::optional<unsigned> cgroup_cpu_limit(const std::string& root = "/sys/fs/cgroup",
                                                const std::string& self_cgroup = "/proc/self/cgroup") {
  std::optional<unsigned> best;
  auto take = [&best](std::optional<unsigned> v) {
    if (v && (!best || *v < *best)) best = v;
  };
  std::ifstream f(self_cgroup);
  std::string line;
  while (std::getline(f, line)) {
    // hierarchy-ID:controller-list:path
    auto c1 = line.find(':');
    auto c2 = c1 == std::string::npos ? std::string::npos : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (path.empty() || path[0] != '/') path = "/" + path;
    if (controllers.empty()) {
      // cgroup v2: the quota may sit on any ancestor, so walk up to the root.
      for (std::string p = path;;) {
        std::string dir = root + (p == "/" ? "" : p);
        if (auto l = read_first_line(dir + "/cpu.max")) take(parse_cpu_max(*l));
        if (p == "/") break;
        auto slash = p.find_last_of('/');
        p = slash == 0 ? "/" : p.substr(0, slash);
      }
    } else if (("," + controllers + ",").find(",cpu,") != std::string::npos) {
      for (const std::string& sub : {controllers, std::string("cpu")}) {
        for (const std::string& dir : {root + "/" + sub + path, root + "/" + sub}) {
          auto q = read_first_line(dir + "/cpu.cfs_quota_us");
          auto per = read_first_line(dir + "/cpu.cfs_period_us");
          if (q && per) {
            long long qq = std::atoll(q->c_str()), pp = std::atoll(per->c_str());
            if (qq > 0 && pp > 0)
              take(static_cast<unsigned>(std::clamp<long long>((qq + pp - 1) / pp, 1, max_procs)));
          }
        }
      }
    }
  }
  return best;
}

// Parses GORO_MAXPROCS; throws std::invalid_argument naming the variable on bad input.
inline std::optional<unsigned> env_maxprocs(const char* value) {
  if (value == nullptr || *value == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || n < 1 || n > max_procs) {
    throw std::invalid_argument(std::string("GORO_MAXPROCS must be an integer from 1 to ") +
                                std::to_string(max_procs) + ", got '" + value + "'");
  }
  return static_cast<unsigned>(n);
}

inline unsigned default_procs() {
  if (auto e = env_maxprocs(std::getenv("GORO_MAXPROCS"))) return *e;
  if (auto c = cgroup_cpu_limit()) return *c;
  unsigned h = std::thread::hardware_concurrency();
  return h == 0 ? 1 : std::min(h, max_procs);
}

inline unsigned resolve_procs(unsigned requested) {
  if (requested > max_procs) {
    throw std::invalid_argument("goro::options::procs must be at most " + std::to_string(max_procs) +
                                ", got " + std::to_string(requested));
  }
  return requested != 0 ? requested : default_procs();
}

}  // namespace goro::detail
