module github.com/twinemux/twine/bench/compare

go 1.26.0

replace github.com/twinemux/twine => ../..

require (
	github.com/hashicorp/yamux v0.1.2
	github.com/libp2p/go-yamux/v5 v5.1.0
	github.com/quic-go/quic-go v0.64.1
	github.com/twinemux/twine v0.0.0-00010101000000-000000000000
	github.com/xtaci/smux v1.5.58
)

require (
	github.com/libp2p/go-buffer-pool v0.1.0 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
