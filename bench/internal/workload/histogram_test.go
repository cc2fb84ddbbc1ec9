package workload

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramBucketsRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 1000, 12345, 1 << 20, 1<<40 + 12345, 1<<63 + 1} {
		i := histIndex(v)
		require.Less(t, i, histBuckets, "index of %d", v)
		got := histValue(i)
		require.InDelta(t, float64(v), float64(got), float64(v)/60+1, "value %d lands in bucket %d, which reads back as %d", v, i, got)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	require.Zero(t, h.Quantile(0.5), "an empty histogram has no quantiles")
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	require.EqualValues(t, 1000, h.Count())
	require.InEpsilon(t, 500*time.Microsecond, h.Quantile(0.5), 0.02)
	require.InEpsilon(t, 990*time.Microsecond, h.Quantile(0.99), 0.02)
	require.InEpsilon(t, 1000*time.Microsecond, h.Quantile(1), 0.02)
	h.Reset()
	require.Zero(t, h.Count())
}
