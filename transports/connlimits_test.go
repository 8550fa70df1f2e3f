package transports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/actorhub/actorhub/internal/testutil"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
)

// peer is a client on its own loopback source address (127.0.0.2, ...), as
// a client on another machine would be for the per-address limits.
type peer struct {
	t    testing.TB
	ip   net.IP
	http *http.Client
}

func newPeer(t testing.TB, ip string) *peer {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &peer{t: t, ip: net.ParseIP(ip), http: &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}}
}

// negotiate POSTs to negotiate and returns the status, headers, body and,
// on 200, the connection token.
func (p *peer) negotiate(hubURL string) (int, http.Header, string, string) {
	p.t.Helper()
	resp, err := p.http.Post(hubURL+"/negotiate?negotiateVersion=1", "text/plain", nil)
	if err != nil {
		p.t.Fatalf("negotiate from %s: %v", p.ip, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var token string
	if resp.StatusCode == http.StatusOK {
		var n negotiateReply
		if err := json.Unmarshal(b, &n); err != nil {
			p.t.Fatalf("negotiate: %v: %s", err, b)
		}
		token = n.ConnectionToken
	}
	return resp.StatusCode, resp.Header, string(b), token
}

// dial opens a WebSocket (with ?query, or none: skipNegotiation) and shakes
// hands; on a refused upgrade it returns the status.
func (p *peer) dial(hubURL, query string) (*wsClient, int) {
	p.t.Helper()
	d := ws.Dialer{Timeout: 10 * time.Second, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: p.ip}}
		return nd.DialContext(ctx, network, addr)
	}}
	conn, br, _, err := d.Dial(context.Background(), wsURL(hubURL, query))
	if err != nil {
		var se ws.StatusError
		if ok := asStatus(err, &se); ok {
			return nil, int(se)
		}
		p.t.Fatalf("dial from %s: %v", p.ip, err)
	}
	p.t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: p.t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	c.handshake()
	return c, http.StatusSwitchingProtocols
}

func asStatus(err error, se *ws.StatusError) bool {
	s, ok := err.(ws.StatusError)
	if ok {
		*se = s
	}
	return ok
}

// limitedServer serves two hubs, /a and /b, whose handlers share lim.
func limitedServer(t *testing.T, lim *transports.Limiter, hubCfg hub.Config, cfg transports.Config) (a, b string) {
	t.Helper()
	mux := http.NewServeMux()
	var hubs []*hub.Hub
	var handlers []*transports.Handler
	for _, path := range []string{"/a", "/b"} {
		h, err := hub.New(testHub{}, hubCfg)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Limiter = lim
		hd, err := transports.NewHandler(h, c)
		if err != nil {
			t.Fatal(err)
		}
		hd.Mount(mux, path)
		hubs, handlers = append(hubs, h), append(handlers, hd)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i, h := range hubs {
			if err := h.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			_ = handlers[i].Close()
		}
		// Every place is given back once the hubs have closed their
		// connections and the handlers forgot their tokens.
		if n := lim.Stats().Connections; n != 0 {
			t.Errorf("after shutdown the limiter still counts %d connections", n)
		}
	})
	return srv.URL + "/a", srv.URL + "/b"
}

