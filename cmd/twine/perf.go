package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/twinemux/twine/internal/testcert"
	"github.com/twinemux/twine/mux"
)

// perfConfig is what perf's flags set.
type perfConfig struct {
	listen, connect string
	transport       string
	streams         int
	duration        time.Duration
	interval        time.Duration
}

// Perf's wire protocol, on top of a twine session. The client opens each
// stream with a one-byte kind. On a data stream it then sends bytes until
// it closes its send half; the server counts them up to io.EOF, replies
// with the count (8 bytes, big-endian) and closes.
const (
	kindData byte = 'D'

	perfChunk    = 64 << 10               // bytes per Write
	rttEvery     = 100 * time.Millisecond // how often the client measures the RTT
	dialTimeout  = 5 * time.Second
	replyTimeout = 10 * time.Second // for the server's count, once the client stopped sending
	codeBadKind  = mux.ErrorCode(0x100)
)

func perfMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := perfConfig{}
	fs := flag.NewFlagSet("twine perf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "", "serve clients on `ADDR` (host:port) over tcp and quic until interrupted")
	fs.StringVar(&cfg.connect, "connect", "", "measure against the server at `ADDR` (host:port)")
	fs.StringVar(&cfg.transport, "transport", "tcp", "the client connects over `tcp|quic`")
	fs.IntVar(&cfg.streams, "streams", 4, "the client sends on `N` streams at once")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "the client sends for `D`")
	fs.DurationVar(&cfg.interval, "interval", time.Second, "the progress line is updated every `D`")
	if code, ok := parseFlags(fs, args, `Usage:

	twine perf [-transport tcp|quic] [-streams N] [-duration D]
	twine perf -listen ADDR
	twine perf -connect ADDR [-transport tcp|quic] [-streams N] [-duration D]

Perf measures twine's throughput and round-trip time between two machines,
like iperf. The client opens N streams on one session and sends on all of
them as fast as they take data for D, while measuring the round-trip time
every 100ms; the server counts what each stream delivers and reports it
back. A progress line shows the throughput and the latest round-trip time,
and a final table the bytes each stream delivered, the throughput, and the
round-trip time's minimum, median and maximum.

With -listen, perf serves clients over TCP and over QUIC (UDP) on the same
port, and prints a line for each, until interrupted. With -connect, it is
the client. With neither, it runs both ends on loopback.

The round-trip time is measured with the session's Ping.
For QUIC the server makes a self-signed certificate at start, which the
client does not verify: perf measures, it does not protect data.

Examples:

	twine perf -duration 3s -transport quic     both ends here
	twine perf -listen :5201                    on machine A
	twine perf -connect A:5201 -streams 8       on machine B
`); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := cfg.check(set); err != nil {
		fmt.Fprintf(stderr, "twine perf: %v\nRun \"twine perf -h\" for usage.\n", err)
		return 2
	}
	out := &printer{w: stdout}
	var err error
	switch {
	case cfg.listen != "":
		err = perfListen(ctx, out, cfg.listen)
	case cfg.connect != "":
		err = perfConnect(ctx, out, cfg)
	default:
		err = perfLoopback(ctx, out, cfg)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "twine perf: %v\n", err)
		return 1
	}
	return 0
}

// check reports the first flag that makes no sense, saying what to do.
func (c perfConfig) check(set map[string]bool) error {
	switch {
	case c.listen != "" && c.connect != "":
		return errors.New("-listen and -connect exclude each other: one machine listens, the other connects")
	case c.listen != "" && (set["transport"] || set["streams"] || set["duration"] || set["interval"]):
		return errors.New("-listen serves tcp and quic clients alike; -transport, -streams, -duration and -interval are the client's")
	case c.transport != "tcp" && c.transport != "quic":
		return fmt.Errorf("-transport must be tcp or quic, not %q", c.transport)
	case c.streams < 1:
		return errors.New("-streams must be ≥ 1")
	case c.duration <= 0:
		return errors.New("-duration must be positive, e.g. 10s")
	case c.interval <= 0:
		return errors.New("-interval must be positive, e.g. 1s")
	}
	return nil
}

// perfListen serves perf clients on addr, over TCP and over QUIC on the
// same port, until ctx ends.
func perfListen(ctx context.Context, out *printer, addr string) error {
	lns, err := listenPerf(addr)
	if err != nil {
		return err
	}
	out.printf("twine perf: serving on %v (tcp) and %v (quic, self-signed certificate) until interrupted\n", lns[0].addr, lns[1].addr)
	return servePerf(ctx, out, lns)
}

