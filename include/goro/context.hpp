// goro/context.hpp: goro::context, Go's context package (cancellation, deadlines, values).
//
//   context::background()          the root: never cancelled, no deadline, no values
//   with_cancel(parent)            a child cancelled by its cancel_func or with its parent
//   with_timeout / with_deadline   ... or when the deadline passes (errc::deadline_exceeded)
//   with_value(parent, key, v)     a child that carries one value
//
// A context is a cheap handle (one pointer; copying costs an atomic increment) to an
// immutable node; every member may be called from any fiber or thread at once. done() is
// a channel closed exactly once, on cancellation (nil for a context that can never be
// cancelled); err() is {} until then, and errc::canceled or errc::deadline_exceeded after.
// A child's deadline is the earlier of its own and its parent's. cancel_func is
// idempotent, callable from any thread, and may outlive every context handle; calling it
// releases the child's resources at once (it leaves its parent's child list). Dropping
// every handle and the cancel_func without calling it also releases the child, except
// that a pending deadline timer keeps it until the deadline (Go's vet rule still applies:
// call cancel). Internals: detail/context_node.hpp; docs/context.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "chan.hpp"
#include "detail/context_node.hpp"
#include "time.hpp"

namespace goro {

enum class errc { canceled = 1, deadline_exceeded };

namespace detail {
class context_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "goro.context"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::canceled:
        return "context canceled";
      case errc::deadline_exceeded:
        return "context deadline exceeded";
    }
    return "unknown goro.context error " + std::to_string(ev);
  }
};
}  // namespace detail

inline const std::error_category& context_category() noexcept {
  static const detail::context_category_impl cat;
  return cat;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), context_category()};
}

}  // namespace goro

template <>
struct std::is_error_code_enum<goro::errc> : std::true_type {};

namespace goro {

class context;
using cancel_func = std::function<void()>;
std::pair<context, cancel_func> with_cancel(context parent);
std::pair<context, cancel_func> with_deadline(context parent, std::chrono::steady_clock::time_point t);
template <class V>
context with_value(context parent, std::string_view key, V value);

class context {
 public:
  context() noexcept = default;  // background()
  context(const context& o) noexcept : n_(o.n_) {
    if (n_ != nullptr) n_->retain();
  }
  context(context&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  context& operator=(const context& o) noexcept {
    context(o).swap(*this);
    return *this;
  }
  context& operator=(context&& o) noexcept {
    context(std::move(o)).swap(*this);
    return *this;
  }
  ~context() {
    if (n_ != nullptr) n_->release();
  }
  void swap(context& o) noexcept { std::swap(n_, o.n_); }

  static context background() noexcept { return context(); }

  // Closed when the context is cancelled; nil when it never can be.
  recv_chan<unit> done() const {
    detail::cancel_node* c = n_ ? n_->canceller() : nullptr;
    if (c == nullptr) return {};
    return recv_chan<unit>(detail::adopt_ref, c->done_retained());
  }

  // {} while not cancelled; errc::canceled or errc::deadline_exceeded afterwards.
  std::error_code err() const noexcept {
    detail::cancel_node* c = n_ ? n_->canceller() : nullptr;
    int e = c ? c->err() : 0;
    if (e == 0) return {};
    return make_error_code(static_cast<errc>(e));
  }

  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept {
    if (n_ == nullptr || n_->deadline_ns() == detail::no_ctx_deadline) return std::nullopt;
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(n_->deadline_ns())));
  }

  // The value of the nearest with_value(key); nullptr when absent or of another type.
  template <class V>
  const V* value(std::string_view key) const noexcept {
    if (n_ == nullptr) return nullptr;
    return static_cast<const V*>(n_->find_value(key, typeid(V)));
  }

  // Internal: the node (null for background).
  detail::ctx_node* node() const noexcept { return n_; }

 private:
  friend std::pair<context, cancel_func> with_cancel(context parent);
  friend std::pair<context, cancel_func> with_deadline(context parent,
                                                       std::chrono::steady_clock::time_point t);
  template <class V>
  friend context with_value(context parent, std::string_view key, V value);

  explicit context(detail::ctx_node* adopt) noexcept : n_(adopt) {}
  detail::ctx_node* release_node() noexcept { return std::exchange(n_, nullptr); }

  detail::ctx_node* n_ = nullptr;
};

namespace detail {
// The cancel_func's callable: owns a reference to the node (it may outlive every context).
struct cancel_ref {
  cancel_node* n;
  explicit cancel_ref(cancel_node* node) noexcept : n(node) { n->retain(); }
  cancel_ref(const cancel_ref& o) noexcept : n(o.n) { n->retain(); }
  cancel_ref& operator=(const cancel_ref&) = delete;
  ~cancel_ref() { n->release(); }
  void operator()() const noexcept { n->cancel(static_cast<int>(errc::canceled)); }
};

inline std::int64_t ctx_ns(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace detail

inline std::pair<context, cancel_func> with_cancel(context parent) {
  auto* n = detail::cancel_node::make(parent.node(), detail::no_ctx_deadline);
  (void)parent.release_node();  // its reference now belongs to n
  context c(n);
  return {std::move(c), cancel_func(detail::cancel_ref(n))};
}

inline std::pair<context, cancel_func> with_deadline(context parent,
                                                     std::chrono::steady_clock::time_point t) {
  std::int64_t want = detail::ctx_ns(t);
  // Not earlier than the parent's deadline, or "never" (time_point::max()): a plain child.
  if (want == detail::no_ctx_deadline || (parent.node() != nullptr && parent.node()->deadline_ns() <= want))
    return with_cancel(std::move(parent));
  auto* n = detail::cancel_node::make(parent.node(), want);
  (void)parent.release_node();  // its reference now belongs to n
  context c(n);
  cancel_func cf{detail::cancel_ref(n)};
  auto left = t - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) {
    n->cancel(static_cast<int>(errc::deadline_exceeded));
  } else if (n->err() == 0) {
    n->retain();  // the timer's reference, dropped when its callback object dies
    struct fire {
      detail::cancel_node* n;
      explicit fire(detail::cancel_node* node) noexcept : n(node) {}
      fire(fire&& o) noexcept : n(std::exchange(o.n, nullptr)) {}
      fire(const fire&) = delete;
      ~fire() {
        if (n != nullptr) n->release();
      }
      void operator()() const noexcept { n->cancel(static_cast<int>(errc::deadline_exceeded)); }
    };
    timer tm = after_func(std::chrono::duration_cast<std::chrono::nanoseconds>(left), fire(n));
    n->set_timer(std::move(tm));
  }
  return {std::move(c), std::move(cf)};
}

inline std::pair<context, cancel_func> with_timeout(context parent, std::chrono::nanoseconds d) {
  using clock = std::chrono::steady_clock;
  auto now = clock::now();
  auto left = std::chrono::duration_cast<clock::duration>(d);
  // Saturate: a huge timeout means "never", not an overflowed deadline in the past.
  auto t = left > clock::time_point::max() - now ? clock::time_point::max() : now + left;
  return with_deadline(std::move(parent), t);
}

template <class V>
context with_value(context parent, std::string_view key, V value) {
  auto* n = new detail::value_node<V>(parent.node(), key, std::move(value));
  (void)parent.release_node();  // its reference now belongs to n (not before: the key or V may throw)
  return context(n);
}

}  // namespace goro
