package libp2ptwine

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/stretchr/testify/require"
	"github.com/twinemux/twine/mux"
)

func TestConvertError(t *testing.T) {
	streamErr := &mux.StreamError{StreamID: 3, Code: mux.ErrorCode(network.StreamProtocolViolation), Remote: true}
	sessionErr := &mux.SessionError{Code: mux.ErrorCode(network.ConnGarbageCollected), Remote: true}
	lostErr := &mux.SessionError{Remote: true, Reason: "connection read failed without GOAWAY", Err: io.ErrUnexpectedEOF}
	deadlineErr := &mux.DeadlineError{StreamID: 3, Op: "read"}
	closedErr := errors.Join(errors.New("twine: stream 3 closed for writing"), net.ErrClosed)

	tests := []struct {
		name string
		in   error
		want error
	}{
		{"nil", nil, nil},
		{"EOF", io.EOF, io.EOF},
		{"stream reset", streamErr, &network.StreamError{ErrorCode: network.StreamProtocolViolation, Remote: true, TransportError: streamErr}},
		{"local reset", &mux.StreamError{StreamID: 5, Code: 0}, &network.StreamError{TransportError: &mux.StreamError{StreamID: 5}}},
		{"session closed", sessionErr, &network.ConnError{ErrorCode: network.ConnGarbageCollected, Remote: true, TransportError: sessionErr}},
		{"connection lost", lostErr, &network.ConnError{Remote: true, TransportError: lostErr}},
		{"peer unresponsive", mux.ErrPeerUnresponsive, mux.ErrPeerUnresponsive},
		{"deadline", deadlineErr, deadlineErr},
		{"closed locally", closedErr, closedErr},
		{"context", context.Canceled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, convertError(tt.in))
		})
	}
}

func TestConvertedErrorsMatch(t *testing.T) {
	streamErr := convertError(&mux.StreamError{StreamID: 3, Code: 7, Remote: true})
	require.ErrorIs(t, streamErr, network.ErrReset, "a reset must match go-libp2p's ErrReset")
	require.ErrorIs(t, streamErr, mux.ErrStreamReset, "twine's error stays inside")
	require.ErrorIs(t, streamErr, &network.StreamError{ErrorCode: 7, Remote: true})

	sessionErr := convertError(&mux.SessionError{Code: 9})
	require.ErrorIs(t, sessionErr, network.ErrReset, "go-libp2p's ConnError matches ErrReset")
	require.ErrorIs(t, sessionErr, net.ErrClosed, "twine's session error stays inside")
	require.ErrorIs(t, sessionErr, &network.ConnError{ErrorCode: 9})

	var ne net.Error
	require.ErrorAs(t, convertError(&mux.DeadlineError{Op: "write"}), &ne)
	require.True(t, ne.Timeout())
}

// TestResetCodesBothWays resets streams from either side with a code and
// checks what both sides' reads and writes return.
func TestResetCodesBothWays(t *testing.T) {
	client, server := newPair(t, DefaultTransport, nil, nil)
	ctx := context.Background()

	cs, err := client.OpenStream(ctx)
	require.NoError(t, err)
	ss, err := server.AcceptStream()
	require.NoError(t, err)

	require.NoError(t, ss.ResetWithError(network.StreamProtocolViolation))
	_, err = ss.Read(make([]byte, 1))
	requireStreamError(t, err, network.StreamProtocolViolation, false)
	_, err = cs.Read(make([]byte, 1))
	requireStreamError(t, err, network.StreamProtocolViolation, true)
	_, err = cs.Write([]byte("late"))
	requireStreamError(t, err, network.StreamProtocolViolation, true)

	cs2, err := client.OpenStream(ctx)
	require.NoError(t, err)
	ss2, err := server.AcceptStream()
	require.NoError(t, err)
	require.NoError(t, cs2.Reset())
	_, err = cs2.Write([]byte("x"))
	requireStreamError(t, err, network.StreamNoError, false)
	_, err = ss2.Read(make([]byte, 1))
	requireStreamError(t, err, network.StreamNoError, true)
}

