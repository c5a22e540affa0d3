// goro/chan.hpp: channels (API.md, Channels).
//
//   chan<T>          shared handle to a channel; copies refer to the same channel;
//                    default-constructed = nil. Copying costs one atomic increment.
//   send_chan<T>     send-only view, implicitly converted from chan<T>
//   recv_chan<T>     receive-only view, implicitly converted from chan<T>
//   make_chan<T>(n)  a channel with a buffer of n values (0 = unbuffered)
//
// Every operation works from fibers (which park) and plain threads (which block), in any
// mix, on one handle from many fibers and threads at once (API.md, Sharing). A nil
// channel blocks forever on send and receive. The channel itself is detail::hchan
// (detail/hchan.hpp: invariants, lock order, hand-off paths). Channel operations are
// const: a handle's constness does not make the channel read-only.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "detail/hchan.hpp"
#include "errors.hpp"

namespace goro {

// Go's struct{}: the element type of channels that only signal.
using unit = std::monostate;

template <class T>
class chan;
template <class T>
class send_chan;
template <class T>
class recv_chan;

namespace detail {

// The shared part of chan, send_chan and recv_chan: an intrusive reference.
// Tag for constructing a handle that adopts a reference the caller already holds.
struct adopt_ref_t {
  explicit adopt_ref_t() = default;
};
inline constexpr adopt_ref_t adopt_ref{};

template <class T>
class chan_handle {
 public:
  chan_handle() noexcept = default;
  chan_handle(const chan_handle& o) noexcept : c_(o.c_) {
    if (c_ != nullptr) c_->retain();
  }
  chan_handle(chan_handle&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  chan_handle& operator=(const chan_handle& o) noexcept {
    chan_handle(o).swap(*this);
    return *this;
  }
  chan_handle& operator=(chan_handle&& o) noexcept {
    chan_handle(std::move(o)).swap(*this);
    return *this;
  }
  ~chan_handle() {
    if (c_ != nullptr) c_->release();
  }
  void swap(chan_handle& o) noexcept { std::swap(c_, o.c_); }

  explicit operator bool() const noexcept { return c_ != nullptr; }
  // len(ch), cap(ch); 0 for a nil channel.
  std::size_t size() const noexcept { return c_ ? c_->size() : 0; }
  std::size_t capacity() const noexcept { return c_ ? c_->capacity() : 0; }

  hchan<T>* raw() const noexcept { return c_; }

  // Channel identity: two handles are equal when they refer to the same channel (or are both nil).
  friend bool operator==(const chan_handle& a, const chan_handle& b) noexcept { return a.c_ == b.c_; }

 protected:
  explicit chan_handle(hchan<T>* adopt) noexcept : c_(adopt) {}

  void do_send(T& v) const {
    if (c_ == nullptr) block_forever(wait_reason::chan_send_nil);
    c_->send(v);
  }
  bool do_try_send(T& v) const { return c_ != nullptr && c_->try_send(v); }
  bool do_try_send_copy(const T& v) const {
    if (c_ == nullptr) return false;
    if (!c_->closed_unlocked() && c_->full_unlocked()) return false;  // no copy on a sure miss
    T copy(v);
    return c_->try_send(copy);
  }
  std::optional<T> do_recv() const {
    if (c_ == nullptr) block_forever(wait_reason::chan_receive_nil);
    return c_->recv();
  }
  std::optional<T> do_try_recv() const { return c_ ? c_->try_recv() : std::nullopt; }
  void do_close() const {
    if (c_ == nullptr) throw nil_channel_error("close of nil channel");
    c_->close();
  }

  hchan<T>* c_ = nullptr;
};

// Range-for support: `for (T v : ch)` receives until the channel is closed and drained.
template <class T>
class chan_iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using iterator_category = std::input_iterator_tag;

