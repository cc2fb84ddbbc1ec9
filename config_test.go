package twine

import (
	"io"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/internal/memconn"
)

// defaultConfig is what a zero Config means.
var defaultConfig = Config{
	PeerTimeout:          30 * time.Second,
	KeepAliveInterval:    10 * time.Second,
	InitialStreamWindow:  256 << 10,
	MaxStreamWindow:      16 << 20,
	SessionWindow:        32 << 20,
	InitialSessionWindow: 1 << 20,
	MaxFramePayload:      32 << 10,
	MaxIncomingStreams:   1024,
	AcceptBacklog:        256,
}

// A zero or nil Config means the defaults, field by field; each field left
// zero takes its default, derived from the fields that are set.
func TestConfigDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   *Config
		want Config
	}{
		{"nil", nil, defaultConfig},
		{"zero", &Config{}, defaultConfig},
		{"KeepAliveInterval follows PeerTimeout", &Config{PeerTimeout: 3 * time.Second},
			with(func(c *Config) { c.PeerTimeout, c.KeepAliveInterval = 3*time.Second, time.Second })},
		{"KeepAliveInterval kept", &Config{PeerTimeout: 3 * time.Second, KeepAliveInterval: 2 * time.Second},
			with(func(c *Config) { c.PeerTimeout, c.KeepAliveInterval = 3*time.Second, 2*time.Second })},
		{"windows follow a large InitialStreamWindow", &Config{InitialStreamWindow: 64 << 20},
			with(func(c *Config) {
				c.InitialStreamWindow, c.MaxStreamWindow, c.SessionWindow, c.InitialSessionWindow = 64<<20, 64<<20, 64<<20, 64<<20
			})},
		{"InitialSessionWindow follows a small SessionWindow", &Config{SessionWindow: 512 << 10},
			with(func(c *Config) { c.SessionWindow, c.InitialSessionWindow = 512<<10, 512<<10 })},
		{"AcceptBacklog follows a small MaxIncomingStreams", &Config{MaxIncomingStreams: 4},
			with(func(c *Config) { c.MaxIncomingStreams, c.AcceptBacklog = 4, 4 })},
		{"lowest valid values", &Config{
			PeerTimeout: 10 * time.Millisecond, KeepAliveInterval: time.Nanosecond,
			InitialStreamWindow: 1 << 10, MaxStreamWindow: 1 << 10, SessionWindow: 1 << 10, InitialSessionWindow: 1 << 10,
			MaxFramePayload: 1 << 10, MaxIncomingStreams: 1, AcceptBacklog: 1,
		}, Config{
			PeerTimeout: 10 * time.Millisecond, KeepAliveInterval: time.Nanosecond,
			InitialStreamWindow: 1 << 10, MaxStreamWindow: 1 << 10, SessionWindow: 1 << 10, InitialSessionWindow: 1 << 10,
			MaxFramePayload: 1 << 10, MaxIncomingStreams: 1, AcceptBacklog: 1,
		}},
		{"highest valid values", &Config{
			PeerTimeout: math.MaxInt64, KeepAliveInterval: math.MaxInt64 - 1,
			InitialStreamWindow: math.MaxInt32, MaxStreamWindow: math.MaxInt32, SessionWindow: math.MaxInt32, InitialSessionWindow: math.MaxInt32,
			MaxFramePayload: 1<<24 - 1, MaxIncomingStreams: math.MaxUint32, AcceptBacklog: math.MaxUint32,
		}, Config{
			PeerTimeout: math.MaxInt64, KeepAliveInterval: math.MaxInt64 - 1,
			InitialStreamWindow: math.MaxInt32, MaxStreamWindow: math.MaxInt32, SessionWindow: math.MaxInt32, InitialSessionWindow: math.MaxInt32,
			MaxFramePayload: 1<<24 - 1, MaxIncomingStreams: math.MaxUint32, AcceptBacklog: math.MaxUint32,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before Config
			if tc.in != nil {
				before = *tc.in
			}
			got, err := tc.in.Resolved()
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			if tc.in != nil {
				require.Equal(t, before, *tc.in, "Resolved must not modify the caller's Config")
			}
		})
	}
}

