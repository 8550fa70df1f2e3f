package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testServer runs the whole server (run) in the test on loopback with
// args, and stops it when the test ends. It returns the base URLs of -addr
// and, with -metrics-addr, of the operator listener.
func testServer(t *testing.T, args ...string) (base, ops string) {
	t.Helper()
	o, err := parseFlags(append([]string{"-addr", "127.0.0.1:0", "-log-level", "error"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	quit := make(chan struct{})
	addrs := make(chan [2]string, 1)
	o.quit = quit
	o.started = func(addr, metricsAddr string) { addrs <- [2]string{addr, metricsAddr} }
	done := make(chan error, 1)
	go func() { done <- run(o) }()
	select {
	case a := <-addrs:
		base = "http://" + a[0]
		if a[1] != "" {
			ops = "http://" + a[1]
		}
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not start")
	}
	t.Cleanup(func() {
		close(quit)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop")
		}
	})
	return base, ops
}

func post(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The pages come from the binary: the chat page at /, the files under
// /static/ (gzip when asked, ETag revalidation), the official client byte
// for byte; nothing else answers.
func TestPagesServed(t *testing.T) {
	base, _ := testServer(t)
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	s, h, body := get(t, c, base+"/")
	if s != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, "/static/vendor/signalr.min.js") {
		t.Fatalf("/: %d %v %.200q", s, h, body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("/ headers: %v", h)
	}

	want, err := webFiles.ReadFile("web/vendor/signalr.min.js")
	if err != nil {
		t.Fatal(err)
	}
	s, h, body = get(t, c, base+"/static/vendor/signalr.min.js")
	if s != http.StatusOK || body != string(want) || h.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("signalr.min.js: %d %v, %d bytes (want %d)", s, h, len(body), len(want))
	}
	etag := h.Get("ETag")
	if s, _, _ := get(t, c, base+"/static/vendor/signalr.min.js", "If-None-Match", etag); s != http.StatusNotModified {
		t.Fatalf("revalidation: %d", s)
	}
	s, h, body = get(t, c, base+"/static/vendor/signalr.min.js", "Accept-Encoding", "gzip, br")
	if s != http.StatusOK || h.Get("Content-Encoding") != "gzip" || len(body) >= len(want)/2 {
		t.Fatalf("gzip: %d %v, %d bytes", s, h, len(body))
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if unz, _ := io.ReadAll(zr); !bytes.Equal(unz, want) {
		t.Fatal("the gzip body is not the file")
	}
	if s, h, _ := get(t, c, base+"/static/vendor/signalr.min.js", "Accept-Encoding", "gzip;q=0"); s != http.StatusOK || h.Get("Content-Encoding") != "" {
		t.Fatalf("gzip;q=0: %d %v", s, h)
	}
	for _, p := range []string{"/static/vendor/signalr-protocol-msgpack.min.js", "/static/chat.js", "/static/dashboard.js",
		"/static/style.css", "/static/favicon.svg", "/static/vendor/NOTICE.md", "/static/vendor/LICENSE-signalr.txt"} {
		if s, _, _ := get(t, c, base+p); s != http.StatusOK {
			t.Errorf("%s: %d", p, s)
		}
	}
	for _, p := range []string{"/nope", "/static/", "/static/index.html", "/static/vendor/update.sh", "/static/../main.go", "/index.html"} {
		if s, _, _ := get(t, c, base+p); s != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, s)
		}
	}
	if s, _ := post(t, base+"/"); s != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", s)
	}
}

// The operator pages answer loopback clients, refuse requests relayed by a
// proxy (403, no token configured), and /healthz and /readyz answer
// everyone.
func TestOperatorPagesLoopbackOnly(t *testing.T) {
	base, _ := testServer(t, "-pprof")
	c := http.DefaultClient
	proxied := []string{"X-Forwarded-For", "203.0.113.7"}
	for _, p := range []string{"/metrics", "/debug/pprof/", "/dashboard"} {
		if s, _, _ := get(t, c, base+p); s != http.StatusOK {
			t.Errorf("%s from loopback: %d", p, s)
		}
		if s, h, b := get(t, c, base+p, proxied...); s != http.StatusForbidden || b != "Forbidden\n" || h.Get("WWW-Authenticate") != "" {
			t.Errorf("%s through a proxy: %d %q", p, s, b)
		}
	}
	if s, b := post(t, base+"/hubs/dashboard/negotiate?negotiateVersion=1"); s != http.StatusOK || !strings.Contains(b, "connectionToken") {
		t.Errorf("dashboard negotiate from loopback: %d %q", s, b)
	}
	if s, _ := post(t, base+"/hubs/dashboard/negotiate?negotiateVersion=1", proxied...); s != http.StatusForbidden {
		t.Errorf("dashboard negotiate through a proxy: %d", s)
	}
	for _, p := range []string{"/healthz", "/readyz", "/"} {
		if s, _, _ := get(t, c, base+p, proxied...); s != http.StatusOK {
			t.Errorf("%s through a proxy: %d", p, s)
		}
	}
	if s, b := post(t, base+"/hubs/chat/negotiate?negotiateVersion=1", proxied...); s != http.StatusOK || !strings.Contains(b, "connectionToken") {
		t.Errorf("the chat hub through a proxy: %d %q", s, b)
	}
}

