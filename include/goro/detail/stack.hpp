// goro/detail/stack.hpp: fiber stacks, carved from large slabs, pooled and reused.
//
// Layout of one slab (addresses grow to the right; every stack grows to the left):
//
//   | canary page | slot 0                     | slot 1                     | ...
//   |         [C] | guard? | stack ...  [F][C] | guard? | stack ...  [F][C] |
//                                         ^  ^
//                 fiber control block (F)    canary word (C): the highest word of a slot
//
// * One mmap(MAP_NORESERVE) per slab: pages are committed only when touched, so a parked
//   fiber costs the few top pages its frames use (one page in the common case).
// * Guard pages: the lowest page of a slot is made PROT_NONE while the kernel's mapping
//   budget allows it. Each guard splits the slab's mapping, costing two entries against
//   vm.max_map_count (65530 by default), so only the first `guard_budget` slots get one.
// * Canary: the highest word of every slot (and of the canary page below slot 0) holds a
//   known value. An overflow of slot k runs into the top of slot k-1 and smashes that
//   word first; the scheduler checks it, and the stack pointer, at every switch away from
//   a fiber. The top page of a slot is never given back to the kernel, so the canary of
//   a free slot stays valid for its upper neighbour.
// * Pooling: a processor keeps a small cache of free slots (no lock); the shared pool
//   behind a lock refills and drains it in batches. The shared pool keeps two lists:
//   `hot_` (recently used, pages still resident) and `cold_` (pages given back). Returning
//   a slot costs no system call; a worker about to sleep calls trim(), which gives back the
//   pages of hot slots beyond a high-water mark (madvise(MADV_DONTNEED)), a batch at a time,
//   so memory is returned when the burst is over, not on the hot path.
//
// Lock order: stack_pool::mu_ is a leaf lock; no system call happens under it.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "config.hpp"
#if defined(GORO_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#include "spinlock.hpp"

