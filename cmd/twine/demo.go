package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
)

// demoConfig tunes the demo.
type demoConfig struct {
	// PeerTimeout is the client's Config.PeerTimeout in the silent-peer
	// scenario.
	PeerTimeout time.Duration
	// StepTimeout bounds each scenario: every stream deadline and context
	// is set to it, so a misbehaving back end fails the scenario instead of
	// hanging it.
	StepTimeout time.Duration
}

// detectSlack is how much later than PeerTimeout the silent-peer scenario
// accepts the verdict. The design asks for a few milliseconds; the slack
// leaves room for a loaded CI machine running the race detector.
const detectSlack = 100 * time.Millisecond

// scenario is one titled block of the demo, run once over each transport.
// The runner connects a fresh pair of sessions, opens a stream from the
// client and accepts it on the server; run returns the two sides' parts,
// which the runner calls concurrently with their end of that stream. A part
// returns why its side did not see what it should, or nil.
type scenario struct {
	title string
	// silent: the client's Config.PeerTimeout is demoConfig.PeerTimeout,
	// instead of the default.
	silent bool
	run    func(p *pair) (server, client func(st mux.Stream) error)
}

var scenarios = []scenario{
	{title: "CloseWrite, then keep reading", run: closeWriteKeepReading},
	{title: "CloseRead tells the peer", run: closeReadTellsPeer},
	{title: "Reset with a code", run: resetWithCode},
	{title: "A silent peer is detected", silent: true, run: silentPeer},
}

func demoMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := demoConfig{}
	fs := flag.NewFlagSet("twine demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.PeerTimeout, "peer-timeout", 300*time.Millisecond, "the client's `PeerTimeout` in the silent-peer scenario (at least 10ms)")
	fs.DurationVar(&cfg.StepTimeout, "timeout", 5*time.Second, "bound on each scenario; a call still blocked then fails it")
	var usage strings.Builder
	usage.WriteString(`Usage: twine demo [flags]

Demo runs a twine client and server on loopback, over TCP and then over
QUIC with the same code, and prints, for each scenario, what each side did
and what it saw:

`)
	for i, sc := range scenarios {
		fmt.Fprintf(&usage, "\t%d. %s\n", i+1, sc.title)
	}
	usage.WriteString(`
Each pair of sessions talks through a proxy, which the last scenario
freezes. It exits with status 1 if any scenario did not behave as
specified, so it doubles as a smoke test.
`)
	if code, ok := parseFlags(fs, args, usage.String()); !ok {
		return code
	}
	if err := runDemo(ctx, stdout, cfg); err != nil {
		fmt.Fprintf(stderr, "twine demo: %v\n", err)
		return 1
	}
	return 0
}

