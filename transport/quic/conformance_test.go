package quic

import (
	"testing"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux/muxtest"
)

// TestConformance runs the shared conformance suite over loopback UDP,
// through a proxy that FreezeServer stops.
func TestConformance(t *testing.T) {
	muxtest.Run(t, func(t *testing.T, opts muxtest.Options) muxtest.Pair {
		cfg := &twine.Config{
			PeerTimeout:         opts.PeerTimeout,
			MaxIncomingStreams:  opts.MaxIncomingStreams,
			InitialStreamWindow: opts.InitialStreamWindow,
		}
		c, s, p := proxiedPair(t, cfg, cfg)
		return muxtest.Pair{Client: c, Server: s, FreezeServer: p.freeze}
	})
}
