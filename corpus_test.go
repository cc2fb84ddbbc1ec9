package twine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
)

// readSeed decodes a corpus file in the `go test fuzz v1` format holding
// one []byte.
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	content, err := os.ReadFile(path)
	require.NoError(t, err)
	header, value, ok := strings.Cut(strings.TrimSpace(string(content)), "\n")
	require.True(t, ok && header == "go test fuzz v1", "%s: not a fuzz corpus file", path)
	quoted, ok := strings.CutPrefix(value, "[]byte(")
	require.True(t, ok && strings.HasSuffix(quoted, ")"), "%s: not one []byte", path)
	b, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
	require.NoError(t, err, path)
	return []byte(b)
}

// FuzzSession's committed seeds (written by testdata/gencorpus.go) are
// recorded exchanges: each is a client's preface and whole frames, and
// together they hold every frame type a client sends.
func TestFuzzSessionCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzSession", "recorded-*"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	types := make(map[frame.Type]bool)
	for _, path := range paths {
		b := readSeed(t, path)
		require.True(t, strings.HasPrefix(string(b), frame.Preface), "%s: starts with the preface", path)
		for b = b[len(frame.Preface):]; len(b) > 0; {
			f, n, err := frame.Decode(b, frame.MaxLength)
			require.NoError(t, err, "%s: whole, valid frames", path)
			types[f.Type] = true
			b = b[n:]
		}
	}
	for typ := frame.TypeData; typ <= frame.TypeStreams; typ++ {
		require.True(t, types[typ], "no seed holds a %v frame", typ)
	}
}
