package transports_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

func origin(o string) http.Header { return http.Header{"Origin": {o}} }

// The default: the server's own origin only. Browsers on another origin
// are refused everywhere; clients without Origin are not affected.
func TestOriginsDefaultSameOrigin(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})
	own := "http://" + hostOf(t, hubURL)

	status, hd, _ := post(t, hubURL+"/negotiate?negotiateVersion=1", origin(own))
	if status != http.StatusOK || hd.Get("Access-Control-Allow-Origin") != own {
		t.Fatalf("own origin: negotiate %d, Access-Control-Allow-Origin %q", status, hd.Get("Access-Control-Allow-Origin"))
	}
	// The same origin written with its default port is the same origin.
	if status, _, _ := post(t, hubURL+"/negotiate", origin(own)); status != http.StatusOK {
		t.Fatalf("own origin: %d", status)
	}
	for _, evil := range []string{"http://evil.example", "https://" + hostOf(t, hubURL), "null", "not an origin"} {
		status, hd, body := post(t, hubURL+"/negotiate?negotiateVersion=1", origin(evil))
		if status != http.StatusForbidden || len(body) != 0 || hd.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("origin %q: negotiate %d %q, Access-Control-Allow-Origin %q; want 403, no body, no CORS header", evil, status, body, hd.Get("Access-Control-Allow-Origin"))
		}
		if !strings.Contains(strings.Join(hd.Values("Vary"), ","), "Origin") {
			t.Fatalf("origin %q: no Vary: Origin in %v", evil, hd)
		}
		if s := dialStatus(t, hubURL, "", origin(evil)); s != http.StatusForbidden {
			t.Fatalf("origin %q: WebSocket upgrade (skipNegotiation) %d, want 403", evil, s)
		}
	}
	// The same origin and no origin at all connect over WebSockets.
	c := dial(t, hubURL, "", origin(own))
	c.handshake()
	c.echo("1")
	plainClient := connect(t, hubURL)
	plainClient.echo("1")
}

// Every request of every transport of a refused origin gets 403, and the
// connection it names carries on for its own client.
func TestOriginsRefusedOnEveryTransportRequest(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{AllowedOrigins: []string{"https://app.example.com"}})
	evil := origin("https://evil.example")

	// Long polling, negotiated by a client without Origin.
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	lp := hubURL + "?id=" + n.ConnectionToken
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if s, _, b := send(t, m, lp, "", evil); s != http.StatusForbidden || len(b) != 0 {
			t.Fatalf("%s long polling with a refused origin: %d %q, want 403", m, s, b)
		}
	}
	if s, _, _ := send(t, http.MethodGet, lp, "", nil); s != http.StatusOK {
		t.Fatalf("first poll of the honest client: %d", s)
	}
	if s, _, _ := send(t, http.MethodPost, lp, records(handshakeRequest), nil); s != http.StatusOK {
		t.Fatalf("handshake POST of the honest client: %d", s)
	}
	if s, _, b := send(t, http.MethodGet, lp, "", nil); s != http.StatusOK || string(b) != "{}\x1e" {
		t.Fatalf("poll of the honest client: %d %q", s, b)
	}
	if s, _, _ := send(t, http.MethodDelete, lp, "", origin("https://app.example.com")); s != http.StatusAccepted {
		t.Fatalf("DELETE from the allowed origin: %d", s)
	}

	// Server-Sent Events.
	n = negotiate(t, hubURL, "negotiateVersion=1", nil)
	h := http.Header{"Accept": {"text/event-stream"}, "Origin": evil["Origin"]}
	if s, _, _ := send(t, http.MethodGet, hubURL+"?id="+n.ConnectionToken, "", h); s != http.StatusForbidden {
		t.Fatalf("SSE with a refused origin: %d, want 403", s)
	}
	sse := openSSE(t, hubURL, "id="+n.ConnectionToken, nil)
	if got := sse.readN(3); got != ":\r\n" {
		t.Fatalf("the honest SSE client got %q", got)
	}

	// A WebSocket with a negotiated token.
	n = negotiate(t, hubURL, "negotiateVersion=1", nil)
	if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, evil); s != http.StatusForbidden {
		t.Fatalf("WebSocket with a refused origin: %d, want 403", s)
	}
	c := dial(t, hubURL, "id="+n.ConnectionToken, nil)
	c.handshake()
	c.echo("1")
}

