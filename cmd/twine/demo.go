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
	"sync"
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
	// is set to it, so a misbehaving core fails the scenario instead of
	// hanging it.
	StepTimeout time.Duration
}

// detectSlack is how much later than PeerTimeout the silent-peer scenario
// accepts the verdict. The design asks for a few milliseconds; the slack
// leaves room for a loaded CI machine running the race detector.
const detectSlack = 100 * time.Millisecond

// scenario is one titled block of the demo. run returns why the scenario
// did not see what it should, or nil.
type scenario struct {
	title string
	run   func(ctx context.Context, d *demo) error
}

var scenarios = []scenario{
	{"Echo, then Close", echoThenClose},
	{"CloseWrite, then keep reading", closeWriteKeepReading},
	{"CloseRead tells the peer", closeReadTellsPeer},
	{"Reset with a code", resetWithCode},
	{"A silent peer is detected", silentPeer},
}

func demoMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := demoConfig{}
	fs := flag.NewFlagSet("twine demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.PeerTimeout, "peer-timeout", 300*time.Millisecond, "the client's `PeerTimeout` in the silent-peer scenario (at least 10ms)")
	fs.DurationVar(&cfg.StepTimeout, "timeout", 5*time.Second, "bound on each scenario; a call still blocked then fails it")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, `Usage: twine demo [flags]

Demo runs a twine client and server over loopback TCP and prints, for each
scenario, what each side did and what it saw:

`)
		for i, sc := range scenarios {
			fmt.Fprintf(w, "\t%d. %s\n", i+1, sc.title)
		}
		fmt.Fprint(w, `
It exits with status 1 if any scenario did not behave as specified, so it
doubles as a smoke test.

Flags:

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "twine demo: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return 2
	}
	if err := runDemo(ctx, stdout, cfg); err != nil {
		fmt.Fprintf(stderr, "twine demo: %v\n", err)
		return 1
	}
	return 0
}

// runDemo runs every scenario, printing to w, and reports the ones that did
// not behave as specified. Every session and goroutine it starts has ended
// when it returns.
func runDemo(ctx context.Context, w io.Writer, cfg demoConfig) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	d := &demo{cfg: cfg, ln: ln, out: &printer{w: w}}

	fmt.Fprintf(w, "twine demo: client and server sessions over loopback TCP (server on %v)\n\n", ln.Addr())
	var failed []string
	for i, sc := range scenarios {
		fmt.Fprintf(w, "%d. %s\n", i+1, sc.title)
		sctx, cancel := context.WithTimeout(ctx, cfg.StepTimeout)
		err := sc.run(sctx, d)
		cancel()
		if err != nil {
			fmt.Fprintf(w, "   FAIL: %v\n\n", err)
			failed = append(failed, fmt.Sprint(i+1))
			continue
		}
		fmt.Fprint(w, "   ok\n\n")
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "%d of %d scenarios did not behave as specified\n", len(failed), len(scenarios))
		return fmt.Errorf("scenarios %s failed", strings.Join(failed, ", "))
	}
	fmt.Fprintf(w, "all %d scenarios behaved as specified\n", len(scenarios))
	return nil
}

// demo is what the scenarios share: the configuration, the server's
// listener and the output.
type demo struct {
	cfg demoConfig
	ln  net.Listener
	out *printer
}

// printer writes the lines of a scenario; the two sides print
// concurrently, a line at a time.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) line(who, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "   %s: %s\n", who, fmt.Sprintf(format, args...))
}

func (d *demo) client(format string, args ...any) { d.out.line("client", format, args...) }
func (d *demo) server(format string, args ...any) { d.out.line("server", format, args...) }

// pair is a client session and a server session connected over loopback
// TCP, directly or through a freezable proxy.
type pair struct {
	client, server *twine.Session
	proxy          *proxy // nil when connected directly
	deadline       time.Time
}

// newPair connects a fresh client and server. The client uses clientCfg
// (nil for defaults); the server the defaults.
func (d *demo) newPair(ctx context.Context, clientCfg *twine.Config, viaProxy bool) (p *pair, err error) {
	p = &pair{deadline: time.Now().Add(d.cfg.StepTimeout)}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	serverAddr := d.ln.Addr().String()
	dialAddr := serverAddr
	if viaProxy {
		if p.proxy, err = newProxy(serverAddr); err != nil {
			return p, err
		}
		dialAddr = p.proxy.addr()
	}
	var dialer net.Dialer
	cconn, err := dialer.DialContext(ctx, "tcp", dialAddr)
	if err != nil {
		return p, err
	}
	if p.client, err = twine.Client(cconn, clientCfg); err != nil {
		cconn.Close()
		return p, err
	}
	if p.proxy != nil {
		if err := p.proxy.accept(); err != nil {
			return p, err
		}
	}
	sconn, err := d.ln.Accept()
	if err != nil {
		return p, err
	}
	if p.server, err = twine.Server(sconn, nil); err != nil {
		sconn.Close()
		return p, err
	}
	return p, nil
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

// both runs the server's part in a goroutine and the client's in this one,
// and returns both failures. A failing client closes the sessions, so that
// the server's part cannot wait for it in vain.
func (p *pair) both(server, client func() error) error {
	serverErr := make(chan error, 1)
	go func() { serverErr <- server() }()
	cerr := client()
	if cerr != nil {
		p.close()
	}
	return errors.Join(cerr, <-serverErr)
}

// open opens a client stream bounded by the scenario's deadline.
func (p *pair) open(ctx context.Context) (*twine.Stream, error) {
	st, err := p.client.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("client: OpenStream: %w", err)
	}
	st.SetDeadline(p.deadline)
	return st.(*twine.Stream), nil
}

// accept accepts a server stream bounded by the scenario's deadline.
func (p *pair) accept(ctx context.Context) (*twine.Stream, error) {
	st, err := p.server.AcceptStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("server: AcceptStream: %w", err)
	}
	st.SetDeadline(p.deadline)
	return st.(*twine.Stream), nil
}

// 1. The server echoes "hello" and closes; the client reads the reply,
// then io.EOF.
func echoThenClose(ctx context.Context, d *demo) error {
	p, err := d.newPair(ctx, nil, false)
	if err != nil {
		return err
	}
	defer p.close()
	return p.both(func() error {
		st, err := p.accept(ctx)
		if err != nil {
			return err
		}
		buf := make([]byte, len("hello"))
		if _, err := io.ReadFull(st, buf); err != nil {
			return fmt.Errorf("server: Read: %s", describe(err))
		}
		d.server("accepted stream %d, read %q", st.StreamID(), buf)
		if err := write("server", st, buf); err != nil {
			return err
		}
		st.Close()
		d.server("wrote %q back, then Close()", buf)
		return nil
	}, func() error {
		st, err := p.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := write("client", st, []byte("hello")); err != nil {
			return err
		}
		d.client("opened stream %d, wrote %q", st.StreamID(), "hello")
		reply := make([]byte, len("hello"))
		if _, err := io.ReadFull(st, reply); err != nil {
			return fmt.Errorf("client: reading the reply: %s", describe(err))
		}
		d.client("read the reply %q", reply)
		n, err := st.Read(make([]byte, 16))
		d.client("next Read: n=%d, err=%s", n, describe(err))
		if n != 0 || err != io.EOF {
			return fmt.Errorf("client: next Read returned n=%d, err=%s; want 0, io.EOF", n, describe(err))
		}
		return nil
	})
}

// 2. The client sends 1 MiB and CloseWrite; the server reads to io.EOF and
// replies; the client, whose receive half is still open, reads the reply.
func closeWriteKeepReading(ctx context.Context, d *demo) error {
	p, err := d.newPair(ctx, nil, false)
	if err != nil {
		return err
	}
	defer p.close()
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	sum := sha256.Sum256(payload)
	return p.both(func() error {
		st, err := p.accept(ctx)
		if err != nil {
			return err
		}
		got, err := readToEnd(st)
		if err != io.EOF {
			return fmt.Errorf("server: Read after %d bytes: %s, want io.EOF", len(got), describe(err))
		}
		match := "matches"
		if sha256.Sum256(got) != sum {
			match = "DOES NOT MATCH"
		}
		d.server("read %d bytes (%s what the client sent), then io.EOF", len(got), match)
		if match != "matches" {
			return fmt.Errorf("server: the bytes read differ from those written")
		}
		reply := fmt.Sprintf("received %d bytes", len(got))
		if err := write("server", st, []byte(reply)); err != nil {
			return err
		}
		st.Close()
		d.server("replied %q, then Close()", reply)
		return nil
	}, func() error {
		st, err := p.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		start := time.Now()
		if err := write("client", st, payload); err != nil {
			return err
		}
		st.CloseWrite()
		d.client("wrote %d bytes in %s, then CloseWrite()", len(payload), ms(time.Since(start)))
		_, err = st.Write([]byte("more"))
		d.client("Write after CloseWrite: %s", describe(err))
		if !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("client: Write after CloseWrite returned %s, want an error matching net.ErrClosed", describe(err))
		}
		reply, err := readToEnd(st)
		d.client("still reading: got %q, then %s", reply, describe(err))
		if err != io.EOF || !bytes.HasPrefix(reply, []byte("received ")) {
			return fmt.Errorf("client: read %q then %s; want the reply then io.EOF", reply, describe(err))
		}
		return nil
	})
}

// 3. The server calls CloseRead; the client's blocked Write fails at once
// with a remote *mux.StreamError, while its receive half keeps working.
func closeReadTellsPeer(ctx context.Context, d *demo) error {
	p, err := d.newPair(ctx, nil, false)
	if err != nil {
		return err
	}
	defer p.close()
	closedAt := make(chan time.Time, 1)
	return p.both(func() error {
		st, err := p.accept(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		buf := make([]byte, 1<<10)
		if _, err := io.ReadFull(st, buf); err != nil {
			return fmt.Errorf("server: Read: %s", describe(err))
		}
		d.server("read the first %d bytes, then CloseRead()", len(buf))
		closedAt <- time.Now()
		st.CloseRead()
		_, err = st.Read(buf)
		d.server("Read after CloseRead: %s", describe(err))
		if !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("server: Read after CloseRead returned %s, want an error matching net.ErrClosed", describe(err))
		}
		if err := write("server", st, []byte("bye")); err != nil {
			return err
		}
		st.CloseWrite()
		d.server("can still write: wrote %q, then CloseWrite()", "bye")
		return nil
	}, func() error {
		st, err := p.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		payload := make([]byte, 4<<20) // more than the stream window: Write blocks
		d.client("Write(%d bytes) on stream %d, more than the peer's window", len(payload), st.StreamID())
		n, err := st.Write(payload)
		returned := time.Now()
		var elapsed string
		select {
		case t := <-closedAt:
			elapsed = ms(returned.Sub(t)) + " after the server's CloseRead"
		default:
			elapsed = "before the server's CloseRead"
		}
		d.client("Write returned n=%d, %s, %s", n, describe(err), elapsed)
		var se *mux.StreamError
		if !errors.As(err, &se) || !se.Remote {
			return fmt.Errorf("client: Write returned %s, want a *mux.StreamError with Remote true", describe(err))
		}
		if n >= len(payload) {
			return fmt.Errorf("client: Write reported n=%d with an error, want n < %d", n, len(payload))
		}
		start := time.Now()
		_, err = st.Write([]byte("again"))
		d.client("next Write fails in %s: %s", ms(time.Since(start)), describe(err))
		if !errors.As(err, &se) || !se.Remote {
			return fmt.Errorf("client: next Write returned %s, want a *mux.StreamError with Remote true", describe(err))
		}
		reply, err := readToEnd(st)
		d.client("its receive half is unaffected: read %q, then %s", reply, describe(err))
		if string(reply) != "bye" || err != io.EOF {
			return fmt.Errorf("client: read %q then %s, want \"bye\" then io.EOF", reply, describe(err))
		}
		return nil
	})
}

// 4. The client resets with code 42; the server's blocked Read fails with
// that code, Remote set.
func resetWithCode(ctx context.Context, d *demo) error {
	p, err := d.newPair(ctx, nil, false)
	if err != nil {
		return err
	}
	defer p.close()
	reading := make(chan struct{})
	resetAt := make(chan time.Time, 1)
	return p.both(func() error {
		st, err := p.accept(ctx)
		if err != nil {
			close(reading)
			return err
		}
		defer st.Close()
		d.server("accepted stream %d, Read blocks (nothing was written)", st.StreamID())
		close(reading)
		n, err := st.Read(make([]byte, 16))
		returned := time.Now()
		elapsed := "before the reset"
		select {
		case t := <-resetAt:
			elapsed = ms(returned.Sub(t)) + " after the reset"
		default:
		}
		d.server("Read returned n=%d, %s, %s", n, describe(err), elapsed)
		var se *mux.StreamError
		if !errors.As(err, &se) || se.Code != 42 || !se.Remote {
			return fmt.Errorf("server: Read returned %s, want *mux.StreamError{Code: 42, Remote: true}", describe(err))
		}
		d.server("errors.Is(err, mux.ErrStreamReset) = %t", errors.Is(err, mux.ErrStreamReset))
		if !errors.Is(err, mux.ErrStreamReset) {
			return fmt.Errorf("server: errors.Is(%v, mux.ErrStreamReset) is false", err)
		}
		_, err = st.Write([]byte("late"))
		d.server("Write after the reset: %s", describe(err))
		if !errors.As(err, &se) || se.Code != 42 || !se.Remote {
			return fmt.Errorf("server: Write after the reset returned %s, want *mux.StreamError{Code: 42, Remote: true}", describe(err))
		}
		return nil
	}, func() error {
		st, err := p.open(ctx)
		if err != nil {
			return err
		}
		select {
		case <-reading:
		case <-ctx.Done():
			return fmt.Errorf("client: the server did not accept stream %d", st.StreamID())
		}
		time.Sleep(20 * time.Millisecond) // let the server's Read block
		d.client("ResetWithError(42) on stream %d", st.StreamID())
		resetAt <- time.Now()
		st.ResetWithError(42)
		_, err = st.Write([]byte("late"))
		d.client("own Write after the reset: %s", describe(err))
		var se *mux.StreamError
		if !errors.As(err, &se) || se.Code != 42 || se.Remote {
			return fmt.Errorf("client: Write after ResetWithError returned %s, want *mux.StreamError{Code: 42, Remote: false}", describe(err))
		}
		return nil
	})
}

// 5. A proxy between client and server stops forwarding without closing;
// the client's blocked Read fails with mux.ErrPeerUnresponsive within
// PeerTimeout of the last byte it received.
func silentPeer(ctx context.Context, d *demo) error {
	timeout := d.cfg.PeerTimeout
	p, err := d.newPair(ctx, &twine.Config{PeerTimeout: timeout}, true)
	if err != nil {
		return err
	}
	defer p.close()
	d.client("session with Config{PeerTimeout: %v}, through a proxy", timeout)
	return p.both(func() error {
		st, err := p.accept(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		buf := make([]byte, len("hello"))
		if _, err := io.ReadFull(st, buf); err != nil {
			return fmt.Errorf("server: Read: %s", describe(err))
		}
		if err := write("server", st, buf); err != nil {
			return err
		}
		d.server("echoed %q, Read blocks", buf)
		_, err = st.Read(buf)
		// Only the session's Close ends this Read: the server keeps its
		// default PeerTimeout of 30 s.
		d.server("Read returned %s once its session was closed", describe(err))
		var se *mux.SessionError
		if !errors.As(err, &se) || se.Remote {
			return fmt.Errorf("server: Read returned %s, want a local *mux.SessionError", describe(err))
		}
		return nil
	}, func() error {
		st, err := p.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		buf := make([]byte, len("hello"))
		if err := write("client", st, []byte("hello")); err != nil {
			return err
		}
		if _, err := io.ReadFull(st, buf); err != nil {
			return fmt.Errorf("client: Read: %s", describe(err))
		}
		d.client("stream %d echoed %q through the proxy", st.StreamID(), buf)

		p.proxy.freeze()
		frozen := time.Now()
		d.out.line("proxy ", "frozen: forwards nothing either way, closes nothing")
		_, err = st.Read(buf)
		failed := time.Now()
		sinceLast := failed.Sub(p.proxy.lastToClient())
		d.client("blocked Read returned %s", describe(err))
		d.client("%s after the freeze, %s after the last byte reached it (bound: PeerTimeout %v + a few ms)",
			ms(failed.Sub(frozen)), ms(sinceLast), timeout)
		if !errors.Is(err, mux.ErrPeerUnresponsive) {
			return fmt.Errorf("client: Read returned %s, want mux.ErrPeerUnresponsive", describe(err))
		}
		select {
		case <-p.client.Done():
			d.client("session ended: Err() = %s", describe(p.client.Err()))
		case <-time.After(time.Second):
			return fmt.Errorf("client: the session did not end with its stream")
		}
		if sinceLast < timeout || sinceLast > timeout+detectSlack {
			return fmt.Errorf("client: detected %s after the last byte arrived, want within [%v, %v]",
				ms(sinceLast), timeout, timeout+detectSlack)
		}
		p.server.Close()
		return nil
	})
}

// write writes p to st, and describes a failure, with how much Write
// reported as written.
func write(who string, st *twine.Stream, p []byte) error {
	n, err := st.Write(p)
	if err != nil {
		return fmt.Errorf("%s: Write(%d bytes) on stream %d returned n=%d, %s", who, len(p), st.StreamID(), n, describe(err))
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