// runDemo runs every scenario over every transport, printing to w, and
// reports the runs that did not behave as specified. Every session and
// goroutine it starts has ended when it returns.
func runDemo(ctx context.Context, w io.Writer, cfg demoConfig) error {
	transports, err := loopbackTransports()
	if err != nil {
		return err
	}
	var names []string
	for _, t := range transports {
		names = append(names, t.name)
	}
	over := strings.Join(names, " and ")
	fmt.Fprintf(w, "twine demo: a client and a server on loopback, over %s, each pair through a proxy\n\n", over)
	out := &printer{w: w}
	var failed []string
	for i, sc := range scenarios {
		fmt.Fprintf(w, "%d. %s\n", i+1, sc.title)
		for _, t := range transports {
			fmt.Fprintf(w, "\n   over %s\n", t.name)
			sctx, cancel := context.WithTimeout(ctx, cfg.StepTimeout)
			err := runScenario(sctx, sc, t, cfg, out)
			cancel()
			if err != nil {
				fmt.Fprintf(w, "     FAIL: %v\n", err)
				failed = append(failed, fmt.Sprintf("%d over %s", i+1, t.name))
				continue
			}
			fmt.Fprint(w, "     ok\n")
		}
		fmt.Fprintln(w)
	}
	runs := len(scenarios) * len(transports)
	if len(failed) > 0 {
		fmt.Fprintf(w, "%d of %d runs did not behave as specified\n", len(failed), runs)
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	fmt.Fprintf(w, "all %d scenarios behaved as specified over %s\n", len(scenarios), over)
	return nil
}

// runScenario connects a fresh pair over t, opens and accepts one stream,
// and runs sc's two parts on it, the server's in a goroutine. Every stream
// deadline is ctx's, so no call outlives the scenario. A side that fails
// closes the sessions, so that the other cannot wait for it in vain.
func runScenario(ctx context.Context, sc scenario, t transport, cfg demoConfig, out *printer) error {
	var clientCfg *twine.Config
	if sc.silent {
		clientCfg = &twine.Config{PeerTimeout: cfg.PeerTimeout}
	}
	p, err := newPair(ctx, t, clientCfg, out)
	if err != nil {
		return err
	}
	defer p.close()
	deadline, _ := ctx.Deadline()
	server, client := sc.run(p)
	side := func(who string, get func(context.Context) (mux.Stream, error), part func(mux.Stream) error) error {
		st, err := get(ctx)
		if err != nil {
			p.close()
			return fmt.Errorf("%s: %w", who, err)
		}
		defer st.Close()
		st.SetDeadline(deadline)
		if err := part(st); err != nil {
			p.close()
			return err
		}
		return nil
	}
	serverErr := make(chan error, 1)
	go func() { serverErr <- side("server: AcceptStream", p.server.AcceptStream, server) }()
	cerr := side("client: OpenStream", p.client.OpenStream, client)
	return errors.Join(cerr, <-serverErr)
}

// pair is a client session and a server session connected over loopback
// through a freezable proxy.
type pair struct {
	client, server mux.Session
	proxy          *proxy
	clientCfg      *twine.Config // nil for the defaults
	out            *printer
}

// newPair listens on a fresh loopback port with t, puts a proxy in front
// and connects a client with clientCfg (nil for defaults) through it; the
// server uses the defaults. On error it leaves nothing open.
func newPair(ctx context.Context, t transport, clientCfg *twine.Config, out *printer) (p *pair, err error) {
	ln, err := t.listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.close()
	p = &pair{clientCfg: clientCfg, out: out}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.proxy, err = t.newProxy(ln.addr.String()); err != nil {
		return p, err
	}
	if p.client, err = t.dial(ctx, p.proxy.addr, clientCfg); err != nil {
		return p, err
	}
	p.server, err = ln.accept(ctx)
	return p, err
}

// close closes both sessions and the proxy, and waits for the proxy's
// goroutines. It may be called more than once.
func (p *pair) close() {
	if p.client != nil {
		p.client.Close()
	}
	if p.server != nil {
		p.server.Close()
	}
	if p.proxy != nil {
		p.proxy.close()
	}
}

func (p *pair) clientSays(format string, args ...any) { p.out.line("client", format, args...) }
func (p *pair) serverSays(format string, args ...any) { p.out.line("server", format, args...) }

// line prints one line of a scenario: what who did or saw.
func (p *printer) line(who, format string, args ...any) {
	p.printf("     %s: %s\n", who, fmt.Sprintf(format, args...))
}

// 1. The client sends 1 MiB and CloseWrite; the server reads to io.EOF and
// replies; the client, whose receive half is still open, reads the reply.
func closeWriteKeepReading(p *pair) (server, client func(mux.Stream) error) {
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	sum := sha256.Sum256(payload)
	server = func(st mux.Stream) error {
		got, err := readToEnd(st)
		if err != io.EOF {
			return fmt.Errorf("server: Read after %d bytes: %s, want io.EOF", len(got), describe(err))
		}
		match := "matches"
		if sha256.Sum256(got) != sum {
			match = "DOES NOT MATCH"
		}
		p.serverSays("read %d bytes (%s what the client sent), then io.EOF", len(got), match)
		if match != "matches" {
			return fmt.Errorf("server: the bytes read differ from those written")
		}
		reply := fmt.Sprintf("received %d bytes", len(got))
		if err := write("server", st, []byte(reply)); err != nil {
			return err
		}
		st.Close()
		p.serverSays("replied %q, then Close()", reply)
		return nil
	}
	client = func(st mux.Stream) error {
		start := time.Now()
		if err := write("client", st, payload); err != nil {
			return err
		}
		st.CloseWrite()
		p.clientSays("wrote %d bytes on stream %v in %s, then CloseWrite()", len(payload), streamID(st), ms(time.Since(start)))
		_, err := st.Write([]byte("more"))
		p.clientSays("Write after CloseWrite: %s", describe(err))
		if !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("client: Write after CloseWrite returned %s, want an error matching net.ErrClosed", describe(err))
		}
		reply, err := readToEnd(st)
		p.clientSays("still reading: got %q, then %s", reply, describe(err))
		if err != io.EOF || !bytes.HasPrefix(reply, []byte("received ")) {
			return fmt.Errorf("client: read %q then %s; want the reply then io.EOF", reply, describe(err))
		}
		return nil
	}
	return server, client
}

