// tests/tsa/tsa_good.cpp: correct locking that clang's thread-safety analysis accepts.
//
// Checked by ctest (tests/CMakeLists.txt, when clang++ is found) with
//   clang++ -std=c++20 -fsyntax-only -Wthread-safety -Werror -I include tests/tsa/tsa_good.cpp
// Its partner tsa_bad.cpp must fail that command. libstdc++'s std::lock_guard and
// std::shared_lock carry no annotations, so the analysis cannot see them acquire: code that
// touches GORO_GUARDED_BY data uses lock()/unlock() or an annotated scoped lock like the one
// below.
#include <goro/mutex.hpp>
#include <goro/rw_mutex.hpp>

#include <mutex>
#include <shared_mutex>

namespace {

// Scoped locks the analysis understands.
template <class M>
class GORO_SCOPED_CAPABILITY scoped_lock {
 public:
  explicit scoped_lock(M& m) GORO_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~scoped_lock() GORO_RELEASE() { m_.unlock(); }
  scoped_lock(const scoped_lock&) = delete;
  scoped_lock& operator=(const scoped_lock&) = delete;

 private:
  M& m_;
};

class GORO_SCOPED_CAPABILITY shared_scoped_lock {
 public:
  explicit shared_scoped_lock(goro::rw_mutex& m) GORO_ACQUIRE_SHARED(m) : m_(m) { m_.lock_shared(); }
  ~shared_scoped_lock() GORO_RELEASE() { m_.unlock_shared(); }
  shared_scoped_lock(const shared_scoped_lock&) = delete;
  shared_scoped_lock& operator=(const shared_scoped_lock&) = delete;

 private:
  goro::rw_mutex& m_;
};

class account {
 public:
  void deposit(int n) {
    scoped_lock<goro::mutex> l(mu_);
    balance_ += n;
  }
  int balance() {
    mu_.lock();
    int b = balance_;
    mu_.unlock();
    return b;
  }
  bool try_withdraw(int n) {
    if (!mu_.try_lock()) return false;
    bool ok = balance_ >= n;
    if (ok) balance_ -= n;
    mu_.unlock();
    return ok;
  }
  void transfer_locked(account& to, int n) GORO_REQUIRES(mu_) {
    balance_ -= n;
    to.deposit(n);
  }
  void transfer(account& to, int n) {
    mu_.lock();
    transfer_locked(to, n);
    mu_.unlock();
  }
  // Unguarded data may use the standard RAII types: goro::mutex is Lockable.
  int visits() {
    std::lock_guard<goro::mutex> g(stats_mu_);
    std::unique_lock<goro::mutex> u(other_mu_, std::defer_lock);
    return ++visits_;
  }

 private:
  goro::mutex mu_;
  int balance_ GORO_GUARDED_BY(mu_) = 0;
  goro::mutex stats_mu_;
  goro::mutex other_mu_;
  int visits_ = 0;
};

class table {
 public:
  int get() {
    mu_.lock_shared();
    int v = value_;
    mu_.unlock_shared();
    return v;
  }
  int get_scoped() {
    shared_scoped_lock l(mu_);
    return value_;
  }
  bool try_get(int& out) {
    if (!mu_.try_lock_shared()) return false;
    out = value_;
    mu_.unlock_shared();
    return true;
  }
  void set(int v) {
    mu_.lock();
    value_ = v;
    mu_.unlock();
  }
  void set_scoped(int v) {
    scoped_lock<goro::rw_mutex> l(mu_);
    value_ = v;
  }
  bool try_set(int v) {
    if (!mu_.try_lock()) return false;
    value_ = v;
    mu_.unlock();
    return true;
  }
  int unguarded_reads() {
    std::shared_lock<goro::rw_mutex> l(stats_mu_);  // SharedLockable
    return reads_;
  }

 private:
  goro::rw_mutex mu_;
  int value_ GORO_GUARDED_BY(mu_) = 0;
  goro::rw_mutex stats_mu_;
  int reads_ = 0;
};

}  // namespace

int main() {
  account a, b;
  a.deposit(10);
  a.transfer(b, 3);
  (void)a.try_withdraw(1);
  (void)a.visits();
  table t;
  t.set(1);
  t.set_scoped(2);
  (void)t.try_set(3);
  int v = 0;
  (void)t.try_get(v);
  return a.balance() + b.balance() + t.get() + t.get_scoped() + t.unguarded_reads() + v;
}
