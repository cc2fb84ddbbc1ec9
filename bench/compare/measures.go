package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/twinemux/twine/bench/internal/workload"
)

// sizes scales the workloads: full runs, or -quick's smoke test.
type sizes struct {
	throughput map[int]int64 // write size → bytes per run
	aggregate  int64         // bytes per run, all streams together
	pings      int           // round trips per run (at most)
	opens      int           // streams per run (at most)
	opsTime    time.Duration // time bound of a ping or open run
	writeReads int
	idle       int // streams held open
	runLimit   time.Duration
}

var fullSizes = sizes{
	throughput: map[int]int64{1 << 10: 64 << 20, 32 << 10: 512 << 20, 256 << 10: 256 << 20, 1 << 20: 256 << 20},
	aggregate:  512 << 20,
	pings:      20000,
	opens:      20000,
	opsTime:    3 * time.Second,
	writeReads: 2000,
	idle:       10000,
	runLimit:   3 * time.Minute,
}

var quickSizes = sizes{
	throughput: map[int]int64{1 << 10: 2 << 20, 32 << 10: 4 << 20, 256 << 10: 4 << 20, 1 << 20: 4 << 20},
	aggregate:  8 << 20,
	pings:      300,
	opens:      300,
	opsTime:    time.Second,
	writeReads: 100,
	idle:       1000,
	runLimit:   30 * time.Second,
}

// row is one line of the table: a metric of a measure, per library.
type row struct {
	label  string
	unit   string
	higher bool // higher is better
	noRaw  bool // no raw TCP baseline
	chartN int  // > 0: an aggregate-throughput row, for the chart
	vals   map[string][]float64
	errs   map[string]string
}

// measure is one workload run: it yields a value for each of its rows.
type measure struct {
	name    string
	streams int // live streams at once, for the libraries' limits
	noRaw   bool
	rows    []*row
	run     func(lib library, t workload.Transport) ([]float64, error)
}

func newRow(label, unit string, higher bool) *row {
	return &row{label: label, unit: unit, higher: higher, vals: map[string][]float64{}, errs: map[string]string{}}
}

// sizeName names a byte size: "32 KiB", "5.1 MiB".
func sizeName(n int64) string {
	unit := func(size int64, name string) string {
		if n%size == 0 || n >= 100*size {
			return fmt.Sprintf("%d %s", n/size, name)
		}
		return fmt.Sprintf("%.1f %s", float64(n)/float64(size), name)
	}
	switch {
	case n >= 1<<20:
		return unit(1<<20, "MiB")
	case n >= 1<<10:
		return unit(1<<10, "KiB")
	}
	return fmt.Sprintf("%d B", n)
}

