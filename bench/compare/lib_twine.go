package main

import (
	"fmt"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/bench/internal/workload"
)

// twineDefaultStreams is twine's default Config.MaxIncomingStreams.
const twineDefaultStreams = 1024

var twineLib = library{
	name:   "twine",
	module: "github.com/twinemux/twine",
	settings: "Config{} defaults: InitialStreamWindow 256 KiB, MaxStreamWindow 16 MiB, SessionWindow 32 MiB, " +
		"MaxFramePayload 32 KiB, MaxIncomingStreams 1024, AcceptBacklog 256, PeerTimeout 30 s, KeepAliveInterval 10 s",
	transport: func(streams int) (workload.Transport, string) {
		if streams <= twineDefaultStreams {
			return workload.Twine{}, ""
		}
		cfg := &twine.Config{MaxIncomingStreams: uint32(streams)}
		return workload.Twine{Config: cfg}, fmt.Sprintf("MaxIncomingStreams %d (default %d is below the workload's %d live streams)", streams, twineDefaultStreams, streams)
	},
}
