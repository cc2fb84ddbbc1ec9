package libp2ptwine

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/stretchr/testify/require"
	"github.com/twinemux/twine"
)

const (
	defaultSessionWindow = 32 << 20  // twine's default Config.SessionWindow
	defaultStreamWindow  = 256 << 10 // twine's default Config.InitialStreamWindow
)

// TestScopeReservations follows a connection's reservations: the session
// budget at the start, a window per stream opened or accepted, released
// once by Close or Reset, and everything left released by closing the
// connection.
func TestScopeReservations(t *testing.T) {
	clientScope, serverScope := newScope(t, nil), newScope(t, nil)
	client, server := newPair(t, DefaultTransport, clientScope, serverScope)
	ctx := context.Background()

	require.Equal(t, []reservation{{defaultSessionWindow, network.ReservationPriorityLow, true}}, clientScope.Calls())
	require.Equal(t, defaultSessionWindow, serverScope.Reserved())

	cs, err := client.OpenStream(ctx)
	require.NoError(t, err)
	require.Equal(t, reservation{defaultStreamWindow, network.ReservationPriorityAlways, true}, clientScope.Calls()[1])
	require.Equal(t, defaultSessionWindow+defaultStreamWindow, clientScope.Reserved())
	ss, err := server.AcceptStream()
	require.NoError(t, err)
	require.Equal(t, defaultSessionWindow+defaultStreamWindow, serverScope.Reserved())

	require.NoError(t, cs.Close())
	require.NoError(t, cs.Close())
	require.NoError(t, cs.Reset())
	require.Equal(t, defaultSessionWindow, clientScope.Reserved(), "Close releases the stream's window once")
	require.NoError(t, ss.Reset())
	require.NoError(t, ss.Close())
	require.Equal(t, defaultSessionWindow, serverScope.Reserved(), "Reset releases the stream's window once")

	left, err := client.OpenStream(ctx)
	require.NoError(t, err)
	_, err = left.Write([]byte("never closed"))
	require.NoError(t, err)
	_, err = server.AcceptStream()
	require.NoError(t, err)
	require.Equal(t, defaultSessionWindow+defaultStreamWindow, clientScope.Reserved())
	require.Equal(t, defaultSessionWindow+defaultStreamWindow, serverScope.Reserved())

	require.NoError(t, client.Close())
	require.NoError(t, server.Close())
	require.Zero(t, clientScope.Reserved(), "closing the connection releases everything")
	require.Zero(t, serverScope.Reserved(), "closing the connection releases everything")
	require.NoError(t, left.Close())
	require.NoError(t, client.Close())
	require.Zero(t, clientScope.Reserved(), "nothing is released twice")

	_, err = client.OpenStream(ctx)
	require.Error(t, err)
	require.Zero(t, clientScope.Reserved(), "a closed connection reserves nothing")
}

// TestScopeCapsSessionWindow gives the receiving side a scope that grants
// at most 128 KiB at once: its session window shrinks to 128 KiB, so two
// full 64 KiB stream windows leave no room for a third stream's byte until
// one is read.
func TestScopeCapsSessionWindow(t *testing.T) {
	const streamWindow, budget = 64 << 10, 128 << 10
	tr := &Transport{Config: twine.Config{InitialStreamWindow: streamWindow, SessionWindow: 1 << 20}}
	serverScope := newScope(t, func(size int, _ uint8) bool { return size > budget })
	client, server := newPair(t, tr, nil, serverScope)

	require.Equal(t, []reservation{
		{1 << 20, network.ReservationPriorityLow, false},
		{512 << 10, network.ReservationPriorityLow, false},
		{256 << 10, network.ReservationPriorityLow, false},
		{budget, network.ReservationPriorityLow, true},
	}, serverScope.Calls(), "the budget is halved until the scope grants it")

	ctx := context.Background()
	full := make([]byte, streamWindow)
	var streams []network.MuxedStream
	for range 3 {
		cs, err := client.OpenStream(ctx)
		require.NoError(t, err)
		require.NoError(t, cs.SetWriteDeadline(time.Now().Add(10*time.Second)))
		streams = append(streams, cs)
	}
	for _, cs := range streams[:2] {
		_, err := cs.Write(full)
		require.NoError(t, err, "a stream window fits in the session window")
	}

	third := streams[2]
	require.NoError(t, third.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
	n, err := third.Write([]byte{1})
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the session window is full")
	require.Zero(t, n)

	ss, err := server.AcceptStream()
	require.NoError(t, err)
	_, err = io.ReadFull(ss, full)
	require.NoError(t, err)
	require.NoError(t, third.SetWriteDeadline(time.Now().Add(10*time.Second)))
	_, err = third.Write([]byte{1})
	require.NoError(t, err, "reading one stream returned session credit")
}

// TestScopeRefusesBudget checks that NewConn fails, reserving nothing, when
// the scope grants not even one stream window.
func TestScopeRefusesBudget(t *testing.T) {
	scope := newScope(t, func(int, uint8) bool { return true })
	nc, _ := tcpConns(t)
	_, err := DefaultTransport.NewConn(nc, false, scope)
	require.ErrorIs(t, err, network.ErrResourceLimitExceeded)
	calls := scope.Calls()
	require.Equal(t, reservation{defaultStreamWindow, network.ReservationPriorityAlways, false}, calls[len(calls)-1],
		"the last attempt asks for one stream window at any utilisation")
	require.Zero(t, scope.Reserved())
}

// TestScopeRefusesOpen checks that OpenStream fails without opening a stream
// when the scope refuses its window.
func TestScopeRefusesOpen(t *testing.T) {
	scope := newScope(t, func(size int, _ uint8) bool { return size == defaultStreamWindow })
	client, _ := newPair(t, DefaultTransport, scope, nil)

	_, err := client.OpenStream(context.Background())
	require.ErrorIs(t, err, network.ErrResourceLimitExceeded)
	var sess *twine.Session
	require.True(t, client.As(&sess))
	require.Zero(t, sess.NumStreams(), "no stream was opened")
	require.Equal(t, defaultSessionWindow, scope.Reserved())
}

// TestScopeRefusesAccept checks that a peer's stream whose window the scope
// refuses is reset with StreamResourceLimitExceeded, and that AcceptStream
// returns the next one.
func TestScopeRefusesAccept(t *testing.T) {
	refused := false
	scope := newScope(t, func(size int, _ uint8) bool {
		if size == defaultStreamWindow && !refused {
			refused = true // the first stream only
			return true
		}
		return false
	})
	client, server := newPair(t, DefaultTransport, nil, scope)
	ctx := context.Background()

	first, err := client.OpenStream(ctx)
	require.NoError(t, err)
	second, err := client.OpenStream(ctx)
	require.NoError(t, err)
	_, err = second.Write([]byte("second"))
	require.NoError(t, err)

	ss, err := server.AcceptStream()
	require.NoError(t, err)
	buf := make([]byte, len("second"))
	_, err = io.ReadFull(ss, buf)
	require.NoError(t, err)
	require.Equal(t, "second", string(buf), "AcceptStream skipped the refused stream")

	_, err = first.Read(make([]byte, 1))
	requireStreamError(t, err, network.StreamResourceLimitExceeded, true)
	require.Equal(t, defaultSessionWindow+defaultStreamWindow, scope.Reserved())
}
