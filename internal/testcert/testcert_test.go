package testcert

import (
	"crypto/tls"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// The client config trusts the server's certificate for 127.0.0.1.
func TestHandshakeOnLoopback(t *testing.T) {
	server, client, err := Configs()
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Write([]byte("ok"))
			c.Close()
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	require.NoError(t, err)
	defer c.Close()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "ok", string(got))
	require.NoError(t, <-done)

}
