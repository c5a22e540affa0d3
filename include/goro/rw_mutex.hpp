// goro/rw_mutex.hpp: goro::rw_mutex, Go's sync.RWMutex (any number of readers or one
// writer) for fibers and plain threads. SharedLockable: std::shared_lock works.
//
// Fairness, as Go's: once a writer waits, new readers queue behind it (a stream of readers
// cannot starve a writer); when a writer unlocks, the readers that queued meanwhile all get
// in before the next writer (writers cannot starve readers either).
//
// The algorithm is Go's (sync/rwmutex.go), so that readers never take a lock: a reader is
// one atomic add in and one out while no writer is around.
//   reader_count_  readers holding or queued; a writer subtracts max_readers from it to
//                  announce itself, so a negative count means "a writer is pending or holds":
//                  new readers then queue on reader_sem_.
//   reader_wait_   readers the pending writer still waits for (those inside when it came).
//   w_             a goro::mutex among writers (a second writer queues there).
//   writer_sem_    the pending writer parks here until the last reader it waits for leaves.
//   reader_sem_    readers that came while a writer was pending or holding; the writer's
//                  unlock releases exactly as many units as readers added themselves.
//   writer_holds_  set by the writer once it holds, for misuse checks only.
//
// No lost wake-up: sema (detail/sema.hpp) banks a unit released before its waiter queued,
// and every unit is owed by exactly one decision: the reader that brings reader_wait_ to 0
// releases the writer's, and the writer's unlock releases one per reader it saw queued (the
// count it adds max_readers back to).
//
// Memory order: a writer's acquire RMW on reader_count_ (or on reader_wait_, through the last
// reader's release and writer_sem_) orders every reader critical section before its own; a
// reader's acquire add (or reader_sem_) orders the previous writer's section before it.
//
// Destroy after unlock: unlock_shared()'s last access is its add, or the sema release that
// lets the writer go (sema's release touches the object last when it unlocks). unlock() lets
// readers in (its add, then reader_sem_) before it unlocks w_, so a reader may get in, leave
// and destroy the rw_mutex while the writer still has w_.unlock() to do (review finding): the
// destructor therefore waits until w_ is free, and the CAS that frees it is that writer's
// last access.
//
// Misuse: unlock() without a writer holding, and unlock_shared() with no reader inside (or
// while a writer holds), throw std::logic_error before changing anything. An unlock_shared()
// that races with another thread's unlock_shared() of the last read lock is caught only after
// its add, which it then undoes: a correct user running concurrently may see the wrong count
// in that window (Go makes both fatal).
#pragma once

#include <atomic>
#include <cstdint>
#include <shared_mutex>  // std::shared_lock, for users
#include <stdexcept>
#include <thread>

#include "detail/config.hpp"
#include "detail/park.hpp"
#include "detail/sema.hpp"
#include "mutex.hpp"

namespace goro {

class GORO_CAPABILITY("rw_mutex") rw_mutex {
 public:
  rw_mutex() noexcept = default;
  ~rw_mutex() {
    // A writer's unlock() may still be on its way out of w_ (see above): it has cleared
    // writer_holds_ and given the readers their count back. Anything else holding w_ means
    // the rw_mutex is destroyed while locked (undefined): do not wait for that.
    for (int i = 0; !w_.try_lock(); ++i) {
      if (writer_holds_.load(std::memory_order_relaxed) || reader_count_.load(std::memory_order_relaxed) < 0)
        return;
      if (i < 64) {
        detail::cpu_relax();
      } else {
        std::this_thread::yield();  // that writer's thread was preempted
      }
    }
    w_.unlock();
  }
  rw_mutex(const rw_mutex&) = delete;
  rw_mutex& operator=(const rw_mutex&) = delete;