// An allowed cross-origin request gets the CORS headers with credentials;
// its preflight gets 204 with the methods and headers the client uses.
func TestOriginsAllowedAndPreflight(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{
		AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
		AllowedHeaders: []string{"x-header"},
	})
	for _, o := range []string{"https://app.example.com", "HTTPS://APP.EXAMPLE.COM:443", "https://a.example.org", "https://a.b.example.org"} {
		status, hd, _ := post(t, hubURL+"/negotiate?negotiateVersion=1", origin(o))
		if status != http.StatusOK || hd.Get("Access-Control-Allow-Origin") != o || hd.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("origin %q: %d, headers %v", o, status, hd)
		}
	}
	for _, o := range []string{"https://example.org", "http://app.example.com", "https://app.example.com.evil", "https://evilexample.org"} {
		if status, _, _ := post(t, hubURL+"/negotiate?negotiateVersion=1", origin(o)); status != http.StatusForbidden {
			t.Fatalf("origin %q: %d, want 403", o, status)
		}
	}

	pre := http.Header{
		"Origin":                         {"https://app.example.com"},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"x-requested-with,x-signalr-user-agent,authorization"},
	}
	for _, path := range []string{"/negotiate?negotiateVersion=1", "?id=whatever"} {
		status, hd, body := send(t, http.MethodOptions, hubURL+path, "", pre)
		if status != http.StatusNoContent || len(body) != 0 {
			t.Fatalf("preflight of %s: %d %q, want 204", path, status, body)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example.com",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, POST, DELETE",
			"Access-Control-Allow-Headers":     "Authorization, Content-Type, X-Requested-With, X-Signalr-User-Agent, X-Header",
			"Access-Control-Max-Age":           "600",
		}
		for k, v := range want {
			if got := hd.Get(k); !strings.EqualFold(got, v) {
				t.Errorf("preflight of %s: %s %q, want %q", path, k, got, v)
			}
		}
	}
	pre.Set("Origin", "https://evil.example")
	if status, hd, _ := send(t, http.MethodOptions, hubURL+"/negotiate", "", pre); status != http.StatusForbidden || hd.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of a refused origin: %d %v, want 403 without CORS headers", status, hd)
	}
	// OPTIONS that is not a preflight is no method of the protocol.
	if status, _, _ := send(t, http.MethodOptions, hubURL+"?id=x", "", nil); status != http.StatusMethodNotAllowed {
		t.Fatalf("OPTIONS without Origin: %d, want 405", status)
	}
	// An allowed origin connects over WebSockets.
	c := dial(t, hubURL, "", origin("https://a.example.org"))
	c.handshake()
	c.echo("1")
}

func TestOriginsAny(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{AllowedOrigins: []string{"*"}})
	for _, o := range []string{"https://anything.example", "http://localhost:3000"} {
		if status, hd, _ := post(t, hubURL+"/negotiate", origin(o)); status != http.StatusOK || hd.Get("Access-Control-Allow-Origin") != o {
			t.Fatalf("origin %q with *: %d %v", o, status, hd)
		}
	}
	// The opaque origin of sandboxed frames and files only when listed.
	if status, _, _ := post(t, hubURL+"/negotiate", origin("null")); status != http.StatusForbidden {
		t.Fatalf("origin null with *: %d, want 403", status)
	}
	c := dial(t, hubURL, "", origin("https://anything.example"))
	c.handshake()
	c.echo("1")
}

// Behind a proxy, the origin the client used is the forwarded one.
func TestOriginsForwarded(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})
	h := http.Header{"Origin": {"https://chat.example.com"}, "X-Forwarded-Host": {"chat.example.com"}, "X-Forwarded-Proto": {"https"}}
	if status, _, _ := post(t, hubURL+"/negotiate", h); status != http.StatusOK {
		t.Fatalf("forwarded same origin: %d", status)
	}
	h.Set("X-Forwarded-Proto", "http")
	if status, _, _ := post(t, hubURL+"/negotiate", h); status != http.StatusForbidden {
		t.Fatalf("forwarded, other scheme: %d, want 403", status)
	}
}

// Refused origins cost nothing, and an honest connection carries on
// through a burst of them.
func TestOriginsRefusedWhileHonestClientWorks(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	honest := connect(t, hubURL)
	for i := range 200 {
		if status, _, _ := post(t, hubURL+"/negotiate?negotiateVersion=1", origin("http://evil.example")); status != http.StatusForbidden {
			t.Fatalf("refused negotiate %d: %d", i, status)
		}
		if i%20 == 0 {
			if s := dialStatus(t, hubURL, "", origin("http://evil.example")); s != http.StatusForbidden {
				t.Fatalf("refused upgrade: %d", s)
			}
			honest.echo("e" + string(rune('a'+i/20)))
		}
	}
	if n, err := h.ConnectionCount(t.Context()); err != nil || n != 1 {
		t.Fatalf("%d connections (%v), want the honest one only", n, err)
	}
}

func TestOriginsConfigErrors(t *testing.T) {
	h, err := hub.New(testHub{}, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	for _, bad := range [][]string{{"example.com"}, {"https://a.com/path"}, {"https://a.*.com"}, {"https://*."}, {"https://x.com", "ftp:"}} {
		if _, err := transports.NewHandler(h, transports.Config{AllowedOrigins: bad}); err == nil || !strings.Contains(err.Error(), "Config.AllowedOrigins[") {
			t.Errorf("AllowedOrigins %q: err %v, want one naming the field", bad, err)
		}
	}
	if _, err := transports.NewHandler(h, transports.Config{AllowedHeaders: []string{"bad header"}}); err == nil || !strings.Contains(err.Error(), "Config.AllowedHeaders[0]") {
		t.Errorf("AllowedHeaders: err %v", err)
	}
}
