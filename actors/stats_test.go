package actors

import (
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/protocol"
)

// Transport names get a slot each at first use, "" and names past
// maxTransports share "other" (slot 0).
func TestTransportSlots(t *testing.T) {
	var s stats
	if s.transportSlot("") != 0 || s.transportSlot("other") != 0 {
		t.Fatal(`"" and "other" are slot 0`)
	}
	a, b := s.transportSlot("WebSockets"), s.transportSlot("LongPolling")
	if a != 1 || b != 2 || s.transportSlot("WebSockets") != 1 {
		t.Fatalf("slots %d, %d", a, b)
	}
	for i := 3; i < maxTransports; i++ {
		if got := s.transportSlot(string(rune('a' + i))); got != i {
			t.Fatalf("slot %d for the %dth name", got, i)
		}
	}
	if got := s.transportSlot("one too many"); got != 0 {
		t.Fatalf("a name past maxTransports: slot %d, want 0", got)
	}
}

// LastSend follows the writes to connections and LastRemote the payloads
// from other nodes (FromEncoded): what a fleet broadcast is split by.
func TestLastSendAndLastRemote(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{})
	if s := e.Stats(); !s.LastRemote.IsZero() {
		t.Fatalf("LastRemote %v before any message from another node", s.LastRemote)
	}
	_, tr := connect(t, e, "c1", "", true)
	testutil.Eventually(t, "the handshake answer", hasMsg(tr, "{}"))
	afterHandshake := e.Stats().LastSend
	if afterHandshake.IsZero() {
		t.Fatal("LastSend is zero after the handshake answer was written")
	}
	local, err := e.Encoded(NewPayload(&protocol.Invocation{Target: "FromAfar", Arguments: []any{}}))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	e.SendAll(e.FromEncoded(local, nil, nil))
	remote := e.Stats().LastRemote
	if remote.Before(before) {
		t.Fatalf("LastRemote %v, want at or after %v", remote, before)
	}
	testutil.Eventually(t, "FromAfar", hasMsg(tr, "FromAfar"))
	if last := e.Stats().LastSend; last.Before(remote) || !last.After(afterHandshake) {
		t.Fatalf("LastSend %v after the remote payload (arrived %v, handshake written %v)", last, remote, afterHandshake)
	}
}
