package transports_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/protocol"
	"github.com/actorhub/actorhub/transports"
)

// TestSSE: the receive half's headers and first bytes, one event per
// write, the handshake and invocations by POST, and the refusals of a
// second receive request and of other transports.
func TestSSE(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	id := "id=" + n.ConnectionToken
	c := openSSE(t, hubURL, id, nil)
	if c.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", c.resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":     "text/event-stream",
		"Cache-Control":    "no-cache,no-store",
		"Pragma":           "no-cache",
		"Content-Encoding": "identity",
	} {
		if got := c.resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := c.readN(3); got != ":\r\n" {
		t.Fatalf("first bytes %q, want \":\\r\\n\"", got)
	}

	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), nil); s != http.StatusOK {
		t.Fatalf("POST handshake: %d %s", s, b)
	}
	if ev := c.rawEvent(); ev != "data: {}\x1e\r\n\r\n" {
		t.Fatalf("handshake event %q", ev)
	}
	// Several messages in one POST; the answers come as whole messages.
	body := records(invocation("1", "Echo", "a"), invocation("2", "Add", 40, 2), invocation("3", "Echo", strings.Repeat("x", 20000)))
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, body, nil); s != http.StatusOK {
		t.Fatalf("POST: %d %s", s, b)
	}
	var got []string
	for len(got) < 3 {
		got = append(got, c.event()...)
	}
	want := []string{
		`{"type":3,"invocationId":"1","result":"a"}`,
		`{"type":3,"invocationId":"2","result":42}`,
		`{"type":3,"invocationId":"3","result":"` + strings.Repeat("x", 20000) + `"}`,
	}
	for i := range want {
		if !jsonEqual(got[i], want[i]) {
			t.Fatalf("message %d: %.100s, want %.100s", i, got[i], want[i])
		}
	}

	t.Run("second SSE request 409", func(t *testing.T) {
		if c2 := openSSE(t, hubURL, id, nil); c2.resp.StatusCode != http.StatusConflict {
			t.Fatalf("status %d, want 409", c2.resp.StatusCode)
		}
	})
	t.Run("other transports 400", func(t *testing.T) {
		s, _, b := send(t, http.MethodGet, hubURL+"?"+id, "", nil)
		if s != http.StatusBadRequest || string(b) != "Cannot change transports mid-connection" {
			t.Fatalf("long poll: %d %q", s, b)
		}
		if s := dialStatus(t, hubURL, id, nil); s != http.StatusBadRequest {
			t.Fatalf("WebSocket: %d", s)
		}
		if s, _, b := send(t, http.MethodDelete, hubURL+"?"+id, "", nil); s != http.StatusBadRequest {
			t.Fatalf("DELETE: %d %s", s, b)
		}
	})
	t.Run("no id 400, unknown 404", func(t *testing.T) {
		if c := openSSE(t, hubURL, "", nil); c.resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("no id: %d", c.resp.StatusCode)
		}
		if c := openSSE(t, hubURL, "id=nope", nil); c.resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown id: %d", c.resp.StatusCode)
		}
	})

	// The client's stop: a hub Close by POST; the response ends.
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(`{"type":7}`), nil); s != http.StatusOK {
		t.Fatalf("POST Close: %d %s", s, b)
	}
	if err := c.end(); err != nil {
		t.Fatalf("the event stream was cut: %v", err)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to go", func() bool { return h.Stats().Open == 0 })
	if s := h.Stats().Closes["client"]; s != 1 {
		t.Fatalf("client closes %d, want 1", s)
	}
	if s, _, _ := send(t, http.MethodPost, hubURL+"?"+id, records(invocation("4", "Echo", "a")), nil); s != http.StatusNotFound {
		t.Fatalf("POST after the end: %d, want 404", s)
	}
}

// binaryJSON stands in for MessagePack: a binary protocol of that name.
type binaryJSON struct{ protocol.Protocol }

func (binaryJSON) Name() string                            { return "messagepack" }
func (binaryJSON) TransferFormat() protocol.TransferFormat { return protocol.Binary }

