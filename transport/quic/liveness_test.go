package quic

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
)

// proxiedPair returns a client and a server session whose packets pass
// through a UDP proxy that can stop forwarding.
func proxiedPair(t *testing.T, clientCfg, serverCfg *twine.Config) (c, s *Session, p *udpProxy) {
	t.Helper()
	ln := newListener(t, serverCfg)
	p = newUDPProxy(t, ln.Addr())
	c, s = dialAccept(t, ln, p.addr(), clientCfg)
	return c, s, p
}

// requireEcho checks that a stream round trip still works.
func requireEcho(t *testing.T, c, s *Session) {
	t.Helper()
	cs, ss := openPair(t, c, s)
	_, err := cs.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(ss, buf)
	require.NoError(t, err)
	_, err = ss.Write(buf)
	require.NoError(t, err)
	_, err = io.ReadFull(cs, buf)
	require.NoError(t, err)
	cs.Close()
	ss.Close()
}

func TestSilentPeerDetected(t *testing.T) {
	const peerTimeout = 500 * time.Millisecond
	cfg := &twine.Config{PeerTimeout: peerTimeout}
	c, s, p := proxiedPair(t, cfg, cfg)
	requireEcho(t, c, s)
	cs, ss := openPair(t, c, s)
	clientRead := goRead(cs, 1)
	serverRead := goRead(ss, 1)

	p.freeze()
	for _, side := range []struct {
		name      string
		sess      *Session
		read      <-chan result
		lastHeard func() int64
	}{
		{"client", c, clientRead, p.lastToClient.Load},
		{"server", s, serverRead, p.lastToServer.Load},
	} {
		select {
		case <-side.sess.Done():
		case <-time.After(waitLong):
			t.Fatalf("%s: silent peer not detected", side.name)
		}
		silence := time.Since(time.Unix(0, side.lastHeard()))
		require.GreaterOrEqual(t, silence, peerTimeout, "%s: declared the peer dead early", side.name)
		require.Less(t, silence, peerTimeout+time.Second, "%s: detection took too long", side.name)

		err := side.sess.Err()
		require.ErrorIs(t, err, mux.ErrPeerUnresponsive, side.name)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.ErrorIs(t, err, net.ErrClosed)

		r := await(t, side.read, side.name+" Read blocked when the peer went silent")
		require.ErrorIs(t, r.err, mux.ErrPeerUnresponsive, side.name)
		require.NotErrorIs(t, r.err, io.EOF)
		_, err = side.sess.OpenStream(context.Background())
		require.ErrorIs(t, err, mux.ErrPeerUnresponsive, side.name)
	}
}

// Sub-second peer timeouts, far below QUIC's 5 s floor for the peer's idle
// timeout, hold on an idle session: the PING datagram is answered at once,
// without QUIC's ACK delay. (50 ms works too on an idle machine; 200 ms
// keeps the test steady under -race on two busy cores.)
func TestIdleSessionStaysAlive(t *testing.T) {
	tests := []struct {
		name           string
		client, server *twine.Config
	}{
		{"both 200ms", &twine.Config{PeerTimeout: 200 * time.Millisecond}, &twine.Config{PeerTimeout: 200 * time.Millisecond}},
		{"server detection off", &twine.Config{PeerTimeout: 200 * time.Millisecond}, &twine.Config{PeerTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := newPair(t, tt.client, tt.server)
			select {
			case <-c.Done():
				t.Fatalf("client ended: %v", c.Err())
			case <-s.Done():
				t.Fatalf("server ended: %v", s.Err())
			case <-time.After(time.Second):
			}
			requireEcho(t, c, s)
		})
	}
}

// A peer that does not read is not dead: it still acknowledges packets.
func TestNonReadingPeerIsAlive(t *testing.T) {
	cfg := &twine.Config{PeerTimeout: 300 * time.Millisecond, InitialStreamWindow: 64 << 10, MaxStreamWindow: 64 << 10}
	c, s := newPair(t, cfg, cfg)
	cs, ss := openPair(t, c, s)
	pending := blockedWrite(t, cs, ss)
	select {
	case <-c.Done():
		t.Fatalf("client ended: %v", c.Err())
	case r := <-pending:
		t.Fatalf("Write returned (%d, %v) though the peer does not read", r.n, r.err)
	case <-time.After(time.Second):
	}
	_, err := io.Copy(io.Discard, io.LimitReader(ss, 1<<20-1))
	require.NoError(t, err)
	require.NoError(t, await(t, pending, "Write once the peer reads").err)
}

// With detection off, a silent peer is never declared dead.
func TestDetectionOff(t *testing.T) {
	cfg := &twine.Config{PeerTimeout: -1}
	c, s, p := proxiedPair(t, cfg, cfg)
	require.Nil(t, c.live.timer)
	p.freeze()
	select {
	case <-c.Done():
		t.Fatalf("client ended: %v", c.Err())
	case <-s.Done():
		t.Fatalf("server ended: %v", s.Err())
	case <-time.After(300 * time.Millisecond):
	}
}
