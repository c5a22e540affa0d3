// Go twins of bench/sync_bench.cpp (goro): same names (BenchmarkMutex4 <-> BM_Mutex4),
// same workloads, same validation. Run with GOMAXPROCS=2 and -benchmem (allocs/op; goro
// reports the counter allocs/op). See bench/README.md.
//
// The benchmarks use the standard library only: the errgroup and weighted-semaphore
// rows run on errGroup and weighted below, small re-implementations of
// golang.org/x/sync's errgroup.Group (WithContext, Go, Wait; no SetLimit) and
// semaphore.Weighted (Acquire, Release, TryAcquire) with the same algorithms: a
// WaitGroup, a Once and a cancel func; a mutex, a FIFO list of waiters, and a channel
// closed per granted waiter.
package bench

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runGoroutines runs body(k) in k = 0..n-1 new goroutines and returns once every one has
// returned (the last one closes done), as run_fibers in sync_bench.cpp.
func runGoroutines(n int, body func(k int)) {
	left := int64(n)
	done := make(chan struct{})
	for k := 0; k < n; k++ {
		go func(k int) {
			body(k)
			if atomic.AddInt64(&left, -1) == 0 {
				close(done)
			}
		}(k)
	}
	<-done
}

// ---- mutex -------------------------------------------------------------------------

// Mutex4: 4 goroutines each do N/4 (N rounded up to a multiple of 4; ns/op divides by
// b.N, at most 3 pairs fewer) iterations of Lock; shared++; Unlock on one sync.Mutex.
func BenchmarkMutex4(b *testing.B) {
	const goroutines = 4
	per := (b.N + goroutines - 1) / goroutines
	var mu sync.Mutex
	shared := 0
	b.ResetTimer()
	runGoroutines(goroutines, func(int) {
		for i := 0; i < per; i++ {
			mu.Lock()
			shared++
			mu.Unlock()
		}
	})
	b.StopTimer()
	if shared != per*goroutines {
		b.Fatal("lost increments: the mutex let two goroutines in")
	}
}

// MutexUncontended: Lock; shared++; Unlock by one goroutine. ns/op = per pair.
func BenchmarkMutexUncontended(b *testing.B) {
	var mu sync.Mutex
	shared := 0
	for i := 0; i < b.N; i++ {
		mu.Lock()
		shared++
		mu.Unlock()
	}
	b.StopTimer()
	if shared != b.N {
		b.Fatal("increment count mismatch")
	}
}

// RWMutex4: 4 goroutines each do N/4 operations on one sync.RWMutex; operation i is a
// write (Lock; shared++; Unlock) when i % 11 == 10, a read (RLock; read shared; RUnlock)
// otherwise: 1 write per 10 reads. ns/op = per operation.
func BenchmarkRWMutex4(b *testing.B) {
	const goroutines = 4
	per := (b.N + goroutines - 1) / goroutines
	var mu sync.RWMutex
	shared := 0
	var seen int64
	b.ResetTimer()
	runGoroutines(goroutines, func(int) {
		local := 0
		for i := 0; i < per; i++ {
			if i%11 == 10 {
				mu.Lock()
				shared++
				mu.Unlock()
			} else {
				mu.RLock()
				local += shared
				mu.RUnlock()
			}
		}
		atomic.AddInt64(&seen, int64(local))
	})
	b.StopTimer()
	if shared != goroutines*(per/11) {
		b.Fatal("lost writes: the RWMutex let two writers in")
	}
}

// ---- WaitGroup ---------------------------------------------------------------------

// WaitGroupAddDoneWait: Add(1); Done(); Wait() by one goroutine (Wait finds the counter
// at zero). ns/op = per round.
func BenchmarkWaitGroupAddDoneWait(b *testing.B) {
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		wg.Done()
		wg.Wait()
	}
}