// With -ops-token, a relayed request gets 401 without it and the page
// with it (header, or access_token as SignalR's browser client sends it).
func TestOperatorPagesToken(t *testing.T) {
	const token = "an-operator-token-of-some-length"
	t.Setenv("ACTORHUB_OPS_TOKEN", token)
	base, _ := testServer(t)
	proxied := []string{"X-Forwarded-For", "203.0.113.7"}
	if s, h, b := get(t, http.DefaultClient, base+"/metrics", proxied...); s != http.StatusUnauthorized || b != "Unauthorized\n" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %q %v", s, b, h)
	}
	if s, _, _ := get(t, http.DefaultClient, base+"/metrics", append(proxied, "Authorization", "Bearer wrong-token-wrong-token")...); s != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", s)
	}
	if s, _, b := get(t, http.DefaultClient, base+"/metrics", append(proxied, "Authorization", "Bearer "+token)...); s != http.StatusOK || !strings.Contains(b, "actorhub_connections") {
		t.Fatalf("the token: %d %.100q", s, b)
	}
	if s, _, _ := get(t, http.DefaultClient, base+"/dashboard?access_token="+token, proxied...); s != http.StatusOK {
		t.Fatalf("the dashboard with ?access_token: %d", s)
	}
	if s, _ := post(t, base+"/hubs/dashboard/negotiate?negotiateVersion=1", append(proxied, "Authorization", "Bearer "+token)...); s != http.StatusOK {
		t.Fatalf("dashboard negotiate with the token: %d", s)
	}
}

// -metrics-addr moves the operator pages to their own listener, open to
// whoever reaches it; -addr then has none of them.
func TestOperatorPagesOnMetricsAddr(t *testing.T) {
	base, ops := testServer(t, "-metrics-addr", "127.0.0.1:0")
	proxied := []string{"X-Forwarded-For", "203.0.113.7"}
	for _, p := range []string{"/metrics", "/dashboard", "/static/dashboard.js", "/healthz", "/readyz"} {
		if s, _, _ := get(t, http.DefaultClient, ops+p, proxied...); s != http.StatusOK {
			t.Errorf("%s on -metrics-addr: %d", p, s)
		}
	}
	if s, _ := post(t, ops+"/hubs/dashboard/negotiate?negotiateVersion=1", proxied...); s != http.StatusOK {
		t.Errorf("dashboard negotiate on -metrics-addr: %d", s)
	}
	for _, p := range []string{"/metrics", "/dashboard"} {
		if s, _, _ := get(t, http.DefaultClient, base+p); s != http.StatusNotFound {
			t.Errorf("%s on -addr: %d, want 404", p, s)
		}
	}
}

func TestDashboardFlagOff(t *testing.T) {
	base, _ := testServer(t, "-dashboard=false")
	if s, _, _ := get(t, http.DefaultClient, base+"/dashboard"); s != http.StatusNotFound {
		t.Fatalf("/dashboard: %d", s)
	}
	if s, _ := post(t, base+"/hubs/dashboard/negotiate?negotiateVersion=1"); s != http.StatusNotFound {
		t.Fatalf("dashboard negotiate: %d", s)
	}
	if s, _, _ := get(t, http.DefaultClient, base+"/metrics"); s != http.StatusOK {
		t.Fatalf("/metrics: %d", s)
	}
}

// The dashboard hub answers Snapshot over SignalR (long polling, JSON, by
// hand: the browser tests use the official client).
func TestDashboardSnapshot(t *testing.T) {
	base, _ := testServer(t)
	hubURL := base + "/hubs/dashboard"
	s, b := post(t, hubURL+"/negotiate?negotiateVersion=1")
	var n struct{ ConnectionToken string }
	if err := json.Unmarshal([]byte(b), &n); s != http.StatusOK || err != nil {
		t.Fatalf("negotiate: %d %q %v", s, b, err)
	}
	id := hubURL + "?id=" + n.ConnectionToken
	get(t, http.DefaultClient, id) // the first poll starts the connection
	send := func(body string) {
		resp, err := http.Post(id, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("{\"protocol\":\"json\",\"version\":1}\x1e")
	// Let a sample or two be taken, then ask.
	deadline := time.Now().Add(10 * time.Second)
	var info dashboardInfo
	for len(info.History) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no history: %+v", info)
		}
		send("{\"type\":1,\"invocationId\":\"1\",\"target\":\"Snapshot\",\"arguments\":[]}\x1e")
		for got := false; !got; {
			_, _, body := get(t, http.DefaultClient, id)
			for rec := range strings.SplitSeq(body, "\x1e") {
				var m struct {
					Type   int
					Result json.RawMessage
				}
				if json.Unmarshal([]byte(rec), &m) == nil && m.Type == 3 {
					if err := json.Unmarshal(m.Result, &info); err != nil {
						t.Fatalf("result: %v %s", err, m.Result)
					}
					got = true
				}
			}
		}
	}
	if info.SampleEveryMs != 1000 || info.HistorySamples != historyLen || len(info.Hubs) != 2 || info.Hubs[0] != "chat" || info.Hubs[1] != "dashboard" {
		t.Fatalf("info: %+v", info)
	}
	last := info.History[len(info.History)-1]
	if last.RSSBytes == 0 || last.HeapBytes == 0 || last.Goroutines == 0 || !last.Ready || len(last.Hubs) != 2 || last.Hubs[1].Connections != 1 {
		t.Fatalf("last sample: %+v", last)
	}
}
