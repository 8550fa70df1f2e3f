package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000":          true,
		"127.0.0.2:40000":         true,
		"127.255.255.254:1":       true,
		"[::1]:5000":              true,
		"[::ffff:127.0.0.1]:5000": true,
		"127.0.0.1":               true, // no port
		"10.0.0.1:5000":           false,
		"192.168.1.20:5000":       false,
		"203.0.113.7:443":         false,
		"[2001:db8::1]:443":       false,
		"[::ffff:10.1.2.3]:80":    false,
		"[fe80::1%eth0]:80":       false,
		"0.0.0.0:80":              false,
		"localhost:80":            false, // a name is not an address
		"@":                       false, // a Unix socket's peer
		"":                        false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// The rule, through the address and headers the handler sees.
func TestOpsAccessRule(t *testing.T) {
	const token = "0123456789abcdef-secret"
	closed, _ := newOpsAccess("", false)
	withToken, _ := newOpsAccess(token, false)
	open, _ := newOpsAccess("", true)
	req := func(remote string, header ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.RemoteAddr = remote
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		access *opsAccess
		r      *http.Request
		want   int
	}{
		{"loopback", closed, req("127.0.0.1:1234"), 0},
		{"loopback v6", closed, req("[::1]:1234"), 0},
		{"remote, no token configured", closed, req("203.0.113.7:1234"), http.StatusForbidden},
		{"remote with a bearer, no token configured", closed, req("203.0.113.7:1234", "Authorization", "Bearer "+token), http.StatusForbidden},
		{"loopback through a proxy", closed, req("127.0.0.1:1234", "X-Forwarded-For", "203.0.113.7"), http.StatusForbidden},
		{"loopback through a proxy (Forwarded)", closed, req("127.0.0.1:1234", "Forwarded", "for=203.0.113.7"), http.StatusForbidden},
		{"loopback through a proxy (X-Real-IP)", closed, req("127.0.0.1:1234", "X-Real-IP", "203.0.113.7"), http.StatusForbidden},
		{"remote, no token", withToken, req("203.0.113.7:1234"), http.StatusUnauthorized},
		{"remote, wrong token", withToken, req("203.0.113.7:1234", "Authorization", "Bearer "+token+"x"), http.StatusUnauthorized},
		{"remote, a prefix of the token", withToken, req("203.0.113.7:1234", "Authorization", "Bearer "+token[:10]), http.StatusUnauthorized},
		{"remote, token", withToken, req("203.0.113.7:1234", "Authorization", "Bearer "+token), 0},
		{"remote, token (bearer in any case)", withToken, req("203.0.113.7:1234", "Authorization", "bearer "+token), 0},
		{"proxied, token", withToken, req("127.0.0.1:1234", "X-Forwarded-For", "203.0.113.7", "Authorization", "Bearer "+token), 0},
		{"remote, token as a Basic password", withToken, req("203.0.113.7:1234", "Authorization", "Basic "+token), http.StatusUnauthorized},
		{"on -metrics-addr", open, req("203.0.113.7:1234"), 0},
	} {
		if got := tc.access.check(tc.r); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/hubs/dashboard?id=x&access_token="+token, nil)
	r.RemoteAddr = "203.0.113.7:1234"
	if got := withToken.check(r); got != 0 {
		t.Errorf("token in access_token (SignalR's WebSocket and SSE requests): %d", got)
	}
	if _, err := newOpsAccess("short", false); err == nil || !strings.Contains(err.Error(), "-ops-token") {
		t.Errorf("a short token: %v", err)
	}
}

// get sends a GET to url through client, with header pairs.
func get(t *testing.T, client *http.Client, url string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The guard on real sockets: a loopback TCP client, and a client on a Unix
// socket, whose peer the server cannot see as loopback (as a remote client).
func TestOpsGuardOnSockets(t *testing.T) {
	const token = "0123456789abcdef-secret"
	behind := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "secret metrics") })
	for _, tc := range []struct {
		token  string
		remote int // what a non-loopback client without a token gets
	}{{"", http.StatusForbidden}, {token, http.StatusUnauthorized}} {
		access, err := newOpsAccess(tc.token, false)
		if err != nil {
			t.Fatal(err)
		}
		tcp := httptest.NewServer(access.guard(behind))
		if s, _, b := get(t, tcp.Client(), tcp.URL+"/metrics"); s != http.StatusOK || b != "secret metrics" {
			t.Errorf("loopback: %d %q", s, b)
		}
		if s, _, b := get(t, tcp.Client(), tcp.URL+"/metrics", "X-Forwarded-For", "203.0.113.7"); s != tc.remote || strings.Contains(b, "secret") {
			t.Errorf("proxied: %d %q, want %d", s, b, tc.remote)
		}
		tcp.Close()

		sock := filepath.Join(t.TempDir(), "ops.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: access.guard(behind)}
		go func() { _ = srv.Serve(ln) }()
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
		s, h, b := get(t, client, "http://actorhub/metrics")
		if s != tc.remote || strings.Contains(b, "secret") || strings.TrimSpace(b) != http.StatusText(tc.remote) {
			t.Errorf("non-loopback peer, token %q: %d %q, want %d and nothing more", tc.token, s, b, tc.remote)
		}
		if tc.token != "" {
			if h.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if s, _, b := get(t, client, "http://actorhub/metrics", "Authorization", "Bearer "+token); s != http.StatusOK || b != "secret metrics" {
				t.Errorf("non-loopback peer with the token: %d %q", s, b)
			}
			if s, _, _ := get(t, client, "http://actorhub/metrics", "Authorization", "Bearer nope-nope-nope-nope"); s != http.StatusUnauthorized {
				t.Errorf("non-loopback peer with a wrong token: %d", s)
			}
		}
		_ = srv.Close()
	}
}

// /readyz: 503 while draining or while the backplane fails (asked at most
// once a second), 200 otherwise; /healthz always 200.
func TestHealthEndpoints(t *testing.T) {
	var fail bool
	calls := 0
	rd := &readiness{backplane: func(context.Context) error {
		calls++
		if fail {
			return errors.New("redis: connection refused")
		}
		return nil
	}}
	mux := http.NewServeMux()
	rd.mountHealth(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := srv.Client()
	if s, h, b := get(t, c, srv.URL+"/healthz"); s != http.StatusOK || b != "ok\n" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("/healthz: %d %q %v", s, b, h)
	}
	if s, _, b := get(t, c, srv.URL+"/readyz"); s != http.StatusOK || b != "ready\n" {
		t.Fatalf("/readyz: %d %q", s, b)
	}
	for range 5 {
		get(t, c, srv.URL+"/readyz")
	}
	if calls != 1 {
		t.Fatalf("the backplane was asked %d times within a second, want 1", calls)
	}
	fail = true
	rd.mu.Lock()
	rd.checked = rd.checked.Add(-readyCacheFor) // as if a second had passed
	rd.mu.Unlock()
	if s, _, b := get(t, c, srv.URL+"/readyz"); s != http.StatusServiceUnavailable || !strings.Contains(b, "backplane unavailable") || strings.Contains(b, "refused") {
		t.Fatalf("/readyz with the backplane down: %d %q", s, b)
	}
	fail = false
	rd.draining.Store(true)
	if s, _, b := get(t, c, srv.URL+"/readyz"); s != http.StatusServiceUnavailable || !strings.Contains(b, "draining") {
		t.Fatalf("/readyz while draining: %d %q", s, b)
	}
	if s, _, _ := get(t, c, srv.URL+"/healthz"); s != http.StatusOK {
		t.Fatalf("/healthz while draining: %d", s)
	}
}
