// goro/patterns/pubsub.hpp: goro::hub<T>, a broadcast (publish/subscribe) hub.
//
//   goro::hub<Event> events;
//   auto sub = events.subscribe(64);                  // a buffered channel of its own
//   goro::go([ch = sub.c()] { for (Event e : ch) handle(e); });
//   events.publish(e);                                // every subscriber gets a copy
//   events.close();                                   // every subscription's channel closes
//
// Each subscription owns a channel with its own buffer and overflow policy:
// - overflow::block (default): publish waits while that subscriber's buffer is full, so a
//   slow subscriber slows publishers down and loses nothing;
// - overflow::drop: a value that does not fit is dropped for that subscriber only.
// publish(ctx, v) gives up waiting when ctx is done (throws std::system_error(ctx.err())).
// A subscription unsubscribes when destroyed (or by unsubscribe()): its channel closes, and a
// publisher parked on it moves on at once. Subscribing to a closed hub yields a closed
// channel; publishing to one throws closed_channel_error. Values from one publisher reach
// each subscriber in publication order.
//
// Concurrency: any number of fibers and threads may publish, subscribe and unsubscribe at
// once. The subscriber list is copy-on-write: publish takes a reference to the current list
// under the hub's mutex (one reference-count increment, no allocation) and sends outside it,
// so a slow subscriber never holds the lock. Lock order: hub mutex, then channel locks (the
// channel close in unsubscribe runs under the hub mutex; sends never hold it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "../mutex.hpp"
#include "or_done.hpp"

namespace goro {

template <class T>
class hub {
  struct subscriber {
    std::uint64_t id;
    chan<T> ch;
    bool drop;
  };
  using list = std::vector<subscriber>;

  struct state {
    mutex mu;
    std::shared_ptr<const list> subs GORO_GUARDED_BY(mu) = std::make_shared<const list>();
    std::uint64_t next_id GORO_GUARDED_BY(mu) = 1;
    bool closed GORO_GUARDED_BY(mu) = false;

    void remove(std::uint64_t id) {
      detail::mutex_guard g(mu);
      auto next = std::make_shared<list>();
      next->reserve(subs->size());
      for (const subscriber& s : *subs) {
        if (s.id == id)
          s.ch.close();
        else
          next->push_back(s);
      }
      subs = std::move(next);
    }
  };

 public:
  enum class overflow { block, drop };

  // A subscriber's handle: its channel, and unsubscription when it dies.
  class subscription {
   public:
    subscription() = default;
    subscription(subscription&& o) noexcept
        : hub_(std::move(o.hub_)), id_(std::exchange(o.id_, 0)), ch_(std::move(o.ch_)) {}
    subscription& operator=(subscription&& o) noexcept {
      if (this != &o) {
        unsubscribe();
        hub_ = std::move(o.hub_);
        id_ = std::exchange(o.id_, 0);
        ch_ = std::move(o.ch_);
      }
      return *this;
    }
    ~subscription() { unsubscribe(); }

    recv_chan<T> c() const noexcept { return ch_; }
    // Stops the subscription: the channel closes (values already buffered stay readable).
    void unsubscribe() {
      if (auto h = std::exchange(hub_, nullptr)) h->remove(std::exchange(id_, 0));
    }

   private:
    friend class hub;
    subscription(std::shared_ptr<state> h, std::uint64_t id, recv_chan<T> ch)
        : hub_(std::move(h)), id_(id), ch_(std::move(ch)) {}
    std::shared_ptr<state> hub_;
    std::uint64_t id_ = 0;
    recv_chan<T> ch_;
  };

  hub() = default;
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;
  ~hub() { close(); }

  subscription subscribe(std::size_t buffer = 16, overflow policy = overflow::block) {
    chan<T> ch = make_chan<T>(buffer);
    detail::mutex_guard g(s_->mu);
    if (s_->closed) {
      ch.close();
      return subscription({}, 0, ch);
    }
    auto next = std::make_shared<list>(*s_->subs);
    std::uint64_t id = s_->next_id++;
    next->push_back(subscriber{id, ch, policy == overflow::drop});
    s_->subs = std::move(next);
    return subscription(s_, id, ch);
  }

  // Sends a copy of v to every current subscriber; returns how many took it (a dropping
  // subscriber with a full buffer, or one unsubscribing meanwhile, did not).
  std::size_t publish(const T& v) { return publish(context::background(), v); }
  std::size_t publish(const context& ctx, const T& v) {
    std::shared_ptr<const list> subs;
    {
      detail::mutex_guard g(s_->mu);
      if (s_->closed) throw closed_channel_error("goro::hub::publish: publish on a closed hub");
      subs = s_->subs;
    }
    std::size_t reached = 0;
    for (const subscriber& s : *subs) {
      try {
        if (s.drop) {
          reached += s.ch.try_send(v);
        } else if (send_or_done(ctx, s.ch, v)) {
          ++reached;
        } else {
          throw std::system_error(ctx.err(), "goro::hub::publish");
        }
      } catch (const closed_channel_error&) {
        // unsubscribed (or the hub closed) while we were sending: that subscriber is gone
      }
    }
    return reached;
  }

  // Closes every subscription's channel; later publishes throw, later subscriptions are closed.
  void close() {
    detail::mutex_guard g(s_->mu);
    if (s_->closed) return;
    s_->closed = true;
    for (const subscriber& s : *s_->subs) s.ch.close();
    s_->subs = std::make_shared<const list>();
  }

  std::size_t subscribers() const {
    detail::mutex_guard g(s_->mu);
    return s_->subs->size();
  }

 private:
  std::shared_ptr<state> s_ = std::make_shared<state>();
};

}  // namespace goro
