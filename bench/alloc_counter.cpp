// Counting global operator new/delete for goro_bench (see alloc_counter.hpp). Every
// replaceable form is defined so that each allocation goes through malloc (or
// aligned_alloc) and each deallocation through free, whichever form the caller uses.
#include "alloc_counter.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace {

std::atomic<std::uint64_t> g_allocs{0};

void* alloc_or_null(std::size_t n) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}

void* alloc_aligned_or_null(std::size_t n, std::align_val_t al) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  const std::size_t size = n == 0 ? a : (n + a - 1) / a * a;  // aligned_alloc: a multiple of a
  return std::aligned_alloc(a, size);
}

void* alloc(std::size_t n) {
  void* p = alloc_or_null(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* alloc_aligned(std::size_t n, std::align_val_t al) {
  void* p = alloc_aligned_or_null(n, al);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

std::uint64_t bench_alloc::count() noexcept {
  return g_allocs.load(std::memory_order_relaxed);
}

void* operator new(std::size_t n) {
  return alloc(n);
}
void* operator new[](std::size_t n) {
  return alloc(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return alloc_or_null(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return alloc_or_null(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
  return alloc_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return alloc_aligned(n, al);
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return alloc_aligned_or_null(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return alloc_aligned_or_null(n, al);
}

void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