  void lock() GORO_ACQUIRE() GORO_NO_THREAD_SAFETY_ANALYSIS {
    w_.lock();
    // Announce the writer; r readers are inside and must leave before it goes on.
    std::int32_t r = reader_count_.fetch_sub(max_readers, std::memory_order_acq_rel);
    if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_acq_rel) + r != 0)
      writer_sem_.acquire(false, detail::wait_reason::sync_rw_mutex);
    writer_holds_.store(true, std::memory_order_relaxed);
  }
  bool try_lock() noexcept GORO_TRY_ACQUIRE(true) GORO_NO_THREAD_SAFETY_ANALYSIS {
    if (!w_.try_lock()) return false;
    std::int32_t none = 0;
    if (!reader_count_.compare_exchange_strong(none, -max_readers, std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
      w_.unlock();
      return false;
    }
    writer_holds_.store(true, std::memory_order_relaxed);
    return true;
  }
  // Throws std::logic_error when no writer holds the lock.
  void unlock() GORO_RELEASE() GORO_NO_THREAD_SAFETY_ANALYSIS {
    if (!writer_holds_.exchange(false, std::memory_order_relaxed))
      throw std::logic_error("goro::rw_mutex::unlock: the lock is not held by a writer");
    // Readers that queued while we were pending or holding: let them all in.
    std::int32_t r = reader_count_.fetch_add(max_readers, std::memory_order_release) + max_readers;
    if (r > 0) reader_sem_.release(static_cast<std::uint32_t>(r));
    w_.unlock();
  }

  void lock_shared() GORO_ACQUIRE_SHARED() GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::int32_t r = reader_count_.fetch_add(1, std::memory_order_acquire) + 1;
    if (GORO_LIKELY(r > 0 && r < max_readers)) return;
    lock_shared_slow(r);
  }
  bool try_lock_shared() noexcept GORO_TRY_ACQUIRE_SHARED(true) GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::int32_t c = reader_count_.load(std::memory_order_relaxed);
    for (;;) {
      if (c < 0 || c + 1 >= max_readers) return false;
      if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    }
  }
  // Throws std::logic_error when no reader holds the lock.
  void unlock_shared() GORO_RELEASE_SHARED() GORO_NO_THREAD_SAFETY_ANALYSIS {
    std::int32_t c = reader_count_.load(std::memory_order_relaxed);
    if (GORO_UNLIKELY(c == 0 || (c < 0 && writer_holds_.load(std::memory_order_relaxed)))) throw_no_reader();
    std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_release) - 1;
    if (GORO_UNLIKELY(r < 0)) unlock_shared_slow(r);
  }

 private:
  static constexpr std::int32_t max_readers = 1 << 30;

  [[noreturn]] static void throw_no_reader() {
    throw std::logic_error("goro::rw_mutex::unlock_shared: no reader holds the lock");
  }

  GORO_NOINLINE void lock_shared_slow(std::int32_t r) {
    // Readers inside (and queued): r, or r + max_readers while a writer is pending.
    if ((r > 0 ? r : r + max_readers) >= max_readers) {
      reader_count_.fetch_sub(1, std::memory_order_relaxed);
      throw std::logic_error("goro::rw_mutex: too many readers (2^30 - 1 at most)");
    }
    // A writer is pending or holds: queue behind it; its unlock releases our unit.
    reader_sem_.acquire(false, detail::wait_reason::sync_rw_mutex);
  }

  GORO_NOINLINE void unlock_shared_slow(std::int32_t r) {
    // r + 1 is the count before our add: 0 (nobody inside) or -max_readers (a writer holds
    // and no reader is inside) means there was no reader to leave. Undo and report.
    if (r + 1 == 0 || r + 1 == -max_readers) {
      reader_count_.fetch_add(1, std::memory_order_relaxed);
      throw_no_reader();
    }
    // A writer is pending; the last of the readers it waits for lets it in.
    if (reader_wait_.fetch_sub(1, std::memory_order_acq_rel) == 1) writer_sem_.release();
  }

  std::atomic<std::int32_t> reader_count_{0};
  std::atomic<std::int32_t> reader_wait_{0};
  std::atomic<bool> writer_holds_{false};
  mutex w_;
  detail::sema writer_sem_;
  detail::sema reader_sem_;
};

}  // namespace goro
