package main

import (
	"bytes"
	"context"
	"fmt"
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
	require.NoError(t, err, "every scenario should behave as specified")
	for i, sc := range scenarios {
		require.Contains(t, out.String(), fmt.Sprintf("%d. %s\n", i+1, sc.title), "the output should have scenario %d's title", i+1)
	}
	require.NotContains(t, out.String(), "FAIL")
	require.Contains(t, out.String(), "all 5 scenarios behaved as specified")
}

func TestDemoReportsFailure(t *testing.T) {
	var out bytes.Buffer
	// A PeerTimeout below the 10 ms minimum is refused by twine.Client, so
	// the silent-peer scenario cannot run.
	err := runDemo(context.Background(), &out, demoConfig{PeerTimeout: time.Millisecond, StepTimeout: 10 * time.Second})
	require.EqualError(t, err, "scenarios 5 failed")
	require.Contains(t, out.String(), "   FAIL: twine: config: PeerTimeout")
	require.Contains(t, out.String(), "1 of 5 scenarios did not behave as specified")
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
		{"demo help", []string{"demo", "-h"}, 0, "", "5. A silent peer is detected"},
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
