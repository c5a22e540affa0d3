// tests/tsa/tsa_bad.cpp: locking mistakes that clang's thread-safety analysis must reject.
//
// With -Wthread-safety -Werror this file must fail to compile (ctest: tsa_bad_*, WILL_FAIL);
// without -Wthread-safety it must compile (tsa_bad_plain), so the failure comes from the
// analysis of goro's capability annotations and from nothing else.
//   -DTSA_BAD_UNLOCKED_READ   reads a GORO_GUARDED_BY(goro::mutex) variable without the lock
//   -DTSA_BAD_SHARED_WRITE    writes a GORO_GUARDED_BY(goro::rw_mutex) variable under lock_shared()
//   neither                   both mistakes
#include <goro/mutex.hpp>
#include <goro/rw_mutex.hpp>

#if !defined(TSA_BAD_UNLOCKED_READ) && !defined(TSA_BAD_SHARED_WRITE)
#define TSA_BAD_UNLOCKED_READ 1
#define TSA_BAD_SHARED_WRITE 1
#endif

namespace {

class counter {
 public:
  void add() {
    mu_.lock();
    ++n_;
    mu_.unlock();
  }
#ifdef TSA_BAD_UNLOCKED_READ
  int get() {
    return n_;
  }  // mistake: no lock
#else
  int get() {
    mu_.lock();
    int n = n_;
    mu_.unlock();
    return n;
  }
#endif

 private:
  goro::mutex mu_;
  int n_ GORO_GUARDED_BY(mu_) = 0;
};

class table {
 public:
#ifdef TSA_BAD_SHARED_WRITE
  void set(int v) {
    mu_.lock_shared();  // mistake: a writer needs lock()
    value_ = v;
    mu_.unlock_shared();
  }
#else
  void set(int v) {
    mu_.lock();
    value_ = v;
    mu_.unlock();
  }
#endif
  int get() {
    mu_.lock_shared();
    int v = value_;
    mu_.unlock_shared();
    return v;
  }

 private:
  goro::rw_mutex mu_;
  int value_ GORO_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  counter c;
  c.add();
  table t;
  t.set(1);
  return c.get() + t.get();
}
