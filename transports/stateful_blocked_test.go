package transports_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// Sum reads an upload stream: it blocks its connection's turn while the
// client is gone.
func (h *statefulHub) Sum(st *hub.Stream[int]) (int, error) {
	s := 0
	for {
		v, ok := st.Next()
		if !ok {
			break
		}
		s += v
	}
	h.events.Add("sum-returned")
	return s, st.Err()
}

// A stateful connection that drops while a hub method waits on its client
// (here for upload items) still times out: the method is woken, the
// connection ends with OnDisconnected, and its token is gone. Found by
// review: the actor, blocked in the method, never learnt of the drop.
func TestStatefulDropWhileMethodWaits(t *testing.T) {
	hubURL, h := startStateful(t, true, 500*time.Millisecond)
	c, token := statefulConnect(t, hubURL, 2)
	c.send(`{"type":1,"invocationId":"1","target":"Sum","arguments":[],"streamIds":["s1"]}`)
	c.send(`{"type":2,"invocationId":"s1","item":1}`)
	c.drop()
	if !testutil.Poll(10*time.Second, func() bool { return slices.Contains(h.events.All(), "disconnected-error") }) {
		t.Fatalf("the connection never ended: events %v", h.events.All())
	}
	if !slices.Contains(h.events.All(), "sum-returned") {
		t.Fatalf("the waiting method was not woken: events %v", h.events.All())
	}
	if s := dialStatus(t, hubURL, "id="+token, nil); s != http.StatusNotFound {
		t.Fatalf("reattach after the timeout: status %d, want 404", s)
	}
}
