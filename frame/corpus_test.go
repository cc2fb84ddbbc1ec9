package frame_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
)

// FuzzDecode's committed seeds (written by testdata/gencorpus.go at the
// repository root) are frames recorded from real exchanges: each file is
// one whole, valid frame, and together they hold every frame type.
func TestFuzzDecodeCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "recorded-*"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	types := make(map[frame.Type]bool)
	for _, path := range paths {
		content, err := os.ReadFile(path)
		require.NoError(t, err)
		header, value, ok := strings.Cut(strings.TrimSpace(string(content)), "\n")
		require.True(t, ok && header == "go test fuzz v1", "%s: not a fuzz corpus file", path)
		quoted, ok := strings.CutPrefix(value, "[]byte(")
		require.True(t, ok && strings.HasSuffix(quoted, ")"), "%s: not one []byte", path)
		b, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
		require.NoError(t, err, path)

		f, n, err := frame.Decode([]byte(b), frame.MaxLength)
		require.NoError(t, err, path)
		require.Equal(t, len(b), n, "%s: exactly one frame", path)
		types[f.Type] = true
	}
	for typ := frame.TypeData; typ <= frame.TypeStreams; typ++ {
		require.True(t, types[typ], "no seed holds a %v frame", typ)
	}
}
