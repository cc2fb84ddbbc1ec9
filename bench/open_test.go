package bench

import (
	"testing"

	"github.com/twinemux/twine/bench/internal/workload"
)

// openers is how many goroutines open streams at once in BenchmarkOpenClose.
const openers = 8

// BenchmarkOpenClose is short-lived streams with 8 concurrent openers: each
// iteration is one stream opened, 1 byte written, the server's 1-byte reply
// read, and closed (the server answers each stream from its own
// goroutine). For raw TCP each stream is a new connection.
func BenchmarkOpenClose(b *testing.B) {
	for _, t := range both {
		b.Run("transport="+t.Name(), func(b *testing.B) {
			b.Run("openers=8", func(b *testing.B) {
				w, err := workload.NewOpenClose(t, openers)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				b.ReportAllocs()
				b.SetBytes(1)
				for b.Loop() {
					w.Op()
				}
				b.StartTimer() // until the last streams are done
				if err := w.Finish(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			})
		})
	}
}
