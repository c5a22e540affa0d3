// goro/detail/context_node.hpp: the cancellation tree behind goro::context.
//
// A context is a handle to an immutable chain of nodes, each holding its parent strongly:
//   value_node   (with_value)   a key and a value;
//   cancel_node  (with_cancel, with_timeout, with_deadline)  cancellation state.
// Every node knows `canceller`, its nearest cancel_node ancestor-or-self (null when the
// chain reaches background() without one); done() and err() are the canceller's.
//
// cancel_node fields, by guard:
//   immutable:     deadline_ns (effective: the earlier of its own and the parent's)
//   atomic:        err_ (0 until cancelled, then errc; written once, under lk_), done_ (the
//                  done channel, created on first use; once set never changes)
//   guarded by lk_: children_ (cancel_nodes whose canceller-parent is this node, weakly
//                  linked: the list holds no reference), listeners_ (records of parked
//                  waiters, e.g. semaphore::acquire(ctx)), deadline timer
//   guarded by the parent canceller's lk_: sib_prev_, sib_next_, linked_ (membership in
//                  the parent's children_)
//
// Cancellation: cancel(err) sets err_, closes done_, detaches every child and listener
// under lk_, then cancels the detached children one by one from a work list (no
// recursion: a chain of 10^5 contexts cancels in constant stack), then unlinks the node
// from its parent canceller, so a long-lived parent does not accumulate cancelled
// children. Lock order: a node's lk_, then (closing done_) its channel lock; a child's lk_
// is never held together with its parent's except in unlink(), parent lock only.
//
// Weak child links: a child whose last reference goes away unlinks itself in its
// destructor (under the parent's lk_). A parent cancelling under lk_ upgrades each child
// link with try_retain(); a child whose count already reached zero is only marked
// unlinked (its destructor, waiting for lk_, then has nothing to do).
//
// Listeners: notify(l) runs under the canceller's lk_ and may only claim its record and
// wake it (no locks, no blocking); a woken listener unregisters under the same lk_, so the
// record stays valid while the canceller walks the list. The canceller marks a record
// unlinked and reads its successor before notifying it.
//
// Deadline timers hold a reference to their node (the node cannot die before its timer
// fires); any cancellation takes the timer out of the node and destroys it, which drops
// that reference. A deadline context nobody cancels therefore lives until its deadline,
// as in Go.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

#include "../chan.hpp"
#include "../time.hpp"
#include "spinlock.hpp"

