package muxtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

func testSessionClose(t *testing.T, newPair NewPair) {
	closes := []struct {
		name string
		code mux.ErrorCode
		do   func(mux.Session) error
	}{
		{"Close", mux.CodeNoError, mux.Session.Close},
		{"CloseWithError(0x1234)", 0x1234, func(s mux.Session) error { return s.CloseWithError(0x1234) }},
	}
	for _, byServer := range []bool{false, true} {
		for _, c := range closes {
			by := "by=client"
			if byServer {
				by = "by=server"
			}
			t.Run(by+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				p := newPair(t, Options{MaxIncomingStreams: 2, InitialStreamWindow: testWindow})
				closer, other := p.Client, p.Server
				if byServer {
					closer, other = p.Server, p.Client
				}
				pending := blockEverything(t, p)
				require.NoError(t, c.do(closer))

				for _, call := range pending {
					remote := call.session == other
					what := fmt.Sprintf("%s blocked when the %s closed the session", call.name, map[bool]string{false: "local side", true: "peer"}[remote])
					r := await(t, call.ch, what)
					requireSessionError(t, r.Err, c.code, remote, what)
				}
				for _, s := range []mux.Session{closer, other} {
					remote := s == other
					side := map[bool]string{false: "the closer", true: "the peer"}[remote]
					select {
					case <-s.Done():
					case <-time.After(bound):
						t.Fatalf("Done of %s is not closed", side)
					}
					require.True(t, s.IsClosed(), "IsClosed of %s", side)
					requireSessionError(t, s.Err(), c.code, remote, "Err of "+side)
					_, err := s.OpenStream(context.Background())
					requireSessionError(t, err, c.code, remote, "OpenStream on "+side+" after the close")
					_, err = s.AcceptStream(context.Background())
					requireSessionError(t, err, c.code, remote, "AcceptStream on "+side+" after the close")
				}
				for _, call := range pending {
					if call.stream == nil {
						continue
					}
					remote := call.session == other
					r := await(t, calltest.Read(call.stream, 10), "a Read after the close")
					requireSessionError(t, r.Err, c.code, remote, "a Read after the close")
					r = await(t, calltest.Write(call.stream, []byte("x")), "a Write after the close")
					requireSessionError(t, r.Err, c.code, remote, "a Write after the close")
				}

				// Repeat closes, on either side, change nothing.
				require.NoError(t, closer.CloseWithError(0x999))
				require.NoError(t, other.CloseWithError(0x998))
				requireSessionError(t, closer.Err(), c.code, false, "Err of the closer after more closes")
				requireSessionError(t, other.Err(), c.code, true, "Err of the peer after more closes")
			})
		}
	}
}

// pendingCall is a call blocked on a session.
type pendingCall struct {
	name    string
	session mux.Session
	stream  mux.Stream // the stream the call is on, if any
	ch      <-chan calltest.Result
}

// blockEverything starts, on each side of p, a Read, a Write, an
// AcceptStream and an OpenStream that all block, and checks that they do.
// p must allow 2 incoming streams on each side and have small windows.
func blockEverything(t *testing.T, p Pair) []pendingCall {
	t.Helper()
	// The client opens a and b, the server c and d: each side has used its
	// stream credit.
	aClient, _ := openStream(t, p.Client, p.Server)
	_, bServer := openStream(t, p.Client, p.Server)
	cServer, cClient := openStream(t, p.Server, p.Client)
	openStream(t, p.Server, p.Client)
	var calls []pendingCall
	add := func(name string, s mux.Session, st mux.Stream, ch <-chan calltest.Result) {
		calls = append(calls, pendingCall{name: name, session: s, stream: st, ch: ch})
	}
	data := randomBytes(6, blockingSize)
	add("the client's Write", p.Client, aClient, calltest.Write(aClient, data))
	add("the server's Write", p.Server, bServer, calltest.Write(bServer, data))
	add("the client's Read", p.Client, cClient, calltest.Read(cClient, 10))
	add("the server's Read", p.Server, cServer, calltest.Read(cServer, 10))
	for _, s := range []struct {
		name string
		s    mux.Session
	}{{"client", p.Client}, {"server", p.Server}} {
		add("the "+s.name+"'s AcceptStream", s.s, nil, calltest.Go(func() calltest.Result {
			_, err := s.s.AcceptStream(context.Background())
			return calltest.Result{Err: err}
		}))
		add("the "+s.name+"'s OpenStream", s.s, nil, calltest.Go(func() calltest.Result {
			_, err := s.s.OpenStream(context.Background())
			return calltest.Result{Err: err}
		}))
	}
	for _, c := range calls {
		requirePending(t, c.ch, c.name)
	}
	return calls
}