// TestSSEMessagePack: SSE carries text only, so a binary protocol's
// handshake gets ASP.NET's error and the stream ends.
func TestSSEMessagePack(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{Protocols: []protocol.Protocol{protocol.JSON, binaryJSON{protocol.JSON}}}, transports.Config{})
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	c := openSSE(t, hubURL, "id="+n.ConnectionToken, nil)
	c.readN(3)
	send(t, http.MethodPost, hubURL+"?id="+n.ConnectionToken, records(`{"protocol":"messagepack","version":1}`), nil)
	got := c.event()
	want := `{"error":"Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."}`
	if len(got) != 1 || !jsonEqual(got[0], want) {
		t.Fatalf("got %q, want %s", got, want)
	}
	if err := c.end(); err != nil {
		t.Fatalf("the event stream was cut: %v", err)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to go", func() bool { return h.Stats().Open == 0 })
}

// TestSSEClientGone: a client that drops its TCP connection mid-stream
// leaves no goroutine and no connection behind.
func TestSSEClientGone(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	id := "id=" + n.ConnectionToken
	c := openSSE(t, hubURL, id, nil)
	c.readN(3)
	send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), nil)
	c.event()
	testutil.EventuallyWithin(t, 5*time.Second, "the connection", func() bool { return h.Stats().Connections == 1 })
	c.conn.Close()
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to go", func() bool { return h.Stats().Open == 0 })
	if s := h.Stats(); s.Connections != 0 || s.Closes["transport"] != 1 {
		t.Fatalf("after the drop: %+v", s)
	}
	waitNoRequests(t)
	if s, _, _ := send(t, http.MethodPost, hubURL+"?"+id, records(`{"type":6}`), nil); s != http.StatusNotFound {
		t.Fatalf("POST after the drop: %d, want 404", s)
	}
}

// TestSSEServerEnds: a server Drop cuts the stream (the client sees an
// error), a shutdown ends it cleanly after the Close message.
func TestSSEServerEnds(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	open := func() (*sseClient, string) {
		n := negotiate(t, hubURL, "negotiateVersion=1", nil)
		id := "id=" + n.ConnectionToken
		c := openSSE(t, hubURL, id, nil)
		c.readN(3)
		send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), nil)
		c.event()
		return c, id
	}
	dropped, id := open()
	send(t, http.MethodPost, hubURL+"?"+id, records(invocation("", "Drop")), nil)
	if err := dropped.end(); err == nil {
		t.Fatal("a dropped stream ended cleanly")
	}

	c, _ := open()
	if err := shutdownHub(t, h); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if m := c.message(); !jsonEqual(m, `{"type":7,"allowReconnect":true}`) {
		t.Fatalf("got %s", m)
	}
	if err := c.end(); err != nil {
		t.Fatalf("the event stream was cut: %v", err)
	}
}

// TestSSEAuth: every request must carry the negotiating user's token (the
// Node client sends it as access_token on SSE, as a header on POST); a
// refused one leaves the token to its owner.
func TestSSEAuth(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{Authenticator: testTokens})
	n := negotiate(t, hubURL, "negotiateVersion=1", http.Header{"Authorization": {"Bearer test:ann"}})
	id := "id=" + n.ConnectionToken
	if c := openSSE(t, hubURL, id+"&access_token=test:bob", nil); c.resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another user: %d, want 403", c.resp.StatusCode)
	}
	if c := openSSE(t, hubURL, id+"&access_token=bad", nil); c.resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bad token: %d, want 401", c.resp.StatusCode)
	}
	if c := openSSE(t, hubURL, id, nil); c.resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous: %d, want 403", c.resp.StatusCode)
	}
	c := openSSE(t, hubURL, id+"&access_token=test:ann", nil)
	if c.resp.StatusCode != http.StatusOK {
		t.Fatalf("the owner: %d", c.resp.StatusCode)
	}
	c.readN(3)
	if s, _, _ := send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), http.Header{"Authorization": {"Bearer test:bob"}}); s != http.StatusForbidden {
		t.Fatalf("POST as another user: %d, want 403", s)
	}
	ann := http.Header{"Authorization": {"Bearer test:ann"}}
	send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest, invocation("1", "WhoAmI")), ann)
	var got []string
	for len(got) < 2 {
		got = append(got, c.event()...)
	}
	if !jsonEqual(got[1], `{"type":3,"invocationId":"1","result":"ann"}`) {
		t.Fatalf("got %q", got)
	}
}