// 2. The server calls CloseRead; the client's blocked Write fails at once
// with a remote *mux.StreamError, while its receive half keeps working.
func closeReadTellsPeer(p *pair) (server, client func(mux.Stream) error) {
	closedAt := make(chan time.Time, 1)
	server = func(st mux.Stream) error {
		buf := make([]byte, 1<<10)
		if _, err := io.ReadFull(st, buf); err != nil {
			return fmt.Errorf("server: Read: %s", describe(err))
		}
		p.serverSays("read the first %d bytes, then CloseRead()", len(buf))
		closedAt <- time.Now()
		st.CloseRead()
		_, err := st.Read(buf)
		p.serverSays("Read after CloseRead: %s", describe(err))
		if !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("server: Read after CloseRead returned %s, want an error matching net.ErrClosed", describe(err))
		}
		if err := write("server", st, []byte("bye")); err != nil {
			return err
		}
		st.CloseWrite()
		p.serverSays("can still write: wrote %q, then CloseWrite()", "bye")
		return nil
	}
	client = func(st mux.Stream) error {
		payload := make([]byte, 4<<20) // more than the stream window: Write blocks
		p.clientSays("Write(%d bytes) on stream %v, more than the peer's window", len(payload), streamID(st))
		n, err := st.Write(payload)
		returned := time.Now()
		var elapsed string
		select {
		case t := <-closedAt:
			elapsed = ms(returned.Sub(t)) + " after the server's CloseRead"
		default:
			elapsed = "before the server's CloseRead"
		}
		p.clientSays("Write returned n=%d, %s, %s", n, describe(err), elapsed)
		var se *mux.StreamError
		if !errors.As(err, &se) || !se.Remote {
			return fmt.Errorf("client: Write returned %s, want a *mux.StreamError with Remote true", describe(err))
		}
		if n >= len(payload) {
			return fmt.Errorf("client: Write reported n=%d with an error, want n < %d", n, len(payload))
		}
		start := time.Now()
		_, err = st.Write([]byte("again"))
		p.clientSays("next Write fails in %s: %s", ms(time.Since(start)), describe(err))
		if !errors.As(err, &se) || !se.Remote {
			return fmt.Errorf("client: next Write returned %s, want a *mux.StreamError with Remote true", describe(err))
		}
		reply, err := readToEnd(st)
		p.clientSays("its receive half is unaffected: read %q, then %s", reply, describe(err))
		if string(reply) != "bye" || err != io.EOF {
			return fmt.Errorf("client: read %q then %s, want \"bye\" then io.EOF", reply, describe(err))
		}
		return nil
	}
	return server, client
}

