// Go twins of bench/select_bench.cpp (goro): same names (BenchmarkSelect2Ready <->
// BM_Select2Ready), same workloads, same validation. Run with GOMAXPROCS=2 and
// -benchmem (allocs/op; goro reports the counter allocs/op). See bench/README.md.
package bench

import (
	"reflect"
	"testing"
)

func makeChans(k int) []chan int {
	c := make([]chan int, k)
	for j := range c {
		c[j] = make(chan int, 1)
	}
	return c
}

// readyOne makes c ready with a non-blocking send of v.
func readyOne(b *testing.B, c chan int, v int) {
	select {
	case c <- v:
	default:
		b.Fatal("non-blocking send on an empty capacity-1 channel failed")
	}
}

// SelectKReady: K channels of capacity 1. Iteration i makes channel i % K ready with a
// non-blocking send of i, then a select over the K receive cases must pick that channel
// and receive i. ns/op = per select (plus the send). Go has no select over a slice: the
// K cases are written out.
func BenchmarkSelect2Ready(b *testing.B) {
	b.ReportAllocs()
	c := makeChans(2)
	bad := 0
	for i := 0; i < b.N; i++ {
		j := i % 2
		readyOne(b, c[j], i)
		chosen, got := -1, -1
		select {
		case v := <-c[0]:
			chosen, got = 0, v
		case v := <-c[1]:
			chosen, got = 1, v
		}
		if chosen != j || got != i {
			bad++
		}
	}
	if bad != 0 {
		b.Fatal("select chose the wrong case or received the wrong value")
	}
}

func BenchmarkSelect4Ready(b *testing.B) {
	b.ReportAllocs()
	c := makeChans(4)
	bad := 0
	for i := 0; i < b.N; i++ {
		j := i % 4
		readyOne(b, c[j], i)
		chosen, got := -1, -1
		select {
		case v := <-c[0]:
			chosen, got = 0, v
		case v := <-c[1]:
			chosen, got = 1, v
		case v := <-c[2]:
			chosen, got = 2, v
		case v := <-c[3]:
			chosen, got = 3, v
		}
		if chosen != j || got != i {
			bad++
		}
	}
	if bad != 0 {
		b.Fatal("select chose the wrong case or received the wrong value")
	}
}

func BenchmarkSelect8Ready(b *testing.B) {
	b.ReportAllocs()
	c := makeChans(8)
	bad := 0
	for i := 0; i < b.N; i++ {
		j := i % 8
		readyOne(b, c[j], i)
		chosen, got := -1, -1
		select {
		case v := <-c[0]:
			chosen, got = 0, v
		case v := <-c[1]:
			chosen, got = 1, v
		case v := <-c[2]:
			chosen, got = 2, v
		case v := <-c[3]:
			chosen, got = 3, v
		case v := <-c[4]:
			chosen, got = 4, v
		case v := <-c[5]:
			chosen, got = 5, v
		case v := <-c[6]:
			chosen, got = 6, v
		case v := <-c[7]:
			chosen, got = 7, v
		}
		if chosen != j || got != i {
			bad++
		}
	}
	if bad != 0 {
		b.Fatal("select chose the wrong case or received the wrong value")
	}
}

// SelectDefaultEmpty: select { case v := <-c: ...; default: } on an empty buffered
// channel (capacity 1); must take default every time.
func BenchmarkSelectDefaultEmpty(b *testing.B) {
	b.ReportAllocs()
	c := make(chan int, 1)
	hits, misses := 0, 0
	for i := 0; i < b.N; i++ {
		select {
		case v := <-c:
			hits += v + 1
		default:
			misses++
		}
	}
	if hits != 0 || misses != b.N {
		b.Fatal("select on an empty channel did not take default")
	}
}

// DynamicK: reflect.Select (goro: dynamic_select<int>) with K receive cases on channels
// of capacity 1 (int32: goro's int). Iteration i makes channel i % K ready with a
// non-blocking send of int32(i); Select must return that case and value. One warm-up
// Select before the timer starts, as in the goro twin.
func benchDynamic(b *testing.B, k int) {
	b.ReportAllocs()
	c := make([]chan int32, k)
	cases := make([]reflect.SelectCase, k)
	for j := range c {
		c[j] = make(chan int32, 1)
		cases[j] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c[j])}
	}
	c[k-1] <- -1
	if chosen, v, ok := reflect.Select(cases); chosen != k-1 || !ok || v.Int() != -1 {
		b.Fatal("warm-up Select returned the wrong case or value")
	}
	b.ResetTimer()
	bad := 0
	for i := 0; i < b.N; i++ {
		j := i % k
		want := int32(i & 0x7fffffff)
		select {
		case c[j] <- want:
		default:
			b.Fatal("non-blocking send on an empty capacity-1 channel failed")
		}
		chosen, v, ok := reflect.Select(cases)
		if chosen != j || !ok || v.Int() != int64(want) {
			bad++
		}
	}
	b.StopTimer()
	if bad != 0 {
		b.Fatal("reflect.Select chose the wrong case or received the wrong value")
	}
}

func BenchmarkDynamic32(b *testing.B) { benchDynamic(b, 32) }
func BenchmarkDynamic64(b *testing.B) { benchDynamic(b, 64) }