namespace goro::detail {

inline constexpr std::int64_t no_ctx_deadline = std::numeric_limits<std::int64_t>::max();

class cancel_node;

class ctx_node {
 public:
  ctx_node(const ctx_node&) = delete;
  ctx_node& operator=(const ctx_node&) = delete;
  virtual ~ctx_node() = default;  // the parent reference is dropped by release()

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Frees the node when its count reaches zero, then releases its parent: iteratively, so
  // that dropping the last handle to a chain of 10^5 contexts does not recurse.
  void release() noexcept {
    ctx_node* n = this;
    while (n != nullptr && n->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      ctx_node* parent = n->parent_;
      delete n;  // a cancel_node's destructor still uses its parent's canceller
      n = parent;
    }
  }
  // Takes a reference unless the count already reached zero (the node is being destroyed).
  bool try_retain() noexcept {
    std::int32_t r = refs_.load(std::memory_order_relaxed);
    while (r != 0) {
      if (refs_.compare_exchange_weak(r, r + 1, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  ctx_node* parent() const noexcept { return parent_; }
  cancel_node* canceller() const noexcept { return canceller_; }
  std::int64_t deadline_ns() const noexcept { return deadline_ns_; }

  // The value stored under `key` by the nearest value node with that key, if its type is
  // `type`; null otherwise (a nearer key of another type hides farther ones).
  const void* find_value(std::string_view key, const std::type_info& type) const noexcept;

 protected:
  // Takes over a reference to `parent` that the caller hands over after construction.
  ctx_node(ctx_node* parent, cancel_node* canceller, std::int64_t deadline_ns, bool is_value) noexcept
      : parent_(parent), canceller_(canceller), deadline_ns_(deadline_ns), is_value_(is_value) {}

  std::atomic<std::int32_t> refs_{1};
  ctx_node* const parent_;
  cancel_node* canceller_;  // not owned: self, or kept alive through parent_
  const std::int64_t deadline_ns_;
  const bool is_value_;
};

class value_node_base : public ctx_node {
 public:
  std::string_view key() const noexcept { return key_; }
  virtual const void* get(const std::type_info& type) const noexcept = 0;

 protected:
  value_node_base(ctx_node* parent, std::string_view key)
      : ctx_node(parent, parent ? parent->canceller() : nullptr,
                 parent ? parent->deadline_ns() : no_ctx_deadline, true),
        key_(key) {}

 private:
  std::string key_;
};

template <class V>
class value_node final : public value_node_base {
 public:
  value_node(ctx_node* parent, std::string_view key, V&& v)
      : value_node_base(parent, key), v_(std::move(v)) {}
  const void* get(const std::type_info& type) const noexcept override {
    return type == typeid(V) ? static_cast<const void*>(&v_) : nullptr;
  }

 private:
  V v_;
};

inline const void* ctx_node::find_value(std::string_view key, const std::type_info& type) const noexcept {
  for (const ctx_node* n = this; n != nullptr; n = n->parent_) {
    if (!n->is_value_) continue;
    auto* v = static_cast<const value_node_base*>(n);
    if (v->key() == key) return v->get(type);
  }
  return nullptr;
}

// A parked waiter that wants to hear of its context's cancellation (see the header comment).
struct ctx_listener {
  ctx_listener* prev = nullptr;
  ctx_listener* next = nullptr;
  bool linked = false;
  void (*notify)(ctx_listener*) noexcept = nullptr;
};

class cancel_node final : public ctx_node {
 public:
  // `parent` (null: background) is borrowed; the caller hands its reference over to the new
  // node once make() returned (no leak when the allocation throws).
  static cancel_node* make(ctx_node* parent, std::int64_t own_deadline_ns) {
    std::int64_t inherited = parent ? parent->deadline_ns() : no_ctx_deadline;
    auto* n = new cancel_node(parent, std::min(inherited, own_deadline_ns));
    n->attach();
    return n;
  }

  // As Go's Err(): once it is non-zero, done() is closed too. err_ is set before done_ is
  // closed in one locked section, so a non-zero err_ waits for that section to end.
  int err() const noexcept {
    int e = err_.load(std::memory_order_acquire);
    if (e != 0) {
      lk_.lock();
      lk_.unlock();
    }
    return e;
  }

  // The done channel, created on first use (closed at once if already cancelled).
  hchan<unit>* done_retained() {
    hchan<unit>* c = done_.load(std::memory_order_acquire);
    if (c == nullptr) {
      hchan<unit>* fresh = hchan<unit>::make(0);
      lk_.lock();
      c = done_.load(std::memory_order_relaxed);
      if (c == nullptr) {
        c = fresh;
        fresh = nullptr;
        if (err_.load(std::memory_order_relaxed) != 0) c->close();
        done_.store(c, std::memory_order_release);
      }
      lk_.unlock();
      if (fresh != nullptr) fresh->release();
    }
    c->retain();
    return c;
  }

  // Cancels this node and every descendant with error `why`; idempotent.
  void cancel(int why) noexcept {
    cancel_node* work = nullptr;
    if (!cancel_one(why, work)) return;
    while (work != nullptr) {
      cancel_node* n = work;
      work = n->work_next_;
      n->cancel_one(why, work);
      n->release();  // the reference cancel_one took for the work list
    }
    unlink_from_parent();
  }

  // Registers `l`; false (not registered) when the node is already cancelled.
  bool listen(ctx_listener* l) noexcept {
    lk_.lock();
    if (err_.load(std::memory_order_relaxed) != 0) {
      lk_.unlock();
      return false;
    }
    l->prev = nullptr;
    l->next = listeners_;
    if (listeners_ != nullptr) listeners_->prev = l;
    listeners_ = l;
    l->linked = true;
    lk_.unlock();
    return true;
  }
  void unlisten(ctx_listener* l) noexcept {
    lk_.lock();
    if (l->linked) {
      if (l->prev != nullptr) {
        l->prev->next = l->next;
      } else {
        listeners_ = l->next;
      }
      if (l->next != nullptr) l->next->prev = l->prev;
      l->linked = false;
    }
    lk_.unlock();
  }

  // Arms the deadline timer (called once, right after make(), for a future deadline).
  template <class Timer>
  void set_timer(Timer&& t) noexcept {
    lk_.lock();
    bool keep = err_.load(std::memory_order_relaxed) == 0;
    if (keep) timer_.emplace(std::move(t));
    lk_.unlock();
    // When already cancelled, `t` is destroyed by the caller, which stops it.
  }

 private:
  cancel_node(ctx_node* parent, std::int64_t deadline_ns) noexcept
      : ctx_node(parent, this, deadline_ns, false), up_(parent != nullptr ? parent->canceller() : nullptr) {}

  ~cancel_node() override {
    unlink_from_parent();  // dropped without cancel(): leave the parent's list (weak link)
    if (hchan<unit>* c = done_.load(std::memory_order_relaxed)) c->release();
  }

  // Links into the parent canceller's children, or cancels at once if it is cancelled.
  void attach() noexcept {
    if (up_ == nullptr) return;
    up_->lk_.lock();
    int perr = up_->err_.load(std::memory_order_relaxed);
    if (perr == 0) {
      sib_prev_ = nullptr;
      sib_next_ = up_->children_;
      if (up_->children_ != nullptr) up_->children_->sib_prev_ = this;
      up_->children_ = this;
      linked_ = true;
    }
    up_->lk_.unlock();
    if (perr != 0) {
      cancel_node* work = nullptr;
      cancel_one(perr, work);  // a fresh node has no children
    }
  }

  void remove_child_locked(cancel_node* c) noexcept {
    if (c->sib_prev_ != nullptr) {
      c->sib_prev_->sib_next_ = c->sib_next_;
    } else {
      children_ = c->sib_next_;
    }
    if (c->sib_next_ != nullptr) c->sib_next_->sib_prev_ = c->sib_prev_;
    c->sib_prev_ = c->sib_next_ = nullptr;
    c->linked_ = false;
  }

  void unlink_from_parent() noexcept {
    if (up_ == nullptr) return;
    up_->lk_.lock();
    if (linked_) up_->remove_child_locked(this);
    up_->lk_.unlock();
  }

  // Cancels this node alone; pushes its (retained) children onto `work`. False if it was
  // already cancelled.
  bool cancel_one(int why, cancel_node*& work) noexcept {
    std::optional<goro::timer> t;
    lk_.lock();
    if (err_.load(std::memory_order_relaxed) != 0) {
      lk_.unlock();
      return false;
    }
    err_.store(why, std::memory_order_release);
    if (hchan<unit>* c = done_.load(std::memory_order_relaxed)) c->close();
    for (cancel_node* c = children_; c != nullptr;) {
      cancel_node* next = c->sib_next_;
      c->sib_prev_ = c->sib_next_ = nullptr;
      c->linked_ = false;
      if (c->try_retain()) {
        c->work_next_ = work;
        work = c;
      }
      c = next;
    }
    children_ = nullptr;
    for (ctx_listener* l = listeners_; l != nullptr;) {
      ctx_listener* next = l->next;  // before notify: the record may die once woken
      l->linked = false;
      l->notify(l);
      l = next;
    }
    listeners_ = nullptr;
    t.swap(timer_);
    lk_.unlock();
    // `t` dies here, outside lk_: stopping the timer drops its reference to this node;
    // the caller of cancel() still holds one.
    return true;
  }

  cancel_node* const up_;  // the parent's canceller; kept alive through parent_
  mutable spinlock lk_;
  std::atomic<int> err_{0};
  std::atomic<hchan<unit>*> done_{nullptr};
  cancel_node* children_ = nullptr;
  ctx_listener* listeners_ = nullptr;
  std::optional<goro::timer> timer_;
  cancel_node* sib_prev_ = nullptr;
  cancel_node* sib_next_ = nullptr;
  bool linked_ = false;
  cancel_node* work_next_ = nullptr;  // cancel()'s work list
};

}  // namespace goro::detail