// 3. The client resets with code 42; the server's blocked Read fails with
// that code, Remote set, and so does its next Write.
func resetWithCode(p *pair) (server, client func(mux.Stream) error) {
	reading := make(chan struct{})
	resetAt := make(chan time.Time, 1)
	server = func(st mux.Stream) error {
		p.serverSays("accepted stream %v, Read blocks (nothing was written)", streamID(st))
		close(reading)
		n, err := st.Read(make([]byte, 16))
		returned := time.Now()
		elapsed := "before the reset"
		select {
		case t := <-resetAt:
			elapsed = ms(returned.Sub(t)) + " after the reset"
		default:
		}
		p.serverSays("Read returned n=%d, %s, %s", n, describe(err), elapsed)
		var se *mux.StreamError
		if !errors.As(err, &se) || se.Code != 42 || !se.Remote {
			return fmt.Errorf("server: Read returned %s, want *mux.StreamError{Code: 42, Remote: true}", describe(err))
		}
		p.serverSays("errors.Is(err, mux.ErrStreamReset) = %t", errors.Is(err, mux.ErrStreamReset))
		if !errors.Is(err, mux.ErrStreamReset) {
			return fmt.Errorf("server: errors.Is(%v, mux.ErrStreamReset) is false", err)
		}
		_, err = st.Write([]byte("late"))
		p.serverSays("Write after the reset: %s", describe(err))
		if !errors.As(err, &se) || se.Code != 42 || !se.Remote {
			return fmt.Errorf("server: Write after the reset returned %s, want *mux.StreamError{Code: 42, Remote: true}", describe(err))
		}
		return nil
	}
	client = func(st mux.Stream) error {
		select {
		case <-reading:
		case <-p.client.Done():
			return fmt.Errorf("client: the session ended before the server accepted stream %v", streamID(st))
		}
		// Give the server's Read time to block, so that the output shows a
		// blocked Read failing; a Read that starts after the reset fails
		// the same way.
		time.Sleep(20 * time.Millisecond)
		p.clientSays("ResetWithError(42) on stream %v", streamID(st))
		resetAt <- time.Now()
		st.ResetWithError(42)
		_, err := st.Write([]byte("late"))
		p.clientSays("own Write after the reset: %s", describe(err))
		var se *mux.StreamError
		if !errors.As(err, &se) || se.Code != 42 || se.Remote {
			return fmt.Errorf("client: Write after ResetWithError returned %s, want *mux.StreamError{Code: 42, Remote: false}", describe(err))
		}
		return nil
	}
	return server, client
}

// 4. The proxy between client and server stops forwarding without closing;
// the client's blocked Read fails with mux.ErrPeerUnresponsive within
// PeerTimeout of the last byte it received.
func silentPeer(p *pair) (server, client func(mux.Stream) error) {
	timeout := p.clientCfg.PeerTimeout
	server = func(st mux.Stream) error {
		buf := make([]byte, len("hello"))
		if _, err := io.ReadFull(st, buf); err != nil {
			return fmt.Errorf("server: Read: %s", describe(err))
		}
		if err := write("server", st, buf); err != nil {
			return err
		}
		p.serverSays("echoed %q, Read blocks", buf)
		_, err := st.Read(buf)
		// Only the session's Close ends this Read: the server keeps its
		// default PeerTimeout of 30 s.
		p.serverSays("Read returned %s once its session was closed", describe(err))
		var se *mux.SessionError
		if !errors.As(err, &se) || se.Remote {
			return fmt.Errorf("server: Read returned %s, want a local *mux.SessionError", describe(err))
		}
		return nil
	}
	client = func(st mux.Stream) error {
		p.clientSays("session with Config{PeerTimeout: %v}", timeout)
		buf := make([]byte, len("hello"))
		if err := write("client", st, []byte("hello")); err != nil {
			return err
		}
		if _, err := io.ReadFull(st, buf); err != nil {
			return fmt.Errorf("client: Read: %s", describe(err))
		}
		p.clientSays("stream %v echoed %q through the proxy", streamID(st), buf)

		p.proxy.freeze()
		frozen := time.Now()
		p.out.line("proxy ", "frozen: forwards nothing either way, closes nothing")
		_, err := st.Read(buf)
		failed := time.Now()
		sinceLast := failed.Sub(p.proxy.lastToClient())
		p.clientSays("blocked Read returned %s", describe(err))
		p.clientSays("%s after the freeze, %s after the last bytes reached it (PeerTimeout %v; the demo accepts up to %v)",
			ms(failed.Sub(frozen)), ms(sinceLast), timeout, timeout+detectSlack)
		if !errors.Is(err, mux.ErrPeerUnresponsive) {
			return fmt.Errorf("client: Read returned %s, want mux.ErrPeerUnresponsive", describe(err))
		}
		select {
		case <-p.client.Done():
			p.clientSays("session ended: Err() = %s", describe(p.client.Err()))
		case <-time.After(time.Second):
			return fmt.Errorf("client: the session did not end with its stream")
		}
		if sinceLast < timeout || sinceLast > timeout+detectSlack {
			return fmt.Errorf("client: detected %s after the last bytes arrived, want within [%v, %v]",
				ms(sinceLast), timeout, timeout+detectSlack)
		}
		p.server.Close()
		return nil
	}
	return server, client
}

