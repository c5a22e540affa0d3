// goro/patterns/rate_limiter.hpp: goro::rate_limiter, a token bucket with the semantics of
// golang.org/x/time/rate.Limiter.
//
//   goro::rate_limiter lim(10, 3);        // 10 events per second on average, bursts of 3
//   lim.wait(ctx);                        // parks until an event is allowed (or ctx is done)
//   if (lim.allow()) ...                  // takes a token now or says no
//   goro::rate_limiter every(goro::every(100ms), 1);
//
// The bucket holds up to burst() tokens and refills at limit() tokens per second; it starts
// full. allow_n(now, n) takes n tokens if they are there. wait_n(ctx, n) reserves n tokens at
// once, possibly going into debt, and parks until the debt is paid back; later callers queue
// behind that debt, so waiters are served in the order they called (FIFO by reservation).
// A wait that ctx cancels gives back the tokens nobody after it relied on (as Go's
// Reservation.Cancel).
//
// Errors, as x/time/rate's: wait_n(ctx, n) with n > burst() throws std::invalid_argument
// (unless the limit is infinite); a wait that would end after ctx's deadline throws
// std::system_error(errc::deadline_exceeded) at once, without waiting; ctx done before or
// during the wait throws std::system_error(ctx.err()). A zero limit allows the burst once
// and then nothing (a wait for more throws std::invalid_argument: it would never end).
//
// Thread safety: every member may be called by any number of fibers and threads at once; the
// state is guarded by one goro::mutex held for O(1) work, never while waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>

#include "../context.hpp"
#include "../mutex.hpp"
#include "../select.hpp"
#include "../time.hpp"

namespace goro {

// rate.Every: the limit that allows one event per interval (interval <= 0: infinite).
inline double every(std::chrono::nanoseconds interval) noexcept {
  if (interval <= std::chrono::nanoseconds::zero()) return std::numeric_limits<double>::infinity();
  return 1e9 / static_cast<double>(interval.count());
}

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr double inf = std::numeric_limits<double>::infinity();

  rate_limiter(double limit, int burst) : limit_(check_limit(limit)), burst_(check_burst(burst)) {
    tokens_ = burst_;
    last_ = clock::now();
  }
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  double limit() const {
    detail::mutex_guard g(mu_);
    return limit_;
  }
  int burst() const {
    detail::mutex_guard g(mu_);
    return burst_;
  }
  // Tokens available at `now` (negative while waiters are in debt).
  double tokens(clock::time_point now = clock::now()) const {
    detail::mutex_guard g(mu_);
    return advance(now);
  }

  // The new limit applies from `now`; tokens earned so far are kept.
  void set_limit(double limit, clock::time_point now = clock::now()) {
    check_limit(limit);
    detail::mutex_guard g(mu_);
    tokens_ = advance(now);
    last_ = now;
    limit_ = limit;
  }
  void set_burst(int burst, clock::time_point now = clock::now()) {
    check_burst(burst);
    detail::mutex_guard g(mu_);
    tokens_ = advance(now);
    last_ = now;
    burst_ = burst;
  }

  bool allow() { return allow_n(clock::now(), 1); }
  // Takes n tokens at `now` if they are available; never waits.
  bool allow_n(clock::time_point now, int n) {
    detail::mutex_guard g(mu_);
    return reserve(now, n, std::chrono::nanoseconds::zero()).ok;
  }

  void wait(const context& ctx = context::background()) { wait_n(ctx, 1); }
  void wait_n(const context& ctx, int n) {
    clock::time_point now = clock::now();
    reservation r;
    {
      detail::mutex_guard g(mu_);
      if (n > burst_ && limit_ != inf)
        throw std::invalid_argument("goro::rate_limiter::wait_n: n = " + std::to_string(n) +
                                    " exceeds the limiter's burst " + std::to_string(burst_));
      if (std::error_code ec = ctx.err()) throw std::system_error(ec, "goro::rate_limiter::wait_n");
      std::chrono::nanoseconds max_wait = std::chrono::nanoseconds::max();
      if (auto d = ctx.deadline()) max_wait = *d - now;
      r = reserve(now, n, max_wait);
      if (!r.ok) {
        if (r.never)
          throw std::invalid_argument("goro::rate_limiter::wait_n: n = " + std::to_string(n) +
                                      " would wait forever: the limit is 0 (or too small to refill "
                                      "within the clock's range) and the burst is spent");
        throw std::system_error(
            make_error_code(errc::deadline_exceeded),
            "goro::rate_limiter::wait_n: n = " + std::to_string(n) + " would exceed the context deadline");
      }
    }
    if (r.act <= now) return;
    timer t(r.act - now);
    if (goro::select(case_recv(t.c()), case_recv(ctx.done())) == 0) return;
    {
      detail::mutex_guard g(mu_);
      cancel(r, clock::now());
    }
    throw std::system_error(ctx.err(), "goro::rate_limiter::wait_n");
  }

