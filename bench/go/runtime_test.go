// Go twins of bench/runtime_bench.cpp (goro) and bench/boost_fiber/fiber_bench.cpp:
// same names (BenchmarkSpawnJoin <-> BM_SpawnJoin), same workloads, same validation.
// Run with GOMAXPROCS=2; Parked1M with -benchtime=1x (see bench/README.md).
package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// SpawnJoin: spawn N goroutines that each decrement a counter; the last one closes
// done, which the benchmark goroutine waits for. ns/op = per goroutine.
func BenchmarkSpawnJoin(b *testing.B) {
	remaining := int64(b.N)
	done := make(chan struct{})
	for i := 0; i < b.N; i++ {
		go func() {
			if atomic.AddInt64(&remaining, -1) == 0 {
				close(done)
			}
		}()
	}
	<-done
	b.StopTimer()
	if atomic.LoadInt64(&remaining) != 0 {
		b.Fatal("not every goroutine ran")
	}
}

// Yield: two goroutines each call runtime.Gosched() b.N times. ns/op is per b.N
// (per-goroutine iteration); ns/yield = elapsed / (2*b.N), the cost of one call.
// (testing.B.Elapsed needs Go 1.20: the time is taken by hand.)
func BenchmarkYield(b *testing.B) {
	n := b.N
	var left int32 = 2
	var calls int64
	done := make(chan struct{})
	start := time.Now()
	for f := 0; f < 2; f++ {
		go func() {
			k := 0
			for ; k < n; k++ {
				runtime.Gosched()
			}
			atomic.AddInt64(&calls, int64(k))
			if atomic.AddInt32(&left, -1) == 0 {
				close(done)
			}
		}()
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(2*n), "ns/yield")
	if calls != int64(2*n) {
		b.Fatal("yield count mismatch")
	}
}

// rssBytes returns VmRSS of /proc/self/status in bytes, -1 if unknown.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := s.Text(); strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line[len("VmRSS:"):])
			if len(fields) > 0 {
				if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return -1
}

// parkedCrowd: n goroutines that each count themselves in parked, then block receiving
// from one shared unbuffered done channel (Parked1M, IdleCPU10k); the twin of goro's
// parked_crowd. newParkedCrowd returns once all n are counted; release closes done and
// waits until the last goroutine to exit closes exited.
type parkedCrowd struct {
	n             int64
	done, exited  chan struct{}
	parked, alive int64
}

func newParkedCrowd(n int64) *parkedCrowd {
	c := &parkedCrowd{n: n, done: make(chan struct{}), exited: make(chan struct{}), alive: n}
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&c.parked, 1)
			<-c.done
			if atomic.AddInt64(&c.alive, -1) == 0 {
				close(c.exited)
			}
		}()
	}
	for atomic.LoadInt64(&c.parked) < n {
		runtime.Gosched()
	}
	return c
}

func (c *parkedCrowd) release() {
	close(c.done)
	<-c.exited
}

func (c *parkedCrowd) allExited() bool {
	return atomic.LoadInt64(&c.alive) == 0 && atomic.LoadInt64(&c.parked) == c.n
}

// Parked1M: spawn 1,000,000 goroutines that each increment parked then block on a
// receive from one shared unbuffered done channel; wait until parked == 1M
// (spawn_park_ms), read the RSS growth per goroutine (bytes_per_fiber), then
// close(done) and wait until the last goroutine to exit closes exited
// (wake_join_ms). Meant to run once (-benchtime=1x, like Iterations(1) in C++): a
// later round in the same process reuses memory and understates bytes_per_fiber.
// With b.N > 1 every round runs and the metrics are averaged.
func BenchmarkParked1M(b *testing.B) {
	const n = 1_000_000
	var bytesPer, spawnPark, wakeJoin float64
	for r := 0; r < b.N; r++ {
		rss0 := rssBytes()
		t0 := time.Now()
		c := newParkedCrowd(n)
		sp := time.Since(t0)
		rss1 := rssBytes()
		t1 := time.Now()
		c.release()
		wj := time.Since(t1)
		if !c.allExited() {
			b.Fatal("not every goroutine parked and exited")
		}
		bytesPer += float64(rss1-rss0) / n
		spawnPark += float64(sp.Nanoseconds()) / 1e6
		wakeJoin += float64(wj.Nanoseconds()) / 1e6
	}
	k := float64(b.N)
	b.ReportMetric(bytesPer/k, "bytes_per_fiber")
	b.ReportMetric(spawnPark/k, "spawn_park_ms")
	b.ReportMetric(wakeJoin/k, "wake_join_ms")
}

// processCPU returns the user + system CPU time of the whole process (getrusage
// RUSAGE_SELF, as bench_util::process_cpu_seconds), -1 on error.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// IdleCPU10k: spawn 10,000 goroutines that each increment parked then block on a
// receive from one shared unbuffered done channel; once parked == 10k, the benchmark
// goroutine sleeps 1 s and the process's CPU time over that window gives cpu_pct =
// CPU time / wall time * 100 (% of one core); then close(done) and wait until the last
// goroutine to exit closes exited. Meant to run once (-benchtime=1x, like Iterations(1)
// in C++); with b.N > 1 every round runs and cpu_pct is averaged over all rounds.
func BenchmarkIdleCPU10k(b *testing.B) {
	const n = 10_000
	var pct float64
	for r := 0; r < b.N; r++ {
		c := newParkedCrowd(n)
		cpu0 := processCPU()
		t0 := time.Now()
		time.Sleep(time.Second)
		wall := time.Since(t0)
		cpu1 := processCPU()
		c.release()
		if !c.allExited() {
			b.Fatal("not every goroutine parked, woke and exited")
		}
		if cpu0 < 0 || cpu1 < 0 {
			b.Fatal("getrusage failed")
		}
		pct += float64(cpu1-cpu0) / float64(wall) * 100
	}
	b.ReportMetric(pct/float64(b.N), "cpu_pct")
}
