package workload

import (
	"math/bits"
	"time"
)

// Histogram records durations without allocating, in log-linear buckets
// of 1/64 of a power of two (under 1.6% error), exact below 128 ns.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

const (
	histSub     = 64                     // buckets per power of two
	histBuckets = 2*histSub + 58*histSub // up to 2^64 ns
)

func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // keep the top 7 bits: v>>shift is in [64, 128)
	return 2*histSub + (shift-1)*histSub + int(v>>shift) - histSub
}

// histValue is the middle of bucket i.
func histValue(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	m := uint64((i-2*histSub)%histSub + histSub)
	return m<<shift + 1<<(shift-1)
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	h.counts[histIndex(uint64(max(d, 0)))]++
	h.n++
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Reset forgets every recorded duration.
func (h *Histogram) Reset() { *h = Histogram{} }

// Quantile returns the q-quantile (0 < q <= 1) of the recorded durations,
// or 0 if none were.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(histValue(i))
		}
	}
	return time.Duration(histValue(histBuckets - 1))
}
