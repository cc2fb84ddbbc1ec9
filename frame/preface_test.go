package frame_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

func TestCheckPreface(t *testing.T) {
	require.NoError(t, frame.CheckPreface([]byte(frame.Preface)))
	require.Len(t, frame.Preface, 8)

	tests := []struct {
		name     string
		received string
		rule     string
	}{
		{"HTTP/1 GET", "GET / HT", `expected "twine/1\n", received "GET / HT" (an HTTP/1 request)`},
		{"HTTP/1 POST", "POST /ap", `expected "twine/1\n", received "POST /ap" (an HTTP/1 request)`},
		{"HTTP/1 PUT", "PUT /x H", `expected "twine/1\n", received "PUT /x H" (an HTTP/1 request)`},
		{"HTTP/1 HEAD", "HEAD / H", `expected "twine/1\n", received "HEAD / H" (an HTTP/1 request)`},
		{"HTTP/1 DELETE", "DELETE /", `expected "twine/1\n", received "DELETE /" (an HTTP/1 request)`},
		{"HTTP/1 OPTIONS", "OPTIONS ", `expected "twine/1\n", received "OPTIONS " (an HTTP/1 request)`},
		{"HTTP/1 CONNECT", "CONNECT ", `expected "twine/1\n", received "CONNECT " (an HTTP/1 request)`},
		{"HTTP/1 PATCH", "PATCH /a", `expected "twine/1\n", received "PATCH /a" (an HTTP/1 request)`},
		{"HTTP/2", "PRI * HT", `expected "twine/1\n", received "PRI * HT" (the HTTP/2 preface)`},
		{"TLS", "\x16\x03\x01\x02\x00\x01\x00\x01", `expected "twine/1\n", received "\x16\x03\x01\x02\x00\x01\x00\x01" (a TLS handshake)`},
		{"yamux window update", "\x00\x01\x00\x01\x00\x00\x00\x01", `expected "twine/1\n", received "\x00\x01\x00\x01\x00\x00\x00\x01" (a yamux header)`},
		{"yamux ping", "\x00\x02\x00\x01\x00\x00\x00\x00", `expected "twine/1\n", received "\x00\x02\x00\x01\x00\x00\x00\x00" (a yamux header)`},
		{"smux", "\x01\x00\x00\x00\x03\x00\x00\x00", `expected "twine/1\n", received "\x01\x00\x00\x00\x03\x00\x00\x00" (an smux header)`},
		{"twine 2", "twine/2\n", `expected "twine/1\n", received "twine/2\n" (another twine protocol version)`},
		{"something else", "SSH-2.0-", `expected "twine/1\n", received "SSH-2.0-"`},
		{"not yamux: type 4", "\x00\x04\x00\x00\x00\x00\x00\x00", `expected "twine/1\n", received "\x00\x04\x00\x00\x00\x00\x00\x00"`},
		{"lower-case method", "get / ht", `expected "twine/1\n", received "get / ht"`},
		{"short", "tw", `expected "twine/1\n", received "tw"`},
		{"one byte", "\x16", `expected "twine/1\n", received "\x16"`},
		{"nothing", "", `expected "twine/1\n", received ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := frame.CheckPreface([]byte(tt.received))
			require.Equal(t, &mux.ProtocolError{FrameType: "preface", Rule: tt.rule, Code: mux.CodeProtocol}, err)
		})
	}
}