// With MaxIncomingStreams 4 on the server, the client's 5th OpenStream
// waits, without resetting anything, until a stream finishes.
func testStreamCredit(t *testing.T, newPair NewPair) {
	p := newPair(t, Options{MaxIncomingStreams: 4})
	var cs, ss [4]mux.Stream
	for i := range cs {
		cs[i], ss[i] = openPair(t, p)
	}

	pending := calltest.Go(func() calltest.Result {
		st, err := p.Client.OpenStream(context.Background())
		if err != nil {
			return calltest.Result{Err: err}
		}
		_, err = st.Write([]byte{hello})
		return calltest.Result{Err: err}
	})
	requirePending(t, pending, "a 5th OpenStream while 4 streams are open")

	const wait = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	st, err := p.Client.OpenStream(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a 5th OpenStream whose context ends")
	require.Nil(t, st)
	requireElapsed(t, start, time.Now(), wait, "OpenStream with a 50ms context")

	for i := range cs {
		requireEcho(t, cs[i], ss[i], fmt.Sprintf("stream %d is not reset", i))
	}
	requirePending(t, pending, "the 5th OpenStream while 4 streams are open")

	// Stream 0 finishes: each side reads the other's FIN, and closes.
	require.NoError(t, cs[0].CloseWrite())
	r := await(t, goReadAll(ss[0]), "the server reading stream 0 to its FIN")
	requireEOF(t, r.Err, "the server reading stream 0")
	require.NoError(t, ss[0].Close())
	r = await(t, goReadAll(cs[0]), "the client reading stream 0 to its FIN")
	requireEOF(t, r.Err, "the client reading stream 0")
	require.NoError(t, cs[0].Close())

	r = await(t, pending, "the 5th OpenStream once a stream finished")
	require.NoError(t, r.Err, "the 5th OpenStream once a stream finished")
	acc, err := p.Server.AcceptStream(boundCtx(t))
	require.NoError(t, err)
	r = await(t, calltest.ReadFull(acc, 1), "reading the 5th stream")
	require.NoError(t, r.Err)

	for i := 1; i < len(cs); i++ {
		requireEcho(t, cs[i], ss[i], fmt.Sprintf("stream %d after the 5th opened", i))
	}
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err = p.Client.OpenStream(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a 6th OpenStream while 4 streams are open again")
}

// The server freezes; the client's blocked calls fail with
// mux.ErrPeerUnresponsive, not before PeerTimeout has passed since the
// server last sent something, and soon after PeerTimeout from the freeze.
func testSilentPeer(t *testing.T, newPair NewPair) {
	const (
		timeout = 500 * time.Millisecond
		margin  = 2 * time.Second
	)
	cpuHeavy.RLock()
	defer cpuHeavy.RUnlock()
	p := newPair(t, Options{PeerTimeout: timeout, InitialStreamWindow: testWindow})
	cs, ss := openPair(t, p)
	ws, _ := openPair(t, p)

	write := calltest.Write(ws, randomBytes(7, blockingSize))
	accept := calltest.Go(func() calltest.Result {
		_, err := p.Client.AcceptStream(context.Background())
		return calltest.Result{Err: err}
	})
	requirePending(t, write, "the client's Write beyond the window")
	requirePending(t, accept, "the client's AcceptStream")

	// The server's last words: they were sent no earlier than lastSent,
	// and the client has them before the freeze.
	msg := []byte("last words")
	read := calltest.ReadFull(cs, len(msg))
	lastSent := time.Now()
	w := await(t, calltest.Write(ss, msg), "the server's last Write")
	require.NoError(t, w.Err)
	r := await(t, read, "the client reading the server's last words")
	require.NoError(t, r.Err)
	read = calltest.Read(cs, 10)
	requirePending(t, read, "the client's Read")

	frozen := time.Now()
	p.FreezeServer()

	for _, call := range []struct {
		name string
		ch   <-chan calltest.Result
	}{{"Read", read}, {"Write", write}, {"AcceptStream", accept}} {
		what := "the client's blocked " + call.name + " once the server froze"
		var r calltest.Result
		select {
		case r = <-call.ch:
		case <-time.After(timeout + margin + bound):
			t.Fatalf("%s: still blocked", what)
		}
		require.ErrorIs(t, r.Err, mux.ErrPeerUnresponsive, what)
		require.GreaterOrEqual(t, r.At.Sub(lastSent), timeout, "%s: returned before the server had been silent for PeerTimeout", what)
		require.Less(t, r.At.Sub(frozen), timeout+margin, "%s: returned too long after the freeze", what)
	}
	err := p.Client.Err()
	require.ErrorIs(t, err, mux.ErrPeerUnresponsive, "the client session's Err")
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "mux.ErrPeerUnresponsive is a net.Error with Timeout")
	require.ErrorIs(t, err, net.ErrClosed, "mux.ErrPeerUnresponsive matches net.ErrClosed")
	_, err = p.Client.OpenStream(context.Background())
	require.ErrorIs(t, err, mux.ErrPeerUnresponsive, "OpenStream after the verdict")
}

// An idle but healthy session is never declared dead, however long it
// stays idle: two PeerTimeouts here. The timeout is a second, so that a
// PING must go unanswered for hundreds of milliseconds on a loaded machine
// before the test fails falsely.
func testIdleSessionStaysAlive(t *testing.T, newPair NewPair) {
	const timeout = time.Second
	cpuHeavy.RLock()
	defer cpuHeavy.RUnlock()
	p := newPair(t, Options{PeerTimeout: timeout})
	cs, ss := openPair(t, p)
	start := time.Now()
	require.NoError(t, cs.SetReadDeadline(start.Add(2*timeout)))
	require.NoError(t, ss.SetReadDeadline(start.Add(2*timeout)))
	cr, sr := calltest.Read(cs, 10), calltest.Read(ss, 10)
	for _, r := range []calltest.Result{await(t, cr, "the client's Read"), await(t, sr, "the server's Read")} {
		requireTimeout(t, r.Err, "a Read on an idle session: its deadline, not a dead peer")
		requireElapsed(t, start, r.At, 2*timeout, "a Read with a deadline")
	}
	require.NoError(t, p.Client.Err(), "the idle client session")
	require.NoError(t, p.Server.Err(), "the idle server session")
	require.NoError(t, cs.SetReadDeadline(time.Time{}))
	require.NoError(t, ss.SetReadDeadline(time.Time{}))
	requireEcho(t, cs, ss, "after idling")
}