func newLimiter(t *testing.T, cfg transports.LimiterConfig) *transports.Limiter {
	t.Helper()
	lim, err := transports.NewLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

// waitConnections waits until the limiter counts n connections.
func waitConnections(t *testing.T, lim *transports.Limiter, n int) {
	t.Helper()
	testutil.EventuallyWithin(t, 10*time.Second, fmt.Sprintf("the limiter to count %d connections", n), func() bool { return lim.Stats().Connections == n })
}

// MaxConnections bounds the connections of two hubs together: over it,
// negotiate and an upgrade without negotiate get 503 with an empty body
// (no token, no connection), the connections held keep working, and a
// place freed is taken again.
func TestMaxConnectionsAcrossHubs(t *testing.T) {
	lim := newLimiter(t, transports.LimiterConfig{MaxConnections: 4})
	a, b := limitedServer(t, lim, hub.Config{DisconnectTimeout: 300 * time.Millisecond}, transports.Config{})
	p := newPeer(t, "127.0.0.1")
	a1, _ := p.dial(a, "")
	a2, _ := p.dial(a, "")
	_, _, _, tb := p.negotiate(b)
	b1, _ := p.dial(b, "id="+tb)
	if status, _, _, _ := p.negotiate(a); status != http.StatusOK { // pending: a place too
		t.Fatalf("the 4th connection: %d", status)
	}
	waitConnections(t, lim, 4)

	for _, u := range []string{a, b} {
		status, hd, body, _ := p.negotiate(u)
		if status != http.StatusServiceUnavailable || body != "" || hd.Get("Retry-After") != "" {
			t.Fatalf("negotiate over MaxConnections: %d %q %v", status, body, hd)
		}
		if _, status := p.dial(u, ""); status != http.StatusServiceUnavailable {
			t.Fatalf("an upgrade without negotiate over MaxConnections: %d", status)
		}
	}
	a1.echo("1")
	b1.echo("2")
	if s := lim.Stats(); s.Connections != 4 || s.Refused["max_connections"] != 4 {
		t.Fatalf("stats: %+v", s)
	}

	a2.drop() // a client that goes without a word gives its place back
	waitConnections(t, lim, 3)
	b2, status := p.dial(b, "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("a freed place: %d", status)
	}
	b2.echo("3")
	// The pending token expires (DisconnectTimeout): its place too.
	a1.drop()
	b1.drop()
	b2.drop()
	waitConnections(t, lim, 0)
}

// The per-address limits count the TCP peer's address: one address over
// its share gets 429 while another connects, and the first one's
// connections keep working.
func TestMaxConnectionsPerIP(t *testing.T) {
	lim := newLimiter(t, transports.LimiterConfig{MaxConnectionsPerIP: 2})
	a, b := limitedServer(t, lim, hub.Config{}, transports.Config{})
	greedy, other := newPeer(t, "127.0.0.2"), newPeer(t, "127.0.0.3")
	g1, _ := greedy.dial(a, "")
	_, _, _, token := greedy.negotiate(b)
	if status, _, body, _ := greedy.negotiate(a); status != http.StatusTooManyRequests || body != "" {
		t.Fatalf("a 3rd connection from one address: %d %q", status, body)
	}
	if _, status := greedy.dial(b, ""); status != http.StatusTooManyRequests {
		t.Fatalf("a 3rd connection without negotiate: %d", status)
	}
	// X-Forwarded-For is not trusted: it does not move a client elsewhere.
	req, _ := http.NewRequest(http.MethodPost, a+"/negotiate?negotiateVersion=1", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := greedy.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("X-Forwarded-For took the request out of its address's count: %d", resp.StatusCode)
	}
	o1, status := other.dial(a, "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("another address: %d", status)
	}
	o1.echo("1")
	g2, _ := greedy.dial(b, "id="+token) // its negotiated place is its own
	g1.echo("2")
	g2.echo("3")
	if s := lim.Stats(); s.Connections != 3 || s.Addresses != 2 || s.Refused["per_ip_connections"] != 3 {
		t.Fatalf("stats: %+v", s)
	}
	g1.drop()
	waitConnections(t, lim, 2)
	if _, status := greedy.dial(a, ""); status != http.StatusSwitchingProtocols {
		t.Fatalf("after one of its connections ended: %d", status)
	}
}

// ConnectRatePerIP paces one address's new connections (burst, then the
// rate), with Retry-After; another address is not slowed.
func TestConnectRatePerIP(t *testing.T) {
	lim := newLimiter(t, transports.LimiterConfig{ConnectRatePerIP: 4, ConnectBurstPerIP: 3})
	a, _ := limitedServer(t, lim, hub.Config{DisconnectTimeout: 200 * time.Millisecond}, transports.Config{})
	fast, other := newPeer(t, "127.0.0.2"), newPeer(t, "127.0.0.3")
	ok := 0
	var refused *http.Header
	for range 20 {
		status, hd, body, _ := fast.negotiate(a)
		switch status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			if body != "" {
				t.Fatalf("429 with a body %q", body)
			}
			refused = &hd
		default:
			t.Fatalf("negotiate: %d %s", status, body)
		}
	}
	// The 20 requests take well under a second on loopback, but a slow
	// machine may refill a token or two meanwhile.
	if ok < 3 || ok > 8 || refused == nil {
		t.Fatalf("%d of 20 quick negotiates admitted, want the burst of 3 and a few more at most", ok)
	}
	if ra := refused.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1", ra)
	}
	if status, _, _, _ := other.negotiate(a); status != http.StatusOK {
		t.Fatalf("another address: %d", status)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the rate to admit the address again", func() bool {
		status, _, _, _ := fast.negotiate(a)
		return status == http.StatusOK
	})
	if s := lim.Stats(); s.Refused["per_ip_rate"] == 0 {
		t.Fatalf("stats: %+v", s)
	}
}

