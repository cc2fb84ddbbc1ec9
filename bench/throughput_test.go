package bench

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twinemux/twine/bench/internal/workload"
)

// BenchmarkThroughput is one stream's bulk transfer, by write size: each
// iteration is one Write, read on the other side with 32 KiB reads. The
// timer runs until the receiver has read every byte.
func BenchmarkThroughput(b *testing.B) {
	for _, t := range both {
		b.Run("transport="+t.Name(), func(b *testing.B) {
			for _, size := range []int{1 << 10, 32 << 10, 256 << 10, 1 << 20} {
				b.Run("size="+sizeName(size), func(b *testing.B) {
					w, err := workload.NewThroughput(t, size)
					if err != nil {
						b.Fatal(err)
					}
					defer w.Close()
					b.ReportAllocs()
					b.SetBytes(int64(size))
					for b.Loop() {
						if err := w.Op(); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer() // count the bytes still in flight
					if err := w.Drain(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
				})
			}
		})
	}
}

// aggregateBytes is what all streams together carry in one iteration of
// BenchmarkAggregate.
const aggregateBytes = 64 << 20

// BenchmarkAggregate is N streams transferring at once, 64 MiB per
// iteration split evenly among them, written in 32 KiB writes; for raw TCP
// each stream is its own connection. It reports the aggregate throughput
// and fairness: the slowest stream's finish time over the fastest's, from
// the iteration's start (median over iterations; 1 is perfectly fair).
func BenchmarkAggregate(b *testing.B) {
	for _, t := range both {
		b.Run("transport="+t.Name(), func(b *testing.B) {
			for _, n := range []int{1, 10, 100, 1000} {
				b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
					w, err := workload.NewAggregate(t, n, aggregateBytes/n, 32<<10)
					if err != nil {
						b.Fatal(err)
					}
					defer w.Close()
					var fairness []float64
					b.ReportAllocs()
					b.SetBytes(w.Bytes())
					for b.Loop() {
						f, err := w.Op()
						if err != nil {
							b.Fatal(err)
						}
						fairness = append(fairness, f)
					}
					b.ReportMetric(median(fairness), "slowest/fastest")
				})
			}
		})
	}
}

// median returns the median of xs (which it sorts), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
