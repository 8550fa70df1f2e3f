package transports

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/actorhub/actorhub/hub"
)

type echoHub struct{}

func (echoHub) Echo(s string) string { return s }

// A refused origin leaves nothing behind: no connection token, no
// connection, whatever it asks for.
func TestRefusedOriginAllocatesNothing(t *testing.T) {
	h, err := hub.New(echoHub{}, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := NewHandler(h, Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hd.Mount(mux, "/hub")
	srv := httptest.NewServer(mux)
	defer func() {
		srv.Close()
		_ = h.Shutdown(t.Context())
		_ = hd.Close()
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tc := range []struct {
		method, path string
		header       map[string]string
	}{
		{http.MethodPost, "/hub/negotiate?negotiateVersion=1", nil},
		{http.MethodPost, "/hub/negotiate", nil},
		{http.MethodGet, "/hub", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}},
		{http.MethodGet, "/hub?id=x", map[string]string{"Accept": "text/event-stream"}},
		{http.MethodGet, "/hub?id=x", nil},
	} {
		for range 50 {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			req.Header.Set("Origin", "http://evil.example")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s %s: %d, want 403", tc.method, tc.path, resp.StatusCode)
			}
		}
	}
	hd.conns.mu.Lock()
	n, u := len(hd.conns.m), len(hd.conns.unclaimed)
	hd.conns.mu.Unlock()
	if n != 0 || u != 0 {
		t.Fatalf("%d tokens (%d unclaimed) after refused requests, want none", n, u)
	}
	if c, err := h.ConnectionCount(t.Context()); err != nil || c != 0 {
		t.Fatalf("%d connections (%v) after refused requests", c, err)
	}
}

func TestSplitOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://a.com":          "http://a.com",
		"HTTP://A.COM:80":       "http://a.com",
		"https://a.com:443":     "https://a.com",
		"https://a.com:8443":    "https://a.com:8443",
		"http://[::1]:80":       "http://[::1]",
		"http://[::1]:8080":     "http://[::1]:8080",
		"http://a.com/":         "",
		"http://u@a.com":        "",
		"a.com":                 "",
		"http://a.com?x":        "",
		"https://*.example.com": "https://*.example.com",
	} {
		s, h, ok := splitOrigin(in)
		got := ""
		if ok {
			got = s + "://" + h
		}
		if got != want {
			t.Errorf("splitOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}
