package frame_test

import (
	"fmt"
	"testing"

	"github.com/twinemux/twine/frame"
)

// BenchmarkDecode shows that decoding costs the same for any DATA size:
// the payload is aliased, not copied.
func BenchmarkDecode(b *testing.B) {
	for _, size := range []int{0, 1 << 10, 32 << 10} {
		enc := frame.Append(nil, frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: make([]byte, size)})
		b.Run(fmt.Sprintf("DATA/size=%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := frame.Decode(enc, frame.MaxLength); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	enc := frame.AppendWindow(nil, 1, 1<<16)
	b.Run("WINDOW", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := frame.Decode(enc, frame.MaxLength); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendControl(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = frame.AppendWindow(buf[:0], 1, 1<<16)
		buf = frame.AppendPing(buf, true, [8]byte{1})
	}
}
