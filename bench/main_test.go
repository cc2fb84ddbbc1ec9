package bench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/bench/internal/workload"
)

// TestMain runs the binary as an idle-memory peer when workload.PeerEnv
// names a transport, and as the benchmarks otherwise.
func TestMain(m *testing.M) {
	if name := os.Getenv(workload.PeerEnv); name != "" {
		t, ok := transports[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown peer transport %q\n", name)
			os.Exit(2)
		}
		if err := workload.ServePeer(t, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// idleStreams is how many streams the idle-memory benchmark holds open.
const idleStreams = 10000

var (
	raw      workload.Transport = workload.TCP{}
	twineDef workload.Transport = workload.Twine{}
	// twineIdle raises the stream limit (default 1024) for idle-memory:
	// it must allow idleStreams live streams.
	twineIdle workload.Transport = workload.Twine{Config: &twine.Config{MaxIncomingStreams: idleStreams}}

	transports = map[string]workload.Transport{"raw": raw, "twine": twineDef, "twine-idle": twineIdle}
)

// both is the raw baseline and twine, in the order sub-benchmarks run.
var both = []workload.Transport{raw, twineDef}

// startPeer starts this test binary as the idle-memory peer of transport
// name, ended at the end of the benchmark.
func startPeer(b *testing.B, name string) *workload.Peer {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workload.PeerEnv+"="+name)
	cmd.Stderr = os.Stderr
	p, err := workload.StartPeer(cmd)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Close(); err != nil {
			b.Errorf("peer: %v", err)
		}
	})
	return p
}

// sizeName names a byte size as "32KiB".
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
