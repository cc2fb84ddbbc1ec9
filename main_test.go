package twine

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/internal/memconn"
	"github.com/twinemux/twine/mux"
)

// TestMain fails the package if any goroutine outlives the tests: every
// session's loops must exit once it is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connBuffer is the in-memory connection's buffer in each direction, like a
// socket's.
const connBuffer = 256 << 10

// newPair starts a client and a server session over an in-memory
// connection, closed at the end of the test. It returns the connection's
// ends for fault injection.
func newPair(t *testing.T, clientCfg, serverCfg *Config) (c, s *Session, cc, sc *memconn.Conn) {
	t.Helper()
	cc, sc = memconn.Pipe(connBuffer)
	c, err := Client(cc, clientCfg)
	require.NoError(t, err)
	s, err = Server(sc, serverCfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return c, s, cc, sc
}

// openPair opens a stream on c and accepts it on s.
func openPair(t *testing.T, c, s *Session) (cs, ss *Stream) {
	t.Helper()
	ctx := context.Background()
	st, err := c.OpenStream(ctx)
	require.NoError(t, err)
	acc, err := s.AcceptStream(ctx)
	require.NoError(t, err)
	return st.(*Stream), acc.(*Stream)
}

// awaitResult waits at most limit of fake time for the call behind ch, and
// returns its result with the fake time elapsed since start.
func awaitResult[R any](t *testing.T, ch <-chan R, start time.Time, limit time.Duration, why string) (R, time.Duration) {
	t.Helper()
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	select {
	case r := <-ch:
		return r, time.Since(start)
	case <-timeout.C:
		t.Fatalf("%s: still blocked %v after the start", why, time.Since(start))
		var zero R
		return zero, 0
	}
}

// requireStreamError asserts err is a *mux.StreamError with code and remote.
func requireStreamError(t *testing.T, err error, code mux.ErrorCode, remote bool) {
	t.Helper()
	var se *mux.StreamError
	require.ErrorAs(t, err, &se)
	require.Equal(t, code, se.Code, "code of %v", err)
	require.Equal(t, remote, se.Remote, "Remote of %v", err)
	require.ErrorIs(t, err, mux.ErrStreamReset)
}

// rawPeer plays the peer at frame level, to send what a well-behaved
// session would not.
type rawPeer struct {
	t    *testing.T
	conn *memconn.Conn
	br   *bufio.Reader
}

// newRawPeer starts a session under test (a server if the raw peer is the
// client) over an in-memory connection to a raw peer, which has not yet
// sent anything.
func newRawPeer(t *testing.T, cfg *Config, peerIsClient bool) (*Session, *rawPeer) {
	t.Helper()
	pc, sc := memconn.Pipe(connBuffer)
	start := Server
	if !peerIsClient {
		start = Client
	}
	s, err := start(sc, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		pc.Close()
		s.Close()
	})
	return s, &rawPeer{t: t, conn: pc, br: bufio.NewReader(pc)}
}

// handshake sends the preface and SETTINGS, and reads the session's.
func (p *rawPeer) handshake(settings ...frame.Setting) {
	p.t.Helper()
	p.writeRaw([]byte(frame.Preface))
	p.write(frame.Frame{Header: frame.Header{Type: frame.TypeSettings}, Settings: settings})
	pre := make([]byte, len(frame.Preface))
	_, err := io.ReadFull(p.br, pre)
	require.NoError(p.t, err)
	require.Equal(p.t, frame.Preface, string(pre))
	f := p.read()
	require.Equal(p.t, frame.TypeSettings, f.Type, "the session's first frame")
}

func (p *rawPeer) writeRaw(b []byte) {
	p.t.Helper()
	_, err := p.conn.Write(b)
	require.NoError(p.t, err)
}

func (p *rawPeer) write(f frame.Frame) {
	p.t.Helper()
	p.writeRaw(frame.Append(nil, f))
}

// read returns the next frame the session sent.
func (p *rawPeer) read() frame.Frame {
	p.t.Helper()
	hdr := make([]byte, frame.HeaderLen)
	_, err := io.ReadFull(p.br, hdr)
	require.NoError(p.t, err)
	h, err := frame.ParseHeader(hdr, frame.MaxLength)
	require.NoError(p.t, err)
	payload := make([]byte, h.Length)
	_, err = io.ReadFull(p.br, payload)
	require.NoError(p.t, err)
	f, err := frame.ParsePayload(h, payload)
	require.NoError(p.t, err)
	return f
}

// want reads frames until one of type typ, skipping PINGs, and returns it.
func (p *rawPeer) want(typ frame.Type, why string) frame.Frame {
	p.t.Helper()
	for {
		f := p.read()
		if f.Type == typ {
			return f
		}
		require.Equal(p.t, frame.TypePing, f.Type, "%s: want %v, got %v", why, typ, f.Type)
	}
}