// WaitGroupGo: N tasks started as Add(1); go func() { ...; Done() }() (goro: wg.go),
// each incrementing a counter, then Wait(). ns/op = per task.
func BenchmarkWaitGroupGo(b *testing.B) {
	var wg sync.WaitGroup
	var ran int64
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		go func() {
			atomic.AddInt64(&ran, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	b.StopTimer()
	if atomic.LoadInt64(&ran) != int64(b.N) {
		b.Fatal("Wait returned before every task ran")
	}
}

// ---- Once --------------------------------------------------------------------------

// OnceDone: Do(f) on a Once whose f already ran (the fast path). ns/op.
func BenchmarkOnceDone(b *testing.B) {
	var o sync.Once
	calls := 0
	f := func() { calls++ }
	o.Do(f)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.Do(f)
	}
	b.StopTimer()
	if calls != 1 {
		b.Fatal("Once ran f more than once")
	}
}

// ---- semaphore ---------------------------------------------------------------------

// weighted: x/sync's semaphore.Weighted (see the top comment).
type weighted struct {
	size    int64
	cur     int64
	mu      sync.Mutex
	waiters list.List
}

type semWaiter struct {
	n     int64
	ready chan struct{} // closed when the units are granted
}

func newWeighted(n int64) *weighted { return &weighted{size: n} }

func (s *weighted) Acquire(ctx context.Context, n int64) error {
	s.mu.Lock()
	if s.size-s.cur >= n && s.waiters.Len() == 0 {
		s.cur += n
		s.mu.Unlock()
		return nil
	}
	if n > s.size {
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	ready := make(chan struct{})
	elem := s.waiters.PushBack(semWaiter{n: n, ready: ready})
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		err := ctx.Err()
		s.mu.Lock()
		select {
		case <-ready:
			err = nil // granted meanwhile: keep the units
		default:
			front := s.waiters.Front() == elem
			s.waiters.Remove(elem)
			if front && s.size > s.cur {
				s.grant()
			}
		}
		s.mu.Unlock()
		return err
	case <-ready:
		return nil
	}
}

func (s *weighted) TryAcquire(n int64) bool {
	s.mu.Lock()
	ok := s.size-s.cur >= n && s.waiters.Len() == 0
	if ok {
		s.cur += n
	}
	s.mu.Unlock()
	return ok
}

func (s *weighted) Release(n int64) {
	s.mu.Lock()
	s.cur -= n
	if s.cur < 0 {
		s.mu.Unlock()
		panic("semaphore: released more than held")
	}
	s.grant()
	s.mu.Unlock()
}

// grant admits head waiters in FIFO order while they fit (nobody overtakes the head).
func (s *weighted) grant() {
	for {
		next := s.waiters.Front()
		if next == nil {
			return
		}
		w := next.Value.(semWaiter)
		if s.size-s.cur < w.n {
			return
		}
		s.cur += w.n
		s.waiters.Remove(next)
		close(w.ready)
	}
}

// SemaphoreUncontended: Acquire(context.Background(), 1); Release(1) on a semaphore of
// size 1 by one goroutine (goro: acquire(1) / release(1)). ns/op = per pair.
func BenchmarkSemaphoreUncontended(b *testing.B) {
	s := newWeighted(1)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if err := s.Acquire(ctx, 1); err != nil {
			b.Fatal(err)
		}
		s.Release(1)
	}
	b.StopTimer()
	if !s.TryAcquire(1) {
		b.Fatal("the semaphore leaked a unit")
	}
}

// Semaphore4x2: 4 goroutines each do N/4 iterations of Acquire(1); (count the holders);
// Release(1) on a semaphore of size 2; at most 2 may hold it at once. ns/op = per pair.
func BenchmarkSemaphore4x2(b *testing.B) {
	const goroutines = 4
	per := (b.N + goroutines - 1) / goroutines
	s := newWeighted(2)
	ctx := context.Background()
	var inside, maxInside, count, failed int64
	b.ResetTimer()
	runGoroutines(goroutines, func(int) {
		var localMax int64
		for i := 0; i < per; i++ {
			if s.Acquire(ctx, 1) != nil {
				atomic.AddInt64(&failed, 1)
				return
			}
			if v := atomic.AddInt64(&inside, 1); v > localMax {
				localMax = v
			}
			atomic.AddInt64(&inside, -1)
			s.Release(1)
		}
		atomic.AddInt64(&count, int64(per))
		for {
			m := atomic.LoadInt64(&maxInside)
			if m >= localMax || atomic.CompareAndSwapInt64(&maxInside, m, localMax) {
				break
			}
		}
	})
	b.StopTimer()
	if failed != 0 || count != int64(per*goroutines) || maxInside > 2 || maxInside < 1 {
		b.Fatal("more than 2 holders, or an Acquire did not return")
	}
}