 private:
  struct reservation {
    bool ok = false;
    bool never = false;       // not ok because the wait could never end
    int tokens = 0;           // reserved (0 with an infinite limit: nothing to give back)
    clock::time_point act{};  // when the event may happen
  };

  static double check_limit(double limit) {
    if (!(limit >= 0))
      throw std::invalid_argument("goro::rate_limiter: the limit must be >= 0 events per second, not " +
                                  std::to_string(limit));
    return limit;
  }
  static int check_burst(int burst) {
    if (burst < 0) throw std::invalid_argument("goro::rate_limiter: negative burst " + std::to_string(burst));
    return burst;
  }

  // Token arithmetic (x/time/rate's durationFromTokens/tokensFromDuration); callers hold mu_.
  std::chrono::nanoseconds duration_of(double tokens) const GORO_REQUIRES(mu_) {
    if (limit_ <= 0) return std::chrono::nanoseconds::max();
    double ns = tokens / limit_ * 1e9;
    if (ns >= 9e18) return std::chrono::nanoseconds::max();
    return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
  }
  double tokens_of(std::chrono::nanoseconds d) const GORO_REQUIRES(mu_) {
    if (d <= std::chrono::nanoseconds::zero()) return 0;
    return static_cast<double>(d.count()) * 1e-9 * limit_;
  }
  // The tokens the bucket holds at `now` (not stored).
  double advance(clock::time_point now) const GORO_REQUIRES(mu_) {
    clock::time_point last = now < last_ ? now : last_;
    double t = tokens_ + tokens_of(now - last);
    return t > burst_ ? burst_ : t;
  }

  reservation reserve(clock::time_point now, int n, std::chrono::nanoseconds max_wait) GORO_REQUIRES(mu_) {
    if (limit_ == inf) return {true, false, 0, now};
    double t = advance(now) - n;
    std::chrono::nanoseconds wait = t < 0 ? duration_of(-t) : std::chrono::nanoseconds::zero();
    // No refill ever (limit 0), or not within the clock's range (duration_of saturated, and
    // now + wait would overflow): the wait would never end.
    if (wait == std::chrono::nanoseconds::max() || wait >= clock::time_point::max() - now) {
      reservation never;
      never.never = true;
      return never;
    }
    if (n > burst_ || wait > max_wait) return {};
    reservation r{true, false, n, now + wait};
    last_ = now;
    tokens_ = t;
    last_event_ = r.act;
    return r;
  }

  // Gives back what a cancelled reservation took, minus the tokens later reservations were
  // promised (their time slots come after this one's).
  void cancel(const reservation& r, clock::time_point now) GORO_REQUIRES(mu_) {
    if (r.tokens == 0 || r.act < now) return;
    double restore = r.tokens - tokens_of(last_event_ - r.act);
    if (restore <= 0) return;
    double t = advance(now) + restore;
    tokens_ = t > burst_ ? burst_ : t;
    last_ = now;
    if (r.act == last_event_) {
      clock::time_point prev = r.act - duration_of(r.tokens);
      if (prev >= now) last_event_ = prev;
    }
  }

  mutable mutex mu_;
  double limit_ GORO_GUARDED_BY(mu_);
  int burst_ GORO_GUARDED_BY(mu_);
  double tokens_ GORO_GUARDED_BY(mu_) = 0;
  clock::time_point last_ GORO_GUARDED_BY(mu_);        // when tokens_ was last brought up to date
  clock::time_point last_event_ GORO_GUARDED_BY(mu_);  // the latest reserved event (maybe future)
};

}  // namespace goro
