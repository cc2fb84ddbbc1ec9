package libp2ptwine

import (
	"errors"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/twinemux/twine/mux"
)

// convertError turns twine's reset and session errors into go-libp2p's,
// keeping twine's as the TransportError; other errors, nil included, are
// returned unchanged.
func convertError(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*mux.StreamError](err); ok {
		return &network.StreamError{ErrorCode: network.StreamErrorCode(se.Code), Remote: se.Remote, TransportError: err}
	}
	if se, ok := errors.AsType[*mux.SessionError](err); ok {
		return &network.ConnError{ErrorCode: network.ConnErrorCode(se.Code), Remote: se.Remote, TransportError: err}
	}
	return err
}