namespace goro::detail {

inline constexpr std::uint64_t stack_canary = 0x676f726f5f535441ull;  // "goro_STA"
inline constexpr std::size_t default_stack_size = 256 * 1024;
inline constexpr std::size_t min_stack_size = 16 * 1024;

inline std::size_t page_size() noexcept {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

// The bookkeeping record of a slot, in the slot's top 64 bytes (below the canary word).
struct stack_slot {
  char* base;  // lowest address of the slot (the guard page, when it has one)
  bool guarded = false;
  // The fiber living in the slot, null while the slot is free: set (release) once the fiber
  // is fully built, cleared when it ends. Dumps walk the slabs and read it from any thread;
  // the record sits in the slot's top page, which is never given back, so the read is safe.
  std::atomic<void*> owner{nullptr};
  bool fiber_built = false;  // the slot's fiber control block exists (built once, reused)
  stack_slot* next_free() const noexcept { return *link(); }
  void set_next_free(stack_slot* s) noexcept { *link() = s; }
  stack_slot** link() const noexcept;
};

class stack_pool {
 public:
  // size: usable bytes requested by the user (rounded up to pages, plus one guard page).
  explicit stack_pool(std::size_t size) {
    std::size_t p = page_size();
    if (size == 0) size = default_stack_size;
    if (size < min_stack_size) size = min_stack_size;
    slot_size_ = (size + p - 1) / p * p + p;  // + the guard page
    std::size_t per_slab = (16u << 20) / slot_size_;
    slots_per_slab_ = per_slab < 8 ? 8 : per_slab;
    guard_budget_ = compute_guard_budget();
  }
  static std::atomic<std::size_t>& guarded_slots_total() noexcept {
    static std::atomic<std::size_t> n{0};
    return n;
  }

  ~stack_pool() {
    guarded_slots_total().fetch_sub(guarded_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    for (auto& s : slabs_) {
#if defined(GORO_ASAN)
      // Fibers that never finished leave poisoned frames; the address range may be reused.
      ASAN_UNPOISON_MEMORY_REGION(s.first, s.second);
#endif
      munmap(s.first, s.second);
    }
  }
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  std::size_t slot_size() const noexcept {
    return slot_size_;
  }

  // Moves up to `max` free slots into the caller's list, hot ones first; allocates a slab
  // when both lists are empty. Throws std::bad_alloc when the kernel refuses the memory.
  std::size_t take(stack_slot** out, std::size_t max) {
    std::unique_lock<spinlock> g(mu_);
    if (hot_ == nullptr && cold_ == nullptr) {
      g.unlock();
      stack_slot* fresh = grow();  // system calls and page faults: outside the lock
      g.lock();
      while (fresh != nullptr) push(cold_, pop(fresh));
    }
    std::size_t n = 0;
    while (n < max && hot_ != nullptr) {
      out[n++] = pop(hot_);
      --nhot_;
    }
    while (n < max && cold_ != nullptr) out[n++] = pop(cold_);
    return n;
  }

  // Returns slots to the shared pool (no system call).
  void give(stack_slot* const* in, std::size_t n) noexcept {
    std::lock_guard<spinlock> g(mu_);
    for (std::size_t i = 0; i < n; ++i) {
      push(hot_, in[i]);
      ++nhot_;
    }
    trim_wanted_.store(nhot_ > high_water_, std::memory_order_relaxed);
  }

  // Gives back the pages of up to `batch` hot slots beyond the high-water mark. Returns
  // true when there may be more to trim. Called by idle workers.
  bool trim(std::size_t batch) noexcept {
    if (!trim_wanted_.load(std::memory_order_relaxed)) return false;
    stack_slot* todo[64];
    if (batch > 64) batch = 64;
    std::size_t n = 0;
    {
      std::lock_guard<spinlock> g(mu_);
      while (n < batch && nhot_ > high_water_) {
        todo[n++] = pop(hot_);
        --nhot_;
      }
    }
    for (std::size_t i = 0; i < n; ++i) release_pages(todo[i]);
    std::lock_guard<spinlock> g(mu_);
    for (std::size_t i = 0; i < n; ++i) push(cold_, todo[i]);
    trim_wanted_.store(nhot_ > high_water_, std::memory_order_relaxed);
    return nhot_ > high_water_;
  }

  // The highest word of the slot below `base` (or of the slab's canary page).
  static std::uint64_t* canary_below(char* base) noexcept {
    return reinterpret_cast<std::uint64_t*>(base) - 1;
  }
  // Top of a slot (one past its highest byte).
  char* top(const stack_slot* s) const noexcept {
    return s->base + slot_size_;
  }
  // Lowest usable byte: above the guard page when the slot is guarded.
  char* usable_bottom(const stack_slot* s) const noexcept {
    return s->base + page_size();
  }

  // Calls fn(owner) for every slot that holds a fiber at the moment it is looked at. The
  // slab list is copied under the lock; the walk itself takes no lock, so fn may block.
  template <class Fn>
  void for_each_owner(Fn&& fn) const {
    std::vector<std::pair<void*, std::size_t>> slabs;
    {
      std::lock_guard<spinlock> g(mu_);
      slabs.assign(slabs_.begin(), slabs_.begin() + static_cast<std::ptrdiff_t>(built_slabs_));
    }
    for (auto& [mem, bytes] : slabs) {
      char* first = static_cast<char*>(mem) + page_size();
      for (std::size_t i = 0; i < slots_per_slab_; ++i) {
        auto* rec = reinterpret_cast<stack_slot*>(top_word(first + i * slot_size_));
        if (void* o = rec->owner.load(std::memory_order_acquire)) fn(o);
      }
    }
  }

  std::size_t guarded_slots() const noexcept {
    return guarded_.load(std::memory_order_relaxed);
  }

 private:
  struct slab_header {};

  static std::size_t compute_guard_budget() noexcept {
    long max_maps = 65530;
    if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
      if (std::fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
      std::fclose(f);
    }
    // Keep half of the map budget for the rest of the process (malloc arenas, libraries,
    // unguarded slabs); each guarded slot costs two more entries.
    long budget = max_maps / 4;
    return budget > 0 ? static_cast<std::size_t>(budget) : 0;
  }

  // Maps and prepares a new slab; returns its slots as a list (address order).
  stack_slot* grow() {
    std::size_t p = page_size();
    std::size_t bytes = p + slots_per_slab_ * slot_size_;
    void* mem =
        mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw std::bad_alloc();
    {
      std::lock_guard<spinlock> g(mu_);
      try {
        slabs_.emplace_back(mem, bytes);
      } catch (...) {
        munmap(mem, bytes);
        throw;
      }
    }
    stack_slot* list = nullptr;
    char* first = static_cast<char*>(mem) + p;
    *canary_below(first) = stack_canary;  // the canary page protects slot 0
    // Link in reverse so that slots are handed out in address order.
    for (std::size_t i = slots_per_slab_; i-- > 0;) {
      auto* s =
          ::new (static_cast<void*>(top_word(first + i * slot_size_))) stack_slot{first + i * slot_size_};
      *canary_below(s->base + slot_size_) = stack_canary;
      // The guard budget is process-wide (every runtime's pools share the kernel's map limit).
      if (guarded_slots_total().fetch_add(1, std::memory_order_relaxed) < guard_budget_) {
        if (mprotect(s->base, p, PROT_NONE) == 0) {
          guarded_.fetch_add(1, std::memory_order_relaxed);
          s->guarded = true;
        } else {
          guarded_slots_total().fetch_sub(1, std::memory_order_relaxed);
        }
      } else {
        guarded_slots_total().fetch_sub(1, std::memory_order_relaxed);
      }
      push(list, s);
    }
    {
      // Published for for_each_owner only once every record is built (the lock orders their
      // construction before a walker's reads). Concurrent grow() calls may finish out of
      // order, so a prefix of slabs_ is published when no registered slab is still in progress.
      std::lock_guard<spinlock> g(mu_);
      ++built_pending_;
      if (built_pending_ + built_slabs_ == slabs_.size()) {
        built_slabs_ = slabs_.size();
        built_pending_ = 0;
      }
    }
    return list;
  }

  static stack_slot* pop(stack_slot*& list) noexcept {
    stack_slot* s = list;
    list = s->next_free();
    return s;
  }
  static void push(stack_slot*& list, stack_slot* s) noexcept {
    s->set_next_free(list);
    list = s;
  }

  // A slot's bookkeeping record sits in its top page, just below the canary.
  char* top_word(char* base) const noexcept {
    return base + slot_size_ - 64;
  }

  void release_pages(stack_slot* s) noexcept {
    // Keep the top page (canary, bookkeeping); return the rest above the guard page.
    std::size_t p = page_size();
    char* lo = s->base + p;
    char* hi = s->base + slot_size_ - p;
    if (hi > lo) madvise(lo, static_cast<std::size_t>(hi - lo), MADV_DONTNEED);
  }

  mutable spinlock mu_;  // guards the lists and slabs_; held for O(1) work only
  std::size_t slot_size_ = 0;
  std::size_t slots_per_slab_ = 0;
  std::size_t guard_budget_ = 0;
  std::atomic<std::size_t> guarded_{0};
  std::size_t high_water_ = 4096;
  stack_slot* hot_ = nullptr;  // free, pages possibly resident
  std::size_t nhot_ = 0;
  stack_slot* cold_ = nullptr;  // free, lower pages given back (or never touched)
  std::atomic<bool> trim_wanted_{false};
  std::vector<std::pair<void*, std::size_t>> slabs_;
  std::size_t built_slabs_ = 0;    // slabs_[0, built_slabs_) have all their records built
  std::size_t built_pending_ = 0;  // slabs built beyond that prefix while another was in progress
};

// The record and the free-list link must fit below the canary word, in the slot's top 64 bytes.
static_assert(sizeof(stack_slot) + sizeof(stack_slot*) <= 56, "stack_slot outgrew the slot's top 64 bytes");

// The free-list link is the word right after the record (still in the slot's top 64 bytes).
inline stack_slot** stack_slot::link() const noexcept {
  return reinterpret_cast<stack_slot**>(const_cast<stack_slot*>(this) + 1);
}

}  // namespace goro::detail
