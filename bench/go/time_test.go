// Go twins of bench/time_bench.cpp (goro): same names (BenchmarkAfterSelect <->
// BM_AfterSelect), same workloads, same validation. Run with GOMAXPROCS=2 and
// -benchmem. See bench/README.md.
package bench

import (
	"math"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// AfterSelect: a capacity-1 channel made ready with a non-blocking send of i, then
// select { case <-ch: case <-time.After(time.Hour): } must choose ch and receive i.
// (Go before 1.23 keeps each unfired time.After timer until it fires; goro cancels it
// when the select drops the channel and checks its live timer count afterwards.)
func BenchmarkAfterSelect(b *testing.B) {
	b.ReportAllocs()
	ch := make(chan int, 1)
	bad := 0
	for i := 0; i < b.N; i++ {
		readyOne(b, ch, i)
		got := -1
		select {
		case v := <-ch:
			got = v
		case <-time.After(time.Hour):
		}
		if got != i {
			bad++
		}
	}
	if bad != 0 {
		b.Fatal("select chose the timer or received the wrong value")
	}
}

// TimerResetSelect: one time.NewTimer(time.Hour) made before the loop; each iteration
// makes ch ready, calls t.Reset(time.Hour) (must report the timer active), then
// select { case <-ch: case <-t.C: } must choose ch and receive i.
func BenchmarkTimerResetSelect(b *testing.B) {
	b.ReportAllocs()
	ch := make(chan int, 1)
	t := time.NewTimer(time.Hour)
	b.ResetTimer()
	bad, active := 0, 0
	for i := 0; i < b.N; i++ {
		readyOne(b, ch, i)
		if t.Reset(time.Hour) {
			active++
		}
		got := -1
		select {
		case v := <-ch:
			got = v
		case <-t.C:
		}
		if got != i {
			bad++
		}
	}
	b.StopTimer()
	if bad != 0 {
		b.Fatal("select chose the timer or received the wrong value")
	}
	if active != b.N {
		b.Fatal("Timer.Reset did not report a pending timer")
	}
	if !t.Stop() {
		b.Fatal("Timer.Stop did not report a pending timer")
	}
}

// SleepLatency1ms: the benchmark goroutine calls time.Sleep(time.Millisecond) 500 times
// while two busy goroutines burn CPU: each repeats ~10 us of work (spinning on the
// monotonic clock) followed by runtime.Gosched() until told to stop. Oversleep =
// actual - 1ms per sleep; metrics p50_us, p99_us, max_us (nearest rank). The goro twin
// runs exactly one op (Iterations(1)); here b.N ops of 500 sleeps each (typically 1 then
// 2), the metrics over the last b.N ops. A sleep that returns early, or a busy
// goroutine that never ran, is an error. Watchdog (as in the goro twin): a busy goroutine
// gives up after giveUp, so a sleeper that is never woken ends the run with an error.
const (
	sleeps = 500
	busy   = 2
	giveUp = 60 * time.Second
)

func BenchmarkSleepLatency1ms(b *testing.B) {
	overUs := make([]float64, 0, sleeps*b.N)
	for n := 0; n < b.N; n++ {
		var stop, started, gaveUp int32
		giveUpAt := time.Now().Add(giveUp)
		minRounds := make(chan int64, busy)
		for g := 0; g < busy; g++ {
			go func() {
				atomic.AddInt32(&started, 1)
				var rounds int64
				work := 0
				for atomic.LoadInt32(&stop) == 0 {
					t0 := time.Now()
					if t0.After(giveUpAt) {
						atomic.StoreInt32(&gaveUp, 1)
						break
					}
					for time.Since(t0) < 10*time.Microsecond {
						work++
					}
					runtime.Gosched()
					rounds++
				}
				_ = work
				minRounds <- rounds
			}()
		}
		for atomic.LoadInt32(&started) != busy {
			runtime.Gosched()
		}
		early := false
		for k := 0; k < sleeps; k++ {
			t0 := time.Now()
			time.Sleep(time.Millisecond)
			slept := time.Since(t0)
			early = early || slept < time.Millisecond
			overUs = append(overUs, float64(slept-time.Millisecond)/float64(time.Microsecond))
		}
		atomic.StoreInt32(&stop, 1)
		for g := 0; g < busy; g++ { // both busy goroutines have stopped
			if <-minRounds <= 0 {
				b.Fatal("a busy goroutine never ran")
			}
		}
		if atomic.LoadInt32(&gaveUp) != 0 {
			b.Fatal("busy goroutines gave up after 60 s: the sleeping goroutine was not woken in time")
		}
		if early {
			b.Fatal("time.Sleep(1ms) returned early")
		}
	}
	b.StopTimer()
	sort.Float64s(overUs)
	rank := func(p float64) float64 { // nearest rank
		r := int(math.Ceil(p * float64(len(overUs))))
		if r < 1 {
			r = 1
		}
		return overUs[r-1]
	}
	b.ReportMetric(rank(0.50), "p50_us")
	b.ReportMetric(rank(0.99), "p99_us")
	b.ReportMetric(overUs[len(overUs)-1], "max_us")
}
