// Go twins of bench/chan_bench.cpp (goro) and bench/boost_fiber/fiber_bench.cpp:
// same names (BenchmarkHandoff <-> BM_Handoff), same workloads, same validation.
// Run with GOMAXPROCS=2 (see bench/README.md).
package bench

import (
	"math/bits"
	"sync/atomic"
	"testing"
	"time"
)

// Handoff / SPSC1024: a sender goroutine sends 0..N-1 then closes; the benchmark
// goroutine receives N values (ns/op = per item) and checks their sum.
func benchChanStream(b *testing.B, capacity int) {
	n := b.N
	c := make(chan int, capacity)
	go func() {
		for i := 0; i < n; i++ {
			c <- i
		}
		close(c)
	}()
	b.ResetTimer()
	sum := 0
	for i := 0; i < n; i++ {
		v, ok := <-c
		if !ok {
			b.Fatal("channel closed before N items")
		}
		sum += v
	}
	b.StopTimer()
	if _, ok := <-c; ok {
		b.Fatal("more than N items")
	}
	if sum != n*(n-1)/2 {
		b.Fatalf("checksum mismatch: %d", sum)
	}
}

func BenchmarkHandoff(b *testing.B)  { benchChanStream(b, 0) }
func BenchmarkSPSC1024(b *testing.B) { benchChanStream(b, 1024) }

// MPMC4x4: capacity 64, 4 producers each send N/4 distinct values (N rounded up to a
// multiple of 4; ns/op divides by b.N, at most 3 items fewer), 4 consumers range
// over the channel; the last producer closes it, the last consumer closes done.
func BenchmarkMPMC4x4(b *testing.B) {
	const producers, consumers = 4, 4
	per := (b.N + producers - 1) / producers
	total := per * producers
	c := make(chan int, 64)
	done := make(chan struct{})
	var producersLeft, consumersLeft int64 = producers, consumers
	var sum, count int64
	b.ResetTimer()
	for p := 0; p < producers; p++ {
		go func(base int) {
			for i := 0; i < per; i++ {
				c <- base + i
			}
			if atomic.AddInt64(&producersLeft, -1) == 0 {
				close(c)
			}
		}(p * per)
	}
	for k := 0; k < consumers; k++ {
		go func() {
			var local, items int64
			for v := range c {
				local += int64(v)
				items++
			}
			atomic.AddInt64(&sum, local)
			atomic.AddInt64(&count, items)
			if atomic.AddInt64(&consumersLeft, -1) == 0 {
				close(done)
			}
		}()
	}
	<-done
	b.StopTimer()
	if count != int64(total) || sum != int64(total)*int64(total-1)/2 {
		b.Fatalf("count or checksum mismatch: %d items, sum %d", count, sum)
	}
}

// RecvMiss: non-blocking receive on an empty buffered channel (capacity 1).
func BenchmarkRecvMiss(b *testing.B) {
	c := make(chan int, 1)
	misses, hits := 0, 0
	for i := 0; i < b.N; i++ {
		select {
		case v := <-c:
			hits += v + 1
		default:
			misses++
		}
	}
	if hits != 0 || misses != b.N {
		b.Fatal("receive on an empty channel returned a value")
	}
}

// Sieve5000: the concurrent prime sieve (generator + chain of filters over unbuffered
// channels) up to the 5000th prime, 48611. Shutdown by a close chain, no select (as in
// the goro twin): the generator stops when stop is set and closes its output, every
// filter ranges over its input and closes its output, the benchmark goroutine drains
// the last channel until it is closed. ns/op = one whole run.
const (
	sievePrimes    = 5000
	sieveLastPrime = 48611
)

func sieveGenerate(out chan<- int, stop *int32) {
	for i := 2; atomic.LoadInt32(stop) == 0; i++ {
		out <- i
	}
	close(out)
}

func sieveFilter(in <-chan int, out chan<- int, prime int) {
	for v := range in {
		if v%prime != 0 {
			out <- v
		}
	}
	close(out)
}

func sieve() int {
	var stop int32
	ch := make(chan int)
	go sieveGenerate(ch, &stop)
	prime := 0
	for i := 0; i < sievePrimes; i++ {
		p, ok := <-ch
		if !ok {
			return -1
		}
		prime = p
		if i == sievePrimes-1 {
			break
		}
		next := make(chan int)
		go sieveFilter(ch, next, prime)
		ch = next
	}
	atomic.StoreInt32(&stop, 1)
	for range ch { // returns once every goroutine of the chain has closed its output
	}
	return prime
}

func BenchmarkSieve5000(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if p := sieve(); p != sieveLastPrime {
			b.Fatalf("5000th prime is %d, want %d", p, sieveLastPrime)
		}
	}
}

// FanOutIn8 / FanOutIn8Buf64: a producer goroutine sends 0..N-1 on in and closes it; 8
// workers range over in and send work(x) (~1 us of CPU) on out; the last worker to
// finish closes out. The benchmark goroutine receives until out is closed and checks the
// count and the checksum (sum of work(i), wrapping; computed after the timer stops).
// Channels unbuffered or of capacity 64. ns/op = per item; metric Mitems/s =
// N / elapsed / 1e6 (timed by hand: testing.B.Elapsed needs Go 1.20).
const (
	fanWorkers = 8
	// workSteps: as kWorkSteps in bench/bench_util.hpp (~1 us per work call).
	workSteps = 600
)

// work is bench_util::work of bench/bench_util.hpp: a dependent chain of workSteps
// steps u = rotl(u*6364136223846793005 + 1442695040888963407, 23) on uint64, which no
// compiler can shortcut or vectorize.
func work(x int) int {
	u := uint64(x)
	for k := 0; k < workSteps; k++ {
		u = bits.RotateLeft64(u*6364136223846793005+1442695040888963407, 23)
	}
	return int(u)
}

func benchFanOutIn(b *testing.B, capacity int) {
	n := b.N
	in := make(chan int, capacity)
	out := make(chan int, capacity)
	var workersLeft int64 = fanWorkers
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			in <- i
		}
		close(in)
	}()
	for w := 0; w < fanWorkers; w++ {
		go func() {
			for x := range in {
				out <- work(x)
			}
			if atomic.AddInt64(&workersLeft, -1) == 0 {
				close(out)
			}
		}()
	}
	count, sum := 0, 0
	for v := range out {
		count++
		sum += v
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds()/1e6, "Mitems/s")
	want := 0
	for i := 0; i < n; i++ {
		want += work(i)
	}
	if count != n || sum != want {
		b.Fatalf("count or checksum mismatch: %d items, sum %d, want %d", count, sum, want)
	}
}

func BenchmarkFanOutIn8(b *testing.B)      { benchFanOutIn(b, 0) }
func BenchmarkFanOutIn8Buf64(b *testing.B) { benchFanOutIn(b, 64) }