// TestCloseReadStopsPeerWrites checks that the peer's writes after CloseRead
// fail as a reset, as with go-libp2p's QUIC transport.
func TestCloseReadStopsPeerWrites(t *testing.T) {
	client, server := newPair(t, DefaultTransport, nil, nil)
	cs, err := client.OpenStream(context.Background())
	require.NoError(t, err)
	ss, err := server.AcceptStream()
	require.NoError(t, err)

	require.NoError(t, ss.CloseRead())
	_, err = ss.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)

	require.NoError(t, cs.SetWriteDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 64<<10)
	for err = nil; err == nil; {
		_, err = cs.Write(buf) // succeeds until the STOP arrives
	}
	requireStreamError(t, err, network.StreamNoError, true)
}

// TestHalfClose sends a request, half-closes, and reads the whole reply.
func TestHalfClose(t *testing.T) {
	client, server := newPair(t, DefaultTransport, nil, nil)
	go func() {
		ss, err := server.AcceptStream()
		if err != nil {
			return
		}
		defer ss.Close()
		req, err := io.ReadAll(ss)
		if err != nil {
			ss.Reset()
			return
		}
		ss.Write(append([]byte("re: "), req...))
	}()

	cs, err := client.OpenStream(context.Background())
	require.NoError(t, err)
	defer cs.Close()
	_, err = cs.Write([]byte("ping"))
	require.NoError(t, err)
	require.NoError(t, cs.CloseWrite())
	_, err = cs.Write([]byte("more"))
	require.ErrorIs(t, err, net.ErrClosed, "writing after CloseWrite")
	reply, err := io.ReadAll(cs)
	require.NoError(t, err)
	require.Equal(t, "re: ping", string(reply))
}

// TestCloseWithErrorCode closes a connection with a code and checks what
// pending and later calls on both sides return.
func TestCloseWithErrorCode(t *testing.T) {
	client, server := newPair(t, DefaultTransport, nil, nil)
	cs, err := client.OpenStream(context.Background())
	require.NoError(t, err)
	ss, err := server.AcceptStream()
	require.NoError(t, err)

	readErr := make(chan error, 1)
	go func() {
		_, err := ss.Read(make([]byte, 1))
		readErr <- err
	}()
	require.NoError(t, client.CloseWithError(network.ConnGarbageCollected))
	require.True(t, client.IsClosed())

	requireConnError(t, <-readErr, network.ConnGarbageCollected, true)
	_, err = server.AcceptStream()
	requireConnError(t, err, network.ConnGarbageCollected, true)
	_, err = cs.Write([]byte("x"))
	requireConnError(t, err, network.ConnGarbageCollected, false)
	_, err = client.OpenStream(context.Background())
	requireConnError(t, err, network.ConnGarbageCollected, false)
}

func TestDeadline(t *testing.T) {
	client, _ := newPair(t, DefaultTransport, nil, nil)
	cs, err := client.OpenStream(context.Background())
	require.NoError(t, err)
	require.NoError(t, cs.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = cs.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
}

func requireStreamError(t *testing.T, err error, code network.StreamErrorCode, remote bool) {
	t.Helper()
	se, ok := errors.AsType[*network.StreamError](err)
	require.True(t, ok, "want a *network.StreamError, got %v", err)
	require.Equal(t, code, se.ErrorCode, "code of %v", err)
	require.Equal(t, remote, se.Remote, "Remote of %v", err)
	require.ErrorIs(t, err, network.ErrReset)
	require.ErrorIs(t, err, mux.ErrStreamReset)
}

func requireConnError(t *testing.T, err error, code network.ConnErrorCode, remote bool) {
	t.Helper()
	ce, ok := errors.AsType[*network.ConnError](err)
	require.True(t, ok, "want a *network.ConnError, got %v", err)
	require.Equal(t, code, ce.ErrorCode, "code of %v", err)
	require.Equal(t, remote, ce.Remote, "Remote of %v", err)
	require.ErrorIs(t, err, net.ErrClosed)
	_, ok = errors.AsType[*mux.SessionError](err)
	require.True(t, ok, "twine's *mux.SessionError inside %v", err)
}
