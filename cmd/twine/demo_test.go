package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives the tests: the demo
// must close every session it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	err := runDemo(context.Background(), &out, demoConfig{PeerTimeout: 300 * time.Millisecond, StepTimeout: 10 * time.Second})
	t.Logf("demo output:\n%s", &out)
	require.NoError(t, err, "every scenario should behave as specified over both transports")
	blocks := strings.Split(out.String(), "\n\n")
	for i, sc := range scenarios {
		title := fmt.Sprintf("%d. %s", i+1, sc.title)
		at := slices.Index(blocks, title)
		require.GreaterOrEqual(t, at, 0, "the output should have scenario %d's title", i+1)
		for j, tr := range []string{"tcp", "quic"} {
			block := blocks[at+1+j]
			require.True(t, strings.HasPrefix(block, "   over "+tr+"\n"), "scenario %d should run over %s next:\n%s", i+1, tr, block)
			require.True(t, strings.HasSuffix(block, "\n     ok"), "scenario %d over %s should end with ok:\n%s", i+1, tr, block)
			require.Contains(t, block, "client: ", "scenario %d over %s should say what the client saw", i+1, tr)
			require.Contains(t, block, "server: ", "scenario %d over %s should say what the server saw", i+1, tr)
		}
	}
	require.NotContains(t, out.String(), "FAIL")
	require.Contains(t, out.String(), "all 4 scenarios behaved as specified over tcp and quic")
}

func TestDemoReportsFailure(t *testing.T) {
	var out bytes.Buffer
	// A PeerTimeout below the 10 ms minimum is refused by both transports'
	// Dial, so the silent-peer scenario cannot run.
	err := runDemo(context.Background(), &out, demoConfig{PeerTimeout: time.Millisecond, StepTimeout: 10 * time.Second})
	require.EqualError(t, err, "scenarios failed: 4 over tcp, 4 over quic")
	require.Contains(t, out.String(), "   over tcp\n     FAIL: twine: dial 127.0.0.1:")
	require.Contains(t, out.String(), "   over quic\n     FAIL: twine: quic dial 127.0.0.1:")
	require.Equal(t, 2, strings.Count(out.String(), "config: PeerTimeout 1ms is below the minimum 10ms"), "both failures should name the bad field")
	require.Contains(t, out.String(), "2 of 8 runs did not behave as specified")
}

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, 2, "", "Commands:"},
		{"unknown command", []string{"frobnicate"}, 2, "", `twine: unknown command "frobnicate"`},
		{"help flag", []string{"-h"}, 0, "", "demo    show each stream behaviour"},
		{"unknown flag", []string{"-x"}, 2, "", "flag provided but not defined: -x"},
		{"help command", []string{"help"}, 0, "Commands:", ""},
		{"demo help", []string{"demo", "-h"}, 0, "", "4. A silent peer is detected"},
		{"help demo", []string{"help", "demo"}, 0, "", "-peer-timeout PeerTimeout"},
		{"demo extra argument", []string{"demo", "now"}, 2, "", "unexpected arguments: now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			require.Equal(t, tt.wantCode, code, "exit status; stderr:\n%s", &stderr)
			require.Contains(t, stdout.String(), tt.wantStdout)
			require.Contains(t, stderr.String(), tt.wantStderr)
		})
	}
}