// MaxPendingConnections bounds the tokens no transport has taken up: a
// flood of negotiates is refused past it (503), while clients that take
// their token up, and clients without negotiate, keep connecting.
func TestMaxPendingConnections(t *testing.T) {
	lim := newLimiter(t, transports.LimiterConfig{}) // no limit: it only counts
	a, _ := limitedServer(t, lim, hub.Config{DisconnectTimeout: 500 * time.Millisecond}, transports.Config{MaxPendingConnections: 5})
	p := newPeer(t, "127.0.0.1")
	admitted := 0
	var first string
	for range 200 {
		status, _, body, token := p.negotiate(a)
		switch status {
		case http.StatusOK:
			admitted++
			if first == "" {
				first = token
			}
		case http.StatusServiceUnavailable:
			if body != "" {
				t.Fatalf("503 with a body %q", body)
			}
		default:
			t.Fatalf("negotiate: %d", status)
		}
	}
	if admitted != 5 {
		t.Fatalf("%d of 200 negotiates admitted, want 5", admitted)
	}
	if n := lim.Stats().Connections; n != 5 {
		t.Fatalf("%d tokens held, want 5", n)
	}
	c, status := p.dial(a, "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("an upgrade without negotiate while negotiate is full: %d", status)
	}
	c.echo("1")
	taken, _ := p.dial(a, "id="+first) // taken up: no longer pending
	taken.echo("2")
	status, _, _, _ = p.negotiate(a)
	if status != http.StatusOK {
		t.Fatalf("negotiate after a token was taken up: %d", status)
	}
	if s := lim.Stats(); s.Refused["pending"] != 195 {
		t.Fatalf("stats: %+v", s)
	}
	// Untaken tokens expire after DisconnectTimeout; the live connections stay.
	waitConnections(t, lim, 2)
	c.echo("3")
	taken.echo("4")
}

// Every way a connection ends gives its place back, once: a WebSocket
// that closes cleanly or drops, a failed upgrade, a negotiated token never
// used, an SSE stream that drops, a long polling client that stops or
// goes silent, a stateful connection that never comes back, a connection
// the hub drops. The count goes back to zero, never below.
func TestLimiterReleasedOnEveryEnd(t *testing.T) {
	lim := newLimiter(t, transports.LimiterConfig{MaxConnections: 1000, MaxConnectionsPerIP: 1000})
	a, _ := limitedServer(t, lim, hub.Config{DisconnectTimeout: 300 * time.Millisecond, AllowStatefulReconnects: true}, transports.Config{})
	p := newPeer(t, "127.0.0.2")

	clean, _ := p.dial(a, "")
	clean.send(`{"type":7}`)
	clean.expectEOF()

	dropped, _ := p.dial(a, "")
	dropped.drop()

	// A failed upgrade: Upgrade: websocket without a key.
	_, _, _, token := p.negotiate(a)
	req, _ := http.NewRequest(http.MethodGet, a+"?id="+token, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatal("an upgrade without Sec-WebSocket-Key succeeded")
	}

	p.negotiate(a) // never used

	_, _, _, token = p.negotiate(a)
	sse := openSSE(t, a, "id="+token, nil)
	sse.readN(3)
	sse.conn.Close()

	lp := startLongPoll(t, a, true)
	if s, _, _ := send(t, http.MethodDelete, a+"?"+lp, "", nil); s != http.StatusAccepted {
		t.Fatalf("DELETE: %d", s)
	}
	startLongPoll(t, a, true) // never polls again

	st, _ := statefulConnect(t, a, 2)
	st.drop()

	byHub, _ := p.dial(a, "")
	byHub.send(invocation("", "Drop"))
	byHub.expectEOF()

	waitConnections(t, lim, 0)
	// Nothing was given back twice: the limit still holds at its number.
	small := newLimiter(t, transports.LimiterConfig{MaxConnections: 1})
	s, _ := limitedServer(t, small, hub.Config{}, transports.Config{})
	c, _ := p.dial(s, "")
	c.drop()
	waitConnections(t, small, 0)
	c2, _ := p.dial(s, "")
	if _, status := p.dial(s, ""); status != http.StatusServiceUnavailable {
		t.Fatalf("a 2nd connection with MaxConnections 1: %d", status)
	}
	c2.echo("1")
}

func TestLimiterConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  transports.LimiterConfig
		want string
	}{
		{transports.LimiterConfig{MaxConnections: -1}, "MaxConnections"},
		{transports.LimiterConfig{MaxConnectionsPerIP: -1}, "MaxConnectionsPerIP"},
		{transports.LimiterConfig{ConnectRatePerIP: -1}, "ConnectRatePerIP"},
		{transports.LimiterConfig{ConnectBurstPerIP: 3}, "needs ConnectRatePerIP"},
	} {
		if _, err := transports.NewLimiter(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	lim := newLimiter(t, transports.LimiterConfig{ConnectRatePerIP: 2.5})
	if got := lim.Config(); got.ConnectBurstPerIP != 3 {
		t.Errorf("burst of a 2.5/s rate: %d, want 3", got.ConnectBurstPerIP)
	}
}
