package actors

import (
	"errors"
	"testing"

	"github.com/actorhub/actorhub/internal/testutil"
)

// TestReplayAck: Ack drops the frames up to its id, in order, and the next
// Sequence is the first unacknowledged id, or the one after the last sent.
func TestReplayAck(t *testing.T) {
	var r replay
	if got := r.next(); got != 1 {
		t.Fatalf("empty: next %d, want 1", got)
	}
	for i := 1; i <= 5; i++ {
		r.add(make([]byte, i))
	}
	if r.bytes != 15 || r.next() != 1 {
		t.Fatalf("after 5: bytes %d next %d", r.bytes, r.next())
	}
	r.ack(3)
	if r.bytes != 9 || r.next() != 4 || len(r.frames[r.head:]) != 2 || len(r.frames[r.head]) != 4 {
		t.Fatalf("after ack 3: bytes %d next %d", r.bytes, r.next())
	}
	r.ack(2) // old ack: nothing changes
	if r.next() != 4 {
		t.Fatalf("after an old ack: next %d", r.next())
	}
	r.ack(5)
	if r.bytes != 0 || r.next() != 6 {
		t.Fatalf("after ack 5: bytes %d next %d", r.bytes, r.next())
	}
	r.add([]byte("x"))
	if r.next() != 6 || r.sent != 6 {
		t.Fatalf("after one more: next %d sent %d", r.next(), r.sent)
	}
	for i := 0; i < 3000; i++ {
		r.add([]byte("y"))
		r.ack(r.sent - 1) // keep one: compaction must keep ids right
	}
	if r.next() != r.sent || r.bytes != 1 {
		t.Fatalf("after churn: next %d sent %d bytes %d", r.next(), r.sent, r.bytes)
	}
}

// silentTransport discards writes and leaves reporting its end to the test.
type silentTransport struct{}

func (silentTransport) Framed() bool         { return false }
func (silentTransport) Write([][]byte) error { return nil }
func (silentTransport) Buffered() int        { return 0 }
func (silentTransport) Close(bool)           {}

// TestOnlyLiveConnectionsWait: when the transport of a stateful connection
// drops, the connection waits for a reattach from that moment if it is
// live, and never if it had already ended (here the client's Close), not
// even until its actor hears of the drop: a reattach then gets 404, not a
// socket that is cut at once.
func TestOnlyLiveConnectionsWait(t *testing.T) {
	e, inv := newTestEngine(t, EngineConfig{AllowStatefulReconnects: true})
	open := func(id string) *Conn {
		c, err := e.NewConn(ConnInfo{ID: id, StatefulReconnect: true}, silentTransport{})
		if err != nil {
			t.Fatal(err)
		}
		c.Feed([]byte(`{"protocol":"json","version":2}` + "\x1e"))
		testutil.Eventually(t, id+" connected", func() bool { return c.Connected() })
		if !c.Stateful() {
			t.Fatalf("%s: not stateful", id)
		}
		return c
	}
	dropped := errors.New("connection reset by peer")

	live := open("live")
	live.Closed(dropped)
	if !live.Waiting() {
		t.Fatal("a live stateful connection whose transport dropped does not wait")
	}

	ended := open("ended")
	ended.Feed([]byte(`{"type":7}` + "\x1e"))
	testutil.Eventually(t, "ended to disconnect", func() bool {
		return inv.events.Has("disconnected:ended:false")
	})
	ended.Closed(dropped)
	if ended.Waiting() {
		t.Fatal("a connection that had ended waits for a reattach")
	}
}
