package muxtest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

// outcome is what a Read or a Write sees after a half-close action.
type outcome uint8

const (
	works       outcome = iota // as if nothing had happened
	eof                        // Read: the data written before the FIN, then io.EOF
	closed                     // an error wrapping net.ErrClosed (not a reset, not io.EOF)
	stopped                    // *mux.StreamError{Code: 0, Remote: true}: the peer's CloseRead
	resetLocal                 // *mux.StreamError{Code: code, Remote: false}
	resetRemote                // *mux.StreamError{Code: code, Remote: true}
)

func (o outcome) String() string {
	return [...]string{"works", "io.EOF", "net.ErrClosed", "StreamError{0, Remote}", "StreamError{code, local}", "StreamError{code, Remote}"}[o]
}

// halfCloseMatrix is the semantics of the half-close calls: for an action
// on one side of a stream, the outcome of a Read and of a Write on that
// side (local) and on the other (peer). The outcome is the same for a call
// blocked when the action happens and for one made after the action
// reached its side.
var halfCloseMatrix = []struct {
	action                                     string
	code                                       mux.ErrorCode // the reset code, for resets
	do                                         func(mux.Stream) error
	localRead, localWrite, peerRead, peerWrite outcome
}{
	{"CloseWrite", 0, mux.Stream.CloseWrite, works, closed, eof, works},
	{"CloseRead", 0, mux.Stream.CloseRead, closed, works, works, stopped},
	{"Close", 0, mux.Stream.Close, closed, closed, eof, stopped},
	{"Reset", 0, mux.Stream.Reset, resetLocal, resetLocal, resetRemote, resetRemote},
	{"ResetWithError(0x4242)", 0x4242, func(s mux.Stream) error { return s.ResetWithError(0x4242) }, resetLocal, resetLocal, resetRemote, resetRemote},
}

// halfCloseCase is one cell of the matrix, with a call's timing.
type halfCloseCase struct {
	action   string
	code     mux.ErrorCode
	do       func(mux.Stream) error
	byServer bool // the server's side of the stream acts
	peer     bool // the call is on the other side
	write    bool // the call is a Write (else a Read)
	blocked  bool // the call is blocked when the action happens (else made after)
	want     outcome
}

func (c halfCloseCase) String() string {
	side, op, timing := "local", "Read", "later"
	if c.peer {
		side = "peer"
	}
	if c.write {
		op = "Write"
	}
	if c.blocked {
		timing = "blocked"
	}
	return fmt.Sprintf("%s %s %s after %s: want %v", timing, side, op, c.action, c.want)
}

