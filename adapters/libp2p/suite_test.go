package libp2ptwine

import (
	"testing"

	tmux "github.com/libp2p/go-libp2p/p2p/muxer/testsuite"
)

// TestMuxerSuite runs every subtest of go-libp2p's own muxer conformance
// suite against DefaultTransport.
func TestMuxerSuite(t *testing.T) {
	tmux.SubtestAll(t, DefaultTransport)
}
