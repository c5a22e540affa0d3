// goro/select.hpp: Go's select statement and reflect.Select (API.md, Select).
//
//   std::size_t i = goro::select(
//       goro::case_recv(ch1, [](std::optional<int> v) { ... }),   // case v, ok := <-ch1:
//       goro::case_send(ch2, 42, [] { ... }),                     // case ch2 <- 42:
//       goro::case_recv(done),                                    // case <-done:
//       goro::case_default([] { ... }));                          // default:
//
// Returns the index, in argument order, of the case that ran. Several ready cases: one is
// chosen uniformly at random. Nil channels never fire; without a default, select blocks
// until a case can proceed (select() with no case, or only nil ones, blocks forever). A
// receive on a closed channel is ready and yields std::nullopt; a send case chosen on a
// closed channel throws closed_channel_error. Callbacks run after every channel lock is
// released, so they may block, send, receive and select. Nothing is allocated per call: the
// cases and their waiter records live on the caller's stack.
//
// Case objects are meant to be built inside the select(...) call, as in Go: they refer to
// the channel handles and send values of that full expression. case_send copies an lvalue
// value (the caller's object is never touched) and moves from an rvalue only if that case is
// chosen.
//
// dynamic_select<T> is reflect.Select for receive cases of one element type, reusable across
// calls; after the first wait() with a given number of cases, wait() allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "chan.hpp"
#include "detail/select_impl.hpp"
#include "errors.hpp"