// streamID returns st's id, which each back end types its own way.
func streamID(st mux.Stream) any {
	switch s := st.(type) {
	case interface{ StreamID() uint32 }:
		return s.StreamID()
	case interface{ StreamID() int64 }:
		return s.StreamID()
	}
	return "?"
}

// write writes p to st, and describes a failure, with how much Write
// reported as written.
func write(who string, st mux.Stream, p []byte) error {
	n, err := st.Write(p)
	if err != nil {
		return fmt.Errorf("%s: Write(%d bytes) on stream %v returned n=%d, %s", who, len(p), streamID(st), n, describe(err))
	}
	return nil
}

// readToEnd reads r until an error, returning the bytes read and the error
// (unlike io.ReadAll, io.EOF itself).
func readToEnd(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		if err != nil {
			return buf.Bytes(), err
		}
	}
}

// describe prints err with %v, then its type and what it matches, e.g.
// `twine: stream 1 reset by peer (code 0x2a) [*mux.StreamError{StreamID: 1,
// Code: 42, Remote: true}]`.
func describe(err error) string {
	if err == nil {
		return "nil"
	}
	if err == io.EOF {
		return "io.EOF"
	}
	if err == mux.ErrPeerUnresponsive {
		return fmt.Sprintf("%v [mux.ErrPeerUnresponsive, Timeout() %t, errors.Is net.ErrClosed %t]",
			err, isTimeout(err), errors.Is(err, net.ErrClosed))
	}
	var typ string
	switch e := err.(type) {
	case *mux.StreamError:
		typ = fmt.Sprintf("*mux.StreamError{StreamID: %d, Code: %d, Remote: %t}", e.StreamID, e.Code, e.Remote)
	case *mux.SessionError:
		typ = fmt.Sprintf("*mux.SessionError{Code: %d, Remote: %t, Reason: %q}", e.Code, e.Remote, e.Reason)
	case *mux.DeadlineError:
		typ = fmt.Sprintf("*mux.DeadlineError{StreamID: %d, Op: %q}", e.StreamID, e.Op)
	default:
		typ = fmt.Sprintf("%T", err)
	}
	var also []string
	for _, target := range []struct {
		name string
		err  error
	}{
		{"net.ErrClosed", net.ErrClosed},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
	} {
		if errors.Is(err, target.err) {
			also = append(also, "errors.Is "+target.name)
		}
	}
	if len(also) > 0 {
		typ += ", " + strings.Join(also, ", ")
	}
	return fmt.Sprintf("%v [%s]", err, typ)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ms rounds d for printing: to the millisecond, or "<1ms".
func ms(d time.Duration) string {
	if d < time.Millisecond {
		return "<1ms"
	}
	return d.Round(time.Millisecond).String()
}
