package memconn

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFlowRing(t *testing.T) {
	tests := []struct {
		name      string
		cap       int
		ops       []int // > 0: push that many bytes, < 0: pop that many
		wantSizes []int // size after each op
		wantMoved []int // bytes pushed or popped by each op
	}{
		{"fill and drain", 4, []int{4, -4}, []int{4, 0}, []int{4, 4}},
		{"push beyond capacity", 4, []int{6}, []int{4}, []int{4}},
		{"pop more than buffered", 4, []int{3, -10}, []int{3, 0}, []int{3, 3}},
		{"wrap around", 5, []int{4, -3, 4, -5}, []int{4, 1, 5, 0}, []int{4, 3, 4, 5}},
		{"wrap in pieces", 3, []int{2, -1, 2, -2, 1, -2}, []int{2, 1, 3, 1, 2, 0}, []int{2, 1, 2, 2, 1, 2}},
		{"empty pop", 2, []int{0}, []int{0}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flow{buf: make([]byte, tt.cap)}
			var next, want byte // next byte to push, next byte expected from pop
			for i, op := range tt.ops {
				var moved int
				if op > 0 {
					p := make([]byte, op)
					for j := range p {
						p[j] = next + byte(j)
					}
					moved = f.push(p, false)
					next += byte(moved)
				} else {
					p := make([]byte, -op)
					moved = f.pop(p)
					for j := range moved {
						require.Equal(t, want, p[j], "op %d: byte %d popped out of order", i, j)
						want++
					}
				}
				require.Equal(t, tt.wantMoved[i], moved, "op %d: bytes moved", i)
				require.Equal(t, tt.wantSizes[i], f.size, "op %d: size after", i)
			}
		})
	}
}

func TestFlowHeld(t *testing.T) {
	f := &flow{buf: make([]byte, 8)}
	require.Equal(t, 3, f.push([]byte("abc"), false))
	require.Equal(t, 3, f.push([]byte("xyz"), true))
	require.Equal(t, 3, f.deliverable(), "held bytes are not deliverable")

	p := make([]byte, 8)
	require.Equal(t, 3, f.pop(p), "pop stops at the held bytes")
	require.Equal(t, "abc", string(p[:3]))
	require.Zero(t, f.pop(p), "nothing deliverable while only held bytes are buffered")

	require.True(t, f.dropHeld(), "held bytes were dropped")
	require.Zero(t, f.size)
	require.False(t, f.dropHeld(), "nothing left to drop")
}
