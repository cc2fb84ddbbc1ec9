package twine

import (
	"context"
	"io"
	"net"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
)

func TestSmokeEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c, err := Client(a, nil)
		require.NoError(t, err)
		s, err := Server(b, nil)
		require.NoError(t, err)
		go func() {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			buf := make([]byte, 5)
			io.ReadFull(st, buf)
			st.Write(buf)
			st.Close()
		}()
		st, err := c.OpenStream(context.Background())
		require.NoError(t, err)
		_, err = st.Write([]byte("hello"))
		require.NoError(t, err)
		got, err := io.ReadAll(st)
		require.NoError(t, err)
		require.Equal(t, "hello", string(got))
		st.Close()
		c.Close()
		s.Close()
	})
}
