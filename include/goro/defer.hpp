// goro/defer.hpp: goro::defer, the porting helper for Go's `defer`.
//
//   auto d = goro::defer([&] { wg.done(); });   // Go: defer wg.Done()
//
// The returned guard runs f when it goes out of scope, on a normal exit or while an
// exception unwinds (Go runs deferred calls on return and while panicking). Guards in one
// scope run in reverse order of creation, as Go's deferred calls do. Unlike Go's defer,
// the guard is scoped to its block, not to the whole function. dismiss() disarms it. The
// guard is move-only; a moved-from guard runs nothing. If f throws while an exception is
// already unwinding, the process terminates (C++ allows one exception in flight).
#pragma once

#include <type_traits>
#include <utility>

namespace goro {

template <class F>
class [[nodiscard]] deferred {
 public:
  explicit deferred(F f) noexcept(std::is_nothrow_move_constructible_v<F>) : f_(std::move(f)) {}
  deferred(deferred&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
      : f_(std::move(o.f_)), armed_(std::exchange(o.armed_, false)) {}
  deferred(const deferred&) = delete;
  deferred& operator=(const deferred&) = delete;
  deferred& operator=(deferred&&) = delete;
  ~deferred() noexcept(noexcept(std::declval<F&>()())) {
    if (armed_) f_();
  }
  void dismiss() noexcept { armed_ = false; }

 private:
  F f_;
  bool armed_ = true;
};

template <class F>
[[nodiscard]] auto defer(F&& f) {
  static_assert(std::is_invocable_v<std::decay_t<F>&>, "goro::defer: f must be callable with no arguments");
  return deferred<std::decay_t<F>>(std::forward<F>(f));
}

}  // namespace goro
