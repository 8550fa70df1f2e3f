package transports

import (
	"testing"
	"time"

	"github.com/actorhub/actorhub/protocol"
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
		tk.add(token, &entry{id: token, user: "ann", transport: lpName})
		tk.finish(token, protocol.JSON, time.Duration(i+1)*time.Second, false)
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

// TestOnlyClose: a stopping client's POST holds Close messages only.
func TestOnlyClose(t *testing.T) {
	mpClose, _ := protocol.MessagePack.AppendMessage(nil, &protocol.Close{})
	mpPing, _ := protocol.MessagePack.AppendMessage(nil, &protocol.Ping{})
	for _, tc := range []struct {
		proto protocol.Protocol
		body  string
		want  bool
	}{
		{protocol.JSON, "{\"type\":7}\x1e", true},
		{protocol.JSON, "{\"type\":7,\"error\":\"bye\",\"allowReconnect\":false}\x1e{\"type\":7}\x1e", true},
		{protocol.JSON, "{\"type\":7}\x1e{\"type\":6}\x1e", false},
		{protocol.JSON, "{\"type\":1,\"target\":\"Send\",\"arguments\":[]}\x1e", false},
		{protocol.JSON, "{\"type\":7}", false}, // incomplete
		{protocol.JSON, "", false},
		{protocol.JSON, "not json\x1e", false},
		{nil, "{\"type\":7}\x1e", false}, // no handshake
		{protocol.MessagePack, string(mpClose), true},
		{protocol.MessagePack, string(mpClose) + string(mpPing), false},
		{protocol.MessagePack, string(mpClose[:len(mpClose)-1]), false},
	} {
		if got := onlyClose(tc.proto, []byte(tc.body)); got != tc.want {
			t.Errorf("onlyClose(%v, %q) = %v, want %v", tc.proto, tc.body, got, tc.want)
		}
	}
}
