package twine

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config tunes a session. The zero value, and a nil *Config, mean the
// defaults; every field left zero takes its default. Client and Server
// validate it once and report every bad field.
type Config struct {
	// PeerTimeout is how long nothing at all may arrive from the peer, or
	// the connection may accept no bytes while frames wait, before the peer
	// is declared unresponsive and the session ends with
	// mux.ErrPeerUnresponsive. Zero means 30 s; a negative value turns
	// detection off. It must be at least 10 ms.
	PeerTimeout time.Duration

	// KeepAliveInterval is how long the peer may be silent before a PING is
	// sent to it. Zero means PeerTimeout/3. It must be below PeerTimeout.
	// It is ignored when detection is off.
	KeepAliveInterval time.Duration

	// InitialStreamWindow is how many bytes the peer may send on a new
	// stream before it is read. Default 256 KiB; at least 1 KiB.
	InitialStreamWindow uint32

	// MaxStreamWindow is how large a stream's receive window may grow by
	// auto-tuning. Default 16 MiB; at least InitialStreamWindow, at most
	// 2^31-1.
	MaxStreamWindow uint32

	// SessionWindow caps the bytes received and not yet read, for all
	// streams together: the session's receive memory budget. Default 32 MiB;
	// at least InitialStreamWindow, at most 2^31-1.
	SessionWindow uint32

	// InitialSessionWindow is the session-wide window granted to the peer
	// at the start; it auto-tunes up to SessionWindow, so that the bytes in
	// flight follow the bandwidth-delay product rather than the budget.
	// Default four InitialStreamWindows, at most SessionWindow; from 1 KiB
	// to SessionWindow.
	InitialSessionWindow uint32

	// MaxFramePayload is the largest DATA payload the peer may send in one
	// frame, and so how long one stream can hold the connection. Default
	// 32 KiB; from 1 KiB to 2^24-1.
	MaxFramePayload uint32

	// MaxIncomingStreams is how many peer-opened streams may be live at
	// once; the peer's OpenStream waits for one to finish. Default 1024.
	MaxIncomingStreams uint32

	// AcceptBacklog is how many peer-opened streams may wait for
	// AcceptStream at once. Default 256; at most MaxIncomingStreams.
	AcceptBacklog uint32

	// OnEvent, if set, is called with each [Event]: the session ended, the
	// peer sent GOAWAY, reset or stopped a stream. It runs on the session's
	// own goroutines, so it must return quickly and must not wait for the
	// session. Nothing is logged otherwise.
	OnEvent func(Event)
}

// Defaults, and the limits Config.validate enforces.
const (
	defaultPeerTimeout         = 30 * time.Second
	minPeerTimeout             = 10 * time.Millisecond
	defaultInitialStreamWindow = 256 << 10
	defaultMaxStreamWindow     = 16 << 20
	defaultSessionWindow       = 32 << 20
	defaultMaxFramePayload     = 32 << 10
	defaultMaxIncomingStreams  = 1024
	defaultAcceptBacklog       = 256
	minWindow                  = 1 << 10
	maxWindow                  = math.MaxInt32
	minFramePayload            = 1 << 10
	maxFramePayload            = 1<<24 - 1
)

// Validate reports every invalid field of c, as Client and Server would, or
// nil. A nil *Config is valid.
func (c *Config) Validate() error {
	_, err := c.Resolved()
	return err
}

// Resolved returns a copy of c (nil allowed) with every zero field set to its
// default, or the error Validate reports. Back ends other than the framed
// one use it to apply twine's settings.
func (c *Config) Resolved() (Config, error) {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	setDefault(&cfg.PeerTimeout, defaultPeerTimeout)
	setDefault(&cfg.InitialStreamWindow, defaultInitialStreamWindow)
	setDefault(&cfg.MaxStreamWindow, max(defaultMaxStreamWindow, cfg.InitialStreamWindow))
	setDefault(&cfg.SessionWindow, max(defaultSessionWindow, cfg.InitialStreamWindow))
	setDefault(&cfg.InitialSessionWindow, uint32(min(uint64(cfg.SessionWindow), 4*uint64(cfg.InitialStreamWindow))))
	setDefault(&cfg.MaxFramePayload, defaultMaxFramePayload)
	setDefault(&cfg.MaxIncomingStreams, defaultMaxIncomingStreams)
	setDefault(&cfg.AcceptBacklog, min(defaultAcceptBacklog, cfg.MaxIncomingStreams))
	if cfg.PeerTimeout > 0 {
		setDefault(&cfg.KeepAliveInterval, cfg.PeerTimeout/3)
	}

	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("twine: config: %s %s", field, fmt.Sprintf(format, args...)))
	}
	if cfg.PeerTimeout > 0 {
		if cfg.PeerTimeout < minPeerTimeout {
			bad("PeerTimeout", "%v is below the minimum %v", cfg.PeerTimeout, minPeerTimeout)
		}
		if cfg.KeepAliveInterval < 0 || cfg.KeepAliveInterval >= cfg.PeerTimeout {
			bad("KeepAliveInterval", "%v must be positive and below PeerTimeout %v", cfg.KeepAliveInterval, cfg.PeerTimeout)
		}
	}
	if cfg.InitialStreamWindow < minWindow || cfg.InitialStreamWindow > maxWindow {
		bad("InitialStreamWindow", "%d is outside [%d, %d]", cfg.InitialStreamWindow, minWindow, maxWindow)
	}
	if cfg.MaxStreamWindow < cfg.InitialStreamWindow || cfg.MaxStreamWindow > maxWindow {
		bad("MaxStreamWindow", "%d is outside [InitialStreamWindow %d, %d]", cfg.MaxStreamWindow, cfg.InitialStreamWindow, maxWindow)
	}
	if cfg.SessionWindow < cfg.InitialStreamWindow || cfg.SessionWindow > maxWindow {
		bad("SessionWindow", "%d is outside [InitialStreamWindow %d, %d]", cfg.SessionWindow, cfg.InitialStreamWindow, maxWindow)
	}
	// Checked only when set: the default follows the windows checked above.
	if c != nil && c.InitialSessionWindow != 0 && (cfg.InitialSessionWindow < minWindow || cfg.InitialSessionWindow > cfg.SessionWindow) {
		bad("InitialSessionWindow", "%d is outside [%d, SessionWindow %d]", cfg.InitialSessionWindow, minWindow, cfg.SessionWindow)
	}
	if cfg.MaxFramePayload < minFramePayload || cfg.MaxFramePayload > maxFramePayload {
		bad("MaxFramePayload", "%d is outside [%d, %d]", cfg.MaxFramePayload, minFramePayload, maxFramePayload)
	}
	if cfg.AcceptBacklog > cfg.MaxIncomingStreams {
		bad("AcceptBacklog", "%d is above MaxIncomingStreams %d", cfg.AcceptBacklog, cfg.MaxIncomingStreams)
	}
	return cfg, errors.Join(errs...)
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
