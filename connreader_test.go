package twine

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// chunkReader serves data in reads of at most the next size in sizes (the
// last size repeats), and records the buffer size each read was offered.
type chunkReader struct {
	data    []byte
	sizes   []int
	offered []int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.offered = append(c.offered, len(p))
	size := c.sizes[0]
	if len(c.sizes) > 1 {
		c.sizes = c.sizes[1:]
	}
	n := copy(p[:min(len(p), size)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// The reader grows its buffer while reads come back large, shrinks it when
// one comes back small, and never loses or reorders a byte on the way.
func TestConnReaderAdaptsItsBuffer(t *testing.T) {
	data := pattern(2 << 20)
	src := &chunkReader{data: data, sizes: []int{100, quietReadBuffer, busyReadBuffer, busyReadBuffer, 10, 1 << 30}}
	c := newConnReader(src)
	defer c.release()

	var got []byte
	p := make([]byte, 1000) // smaller than both buffers: always buffered
	for len(got) < len(data) {
		n, err := io.ReadFull(c, p[:min(len(p), len(data)-len(got))])
		require.NoError(t, err)
		got = append(got, p[:n]...)
	}
	require.Equal(t, data, got)
	require.Equal(t, []int{
		quietReadBuffer, // first read: quiet
		quietReadBuffer, // 100 bytes: stays quiet
		busyReadBuffer,  // the quiet buffer filled: go busy
		busyReadBuffer,
		busyReadBuffer,  // 10 bytes: go quiet
		quietReadBuffer, // and back once a read fills it
		busyReadBuffer,
	}, src.offered[:7])
	_, err := c.Read(p)
	require.ErrorIs(t, err, io.EOF)
}

// Discard skips across refills; a read of at least a whole buffer goes
// straight into the caller's slice.
func TestConnReaderDiscardAndDirectRead(t *testing.T) {
	data := pattern(3 * quietReadBuffer)
	src := &chunkReader{data: data, sizes: []int{100}}
	c := newConnReader(src)
	defer c.release()

	require.NoError(t, c.Discard(250)) // three reads of 100
	p := make([]byte, 50)
	_, err := io.ReadFull(c, p)
	require.NoError(t, err)
	require.Equal(t, data[250:300], p)

	big := make([]byte, 2*quietReadBuffer)
	n, err := c.Read(big)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.Equal(t, data[300:400], big[:n])
	require.Equal(t, len(big), src.offered[len(src.offered)-1], "read into the caller's slice")

	require.ErrorIs(t, c.Discard(len(data)), io.EOF)
}