// listenPerf listens on addr over TCP, then over QUIC on the port TCP got.
func listenPerf(addr string) ([]*listener, error) {
	serverTLS, _, err := testcert.Configs()
	if err != nil {
		return nil, fmt.Errorf("making a TLS certificate for QUIC: %w", err)
	}
	tl, err := tcpTransport.listen(addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		tl.close()
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	quicAddr := net.JoinHostPort(host, strconv.Itoa(tl.addr.(*net.TCPAddr).Port))
	ql, err := quicTransport(serverTLS, nil).listen(quicAddr)
	if err != nil {
		tl.close()
		return nil, fmt.Errorf("cannot listen on %s: %w", quicAddr, err)
	}
	return []*listener{tl, ql}, nil
}

// perfConnect measures against the server at cfg.connect and prints the
// table.
func perfConnect(ctx context.Context, out *printer, cfg perfConfig) error {
	t := tcpTransport
	if cfg.transport == "quic" {
		// The server's certificate is made at its start: nothing to check
		// it against.
		t = quicTransport(nil, &tls.Config{InsecureSkipVerify: true})
	}
	res, err := perfClient(ctx, out, t, cfg.connect, cfg)
	if err != nil {
		return err
	}
	res.print(out)
	return nil
}

// perfLoopback runs a server and a client over cfg.transport on loopback,
// then prints the client's table.
func perfLoopback(ctx context.Context, out *printer, cfg perfConfig) error {
	transports, err := loopbackTransports()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(transports, func(t transport) bool { return t.name == cfg.transport })
	t := transports[i]
	ln, err := t.listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- servePerf(sctx, out, []*listener{ln}) }()
	res, err := perfClient(ctx, out, t, ln.addr.String(), cfg)
	stop()
	if serr := <-served; err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	res.print(out)
	return nil
}

// servePerf serves perf clients on lns, which it closes, until ctx ends or
// a listener fails. It returns once every session it served has ended.
func servePerf(ctx context.Context, out *printer, lns []*listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		errs = make([]error, len(lns))
	)
	for i, ln := range lns {
		wg.Go(func() {
			defer ln.close()
			for {
				sess, err := ln.accept(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs[i] = err
						cancel()
					}
					return
				}
				wg.Go(func() { servePerfClient(ctx, out, ln.network, sess) })
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// servePerfClient serves one client's session until it ends (or ctx does),
// then prints what it received.
func servePerfClient(ctx context.Context, out *printer, network string, sess mux.Session) {
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		streams     int
		total       int64
		first, last time.Time
		failures    []string
	)
	for {
		st, err := sess.AcceptStream(ctx)
		if err != nil {
			break
		}
		wg.Go(func() {
			start := time.Now()
			kind, n, err := servePerfStream(st)
			end := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, fmt.Sprintf("stream %v: %v", streamID(st), err))
			}
			if kind != kindData {
				return
			}
			if streams == 0 || start.Before(first) {
				first = start
			}
			if end.After(last) {
				last = end
			}
			streams++
			total += n
		})
	}
	wg.Wait()
	if streams > 0 {
		d := last.Sub(first)
		out.printf("server: client %v over %s: %d streams, %s in %s, %s\n",
			sess.RemoteAddr(), network, streams, formatBytes(total), d.Round(time.Millisecond), formatRate(total, d))
	}
	for _, f := range failures {
		out.printf("server: client %v over %s: %s\n", sess.RemoteAddr(), network, f)
	}
}

// servePerfStream serves one stream of perf's protocol, and returns its
// kind and, for a data stream, how many bytes it delivered.
func servePerfStream(st mux.Stream) (kind byte, n int64, err error) {
	defer st.Close()
	var k [1]byte
	if _, err := io.ReadFull(st, k[:]); err != nil {
		return 0, 0, err
	}
	if k[0] == kindData {
		buf := make([]byte, perfChunk)
		for {
			m, err := st.Read(buf)
			n += int64(m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return kindData, n, err
			}
		}
		_, err := st.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
		return kindData, n, err // the deferred Close sends FIN
	}
	st.ResetWithError(codeBadKind)
	return k[0], 0, fmt.Errorf("unknown stream kind %q: is the client twine perf?", k[0])
}

// perfResult is what a perf client measured.
type perfResult struct {
	streams []*perfStream
	elapsed time.Duration // until the last stream's count arrived
	rtts    []time.Duration
}

// perfStream is one data stream of a perf client.
type perfStream struct {
	sent    atomic.Int64  // bytes the session took so far
	acked   int64         // bytes the server counted
	elapsed time.Duration // from the start until the server's count arrived
}

// perfClient connects to addr over t and runs cfg's measurement, printing
// progress lines to out.
func perfClient(ctx context.Context, out *printer, t transport, addr string, cfg perfConfig) (*perfResult, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	sess, err := t.dial(dctx, addr, nil)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", dialTimeout)
		}
		return nil, fmt.Errorf("cannot connect to %s over %s: %w (is `twine perf -listen %s` running?)", addr, t.name, err, addr)
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()

	meter := &rttMeter{ping: sess.Ping}
	res := &perfResult{}
	out.printf("twine perf: %d streams over %s to %s for %v\n", cfg.streams, t.name, addr, cfg.duration)

	start := time.Now()
	end := start.Add(cfg.duration)
	errs := make([]error, cfg.streams)
	var senders sync.WaitGroup
	for i := range cfg.streams {
		ps := &perfStream{}
		res.streams = append(res.streams, ps)
		senders.Go(func() {
			if err := ps.run(ctx, sess, start, end); err != nil {
				errs[i] = fmt.Errorf("stream %d: %w", i+1, err)
			}
		})
	}
	done := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Go(func() { meter.sample(ctx, done) })
	watchers.Go(func() { res.progress(out, cfg.interval, start, meter, done) })
	senders.Wait()
	res.elapsed = time.Since(start)
	close(done)
	watchers.Wait()
	res.rtts = meter.samples
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return res, nil
}