namespace goro {

namespace detail {

template <class C>
struct chan_traits {
  static constexpr bool is_chan = false;
};
template <class T>
struct chan_traits<chan<T>> {
  static constexpr bool is_chan = true, can_send = true, can_recv = true;
  using value_type = T;
};
template <class T>
struct chan_traits<send_chan<T>> {
  static constexpr bool is_chan = true, can_send = true, can_recv = false;
  using value_type = T;
};
template <class T>
struct chan_traits<recv_chan<T>> {
  static constexpr bool is_chan = true, can_send = false, can_recv = true;
  using value_type = T;
};

// Holds a channel handle: by reference when the caller passed an lvalue, by value (moved,
// no reference-count traffic) when it passed a temporary such as goro::after(1s).
template <class C>
using handle_holder = std::conditional_t<std::is_lvalue_reference_v<C>, const std::remove_reference_t<C>&,
                                         std::remove_cvref_t<C>>;

struct no_callback {};

template <class T, class H, class F>
struct recv_case {
  H ch;
  F fn;
};

// Send value: a reference to the caller's rvalue T (moved from only if chosen), else an
// owned T (a copy of an lvalue, or converted from another type).
template <class T, class A>
inline constexpr bool send_by_ref =
    std::is_same_v<std::remove_cv_t<std::remove_reference_t<A>>, T> && !std::is_lvalue_reference_v<A> &&
    !std::is_const_v<std::remove_reference_t<A>>;

template <class T, class H, class A, class F>
struct send_case {
  H ch;
  std::conditional_t<send_by_ref<T, A>, T&, T> value;
  F fn;
};

template <class F>
struct default_case {
  F fn;
};

template <class X>
struct case_kind {
  static constexpr bool is_default = false;
};
template <class F>
struct case_kind<default_case<F>> {
  static constexpr bool is_default = true;
};

template <class T, class H, class F>
bool obviously_not_ready(const recv_case<T, H, F>& c) noexcept {
  hchan<T>* h = c.ch.raw();
  return h == nullptr || (h->empty_unlocked() && !h->closed_unlocked());
}
template <class T, class H, class A, class F>
bool obviously_not_ready(const send_case<T, H, A, F>& c) noexcept {
  hchan<T>* h = c.ch.raw();
  return h == nullptr || (!h->closed_unlocked() && h->full_unlocked());
}

template <class F>
void call_no_arg(F& f) {
  if constexpr (!std::is_same_v<F, no_callback>) std::invoke(f);
}

template <class T, class F>
void call_recv(F& f, std::optional<T>&& v) {
  if constexpr (std::is_same_v<F, no_callback>) {
    (void)v;
  } else if constexpr (std::is_invocable_v<F&, std::optional<T>&&>) {
    std::invoke(f, std::move(v));
  } else {
    static_assert(std::is_invocable_v<F&>,
                  "goro::case_recv: the callback must take std::optional<T> or nothing");
    std::invoke(f);
  }
}

// Per-case engine objects.
template <class T, class H, class F>
recv_sel_case<T> make_engine(recv_case<T, H, F>& c) {
  return recv_sel_case<T>(c.ch.raw());
}
template <class T, class H, class A, class F>
send_sel_case<T> make_engine(send_case<T, H, A, F>& c) {
  return send_sel_case<T>(c.ch.raw(), c.value);
}
struct no_engine {};
template <class F>
no_engine make_engine(default_case<F>&) {
  return {};
}

template <class T, class H, class F>
void run_case(recv_case<T, H, F>& c, recv_sel_case<T>& e, bool) {
  call_recv<T>(c.fn, std::move(e.value));
}
template <class T, class H, class A, class F>
void run_case(send_case<T, H, A, F>& c, send_sel_case<T>&, bool ok) {
  if (!ok) throw closed_channel_error("send on closed channel");
  call_no_arg(c.fn);
}
template <class F>
void run_case(default_case<F>& c, no_engine&, bool) {
  call_no_arg(c.fn);
}

}  // namespace detail

// case v, ok := <-ch   (ch: chan<T> or recv_chan<T>; callback: void(std::optional<T>) or void())
template <class C>
auto case_recv(C&& ch) {
  using traits = detail::chan_traits<std::remove_cvref_t<C>>;
  static_assert(traits::is_chan && traits::can_recv, "goro::case_recv needs a chan<T> or recv_chan<T>");
  using T = typename traits::value_type;
  return detail::recv_case<T, detail::handle_holder<C>, detail::no_callback>{std::forward<C>(ch), {}};
}
template <class C, class F>
auto case_recv(C&& ch, F&& fn) {
  using traits = detail::chan_traits<std::remove_cvref_t<C>>;
  static_assert(traits::is_chan && traits::can_recv, "goro::case_recv needs a chan<T> or recv_chan<T>");
  using T = typename traits::value_type;
  return detail::recv_case<T, detail::handle_holder<C>, std::decay_t<F>>{std::forward<C>(ch),
                                                                         std::forward<F>(fn)};
}

// case ch <- v   (ch: chan<T> or send_chan<T>; callback: void())
template <class C, class V>
auto case_send(C&& ch, V&& v) {
  using traits = detail::chan_traits<std::remove_cvref_t<C>>;
  static_assert(traits::is_chan && traits::can_send, "goro::case_send needs a chan<T> or send_chan<T>");
  using T = typename traits::value_type;
  using case_t = detail::send_case<T, detail::handle_holder<C>, V&&, detail::no_callback>;
  if constexpr (detail::send_by_ref<T, V&&>) {
    return case_t{std::forward<C>(ch), v, {}};  // refers to the caller's rvalue
  } else {
    return case_t{std::forward<C>(ch), T(std::forward<V>(v)), {}};
  }
}
template <class C, class V, class F>
auto case_send(C&& ch, V&& v, F&& fn) {
  using traits = detail::chan_traits<std::remove_cvref_t<C>>;
  static_assert(traits::is_chan && traits::can_send, "goro::case_send needs a chan<T> or send_chan<T>");
  using T = typename traits::value_type;
  using case_t = detail::send_case<T, detail::handle_holder<C>, V&&, std::decay_t<F>>;
  if constexpr (detail::send_by_ref<T, V&&>) {
    return case_t{std::forward<C>(ch), v, std::forward<F>(fn)};
  } else {
    return case_t{std::forward<C>(ch), T(std::forward<V>(v)), std::forward<F>(fn)};
  }
}

// default:
inline auto case_default() {
  return detail::default_case<detail::no_callback>{};
}
template <class F>
auto case_default(F&& fn) {
  return detail::default_case<std::decay_t<F>>{std::forward<F>(fn)};
}

template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t total = sizeof...(Cases);
  constexpr std::size_t defaults =
      (std::size_t{0} + ... + detail::case_kind<std::remove_cvref_t<Cases>>::is_default);
  static_assert(defaults <= 1, "goro::select: at most one case_default");
  if constexpr (total == 0) {
    detail::block_forever(detail::wait_reason::select_no_cases);
  } else {
    if constexpr (total == 2 && defaults == 1) {
      // One channel case and a default, not ready at a glance: run the default without
      // building the select (Go's selectnbrecv/selectnbsend; one observation linearizes it).
      auto case_refs = std::forward_as_tuple(cases...);
      constexpr std::size_t ci =
          detail::case_kind<std::remove_cvref_t<decltype(std::get<0>(case_refs))>>::is_default;
      auto& c = std::get<ci>(case_refs);
      if (detail::obviously_not_ready(c)) {
        detail::call_no_arg(std::get<1 - ci>(case_refs).fn);
        return 1 - ci;
      }
    }
    constexpr std::size_t n = total - defaults;
    auto engines = std::tuple{detail::make_engine(cases)...};
    detail::sel_case* ptrs[n > 0 ? n : 1];
    std::size_t arg_of[n > 0 ? n : 1];
    std::size_t default_arg = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      std::size_t k = 0;
      auto add = [&](auto& e, std::size_t arg) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(e)>, detail::no_engine>) {
          default_arg = arg;
        } else {
          ptrs[k] = &e;
          arg_of[k] = arg;
          ++k;
        }
      };
      (add(std::get<I>(engines), I), ...);
    }
    (std::make_index_sequence<total>{});
    std::uint32_t order[n > 0 ? n : 1];
    detail::spinlock* locks[n > 0 ? n : 1];
    detail::sel_outcome out = detail::select_engine(ptrs, n, order, locks, defaults != 0);
    std::size_t chosen = out.index == detail::sel_default ? default_arg : arg_of[out.index];
    auto case_refs = std::forward_as_tuple(cases...);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((I == chosen ? (detail::run_case(std::get<I>(case_refs), std::get<I>(engines), out.ok), 0) : 0), ...);
    }
    (std::make_index_sequence<total>{});
    return chosen;
  }
}

