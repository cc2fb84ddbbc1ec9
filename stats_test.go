package twine

import (
	"context"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// Stats counts what crossed the connection, both ways alike, and the time a
// writer waited for window credit.
func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, &Config{InitialStreamWindow: 1 << 10})
		cs, ss := openPair(t, c, s)
		time.Sleep(time.Second)

		st := c.Stats()
		require.Equal(t, 1, st.OpenStreams)
		require.Equal(t, uint64(4*defaultInitialStreamWindow), st.SessionWindow, "the initial session window: four stream windows")
		require.Equal(t, uint64(4<<10), st.SessionCredit, "the server's: four of its 1 KiB stream windows")
		require.Equal(t, time.Second, st.SinceLastReceived, "nothing arrived in the last second")
		require.Zero(t, st.FlowControlBlocked)

		// 4 KiB through a 1 KiB stream window: the writer waits until the
		// reader starts, a second later.
		wrote := calltest.Write(cs, make([]byte, 4<<10))
		time.Sleep(time.Second)
		n, err := io.ReadFull(ss, make([]byte, 4<<10))
		require.NoError(t, err)
		require.Equal(t, 4<<10, n)
		require.NoError(t, (<-wrote).Err)
		synctest.Wait()
		st = c.Stats()
		require.GreaterOrEqual(t, st.FlowControlBlocked, time.Second)
		require.Less(t, st.FlowControlBlocked, 2*time.Second)

		_, err = c.Ping(context.Background())
		require.NoError(t, err)
		synctest.Wait()
		cst, sst := c.Stats(), s.Stats()
		require.Equal(t, cst.BytesSent-uint64(len(frame.Preface)), sst.BytesReceived, "everything the client wrote arrived, except the preface")
		require.Equal(t, sst.BytesSent-uint64(len(frame.Preface)), cst.BytesReceived)
		require.Equal(t, cst.FramesSent, sst.FramesReceived)
		require.Equal(t, sst.FramesSent, cst.FramesReceived)
		require.Greater(t, cst.BytesSent, uint64(4<<10))
		require.Zero(t, cst.SinceLastReceived)
	})
}

// OnEvent hears about resets, STOPs, GOAWAY and the end of the session.
func TestOnEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var events []Event
		record := &Config{OnEvent: func(e Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}}
		c, s, _, _ := newPair(t, record, nil)
		cs1, ss1 := openPair(t, c, s)
		cs2, ss2 := openPair(t, c, s)
		require.NoError(t, ss1.ResetWithError(7))
		require.NoError(t, ss2.CloseRead())
		synctest.Wait()
		require.NoError(t, s.CloseWithError(9))
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		require.Len(t, events, 4)
		require.Equal(t, EventStreamReset, events[0].Kind)
		require.Equal(t, cs1.StreamID(), events[0].StreamID)
		require.Equal(t, &mux.StreamError{StreamID: uint64(cs1.StreamID()), Code: 7, Remote: true}, events[0].Err)
		require.Equal(t, EventStreamStopped, events[1].Kind)
		require.Equal(t, cs2.StreamID(), events[1].StreamID)
		require.Equal(t, EventGoAwayReceived, events[2].Kind)
		require.Equal(t, EventSessionEnded, events[3].Kind)
		var se *mux.SessionError
		require.ErrorAs(t, events[3].Err, &se)
		require.Equal(t, mux.ErrorCode(9), se.Code)
		require.True(t, se.Remote)
		require.Equal(t, "session ended", events[3].Kind.String())
	})
}