// with returns the defaults changed by f.
func with(f func(c *Config)) Config {
	c := defaultConfig
	f(&c)
	return c
}

// A negative PeerTimeout turns detection off: it is valid, and
// KeepAliveInterval is left as it is and not checked.
func TestConfigNegativePeerTimeoutDisablesDetection(t *testing.T) {
	for _, kai := range []time.Duration{0, time.Second, time.Hour, -time.Second} {
		got, err := (&Config{PeerTimeout: -1, KeepAliveInterval: kai}).Resolved()
		require.NoError(t, err, "PeerTimeout -1 with KeepAliveInterval %v", kai)
		require.Negative(t, got.PeerTimeout, "detection stays off")
		require.Equal(t, kai, got.KeepAliveInterval, "KeepAliveInterval untouched when detection is off")
	}
}

// A session with detection off never declares a silent peer dead.
func TestNegativePeerTimeoutSessionOutlivesSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Both sides: the frozen side's own detection would close the
		// connection.
		cfg := &Config{PeerTimeout: -1}
		c, s, _, sc := newPair(t, cfg, cfg)
		cs, _ := openPair(t, c, s)
		read := calltest.ReadFull(cs, 1)
		sc.Freeze()
		time.Sleep(24 * time.Hour)
		calltest.RequireBlocked(t, read, "a Read from a frozen peer with detection off")
		require.False(t, c.IsClosed(), "detection off: the session must not end (%v)", c.Err())
	})
}

// subErrors returns the errors joined in err, or err alone.
func subErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Each invalid field is reported by an error that names it; several bad
// fields are all named, one error each.
func TestConfigInvalid(t *testing.T) {
	cases := []struct {
		name   string
		in     Config
		fields []string // the fields the error must name, one error each
		more   bool     // other fields may be reported too
	}{
		{"PeerTimeout 5ms", Config{PeerTimeout: 5 * time.Millisecond}, []string{"PeerTimeout"}, false},
		{"PeerTimeout 1ns", Config{PeerTimeout: 1}, []string{"PeerTimeout"}, true},
		{"KeepAliveInterval equal to PeerTimeout", Config{PeerTimeout: time.Second, KeepAliveInterval: time.Second}, []string{"KeepAliveInterval"}, false},
		{"KeepAliveInterval above PeerTimeout", Config{PeerTimeout: time.Second, KeepAliveInterval: time.Minute}, []string{"KeepAliveInterval"}, false},
		{"KeepAliveInterval at the default PeerTimeout", Config{KeepAliveInterval: 30 * time.Second}, []string{"KeepAliveInterval"}, false},
		{"KeepAliveInterval negative", Config{KeepAliveInterval: -time.Second}, []string{"KeepAliveInterval"}, false},
		{"InitialStreamWindow too small", Config{InitialStreamWindow: 1<<10 - 1}, []string{"InitialStreamWindow"}, false},
		// A window above 2^31-1 also pushes the derived defaults of the
		// two windows that must be at least as large past the limit.
		{"InitialStreamWindow too large", Config{InitialStreamWindow: math.MaxInt32 + 1}, []string{"InitialStreamWindow"}, true},
		{"MaxStreamWindow below InitialStreamWindow", Config{InitialStreamWindow: 64 << 10, MaxStreamWindow: 32 << 10}, []string{"MaxStreamWindow"}, false},
		{"MaxStreamWindow too large", Config{MaxStreamWindow: math.MaxInt32 + 1}, []string{"MaxStreamWindow"}, false},
		{"SessionWindow below InitialStreamWindow", Config{InitialStreamWindow: 64 << 10, SessionWindow: 32 << 10}, []string{"SessionWindow"}, false},
		{"SessionWindow too large", Config{SessionWindow: math.MaxUint32}, []string{"SessionWindow"}, false},
		{"InitialSessionWindow too small", Config{InitialSessionWindow: 1<<10 - 1}, []string{"InitialSessionWindow"}, false},
		{"InitialSessionWindow above SessionWindow", Config{SessionWindow: 1 << 20, InitialSessionWindow: 2 << 20}, []string{"InitialSessionWindow"}, false},
		{"MaxFramePayload too small", Config{MaxFramePayload: 1<<10 - 1}, []string{"MaxFramePayload"}, false},
		{"MaxFramePayload too large", Config{MaxFramePayload: 1 << 24}, []string{"MaxFramePayload"}, false},
		{"AcceptBacklog above MaxIncomingStreams", Config{MaxIncomingStreams: 4, AcceptBacklog: 5}, []string{"AcceptBacklog"}, false},
		{"AcceptBacklog above the default MaxIncomingStreams", Config{AcceptBacklog: 1025}, []string{"AcceptBacklog"}, false},
		{"several", Config{
			PeerTimeout:         time.Millisecond,
			InitialStreamWindow: 10,
			MaxFramePayload:     10,
			MaxIncomingStreams:  1,
			AcceptBacklog:       2,
		}, []string{"PeerTimeout", "InitialStreamWindow", "MaxFramePayload", "AcceptBacklog"}, false},
		{"all", Config{
			PeerTimeout:         time.Second,
			KeepAliveInterval:   2 * time.Second,
			InitialStreamWindow: 100,
			MaxStreamWindow:     50,
			SessionWindow:       50,
			MaxFramePayload:     1 << 30,
			MaxIncomingStreams:  1,
			AcceptBacklog:       2,
		}, []string{"KeepAliveInterval", "InitialStreamWindow", "MaxStreamWindow", "SessionWindow", "MaxFramePayload", "AcceptBacklog"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.in.Resolved()
			require.Error(t, err, "an invalid config must be refused")
			for _, field := range tc.fields {
				require.Contains(t, err.Error(), field, "the error must name the bad field %s", field)
			}
			errs := subErrors(err)
			for _, e := range errs {
				require.True(t, strings.HasPrefix(e.Error(), "twine: "), "error strings start with \"twine: \": %q", e)
			}
			if !tc.more {
				require.Len(t, errs, len(tc.fields), "one error per bad field, and none for the good ones: %v", err)
			}
		})
	}
}

