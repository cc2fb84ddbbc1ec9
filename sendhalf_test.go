package twine

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// A Write whose bytes all went to the connection succeeds, even when the
// peer's STOP (or a local CloseWrite) lands before the write loop reports
// the chunk written.
func TestWriteFullyTakenSucceedsDespiteLaterAbort(t *testing.T) {
	for name, end := range map[string]func(h *sendHalf){
		"peer STOP":  func(h *sendHalf) { h.abort(sendStopped, &mux.StreamError{StreamID: 1, Remote: true}) },
		"CloseWrite": func(h *sendHalf) { h.closeWrite() },
	} {
		t.Run(name, func(t *testing.T) {
			var h sendHalf
			h.init(1<<20, newWakePool())
			p := []byte("hello")
			h.startWrite(p)
			chunk, flags, ok, more := h.take(1<<10, 1<<20)
			require.True(t, ok)
			require.False(t, more)
			require.Zero(t, flags)
			require.Equal(t, p, chunk)

			end(&h)
			done, err := h.progress(1, len(p))
			require.NoError(t, err, "the bytes were all taken: no error")
			require.False(t, done, "the chunk is still in flight")
			h.chunkWritten()
			done, err = h.progress(1, len(p))
			require.NoError(t, err)
			require.True(t, done)
		})
	}
}

// A Write cut short keeps only what was taken, and reports the error.
func TestWritePartlyTakenFailsOnAbort(t *testing.T) {
	var h sendHalf
	h.init(3, newWakePool())
	p := []byte("hello")
	h.startWrite(p)
	chunk, _, ok, more := h.take(1<<10, 1<<20)
	require.True(t, ok)
	require.False(t, more, "credit ran out")
	require.Equal(t, []byte("hel"), chunk)
	h.chunkWritten()
	require.True(t, h.closeWrite())
	done, err := h.progress(1, len(p))
	require.False(t, done)
	require.ErrorIs(t, err, net.ErrClosed)
	n, inFlight := h.finishWrite()
	require.Equal(t, 3, n)
	require.False(t, inFlight)

	_, flags, ok, _ := h.take(1<<10, 1<<20)
	require.True(t, ok, "the FIN is owed")
	require.Equal(t, frame.FlagFIN, flags)
	require.True(t, h.terminal())
}
