// goro/errgroup.hpp: goro::errgroup, Go's golang.org/x/sync/errgroup.Group.
//
//   errgroup g(ctx);                 // g.ctx() is cancelled when the first task fails
//   g.go([&] { ... });               // void task: a throw is a failure
//   g.go([&]() -> std::error_code);  // non-zero result is a failure (it may also throw)
//   g.wait();                        // waits for every task; rethrows the first failure
//
// Failures are captured, never terminate the process: the first one is kept (a later
// wait() rethrows it again), an std::error_code failure as std::system_error. ctx() is
// cancelled on the first failure and, in any case, once wait() returns (as Go's Wait does).
// set_limit(n) bounds the number of running tasks: go() waits for a free slot, try_go()
// starts the task only if one is free; n < 0 removes the limit (with n == 0, go()
// throws std::logic_error rather than wait forever, try_go() returns false); changing the limit while
// tasks run throws std::logic_error (Go panics). go() after wait() is allowed.
//
// Destruction waits for running tasks (without rethrowing): a group never dies under its
// tasks, even when an exception skips wait().
//
// Destroy after wake: a task's last access to the group is its wait_group done(), after it
// recorded its failure and freed its slot, so `{ errgroup g; g.go(f); g.wait(); }` is fine.
#pragma once

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "context.hpp"
#include "mutex.hpp"
#include "runtime.hpp"
#include "semaphore.hpp"
#include "wait_group.hpp"

namespace goro {

class errgroup {
 public:
  errgroup() : errgroup(context::background()) {}
  explicit errgroup(context parent) {
    auto [c, cancel] = with_cancel(std::move(parent));
    ctx_ = std::move(c);
    cancel_ = std::move(cancel);
  }
  errgroup(const errgroup&) = delete;
  errgroup& operator=(const errgroup&) = delete;
  // Waits for the tasks still running (they refer to the group); does not rethrow.
  ~errgroup() {
    wg_.wait();
    cancel_();
  }

  const context& ctx() const noexcept { return ctx_; }

  void set_limit(int n) {
    int active = active_.load(std::memory_order_acquire);
    if (active != 0)
      throw std::logic_error("goro::errgroup::set_limit: modify limit while " + std::to_string(active) +
                             " tasks in the group are still active");
    limit_ = n < 0 ? nullptr : std::make_unique<semaphore>(n);
    limit_n_ = n;
  }

  template <class F>
  void go(F&& f, detail::spawn_site site = detail::spawn_site::here()) {
    check<F>();
    if (limit_) {
      if (limit_n_ == 0)
        throw std::logic_error("goro::errgroup::go: the limit is 0, the task could never start");
      active_.fetch_add(1, std::memory_order_relaxed);  // counted before it holds a slot (set_limit)
      limit_->acquire();
    } else {
      active_.fetch_add(1, std::memory_order_relaxed);
    }
    start(std::forward<F>(f), site);
  }

  template <class F>
  bool try_go(F&& f, detail::spawn_site site = detail::spawn_site::here()) {
    check<F>();
    active_.fetch_add(1, std::memory_order_relaxed);
    if (limit_ && (limit_n_ == 0 || !limit_->try_acquire())) {
      active_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    start(std::forward<F>(f), site);
    return true;
  }

  void wait() {
    wg_.wait();
    cancel_();
    std::exception_ptr e;
    {
      std::lock_guard<mutex> g(mu_);
      e = first_;
    }
    if (e) std::rethrow_exception(e);
  }

 private:
  template <class F>
  static void check() {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    static_assert(std::is_void_v<R> || std::is_same_v<R, std::error_code>,
                  "goro::errgroup: a task returns void or std::error_code");
  }

  // Called with active_ already counting the task (and its slot taken, with a limit).
  template <class F>
  void start(F&& f, detail::spawn_site site) {
    using Fn = std::decay_t<F>;
    wg_.add(1);
    try {
      goro::go([this, fn = std::optional<Fn>(std::in_place, std::forward<F>(f))]() mutable { run(fn); },
               site);
    } catch (...) {
      finish();
      throw;
    }
  }

  template <class Fn>
  void run(std::optional<Fn>& fn) noexcept {
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<Fn&>>) {
        (*fn)();
      } else {
        if (std::error_code ec = (*fn)()) fail(std::make_exception_ptr(std::system_error(ec)));
      }
    } catch (...) {
      fail(std::current_exception());
    }
    fn.reset();  // the task's captures die before the group hears it is done
    finish();
  }

  void fail(std::exception_ptr e) noexcept {
    bool first = false;
    {
      std::lock_guard<mutex> g(mu_);
      if (!first_) {
        first_ = std::move(e);
        first = true;
      }
    }
    if (first) cancel_();
  }

  void finish() noexcept {
    if (limit_) limit_->release();
    active_.fetch_sub(1, std::memory_order_release);
    wg_.done();  // last access to *this
  }

  context ctx_;
  cancel_func cancel_;
  wait_group wg_;
  std::unique_ptr<semaphore> limit_;  // null: no limit
  int limit_n_ = -1;
  std::atomic<int> active_{0};
  mutex mu_;
  std::exception_ptr first_;  // guarded by mu_
};

}  // namespace goro
