package quic

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

// Ping measures a round trip from either side, however many run at once.
func TestPing(t *testing.T) {
	c, s := newPair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for _, side := range []struct {
		name string
		sess *Session
	}{{"client", c}, {"server", s}} {
		start := time.Now()
		rtt, err := side.sess.Ping(ctx)
		took := time.Since(start)
		require.NoError(t, err, side.name)
		require.Positive(t, rtt, side.name)
		require.LessOrEqual(t, rtt, took, "%s: the round trip is part of the call", side.name)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range cap(errs) {
		wg.Go(func() {
			_, err := c.Ping(ctx)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "concurrent Ping")
	}
}

// A PING lost on the way is sent again; the round trip reported is that of
// the PING answered, not the time since the first.
func TestPingLost(t *testing.T) {
	const freeze = 300 * time.Millisecond
	c, s, p := proxiedPair(t, nil, nil)
	requireEcho(t, c, s)
	p.freeze()
	start := time.Now()
	type pinged struct {
		rtt time.Duration
		err error
	}
	ch := make(chan pinged, 1)
	go func() {
		rtt, err := c.Ping(context.Background())
		ch <- pinged{rtt, err}
	}()
	select {
	case r := <-ch:
		t.Fatalf("Ping returned (%v, %v) while every datagram was dropped", r.rtt, r.err)
	case <-time.After(freeze):
	}
	p.thaw()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		require.Less(t, r.rtt, freeze, "the PING answered was sent after the thaw")
		require.GreaterOrEqual(t, time.Since(start), freeze)
	case <-time.After(waitLong):
		t.Fatal("Ping still blocked after the thaw")
	}
}

func TestPingContext(t *testing.T) {
	c, s, p := proxiedPair(t, nil, nil)
	requireEcho(t, c, s)
	p.freeze() // no PONG comes back

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Ping(ctx)
		done <- err
	}()
	cancel()
	require.ErrorIs(t, await(t, done, "Ping after its context ended"), context.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Ping(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	c.pings.mu.Lock()
	defer c.pings.mu.Unlock()
	require.Empty(t, c.pings.waiting, "a returned Ping leaves no PING behind")
}

// Ping fails with the session's error when the session ends while it
// waits, and once the session ended.
func TestPingSessionEnd(t *testing.T) {
	const code mux.ErrorCode = 0x77
	c, s, p := proxiedPair(t, nil, nil)
	requireEcho(t, c, s)
	p.freeze()
	pending := goPing(c)
	require.NoError(t, c.CloseWithError(code))
	requireSessionError(t, await(t, pending, "Ping when its session closed"), code, false)
	_, err := c.Ping(context.Background())
	requireSessionError(t, err, code, false)
}

// Once the peer closed the session, Ping fails with its code, Remote set.
func TestPingAfterPeerClose(t *testing.T) {
	const code mux.ErrorCode = 0x78
	c, s := newPair(t, nil, nil)
	require.NoError(t, c.CloseWithError(code))
	select {
	case <-s.Done():
	case <-time.After(waitLong):
		t.Fatal("the server session did not end")
	}
	_, err := s.Ping(context.Background())
	requireSessionError(t, err, code, true)
}
