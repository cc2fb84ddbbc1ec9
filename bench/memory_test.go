package bench

import (
	"testing"

	"github.com/twinemux/twine/bench/internal/workload"
)

// BenchmarkIdleStreams is the memory of idle open streams: each iteration
// opens 10,000 streams on a new session (1 byte each, so that every library
// announces them) and is timed until the peer has them all; then, untimed,
// it measures this process's heap growth per stream
// (runtime.MemStats.HeapAlloc, after GC) and how many goroutines were added
// for all the streams together (twine's target: 0). The peer is a child process,
// so each side is measured alone: side=opener opens the streams here,
// side=acceptor accepts them here. twine's stream limit is raised to
// 10,000 on both sides (the default, 1024, would not allow them). There is
// no raw TCP baseline.
func BenchmarkIdleStreams(b *testing.B) {
	b.Run("transport=twine", func(b *testing.B) {
		for _, side := range []workload.Side{workload.Opener, workload.Acceptor} {
			b.Run("side="+side.String(), func(b *testing.B) {
				peer := startPeer(b, "twine-idle")
				w, err := workload.NewIdle(twineIdle, peer, idleStreams, side)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				var heap, goroutines float64
				b.ReportAllocs()
				b.SetBytes(idleStreams) // the tag bytes
				for b.Loop() {
					b.StopTimer()
					if err := w.Prepare(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := w.Open(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					r := w.Measure()
					heap += r.HeapPerStream
					goroutines += float64(r.GoroutinesAdded)
					if err := w.Teardown(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(heap/float64(b.N), "heap-B/stream")
				b.ReportMetric(goroutines/float64(b.N), "goroutines-added")
			})
		}
	})
}