  chan_iterator() = default;
  explicit chan_iterator(hchan<T>* c) : c_(c) { advance(); }
  T&& operator*() const { return std::move(*cur_); }
  chan_iterator& operator++() {
    advance();
    return *this;
  }
  void operator++(int) { advance(); }
  friend bool operator==(const chan_iterator& it, std::default_sentinel_t) noexcept {
    return !it.cur_.has_value();
  }

 private:
  void advance() {
    if (c_ == nullptr) block_forever(wait_reason::chan_receive_nil);
    // Re-emplace rather than assign: T need not be move-assignable.
    cur_.reset();
    if (std::optional<T> v = c_->recv()) cur_.emplace(std::move(*v));
  }
  hchan<T>* c_ = nullptr;
  mutable std::optional<T> cur_;  // handed out by operator* (input iterator: read once)
};

}  // namespace detail

template <class T>
class chan : public detail::chan_handle<T> {
  static_assert(
      std::is_object_v<T> && !std::is_const_v<T> && !std::is_array_v<T>,
      "goro::chan<T>: T must be a non-const object type (use std::unique_ptr or std::shared_ptr for "
      "shared or polymorphic values)");
  static_assert(std::is_move_constructible_v<T>, "goro::chan<T>: T must be move constructible");

 public:
  chan() noexcept = default;

  // ch <- v: blocks until a receiver takes v or a buffer slot frees up. Throws
  // closed_channel_error if the channel is (or gets, while waiting) closed.
  void send(T v) const { this->do_send(v); }
  // v, ok := <-ch: blocks; std::nullopt once the channel is closed and drained.
  std::optional<T> recv() const { return this->do_recv(); }
  // Non-blocking send; moves from v only when it returns true. Throws on a closed channel.
  bool try_send(T&& v) const { return this->do_try_send(v); }
  bool try_send(const T& v) const { return this->do_try_send_copy(v); }
  // Non-blocking receive: std::nullopt when nothing can be received right now (including
  // closed and drained; select with case_default tells the two apart).
  std::optional<T> try_recv() const { return this->do_try_recv(); }
  // close(ch): throws closed_channel_error if already closed, nil_channel_error if nil.
  void close() const { this->do_close(); }

  detail::chan_iterator<T> begin() const { return detail::chan_iterator<T>(this->c_); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  template <class U>
  friend chan<U> make_chan(std::size_t);
  explicit chan(detail::hchan<T>* adopt) noexcept : detail::chan_handle<T>(adopt) {}
};

template <class T>
class send_chan : public detail::chan_handle<T> {
 public:
  send_chan() noexcept = default;
  send_chan(const chan<T>& c) noexcept : detail::chan_handle<T>(c) {}  // NOLINT: implicit by design (API.md)
  send_chan(chan<T>&& c) noexcept : detail::chan_handle<T>(std::move(c)) {}

  void send(T v) const { this->do_send(v); }
  bool try_send(T&& v) const { return this->do_try_send(v); }
  bool try_send(const T& v) const { return this->do_try_send_copy(v); }
  void close() const { this->do_close(); }
};

template <class T>
class recv_chan : public detail::chan_handle<T> {
 public:
  recv_chan() noexcept = default;
  recv_chan(const chan<T>& c) noexcept : detail::chan_handle<T>(c) {}  // NOLINT: implicit by design (API.md)
  recv_chan(chan<T>&& c) noexcept : detail::chan_handle<T>(std::move(c)) {}
  // Internal: adopts one reference to `c` (timers hand out their channel this way).
  recv_chan(detail::adopt_ref_t, detail::hchan<T>* c) noexcept : detail::chan_handle<T>(c) {}

  std::optional<T> recv() const { return this->do_recv(); }
  std::optional<T> try_recv() const { return this->do_try_recv(); }
  detail::chan_iterator<T> begin() const { return detail::chan_iterator<T>(this->c_); }
  std::default_sentinel_t end() const noexcept { return {}; }
};

// make(chan T, capacity). Allocates the channel and its buffer in one block.
template <class T>
chan<T> make_chan(std::size_t capacity = 0) {
  return chan<T>(detail::hchan<T>::make(capacity));
}

}  // namespace goro
