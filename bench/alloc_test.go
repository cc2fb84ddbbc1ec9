package bench

import (
	"testing"

	"github.com/twinemux/twine/bench/internal/workload"
)

// BenchmarkWriteRead is the cost of one 32 KiB Write and the Read of it on
// an established stream, in one goroutine; its allocs/op and B/op are the
// steady-state allocations of a Write+Read (twine's target: 0 and 0),
// counting the session's own goroutines.
func BenchmarkWriteRead(b *testing.B) {
	const size = 32 << 10
	for _, t := range both {
		b.Run("transport="+t.Name(), func(b *testing.B) {
			b.Run("size="+sizeName(size), func(b *testing.B) {
				w, err := workload.NewWriteRead(t, size)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				// Warm up pools and buffers before counting.
				for range 100 {
					if err := w.Op(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.SetBytes(size)
				for b.Loop() {
					if err := w.Op(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