// run opens the stream, sends until end, then waits for the server's
// count and checks it.
func (ps *perfStream) run(ctx context.Context, sess mux.Session, start, end time.Time) error {
	st, err := sess.OpenStream(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Write([]byte{kindData}); err != nil {
		return err
	}
	st.SetWriteDeadline(end)
	buf := make([]byte, perfChunk)
	for {
		n, err := st.Write(buf)
		ps.sent.Add(int64(n))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return err
		}
	}
	st.SetWriteDeadline(time.Time{})
	if err := st.CloseWrite(); err != nil {
		return err
	}
	st.SetReadDeadline(time.Now().Add(replyTimeout))
	var count [8]byte
	if _, err := io.ReadFull(st, count[:]); err != nil {
		return fmt.Errorf("waiting for the server's count: %w", err)
	}
	ps.elapsed = time.Since(start)
	ps.acked = int64(binary.BigEndian.Uint64(count[:]))
	if sent := ps.sent.Load(); ps.acked != sent {
		return fmt.Errorf("sent %d bytes, the server received %d", sent, ps.acked)
	}
	return nil
}

// progress prints a line every interval until done is closed: the time,
// the throughput the streams sent at, and the latest RTT. On a terminal it
// rewrites one line in place.
func (r *perfResult) progress(out *printer, interval time.Duration, start time.Time, meter *rttMeter, done <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	prefix, suffix := "", "\n"
	if isTerminal(out.w) {
		prefix, suffix = "\r\033[K", ""
		defer out.printf("\n")
	}
	var lastSent int64
	lastTime := start
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			var sent int64
			for _, ps := range r.streams {
				sent += ps.sent.Load()
			}
			rtt := "-"
			if d := meter.latest.Load(); d > 0 {
				rtt = formatRTT(time.Duration(d))
			}
			out.printf("%s%6.1fs  %14s  rtt %s%s", prefix, now.Sub(start).Seconds(), formatRate(sent-lastSent, now.Sub(lastTime)), rtt, suffix)
			lastSent, lastTime = sent, now
		}
	}
}

// print writes the final table: each stream's and the total bytes the
// server received and the throughput, then the RTT's spread.
func (r *perfResult) print(out *printer) {
	out.mu.Lock()
	defer out.mu.Unlock()
	tw := tabwriter.NewWriter(out.w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "stream\tbytes\tthroughput\t\n")
	var total int64
	for i, ps := range r.streams {
		fmt.Fprintf(tw, "%d\t%s\t%s\t\n", i+1, formatBytes(ps.acked), formatRate(ps.acked, ps.elapsed))
		total += ps.acked
	}
	fmt.Fprintf(tw, "total\t%s\t%s\t\n", formatBytes(total), formatRate(total, r.elapsed))
	tw.Flush()
	if len(r.rtts) == 0 {
		fmt.Fprintln(out.w, "rtt: no sample")
		return
	}
	s := slices.Sorted(slices.Values(r.rtts))
	fmt.Fprintf(out.w, "rtt: min %s, median %s, max %s (session Ping, %d samples)\n",
		formatRTT(s[0]), formatRTT(s[len(s)/2]), formatRTT(s[len(s)-1]), len(s))
}

// rttMeter measures the session's round-trip time every rttEvery.
type rttMeter struct {
	ping    func(ctx context.Context) (time.Duration, error)
	samples []time.Duration // written by sample only
	latest  atomic.Int64    // the last sample, ns
}

// sample measures every rttEvery until done is closed or a measurement
// fails (the session ended: the streams report why).
func (m *rttMeter) sample(ctx context.Context, done <-chan struct{}) {
	tick := time.NewTicker(rttEvery)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, replyTimeout)
		d, err := m.ping(pctx)
		cancel()
		if err != nil {
			return
		}
		m.samples = append(m.samples, d)
		m.latest.Store(int64(d))
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// isTerminal reports whether w is a terminal, where a progress line can be
// rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// formatBytes prints n in binary units: "512 B", "1.50 MiB".
func formatBytes(n int64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v, unit = v/(1<<10), u
		if v < 1<<10 {
			break
		}
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// formatRate prints n bytes over d as bits per second, in decimal units as
// network speeds are: "941 Mbit/s".
func formatRate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	v, unit := float64(n)*8/d.Seconds(), "bit/s"
	for _, u := range []string{"kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"} {
		if v < 1000 {
			break
		}
		v, unit = v/1000, u
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// formatRTT rounds an RTT for printing, to the microsecond.
func formatRTT(d time.Duration) string { return d.Round(time.Microsecond).String() }