// measures lists the workloads in the order of the table.
func measures(sz sizes) []*measure {
	var ms []*measure
	for _, size := range []int{1 << 10, 32 << 10, 256 << 10, 1 << 20} {
		total := sz.throughput[size]
		ms = append(ms, &measure{
			name:    "throughput " + sizeName(int64(size)),
			streams: 1,
			rows:    []*row{newRow(fmt.Sprintf("1 stream, %s writes, %s", sizeName(int64(size)), sizeName(total)), "MB/s", true)},
			run: func(_ library, t workload.Transport) ([]float64, error) {
				w, err := workload.NewThroughput(t, size)
				if err != nil {
					return nil, err
				}
				defer w.Close()
				ops := total / int64(size)
				t0 := time.Now()
				for range ops {
					if err := w.Op(); err != nil {
						return nil, err
					}
				}
				if err := w.Drain(); err != nil {
					return nil, err
				}
				return []float64{float64(total) / time.Since(t0).Seconds() / 1e6}, nil
			},
		})
	}
	for _, n := range []int{1, 10, 100, 1000} {
		per := sz.aggregate / int64(n)
		rate := newRow(fmt.Sprintf("%d stream%s × %s at once, aggregate", n, plural(n), sizeName(per)), "MB/s", true)
		rate.chartN = n
		rows := []*row{rate}
		if n > 1 {
			rows = append(rows, newRow(fmt.Sprintf("%d streams: slowest/fastest finish", n), "ratio", false))
		}
		ms = append(ms, &measure{
			name:    fmt.Sprintf("aggregate %d streams", n),
			streams: n,
			rows:    rows,
			run: func(_ library, t workload.Transport) ([]float64, error) {
				w, err := workload.NewAggregate(t, n, int(per), 32<<10)
				if err != nil {
					return nil, err
				}
				defer w.Close()
				t0 := time.Now()
				fairness, err := w.Op()
				if err != nil {
					return nil, err
				}
				vals := []float64{float64(w.Bytes()) / time.Since(t0).Seconds() / 1e6}
				if n > 1 {
					vals = append(vals, fairness)
				}
				return vals, nil
			},
		})
	}
	for _, bulk := range []bool{false, true} {
		what := "idle"
		if bulk {
			what = "during a bulk transfer on the same session"
		}
		rows := []*row{
			newRow("64 B ping-pong p50, "+what, "µs", false),
			newRow("64 B ping-pong p99, "+what, "µs", false),
		}
		if bulk {
			rows = append(rows, newRow("that bulk transfer, during the ping-pong", "MB/s", true))
		}
		ms = append(ms, &measure{
			name:    "ping-pong " + what,
			streams: 2,
			rows:    rows,
			run: func(_ library, t workload.Transport) ([]float64, error) {
				w, err := workload.NewPingPong(t, 64, bulk)
				if err != nil {
					return nil, err
				}
				defer w.Close()
				w.Start()
				deadline := time.Now().Add(sz.opsTime)
				for i := 0; i < sz.pings && time.Now().Before(deadline); i++ {
					if err := w.Op(); err != nil {
						return nil, err
					}
				}
				vals := []float64{us(w.Hist.Quantile(0.5)), us(w.Hist.Quantile(0.99))}
				if bulk {
					rate, err := w.BulkRate()
					if err != nil {
						return nil, err
					}
					vals = append(vals, rate/1e6)
				}
				return vals, nil
			},
		})
	}
	ms = append(ms, &measure{
		name:    "open/close",
		streams: 8,
		rows:    []*row{newRow("open + 1 B request/reply + close, 8 concurrent openers", "streams/s", true)},
		run: func(_ library, t workload.Transport) ([]float64, error) {
			w, err := workload.NewOpenClose(t, 8)
			if err != nil {
				return nil, err
			}
			defer w.Close()
			t0 := time.Now()
			deadline := t0.Add(sz.opsTime)
			ops := 0
			for ; ops < sz.opens && time.Now().Before(deadline); ops++ {
				w.Op()
			}
			if err := w.Finish(); err != nil {
				return nil, err
			}
			return []float64{float64(ops) / time.Since(t0).Seconds()}, nil
		},
	})
	ms = append(ms, &measure{
		name:    "write+read 32 KiB",
		streams: 1,
		rows: []*row{
			newRow("32 KiB Write + Read on an established stream: allocations", "allocs/op", false),
			newRow("32 KiB Write + Read: bytes allocated", "B/op", false),
			newRow("32 KiB Write + Read: time", "µs/op", false),
		},
		run: func(_ library, t workload.Transport) ([]float64, error) {
			w, err := workload.NewWriteRead(t, 32<<10)
			if err != nil {
				return nil, err
			}
			defer w.Close()
			for range 100 {
				if err := w.Op(); err != nil {
					return nil, err
				}
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			t0 := time.Now()
			for range sz.writeReads {
				if err := w.Op(); err != nil {
					return nil, err
				}
			}
			elapsed := time.Since(t0)
			runtime.ReadMemStats(&m1)
			n := float64(sz.writeReads)
			return []float64{
				float64(m1.Mallocs-m0.Mallocs) / n,
				float64(m1.TotalAlloc-m0.TotalAlloc) / n,
				us(elapsed) / n,
			}, nil
		},
	})
	for _, side := range []workload.Side{workload.Opener, workload.Acceptor} {
		ms = append(ms, &measure{
			name:    "idle streams, " + side.String(),
			streams: sz.idle,
			noRaw:   true,
			rows: []*row{
				newRow(fmt.Sprintf("%d idle open streams: heap per stream, %s side", sz.idle, side), "B", false),
				newRow(fmt.Sprintf("%d idle open streams: goroutines added, %s side", sz.idle, side), "goroutines", false),
			},
			run: func(lib library, t workload.Transport) ([]float64, error) {
				peer, err := startPeer(lib, sz.idle)
				if err != nil {
					return nil, err
				}
				w, err := workload.NewIdle(t, peer, sz.idle, side)
				if err != nil {
					peer.Close()
					return nil, err
				}
				err = w.Prepare()
				if err == nil {
					err = w.Open()
				}
				var r workload.IdleResult
				if err == nil {
					r = w.Measure()
					err = w.Teardown()
				}
				w.Close()
				if perr := peer.Close(); err == nil && perr != nil {
					err = fmt.Errorf("peer: %w", perr)
				}
				if err != nil {
					return nil, err
				}
				return []float64{r.HeapPerStream, float64(r.GoroutinesAdded)}, nil
			},
		})
	}
	for _, m := range ms {
		for _, r := range m.rows {
			r.noRaw = m.noRaw
		}
	}
	return ms
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// startPeer starts this program as the idle-memory peer of lib's transport
// for streams live streams.
func startPeer(lib library, streams int) (*workload.Peer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s/%d", workload.PeerEnv, lib.name, streams))
	cmd.Stderr = os.Stderr
	return workload.StartPeer(cmd)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