// ---- context -----------------------------------------------------------------------

// WithCancel: context.WithCancel(parent) + cancel() per op; parent is a cancellable
// context made before the loop (the child joins, and leaves, its children). The child
// must report context.Canceled. ns/op, allocs/op.
func BenchmarkWithCancel(b *testing.B) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	bad := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, cancel := context.WithCancel(parent)
		cancel()
		if c.Err() != context.Canceled {
			bad++
		}
	}
	b.StopTimer()
	if bad != 0 {
		b.Fatal("a cancelled child does not report context.Canceled")
	}
}

type ctxKey int

// ValueDepth10: Background <- WithValue(key 0, 0) <- ... <- WithValue(key 9, 9); each op
// looks up key 0 from the leaf (10 value contexts walked). Keys are a named int type
// (goro: the strings "k0".."k9"). ns/op.
func BenchmarkValueDepth10(b *testing.B) {
	c := context.Background()
	for k := 0; k < 10; k++ {
		c = context.WithValue(c, ctxKey(k), k)
	}
	bad := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v, ok := c.Value(ctxKey(0)).(int); !ok || v != 0 {
			bad++
		}
	}
	b.StopTimer()
	if bad != 0 {
		b.Fatal("Value(key 0) not found or wrong")
	}
}

// WithTimeout: context.WithTimeout(parent, time.Hour) + cancel() per op, parent as in
// WithCancel. The child must report context.Canceled (not the deadline). ns/op,
// allocs/op.
func BenchmarkWithTimeout(b *testing.B) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	bad := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, cancel := context.WithTimeout(parent, time.Hour)
		cancel()
		if c.Err() != context.Canceled {
			bad++
		}
	}
	b.StopTimer()
	if bad != 0 {
		b.Fatal("a cancelled child does not report context.Canceled")
	}
}

// ---- errgroup ----------------------------------------------------------------------

// errGroup: x/sync's errgroup.Group (see the top comment).
type errGroup struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errOnce sync.Once
	err     error
}

func errGroupWithContext(ctx context.Context) (*errGroup, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &errGroup{cancel: cancel}, ctx
}

func (g *errGroup) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.errOnce.Do(func() {
				g.err = err
				if g.cancel != nil {
					g.cancel()
				}
			})
		}
	}()
}

func (g *errGroup) Wait() error {
	g.wg.Wait()
	if g.cancel != nil {
		g.cancel()
	}
	return g.err
}

// ErrgroupGo: one group made with WithContext(Background) (goro: errgroup over
// background), g.Go(task) for N tasks that each increment a counter, then g.Wait().
// ns/op = per task. Compare with SpawnJoin (runtime_test.go).
func BenchmarkErrgroupGo(b *testing.B) {
	var ran int64
	g, ctx := errGroupWithContext(context.Background())
	for i := 0; i < b.N; i++ {
		g.Go(func() error {
			atomic.AddInt64(&ran, 1)
			return nil
		})
	}
	err := g.Wait()
	b.StopTimer()
	if err != nil || atomic.LoadInt64(&ran) != int64(b.N) || ctx.Err() == nil {
		b.Fatal("Wait returned early or left the group's context live")
	}
}

// ---- Cond --------------------------------------------------------------------------

// CondPingPong: the benchmark goroutine and a partner share a mutex, a sync.Cond over
// it and a turn word. Per round the benchmark goroutine sets turn = 1, signals and
// waits until turn == 0; the partner waits until turn == 1, sets turn = 0 and signals.
// ns/op = per round trip (two signal/wait hand-offs).
func BenchmarkCondPingPong(b *testing.B) {
	n := b.N
	var mu sync.Mutex
	cv := sync.NewCond(&mu)
	turn := 0
	pongs := 0
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			mu.Lock()
			for turn != 1 {
				cv.Wait()
			}
			turn = 0
			pongs++
			cv.Signal()
			mu.Unlock()
		}
		close(done)
	}()
	for i := 0; i < n; i++ {
		mu.Lock()
		turn = 1
		cv.Signal()
		for turn != 0 {
			cv.Wait()
		}
		mu.Unlock()
	}
	<-done
	b.StopTimer()
	if pongs != n {
		b.Fatal("round count mismatch")
	}
}
