package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/twinemux/twine"
)

// maxPending bounds the connections a Listener has taken from the kernel
// and not yet handed to Accept (TLS handshakes in progress included). Once
// it is reached the Listener stops accepting, and new connections wait in
// the kernel's backlog.
const maxPending = 64

// Accept-loop back-off after a temporary error (out of file descriptors,
// say), as net/http does.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// errListenerClosed is what Accept returns once the listener is closed.
var errListenerClosed = fmt.Errorf("listener closed: %w", net.ErrClosed)

// Listener accepts TCP connections, with TLS if asked, and starts the server
// side of a twine session on each. All its methods are safe for concurrent
// use.
//
// A goroutine accepts connections in the background (with TLS, each
// handshake runs in a goroutine of its own, bounded by the handshake
// timeout); ready connections wait, at most 64 of them, until Accept takes
// one. Close stops and joins all of these goroutines.
type Listener struct {
	ln   net.Listener
	cfg  *twine.Config // a copy of the caller's, or nil
	opts options

	ready   chan net.Conn // connections handed to Accept, ready for a session
	slots   chan struct{} // one per connection taken from the kernel and not yet handed over or dropped
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when the accept loop exits
	loopErr error         // why the accept loop exited; written before stopped is closed

	closeOnce sync.Once
	closeErr  error

	mu          sync.Mutex
	closing     bool
	handshaking map[net.Conn]struct{} // TLS handshakes in progress; Close closes them

	wg sync.WaitGroup // the accept loop and the handshakes
}

// Listen listens for TCP connections on addr (for example "127.0.0.1:0"
// for any free port) and returns a Listener whose Accept starts server
// sessions with cfg (nil for the defaults; it is copied). With [WithTLS]
// each connection first completes a TLS handshake. An invalid cfg is
// reported here, naming each bad field.
func Listen(addr string, cfg *twine.Config, opts ...Option) (*Listener, error) {
	o := collect(opts)
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Op: "listen", Addr: addr, Err: err}
	}
	if o.tls != nil && len(o.tls.Certificates) == 0 && o.tls.GetCertificate == nil && o.tls.GetConfigForClient == nil {
		return nil, &Error{Op: "listen", Addr: addr, Err: errors.New("tls config has no certificate")}
	}
	if o.handshakeTimeout <= 0 {
		return nil, &Error{Op: "listen", Addr: addr, Err: fmt.Errorf("handshake timeout %v is not positive", o.handshakeTimeout)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		// A *net.OpError already says "listen tcp <addr>: ...".
		return nil, &Error{Err: err}
	}
	l := &Listener{
		ln:          ln,
		opts:        o,
		ready:       make(chan net.Conn),
		slots:       make(chan struct{}, maxPending),
		done:        make(chan struct{}),
		stopped:     make(chan struct{}),
		handshaking: make(map[net.Conn]struct{}),
	}
	if cfg != nil {
		c := *cfg
		l.cfg = &c
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Accept returns the next connection's server session. It blocks until a
// connection is ready (with TLS: has completed its handshake), ctx ends,
// or the listener is closed, and then returns an *Error wrapping ctx's
// error or one matching net.ErrClosed. A connection whose TLS handshake
// fails is dropped, not reported: the client sees the failure, and the
// listener keeps accepting.
func (l *Listener) Accept(ctx context.Context) (*twine.Session, error) {
	select {
	case <-l.done:
		return nil, l.acceptError(errListenerClosed)
	default:
	}
	select {
	case conn := <-l.ready:
		<-l.slots
		sess, err := twine.Server(conn, l.cfg)
		if err != nil {
			// Not expected: Listen validated the config.
			conn.Close()
			return nil, &Error{Op: "accept from", Addr: conn.RemoteAddr().String(), Err: err}
		}
		return sess, nil
	case <-ctx.Done():
		return nil, l.acceptError(ctx.Err())
	case <-l.done:
		return nil, l.acceptError(errListenerClosed)
	case <-l.stopped:
		return nil, l.acceptError(l.loopErr)
	}
}

func (l *Listener) acceptError(err error) error {
	return &Error{Op: "accept on", Addr: l.ln.Addr().String(), Err: err}
}

// Addr returns the address the listener listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening, closes the connections not yet handed to Accept
// and waits for the listener's goroutines to exit. Pending and later
// Accepts fail with an error matching net.ErrClosed. Sessions already
// returned by Accept are not affected. Repeat calls return the first call's
// result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.closeErr = l.ln.Close()
		l.mu.Lock()
		l.closing = true
		for c := range l.handshaking {
			c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return l.closeErr
}

// acceptLoop takes connections from the kernel while fewer than maxPending
// wait for Accept. It exits when the listener is closed, or on an error
// that is not temporary.
func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.stopped)
	backoff := time.Duration(0)
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			l.loopErr = errListenerClosed
			return
		}
		conn, err := l.ln.Accept()
		if err != nil {
			<-l.slots
			select {
			case <-l.done:
				l.loopErr = errListenerClosed
				return
			default:
			}
			if !isTemporary(err) {
				l.loopErr = err
				return
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			if !l.pause(backoff) {
				l.loopErr = errListenerClosed
				return
			}
			continue
		}
		backoff = 0
		setNoDelay(conn)
		if l.opts.tls == nil {
			l.deliver(conn)
			continue
		}
		if !l.track(conn) {
			conn.Close()
			<-l.slots
			continue
		}
		l.wg.Add(1)
		go l.handshake(conn)
	}
}

// pause waits d, or until the listener is closed (then it reports false).
func (l *Listener) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// isTemporary reports whether an accept error is worth retrying: the
// process or the system ran out of a resource, or a connection was aborted
// before it could be accepted.
func isTemporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// deliver waits for Accept to take conn, or for Close.
func (l *Listener) deliver(conn net.Conn) {
	select {
	case l.ready <- conn:
	case <-l.done:
		conn.Close()
		<-l.slots
	}
}

// track records a connection whose TLS handshake is starting, so that
// Close can interrupt it. It reports false once the listener is closing.
func (l *Listener) track(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.handshaking[conn] = struct{}{}
	return true
}

func (l *Listener) untrack(conn net.Conn) {
	l.mu.Lock()
	delete(l.handshaking, conn)
	l.mu.Unlock()
}

// handshake runs the server side of a TLS handshake on conn, bounded by the
// handshake timeout and by Close, then hands the connection to Accept. A
// failed handshake closes the connection.
func (l *Listener) handshake(conn net.Conn) {
	defer l.wg.Done()
	tc := tls.Server(conn, l.opts.tls)
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.handshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	l.untrack(conn)
	if err != nil {
		conn.Close()
		<-l.slots
		return
	}
	l.deliver(tc)
}
