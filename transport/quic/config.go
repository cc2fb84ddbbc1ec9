package quic

import (
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/twinemux/twine"
)

// NextProto is the ALPN protocol of twine over QUIC. Dial and Listen set it
// as the only entry of NextProtos on a copy of the caller's tls.Config.
const NextProto = "twine-quic/1"

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

// newSettings validates cfg (nil allowed) and applies its defaults, both
// by twine's own rules (twine.Config.Resolved), then maps the result onto
// quic-go.
func newSettings(cfg *twine.Config) (settings, error) {
	c, err := cfg.Resolved()
	if err != nil {
		return settings{}, err
	}
	var s settings
	if c.PeerTimeout > 0 {
		s.peerTimeout, s.keepAlive = c.PeerTimeout, c.KeepAliveInterval
	}
	s.quic = &quicgo.Config{
		MaxIdleTimeout:                 quicIdleTimeout,
		InitialStreamReceiveWindow:     uint64(c.InitialStreamWindow),
		MaxStreamReceiveWindow:         uint64(c.MaxStreamWindow),
		InitialConnectionReceiveWindow: uint64(c.InitialSessionWindow),
		MaxConnectionReceiveWindow:     uint64(c.SessionWindow),
		MaxIncomingStreams:             int64(c.MaxIncomingStreams),
		MaxIncomingUniStreams:          -1, // twine uses bidirectional streams only
		EnableDatagrams:                true,
	}
	if s.peerTimeout > 0 {
		s.quic.Tracer = traceArrivals
	}
	return s, nil
}
