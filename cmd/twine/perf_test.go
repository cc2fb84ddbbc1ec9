package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPerfLoopback runs a short perf over each transport, as "twine perf"
// does with no address, and checks that every stream delivered what it
// sent, and that the table reports it.
func TestPerfLoopback(t *testing.T) {
	for _, tr := range []string{"tcp", "quic"} {
		t.Run(tr, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"perf", "-transport", tr, "-streams", "3", "-duration", "1s", "-interval", "250ms"}, &stdout, &stderr)
			out := stdout.String()
			t.Logf("output:\n%s", out)
			require.Equal(t, 0, code, "exit status; stderr:\n%s", &stderr)
			require.Empty(t, stderr.String())

			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			require.Regexp(t, `^twine perf: 3 streams over `+tr+` to 127\.0\.0\.1:\d+ for 1s$`, lines[0])
			progress := regexp.MustCompile(`^ +\d+\.\ds +[\d.]+ [kMGT]?bit/s  rtt (-|[\d.]+[µm]?s)$`)
			n := 1
			for n < len(lines) && progress.MatchString(lines[n]) {
				n++
			}
			require.GreaterOrEqual(t, n-1, 3, "a progress line every 250ms of a 1s run")
			require.Regexp(t, `^server: client 127\.0\.0\.1:\d+ over `+tr+`: 3 streams, [\d.]+ [KMG]iB in [\d.]+m?s, [\d.]+ [kMG]bit/s$`, lines[n])

			table := lines[n+1:]
			require.Len(t, table, 6, "a header, 3 streams, the total and the rtt")
			require.Equal(t, []string{"stream", "bytes", "throughput"}, strings.Fields(table[0]))
			row := regexp.MustCompile(`^ +(\d+|total) +([\d.]+ (?:B|[KMG]iB)) +([\d.]+ [kMG]?bit/s)$`)
			for i, want := range []string{"1", "2", "3", "total"} {
				m := row.FindStringSubmatch(table[1+i])
				require.NotNil(t, m, "table row %q", table[1+i])
				require.Equal(t, want, m[1])
			}
			require.Regexp(t, `^rtt: min [\d.]+[µm]?s, median [\d.]+[µm]?s, max [\d.]+[µm]?s \(session Ping, \d+ samples\)$`, table[5])
		})
	}
}

// TestPerfClientResult checks what the client measured against a server
// listening on both transports, which serves one client after another.
func TestPerfClientResult(t *testing.T) {
	lns, err := listenPerf("127.0.0.1:0")
	require.NoError(t, err)
	require.Equal(t, lns[0].addr.(*net.TCPAddr).Port, lns[1].addr.(*net.UDPAddr).Port, "tcp and quic should share the port")
	addr := lns[0].addr.String()

	var serverOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- servePerf(ctx, &printer{w: &serverOut}, lns) }()

	cfg := perfConfig{streams: 2, duration: 300 * time.Millisecond, interval: time.Second}
	for _, tr := range []transport{tcpTransport, quicTransport(nil, &tls.Config{InsecureSkipVerify: true}), tcpTransport} {
		var out bytes.Buffer
		res, err := perfClient(ctx, &printer{w: &out}, tr, addr, cfg)
		require.NoError(t, err, "%s client", tr.name)
		require.Len(t, res.streams, 2)
		var total int64
		for i, ps := range res.streams {
			require.Positive(t, ps.acked, "stream %d over %s delivered nothing", i+1, tr.name)
			require.Equal(t, ps.sent.Load(), ps.acked, "stream %d over %s: the server counted what the client sent", i+1, tr.name)
			require.GreaterOrEqual(t, ps.elapsed, cfg.duration, "stream %d over %s sent for the whole duration", i+1, tr.name)
			require.LessOrEqual(t, ps.elapsed, res.elapsed)
			total += ps.acked
		}
		require.NotEmpty(t, res.rtts, "%s: at least the first RTT sample", tr.name)
		for _, d := range res.rtts {
			require.Positive(t, d)
		}

		var table bytes.Buffer
		res.print(&printer{w: &table})
		require.Contains(t, table.String(), formatBytes(res.streams[0].acked))
		require.Regexp(t, `(?m)^ +total +`+regexp.QuoteMeta(formatBytes(total))+` +`+regexp.QuoteMeta(formatRate(total, res.elapsed))+`$`, table.String())
		s := slices.Sorted(slices.Values(res.rtts))
		require.Contains(t, table.String(), fmt.Sprintf("rtt: min %s, median %s, max %s", formatRTT(s[0]), formatRTT(s[len(s)/2]), formatRTT(s[len(s)-1])))
	}
	cancel()
	require.NoError(t, <-served, "the server should stop cleanly when interrupted")
	for _, tr := range []string{"tcp", "quic", "tcp"} {
		require.Regexp(t, `server: client 127\.0\.0\.1:\d+ over `+tr+`: 2 streams,`, serverOut.String())
	}
	require.Equal(t, 3, strings.Count(serverOut.String(), "\n"), "one line per client, and no stream failed:\n%s", &serverOut)
}

func TestPerfUsageErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"help", []string{"-h"}, 0, "twine perf -connect ADDR [-transport tcp|quic]"},
		{"no streams", []string{"-streams", "0"}, 2, "twine perf: -streams must be ≥ 1\n"},
		{"bad duration", []string{"-duration", "-1s"}, 2, "twine perf: -duration must be positive, e.g. 10s\n"},
		{"bad transport", []string{"-transport", "udp"}, 2, `twine perf: -transport must be tcp or quic, not "udp"`},
		{"both ends", []string{"-listen", ":0", "-connect", "x:1"}, 2, "-listen and -connect exclude each other"},
		{"server with client flags", []string{"-listen", ":0", "-streams", "2"}, 2, "-transport, -streams, -duration and -interval are the client's"},
		{"stray argument", []string{"127.0.0.1:5201"}, 2, "twine perf: unexpected arguments: 127.0.0.1:5201\nRun \"twine perf -h\" for usage.\n"},
		{"nobody listening", []string{"-connect", closedAddr, "-duration", "1s"}, 1,
			"twine perf: cannot connect to " + closedAddr + " over tcp: twine: dial tcp " + closedAddr + ": connect: connection refused (is `twine perf -listen " + closedAddr + "` running?)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"perf"}, tt.args...), &stdout, &stderr)
			require.Equal(t, tt.wantCode, code, "exit status; stderr:\n%s", &stderr)
			require.Contains(t, stderr.String(), tt.wantStderr)
			require.Empty(t, stdout.String())
		})
	}
}

func TestFormat(t *testing.T) {
	require.Equal(t, "512 B", formatBytes(512))
	require.Equal(t, "1.50 KiB", formatBytes(1536))
	require.Equal(t, "3.00 GiB", formatBytes(3<<30))
	require.Equal(t, "800.00 bit/s", formatRate(100, time.Second))
	require.Equal(t, "8.00 Mbit/s", formatRate(1e6, time.Second))
	require.Equal(t, "1.60 Gbit/s", formatRate(1e9, 5*time.Second))
	require.Equal(t, "-", formatRate(1, 0))
	require.Equal(t, "1.235ms", formatRTT(1234567*time.Nanosecond))
}
