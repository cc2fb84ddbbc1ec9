package main

import "github.com/twinemux/twine/bench/internal/workload"

// raw is the baseline: one loopback TCP connection per stream (Go's
// defaults: TCP_NODELAY on, kernel buffer sizes).
var raw = library{
	name:     "raw",
	settings: "one loopback TCP connection per stream; Go defaults (TCP_NODELAY), kernel socket buffers",
	transport: func(int) (workload.Transport, string) {
		return workload.TCP{}, ""
	},
}