// Client and Server refuse an invalid Config: the error, no session, and
// the connection left open for the caller.
func TestNewSessionRejectsBadConfig(t *testing.T) {
	bad := &Config{MaxFramePayload: 1, AcceptBacklog: 5000}
	for name, start := range map[string]func(*memconn.Conn, *Config) (*Session, error){
		"Client": func(c *memconn.Conn, cfg *Config) (*Session, error) { return Client(c, cfg) },
		"Server": func(c *memconn.Conn, cfg *Config) (*Session, error) { return Server(c, cfg) },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := memconn.Pipe(connBuffer)
				defer a.Close()
				defer b.Close()
				s, err := start(a, bad)
				require.Error(t, err)
				require.Nil(t, s, "no session with an invalid Config")
				_, want := bad.Resolved()
				require.Equal(t, want.Error(), err.Error(), "%s reports the validation error", name)
				require.Contains(t, err.Error(), "MaxFramePayload")
				require.Contains(t, err.Error(), "AcceptBacklog")

				// Nothing was sent, and the connection still works.
				_, err = a.Write([]byte("still open"))
				require.NoError(t, err, "the connection must be left open")
				got := make([]byte, len("still open"))
				_, err = io.ReadFull(b, got)
				require.NoError(t, err)
				require.Equal(t, "still open", string(got), "nothing may be sent before the config is checked")
			})
		})
	}
}

func TestConfigValidate(t *testing.T) {
	var nilCfg *Config
	require.NoError(t, nilCfg.Validate())
	require.NoError(t, (&Config{}).Validate())
	err := (&Config{PeerTimeout: time.Millisecond, MaxFramePayload: 10}).Validate()
	require.ErrorContains(t, err, "PeerTimeout")
	require.ErrorContains(t, err, "MaxFramePayload")
}
