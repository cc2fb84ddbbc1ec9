package workload

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// PeerEnv is the environment variable that makes a benchmark binary run as
// the idle-memory peer ([ServePeer]) of the transport it names.
const PeerEnv = "TWINE_BENCH_PEER"

// Side says which side of the streams the measured process is.
type Side int

const (
	// Opener: the measured process opens the streams.
	Opener Side = iota
	// Acceptor: the measured process accepts them.
	Acceptor
)

func (s Side) String() string {
	if s == Opener {
		return "opener"
	}
	return "acceptor"
}

// IdleResult is the cost of idle open streams on one side.
type IdleResult struct {
	Streams         int
	HeapPerStream   float64 // runtime.MemStats.HeapAlloc growth per stream
	GoroutinesAdded int     // runtime.NumGoroutine growth, all streams together
}

// Idle measures the memory of n idle open streams (each carried one tag
// byte) on one side, with the other side in a peer process, so that each
// side's heap is measured alone. A round is [Idle.Prepare] (a new session,
// baseline), [Idle.Open] (the streams; time it), [Idle.Measure], and
// [Idle.Teardown].
type Idle struct {
	peer    *Peer
	l       Listener
	n       int
	side    Side
	sess    Session
	streams []Stream
	heap0   uint64
	gor0    int
}

// NewIdle listens for the peer's sessions.
func NewIdle(t Transport, peer *Peer, n int, side Side) (*Idle, error) {
	l, err := t.Listen()
	if err != nil {
		return nil, err
	}
	return &Idle{peer: peer, l: l, n: n, side: side, streams: make([]Stream, 0, n)}, nil
}

// Prepare has the peer dial a new session, and takes the baseline.
func (w *Idle) Prepare() error {
	type accepted struct {
		s   Session
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		s, err := w.l.Accept()
		ch <- accepted{s, err}
	}()
	if err := w.peer.Do("dial " + w.l.Addr()); err != nil {
		return err // the listener's Close ends the accept
	}
	a := <-ch
	if a.err != nil {
		if a.s != nil {
			a.s.Close()
		}
		return a.err
	}
	w.sess = a.s
	w.heap0, w.gor0 = settledHeap(200*time.Millisecond, 3*time.Second)
	return nil
}

// Open opens (or accepts) the n streams, and waits for the peer to have
// accepted (or opened) them all.
func (w *Idle) Open() error {
	cmd := "accept"
	if w.side == Acceptor {
		cmd = "open"
	}
	peerDone := w.peer.Start(fmt.Sprintf("%s %d", cmd, w.n))
	var err error
	if w.side == Opener {
		err = openInto(w.sess, &w.streams, w.n)
	} else {
		err = acceptInto(w.sess, &w.streams, w.n)
	}
	if err != nil {
		w.sess.Close() // unblocks the peer
		<-peerDone
		return err
	}
	return <-peerDone
}

// Measure returns the growth of the heap (per stream) and of the number of
// goroutines since Prepare, once the session settled.
func (w *Idle) Measure() IdleResult {
	time.Sleep(20 * time.Millisecond) // let the last control frames land
	heap, gor := settledHeap(20*time.Millisecond, time.Second)
	return IdleResult{
		Streams:         w.n,
		HeapPerStream:   (float64(heap) - float64(w.heap0)) / float64(w.n),
		GoroutinesAdded: gor - w.gor0,
	}
}

// Teardown closes the streams and the session on both sides.
func (w *Idle) Teardown() error {
	err := w.peer.Do("close")
	CloseAll(w.streams)
	clear(w.streams)
	w.streams = w.streams[:0]
	if w.sess != nil {
		w.sess.Close()
		w.sess = nil
	}
	return err
}

// Close ends the listener. The peer is the caller's.
func (w *Idle) Close() {
	if w.sess != nil {
		w.Teardown()
	}
	w.l.Close()
}

// settledHeap returns the live heap after GC, and the number of goroutines
// once it stopped changing for the stable period (goroutines of sessions
// closed just before, such as a QUIC connection's while it drains, may still
// be exiting), waiting at most limit for that.
func settledHeap(stable, limit time.Duration) (heap uint64, goroutines int) {
	goroutines = runtime.NumGoroutine()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		time.Sleep(stable)
		n := runtime.NumGoroutine()
		if n == goroutines {
			break
		}
		goroutines = n
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, goroutines
}

func openInto(s Session, streams *[]Stream, n int) error {
	tag := []byte{'i'}
	for i := range n {
		st, err := s.Open()
		if err != nil {
			return fmt.Errorf("open stream %d: %w", i, err)
		}
		*streams = append(*streams, st)
		if _, err := st.Write(tag); err != nil {
			return fmt.Errorf("write tag of stream %d: %w", i, err)
		}
	}
	return nil
}

func acceptInto(s Session, streams *[]Stream, n int) error {
	var tag [1]byte
	for i := range n {
		st, err := s.Accept()
		if err != nil {
			return fmt.Errorf("accept stream %d: %w", i, err)
		}
		*streams = append(*streams, st)
		if _, err := io.ReadFull(st, tag[:]); err != nil {
			return fmt.Errorf("read tag of stream %d: %w", i, err)
		}
	}
	return nil
}

// Peer is the other side of an [Idle] measurement: a child process
// running [ServePeer], driven by one-line commands on its stdin.
type Peer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// StartPeer starts cmd (which must run [ServePeer]) as the peer.
func StartPeer(cmd *exec.Cmd) (*Peer, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Peer{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// Start sends a command; the channel yields its outcome.
func (p *Peer) Start(command string) <-chan error {
	ch := make(chan error, 1)
	if _, err := io.WriteString(p.in, command+"\n"); err != nil {
		ch <- fmt.Errorf("peer %q: %w", command, err)
		return ch
	}
	go func() {
		line, err := p.out.ReadString('\n')
		switch {
		case err != nil:
			ch <- fmt.Errorf("peer %q: %w", command, err)
		case line != "ok\n":
			ch <- fmt.Errorf("peer %q: %s", command, strings.TrimSpace(line))
		default:
			ch <- nil
		}
	}()
	return ch
}

// Do sends a command and waits for its outcome.
func (p *Peer) Do(command string) error { return <-p.Start(command) }

// Close ends the peer process.
func (p *Peer) Close() error {
	p.in.Close()
	return p.cmd.Wait()
}

// ServePeer runs the peer side of idle-memory measurements over t until in
// ends: "dial ADDR" starts a session, "open N" and "accept N" open or
// accept N streams (one tag byte each) and keep them, "close" closes them
// and the session. Each command is answered with "ok" or "error: ...".
func ServePeer(t Transport, in io.Reader, out io.Writer) error {
	var sess Session
	var streams []Stream
	closeAll := func() {
		CloseAll(streams)
		streams = nil
		if sess != nil {
			sess.Close()
			sess = nil
		}
	}
	defer closeAll()
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		var err error
		switch verb {
		case "dial":
			closeAll()
			sess, err = t.Dial(arg)
		case "open", "accept":
			var n int
			if n, err = strconv.Atoi(arg); err != nil {
				break
			}
			if sess == nil {
				err = errors.New("no session")
				break
			}
			streams = make([]Stream, 0, n)
			if verb == "open" {
				err = openInto(sess, &streams, n)
			} else {
				err = acceptInto(sess, &streams, n)
			}
		case "close":
			closeAll()
		default:
			err = fmt.Errorf("unknown command %q", verb)
		}
		reply := "ok\n"
		if err != nil {
			reply = "error: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
		}
		if _, err := io.WriteString(out, reply); err != nil {
			return err
		}
	}
	return sc.Err()
}
