package quic

import (
	"net"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/twinemux/twine"
)

// NextProto is the ALPN protocol of twine over QUIC. Dial and Listen set it
// as the only entry of NextProtos on a copy of the caller's tls.Config.
const NextProto = "twine-quic/1"

// twine's defaults, as twine.Config documents them.
const (
	defaultPeerTimeout         = 30 * time.Second
	defaultInitialStreamWindow = 256 << 10
	defaultMaxStreamWindow     = 16 << 20
	defaultSessionWindow       = 32 << 20
	defaultMaxIncomingStreams  = 1024
)

// quicIdleTimeout is the QUIC idle timeout every session advertises: in
// effect none, since liveness is this package's (see the package doc). A
// hundred years in nanoseconds still leaves quic-go's monotonic clock
// arithmetic far from overflowing, here and at the peer.
const quicIdleTimeout = 100 * 365 * 24 * time.Hour

// settings is a validated twine.Config mapped onto quic-go.
type settings struct {
	peerTimeout time.Duration // 0 when detection is off
	keepAlive   time.Duration
	quic        *quicgo.Config
}

// newSettings validates cfg (nil allowed) by twine's own rules, then applies
// twine's defaults to every zero field and maps the result onto quic-go.
func newSettings(cfg *twine.Config) (settings, error) {
	if err := checkConfig(cfg); err != nil {
		return settings{}, err
	}
	var c twine.Config
	if cfg != nil {
		c = *cfg
	}
	var s settings
	switch {
	case c.PeerTimeout == 0:
		s.peerTimeout = defaultPeerTimeout
	case c.PeerTimeout > 0:
		s.peerTimeout = c.PeerTimeout
	}
	if s.peerTimeout > 0 {
		s.keepAlive = c.KeepAliveInterval
		if s.keepAlive == 0 {
			s.keepAlive = s.peerTimeout / 3
		}
	}
	streamWindow := orDefault(c.InitialStreamWindow, defaultInitialStreamWindow)
	maxStreamWindow := orDefault(c.MaxStreamWindow, max(defaultMaxStreamWindow, streamWindow))
	sessionWindow := orDefault(c.SessionWindow, max(defaultSessionWindow, streamWindow))
	s.quic = &quicgo.Config{
		MaxIdleTimeout:                 quicIdleTimeout,
		InitialStreamReceiveWindow:     uint64(streamWindow),
		MaxStreamReceiveWindow:         uint64(maxStreamWindow),
		InitialConnectionReceiveWindow: uint64(sessionWindow),
		MaxConnectionReceiveWindow:     uint64(sessionWindow),
		MaxIncomingStreams:             int64(orDefault(c.MaxIncomingStreams, defaultMaxIncomingStreams)),
		MaxIncomingUniStreams:          -1, // twine uses bidirectional streams only
		EnableDatagrams:                true,
	}
	return s, nil
}

func orDefault(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// checkConfig reports an invalid cfg, naming each bad field, by twine's own
// rules. twine validates a Config only when a session starts, so this
// starts one over a pipe whose far end is already closed: it fails at once
// and is closed again (transport/tcp does the same).
func checkConfig(cfg *twine.Config) error {
	if cfg == nil {
		return nil
	}
	near, far := net.Pipe()
	far.Close()
	sess, err := twine.Client(near, cfg)
	if err != nil {
		near.Close()
		return err
	}
	return sess.Close()
}
