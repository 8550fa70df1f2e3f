package transports_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
)

// The official client's stop over long polling and Server-Sent Events: it
// POSTs its Close message and at the same time ends its transport (aborts
// its poll and sends DELETE; closes its event stream). The server sees
// these in either order, and neither may be answered 404 (a browser logs
// that as an error, in a normal stop). What else comes after the end still
// gets 404. See ended.go.

// Close first: the pending poll returns 204, then DELETE comes.
func TestLongPollStopCloseFirst(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{Authenticator: testTokens})
	ann := http.Header{"Authorization": {"Bearer test:ann"}}
	bob := http.Header{"Authorization": {"Bearer test:bob"}}
	id := startAuthLongPoll(t, hubURL, ann)

	pending := make(chan pollResult, 1)
	go func() { pending <- poll(t, hubURL, id, ann) }()
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(`{"type":7}`), ann); s != http.StatusOK {
		t.Fatalf("POST Close: %d %s", s, b)
	}
	if r := <-pending; r.status != http.StatusNoContent {
		t.Fatalf("the poll pending at the Close: %d %q", r.status, r.body)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to end", func() bool { return h.Stats().Open == 0 })

	if s, _, _ := send(t, http.MethodDelete, hubURL+"?"+id, "", bob); s != http.StatusForbidden {
		t.Fatalf("DELETE as another user: %d", s)
	}
	if r := poll(t, hubURL, id, ann); r.status != http.StatusNotFound {
		t.Fatalf("poll after the 204: %d %q", r.status, r.body)
	}
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(invocation("1", "Echo", "x")), ann); s != http.StatusNotFound {
		t.Fatalf("POST of an invocation after the end: %d %s", s, b)
	}
	s, hd, b := send(t, http.MethodDelete, hubURL+"?"+id, "", ann)
	if s != http.StatusAccepted || len(b) != 0 || hd.Get("Content-Type") != "text/plain" {
		t.Fatalf("DELETE after the 204: %d %q %v", s, b, hd)
	}
	if s, _, b := send(t, http.MethodDelete, hubURL+"?"+id, "", ann); s != http.StatusNotFound {
		t.Fatalf("a second DELETE: %d %s", s, b)
	}
}

// DELETE first: the Close POST that was on its way still gets 200.
func TestLongPollStopDeleteFirst(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{Authenticator: testTokens})
	ann := http.Header{"Authorization": {"Bearer test:ann"}}
	bob := http.Header{"Authorization": {"Bearer test:bob"}}
	id := startAuthLongPoll(t, hubURL, ann)

	if s, _, b := send(t, http.MethodDelete, hubURL+"?"+id, "", ann); s != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", s, b)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to end", func() bool { return h.Stats().Open == 0 })
	if s, _, _ := send(t, http.MethodPost, hubURL+"?"+id, records(`{"type":7}`), bob); s != http.StatusForbidden {
		t.Fatalf("POST Close as another user: %d", s)
	}
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(`{"type":7}`), ann); s != http.StatusOK {
		t.Fatalf("POST Close after DELETE: %d %s", s, b)
	}
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(`{"type":6}`), ann); s != http.StatusNotFound {
		t.Fatalf("POST of a ping after DELETE: %d %s", s, b)
	}
	if s, _, b := send(t, http.MethodDelete, hubURL+"?"+id, "", ann); s != http.StatusNotFound {
		t.Fatalf("a second DELETE: %d %s", s, b)
	}
	if h.Stats().Closes["client"]+h.Stats().Closes["transport"] != 1 {
		t.Fatalf("closes: %v", h.Stats().Closes)
	}
}

// The event stream closed first: the Close POST still gets 200.
func TestSSEStopStreamFirst(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	id := "id=" + n.ConnectionToken
	c := openSSE(t, hubURL, id, nil)
	c.readN(3)
	send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), nil)
	c.event()
	c.conn.Close()
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to end", func() bool { return h.Stats().Open == 0 })
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(`{"type":7}`), nil); s != http.StatusOK {
		t.Fatalf("POST Close after the stream ended: %d %s", s, b)
	}
	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(invocation("1", "Echo", "x")), nil); s != http.StatusNotFound {
		t.Fatalf("POST of an invocation after the end: %d %s", s, b)
	}
	if s, _, b := send(t, http.MethodDelete, hubURL+"?"+id, "", nil); s != http.StatusNotFound {
		t.Fatalf("DELETE of an SSE connection after the end: %d %s", s, b)
	}
}

// startAuthLongPoll starts a long polling connection as header's user,
// handshake done.
func startAuthLongPoll(t *testing.T, hubURL string, header http.Header) string {
	t.Helper()
	n := negotiate(t, hubURL, "negotiateVersion=1", header)
	id := "id=" + n.ConnectionToken
	if r := poll(t, hubURL, id, header); r.status != http.StatusOK {
		t.Fatalf("first poll: %d %q", r.status, r.body)
	}
	send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), header)
	if r := poll(t, hubURL, id, header); r.status != http.StatusOK || string(r.body) != "{}\x1e" {
		t.Fatalf("handshake poll: %d %q", r.status, r.body)
	}
	return id
}
