package transports_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// requestHub tells what its caller's connection kept of its transport.
type requestHub struct{}

func (requestHub) Echo(s string) string { return s }

// Seen is "<transport> <X-Test header> <cookie c> <query q>", or
// "<transport> none" without a kept request.
func (requestHub) Seen(ctx *hub.Context) string {
	r := ctx.Request()
	if r == nil {
		return ctx.Transport() + " none"
	}
	c, _ := r.Cookie("c")
	v := ""
	if c != nil {
		v = c.Value
	}
	return strings.Join([]string{ctx.Transport(), r.Header.Get("X-Test"), v, r.URL.Query().Get("q")}, " ")
}

// With Config.KeepRequests, hub code sees the request that opened the
// connection on every transport: its headers, cookies and query.
func TestKeepRequests(t *testing.T) {
	hubURL, _ := startServerWith(t, requestHub{}, hub.Config{}, transports.Config{KeepRequests: true})
	h := http.Header{"X-Test": {"v"}, "Cookie": {"c=cookie"}}
	want := func(transport string) string { return transport + " v cookie 1" }

	ws := dial(t, hubURL, "q=1", h)
	ws.handshake()
	if got := ws.invoke("1", "Seen").Result; got != want("WebSockets") {
		t.Fatalf("WebSockets: %q", got)
	}

	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	sse := openSSE(t, hubURL, "q=1&id="+n.ConnectionToken, h)
	sse.readN(3)
	if s, _, _ := send(t, http.MethodPost, hubURL+"?id="+n.ConnectionToken, records(handshakeRequest, invocation("1", "Seen")), nil); s != http.StatusOK {
		t.Fatalf("SSE POST: %d", s)
	}
	var msgs []string
	for len(msgs) < 2 {
		msgs = append(msgs, sse.event()...)
	}
	var m completion
	if err := json.Unmarshal([]byte(msgs[1]), &m); msgs[0] != "{}" || err != nil || m.Result != want("ServerSentEvents") {
		t.Fatalf("ServerSentEvents: %q", msgs)
	}

	n = negotiate(t, hubURL, "negotiateVersion=1", nil)
	lp := hubURL + "?q=1&id=" + n.ConnectionToken
	if s, _, _ := send(t, http.MethodGet, lp, "", h); s != http.StatusOK {
		t.Fatalf("first poll: %d", s)
	}
	if s, _, _ := send(t, http.MethodPost, lp, records(handshakeRequest, invocation("1", "Seen")), nil); s != http.StatusOK {
		t.Fatalf("LP POST: %d", s)
	}
	var got []string
	for len(got) < 2 {
		s, _, b := send(t, http.MethodGet, lp, "", nil)
		if s != http.StatusOK {
			t.Fatalf("poll: %d", s)
		}
		got = append(got, splitRecords(b)...)
	}
	if err := json.Unmarshal([]byte(got[1]), &m); err != nil || m.Result != want("LongPolling") {
		t.Fatalf("LongPolling: %q", got)
	}
}

// By default nothing of the request is kept; the transport's name is.
func TestRequestsNotKeptByDefault(t *testing.T) {
	hubURL, _ := startServerWith(t, requestHub{}, hub.Config{}, transports.Config{})
	ws := dial(t, hubURL, "q=1", http.Header{"X-Test": {"v"}})
	ws.handshake()
	if got := ws.invoke("1", "Seen").Result; got != "WebSockets none" {
		t.Fatalf("got %q", got)
	}
}