// reflect.Select over receive cases of one element type, reusable across calls.
template <class T>
class dynamic_select {
 public:
  struct result {
    std::size_t index;
    std::optional<T> value;
  };

  dynamic_select() = default;
  dynamic_select(const dynamic_select&) = delete;
  dynamic_select& operator=(const dynamic_select&) = delete;

  // Adds `case v, ok := <-ch`; returns the case index (indices are never reused).
  std::size_t add_recv(recv_chan<T> ch) {
    chans_.push_back(std::move(ch));
    live_.push_back(1);
    return chans_.size() - 1;
  }
  // The case never fires again; its index stays reserved.
  void remove(std::size_t index) {
    if (index >= chans_.size())
      throw std::out_of_range("goro::dynamic_select::remove: no case " + std::to_string(index));
    live_[index] = 0;
    chans_[index] = recv_chan<T>{};
  }
  std::size_t size() const noexcept { return chans_.size(); }

  // Blocks until a case can proceed (forever when no live case is left).
  result wait() { return *run(false); }
  // Like a select with default: nullopt when no case can proceed right now.
  std::optional<result> try_wait() { return run(true); }

 private:
  std::optional<result> run(bool has_default) {
    std::size_t n = chans_.size();
    if (engines_.size() < n) {
      // Storage grows only when cases were added; later waits reuse it.
      engines_.reserve(n);
      ptrs_.resize(n);
      order_.resize(n);
      locks_.resize(n);
      map_.resize(n);
    }
    engines_.clear();
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!live_[i]) continue;
      engines_.emplace_back(chans_[i].raw());
      map_[k++] = i;
    }
    for (std::size_t i = 0; i < k; ++i) ptrs_[i] = &engines_[i];
    detail::sel_outcome out =
        detail::select_engine(ptrs_.data(), k, order_.data(), locks_.data(), has_default);
    if (out.index == detail::sel_default) return std::nullopt;
    return result{map_[out.index], std::move(engines_[out.index].value)};
  }

  std::vector<recv_chan<T>> chans_;
  std::vector<unsigned char> live_;
  std::vector<detail::recv_sel_case<T>> engines_;
  std::vector<detail::sel_case*> ptrs_;
  std::vector<std::uint32_t> order_;
  std::vector<detail::spinlock*> locks_;
  std::vector<std::size_t> map_;
};

}  // namespace goro
