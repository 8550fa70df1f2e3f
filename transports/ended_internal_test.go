package transports

import (
	"net/netip"
	"testing"
	"time"
)

// TestEndedConnsForgotten: the token an ended connection keeps for its
// stopping client is forgotten by the janitor's first scan after
// DisconnectTimeout, so ended connections cannot pile up; only the first
// DELETE of a long polling one is answered.
func TestEndedConnsForgotten(t *testing.T) {
	tk := tokens{
		m: map[string]*entry{}, unclaimed: map[string]*entry{}, polling: map[string]*longPoll{},
		kept: map[string]*entry{}, ended: map[string]*endedConn{},
	}
	for i, token := range []string{"a", "b"} {
		tk.open(token, &entry{id: token, user: "ann", transport: LongPolling}, netip.Addr{})
		tk.finish(token, nil, time.Duration(i+1)*time.Second, false)
	}
	if _, ok := tk.lookup("a"); ok {
		t.Fatal("an ended connection is still looked up")
	}
	tk.expire(1500 * time.Millisecond) // "a" ended before the cutoff, "b" after
	if _, status := tk.endedFor("a", "ann"); status != 404 || len(tk.ended) != 1 {
		t.Fatalf("after expire: %d, %v", status, tk.ended)
	}
	if _, status := tk.endedFor("b", "bob"); status != 403 {
		t.Fatalf("another user: %d", status)
	}
	if !tk.markDeleted("b") || tk.markDeleted("b") {
		t.Fatal("the first DELETE, and only the first, is answered")
	}
	tk.expire(3 * time.Second)
	if len(tk.ended) != 0 {
		t.Fatalf("left: %v", tk.ended)
	}
}
