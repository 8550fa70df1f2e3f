package transports_test

import (
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
)

// Stats splits the connected clients by transport and by protocol, as the
// transports name them, and counts them down as they go.
func TestStatsByTransportAndProtocol(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	byTransport := func() map[string]int64 { return h.Stats().Transports }
	byProtocol := func() map[string]int64 { return h.Stats().Protocols }
	if got := byProtocol(); !maps.Equal(got, map[string]int64{"json": 0, "messagepack": 0}) {
		t.Fatalf("protocols at start: %v", got)
	}

	wsJSON := connect(t, hubURL)
	wsMsgPack := dial(t, hubURL, "", nil)
	wsMsgPack.send(`{"protocol":"messagepack","version":1}`)
	wsMsgPack.readFrame()
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	sse := openSSE(t, hubURL, "id="+n.ConnectionToken, nil)
	sse.readN(3)
	send(t, http.MethodPost, hubURL+"?id="+n.ConnectionToken, records(handshakeRequest), nil)
	sse.event()
	lp := startLongPoll(t, hubURL, true)
	testutil.EventuallyWithin(t, 5*time.Second, "4 connections", func() bool { return h.Stats().Connections == 4 })
	if got, want := byTransport(), map[string]int64{"WebSockets": 2, "ServerSentEvents": 1, "LongPolling": 1}; !maps.Equal(got, want) {
		t.Fatalf("by transport: %v, want %v", got, want)
	}
	if got, want := byProtocol(), map[string]int64{"json": 3, "messagepack": 1}; !maps.Equal(got, want) {
		t.Fatalf("by protocol: %v, want %v", got, want)
	}

	wsMsgPack.conn.Close()
	send(t, http.MethodDelete, hubURL+"?"+lp, "", nil)
	testutil.EventuallyWithin(t, 5*time.Second, "2 connections", func() bool { return h.Stats().Connections == 2 })
	if got, want := byTransport(), map[string]int64{"WebSockets": 1, "ServerSentEvents": 1, "LongPolling": 0}; !maps.Equal(got, want) {
		t.Fatalf("by transport after two left: %v, want %v", got, want)
	}
	if got, want := byProtocol(), map[string]int64{"json": 2, "messagepack": 0}; !maps.Equal(got, want) {
		t.Fatalf("by protocol after two left: %v, want %v", got, want)
	}
	wsJSON.conn.Close()
	sse.conn.Close()
	testutil.EventuallyWithin(t, 5*time.Second, "none left", func() bool {
		s := h.Stats()
		return s.Connections == 0 && s.Transports["WebSockets"] == 0 && s.Transports["ServerSentEvents"] == 0 && s.Protocols["json"] == 0
	})
}
