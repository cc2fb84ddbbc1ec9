package mux

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// A session error names who closed, the code when a GOAWAY carried one, and
// the cause; a lost connection does not read as a graceful close.
func TestSessionErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *SessionError
		want string
	}{
		{&SessionError{Remote: true}, "twine: session closed by peer (no error)"},
		{&SessionError{Code: 0x1234, Reason: "bye"}, "twine: session closed locally (code 0x1234): bye"},
		{&SessionError{Remote: true, Reason: "connection read failed without GOAWAY", Err: io.ErrUnexpectedEOF},
			"twine: session closed by peer: connection read failed without GOAWAY: unexpected EOF"},
	} {
		require.Equal(t, tc.want, tc.err.Error())
	}
}