func testHalfClose(t *testing.T, newPair NewPair) {
	for _, row := range halfCloseMatrix {
		t.Run(row.action, func(t *testing.T) {
			t.Parallel()
			for _, byServer := range []bool{false, true} {
				by := "by=client"
				if byServer {
					by = "by=server"
				}
				t.Run(by, func(t *testing.T) {
					t.Parallel()
					for _, peer := range []bool{false, true} {
						for _, write := range []bool{false, true} {
							for _, blocked := range []bool{true, false} {
								c := halfCloseCase{action: row.action, code: row.code, do: row.do, byServer: byServer, peer: peer, write: write, blocked: blocked}
								c.want = [2][2]outcome{{row.localRead, row.localWrite}, {row.peerRead, row.peerWrite}}[b2i(peer)][b2i(write)]
								name := fmt.Sprintf("%s/%s/%s", map[bool]string{false: "local", true: "peer"}[peer],
									map[bool]string{false: "Read", true: "Write"}[write], map[bool]string{false: "later", true: "blocked"}[blocked])
								t.Run(name, func(t *testing.T) {
									t.Parallel()
									runHalfCloseCase(t, newPair, c)
								})
							}
						}
					}
				})
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func runHalfCloseCase(t *testing.T, newPair NewPair, c halfCloseCase) {
	p := newPair(t, Options{InitialStreamWindow: testWindow})
	cs, ss := openPair(t, p)
	actor, peer := cs, ss
	if c.byServer {
		actor, peer = ss, cs
	}
	// The call under test runs on obs; other is the stream's other side.
	obs, other := actor, peer
	if c.peer {
		obs, other = peer, actor
	}
	act := func() { require.NoError(t, c.do(actor), "%s", c.action) }
	if c.write {
		halfCloseWrite(t, c, act, obs, other)
	} else {
		halfCloseRead(t, c, act, obs, other)
	}
}

// requireOutcome checks a failed call's error against the matrix.
func requireOutcome(t *testing.T, c halfCloseCase, err error) {
	t.Helper()
	what := c.String()
	switch c.want {
	case eof:
		requireEOF(t, err, what)
	case closed:
		requireClosedError(t, err, what)
	case stopped:
		requireStreamError(t, err, mux.CodeNoError, true, what)
	case resetLocal:
		requireStreamError(t, err, c.code, false, what)
	case resetRemote:
		requireStreamError(t, err, c.code, true, what)
	default:
		t.Fatalf("%s: no error expected, got %v", what, err)
	}
}

func halfCloseRead(t *testing.T, c halfCloseCase, act func(), obs, other mux.Stream) {
	what := c.String()
	msg := []byte("data for " + what)
	switch {
	case c.want == works:
		// The Read is unaffected: it still waits, and gets what the other
		// side writes next.
		var r <-chan calltest.Result
		if c.blocked {
			r = calltest.ReadFull(obs, len(msg))
			requirePending(t, r, "Read with nothing sent")
			act()
			requirePending(t, r, what)
		} else {
			act()
			r = calltest.ReadFull(obs, len(msg))
		}
		w := await(t, calltest.Write(other, msg), "the other side's Write")
		require.NoError(t, w.Err, "%s: the other side's Write", what)
		got := await(t, r, what)
		require.NoError(t, got.Err, what)
		require.Equal(t, msg, got.Data, what)

	case c.blocked:
		r := calltest.Read(obs, 1024)
		requirePending(t, r, "Read with nothing sent")
		act()
		got := await(t, r, what)
		require.Zero(t, got.N, "%s: nothing was sent", what)
		requireOutcome(t, c, got.Err)

	default:
		// Data is sent towards obs before the action: the peer of a
		// CloseWrite reads it before io.EOF, the peer of a reset may read
		// some of it, and a local CloseRead or reset discards it.
		w := await(t, calltest.Write(other, msg), "writing before "+c.action)
		require.NoError(t, w.Err, "writing before %s", c.action)
		act()
		got := await(t, goReadAll(obs), what)
		requireOutcome(t, c, got.Err)
		switch c.want {
		case eof:
			require.Equal(t, msg, got.Data, "%s: every byte before the FIN, then io.EOF", what)
		case resetRemote:
			require.True(t, bytes.HasPrefix(msg, got.Data), "%s: what was read before the reset is a prefix of what was sent", what)
		default:
			require.Empty(t, got.Data, "%s: buffered data is discarded", what)
		}
		again := await(t, calltest.Read(obs, 1024), "a second "+what)
		require.Zero(t, again.N)
		requireOutcome(t, c, again.Err)
	}
}

func halfCloseWrite(t *testing.T, c halfCloseCase, act func(), obs, other mux.Stream) {
	what := c.String()
	switch {
	case c.want == works:
		// The Write is unaffected: it completes once the other side reads.
		data := randomBytes(1, blockingSize)
		var w <-chan calltest.Result
		if c.blocked {
			w = calltest.Write(obs, data)
			requirePending(t, w, "Write beyond the peer's window while it does not read")
			act()
			requirePending(t, w, what)
		} else {
			act()
			w = calltest.Write(obs, data)
		}
		got := await(t, calltest.ReadFull(other, len(data)), "the other side reading what "+what+" wrote")
		require.NoError(t, got.Err, what)
		require.Equal(t, hash(data), hash(got.Data), "%s: the data arrives intact", what)
		r := await(t, w, what)
		require.NoError(t, r.Err, what)
		require.Equal(t, len(data), r.N, what)

	case c.blocked:
		data := randomBytes(2, blockingSize)
		w := calltest.Write(obs, data)
		requirePending(t, w, "Write beyond the peer's window while it does not read")
		act()
		r := await(t, w, what)
		requireOutcome(t, c, r.Err)
		require.Less(t, r.N, len(data), "%s: a failed Write reports what it sent", what)
		if c.peer {
			return
		}
		// The other side receives exactly the bytes the Write reported.
		got := await(t, goReadAll(other), "the other side reading after "+what)
		switch c.want {
		case closed:
			requireEOF(t, got.Err, "the other side reading after "+what)
			require.Equal(t, r.N, len(got.Data), "%s: the peer gets exactly the %d bytes Write reported, then io.EOF", what, r.N)
			require.True(t, bytes.Equal(data[:r.N], got.Data), "%s: the bytes the peer gets are the first the Write sent", what)
		case resetLocal:
			requireStreamError(t, got.Err, c.code, true, "the other side reading after "+what)
			require.LessOrEqual(t, len(got.Data), r.N, "%s: the peer gets no more than Write reported", what)
			require.True(t, bytes.Equal(data[:len(got.Data)], got.Data), "%s: the bytes the peer gets are the first the Write sent", what)
		}

	case !c.peer:
		act()
		r := await(t, calltest.Write(obs, []byte("late")), what)
		require.Zero(t, r.N, what)
		requireOutcome(t, c, r.Err)
		if c.want == closed {
			got := await(t, goReadAll(other), "the other side reading after "+what)
			requireEOF(t, got.Err, "the other side reading after "+what)
			require.Empty(t, got.Data, "%s: a failed Write sends nothing", what)
		}

	default:
		// The peer learns of the action some time after it: its writes
		// fail from then on.
		act()
		r := await(t, goWriteUntilError(obs), what)
		require.Error(t, r.Err, "%s: the peer's writes never failed", what)
		requireOutcome(t, c, r.Err)
		again := await(t, calltest.Write(obs, []byte("again")), "a second "+what)
		require.Zero(t, again.N)
		requireOutcome(t, c, again.Err)
	}
}
