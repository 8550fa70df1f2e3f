package hub

import (
	"testing"

	"github.com/actorhub/actorhub/protocol"
)

// TestOnlyClose: what a stopping client sends last holds Close messages only.
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
