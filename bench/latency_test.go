package bench

import (
	"testing"

	"github.com/twinemux/twine/bench/internal/workload"
)

// pingSize is the message size of BenchmarkPingPong.
const pingSize = 64

// BenchmarkPingPong is 64-byte round trips on one stream (each iteration
// writes 64 B and reads the peer's echo), idle and while another stream of
// the same session carries a bulk transfer in the same direction (for raw
// TCP: another connection). It reports the round trip's p50 and p99 and,
// under load, the bulk transfer's rate.
func BenchmarkPingPong(b *testing.B) {
	for _, t := range both {
		b.Run("transport="+t.Name(), func(b *testing.B) {
			for _, load := range []string{"idle", "bulk"} {
				b.Run("load="+load, func(b *testing.B) {
					w, err := workload.NewPingPong(t, pingSize, load == "bulk")
					if err != nil {
						b.Fatal(err)
					}
					defer w.Close()
					b.ReportAllocs()
					b.SetBytes(pingSize)
					w.Start()
					for b.Loop() {
						if err := w.Op(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(w.Hist.Quantile(0.50).Nanoseconds()), "p50-ns")
					b.ReportMetric(float64(w.Hist.Quantile(0.99).Nanoseconds()), "p99-ns")
					if load == "bulk" {
						rate, err := w.BulkRate()
						if err != nil {
							b.Fatal(err)
						}
						b.ReportMetric(rate/1e6, "bulk-MB/s")
					}
				})
			}
		})
	}
}
