module github.com/twinemux/twine

go 1.26.0

require (
	github.com/libp2p/go-buffer-pool v0.1.0
	github.com/quic-go/quic-go v0.64.1
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
