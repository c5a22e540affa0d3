// goro/detail/config.hpp: compiler, sanitizer and diagnostic macros shared by every header.
//
// Every macro goro defines starts with GORO_ so that a header-only library cannot
// collide with a user's (or another library's) macros.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORO_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define GORO_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(GORO_ASAN)
#define GORO_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GORO_TSAN)
#define GORO_TSAN 1
#endif

#define GORO_NOINLINE __attribute__((noinline))
#define GORO_LIKELY(x) __builtin_expect(!!(x), 1)
#define GORO_UNLIKELY(x) __builtin_expect(!!(x), 0)

// Clang thread-safety analysis, spelled with our prefix (abseil/marl habit, prefixed
// because a header-only library must not define GUARDED_BY for its users).
#if defined(__clang__)
#define GORO_TSA(x) __attribute__((x))
#else
#define GORO_TSA(x)
#endif
#define GORO_CAPABILITY(x) GORO_TSA(capability(x))
#define GORO_SCOPED_CAPABILITY GORO_TSA(scoped_lockable)
#define GORO_GUARDED_BY(x) GORO_TSA(guarded_by(x))
#define GORO_REQUIRES(...) GORO_TSA(requires_capability(__VA_ARGS__))
#define GORO_ACQUIRE(...) GORO_TSA(acquire_capability(__VA_ARGS__))
#define GORO_RELEASE(...) GORO_TSA(release_capability(__VA_ARGS__))
#define GORO_TRY_ACQUIRE(...) GORO_TSA(try_acquire_capability(__VA_ARGS__))
#define GORO_ACQUIRE_SHARED(...) GORO_TSA(acquire_shared_capability(__VA_ARGS__))
#define GORO_RELEASE_SHARED(...) GORO_TSA(release_shared_capability(__VA_ARGS__))
#define GORO_TRY_ACQUIRE_SHARED(...) GORO_TSA(try_acquire_shared_capability(__VA_ARGS__))
#define GORO_EXCLUDES(...) GORO_TSA(locks_excluded(__VA_ARGS__))
#define GORO_NO_THREAD_SAFETY_ANALYSIS GORO_TSA(no_thread_safety_analysis)

namespace goro::detail {

// fatal reports a broken invariant or an unrecoverable runtime condition and aborts.
// Messages start with "goro: " so they are easy to grep in a service's logs.
[[noreturn]] inline void fatal(const char* fmt, ...) noexcept {
  std::fputs("goro: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace goro::detail

// GORO_ASSERT checks internal invariants in debug builds (and always with GORO_CHECKED).
#if !defined(NDEBUG) || defined(GORO_CHECKED)
#define GORO_ASSERT(cond)      \
  (GORO_LIKELY(cond) ? (void)0 \
                     : ::goro::detail::fatal("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__))
#else
#define GORO_ASSERT(cond) ((void)0)
#endif
