package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// lockedBuffer is a log the server writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runServer runs the whole server (run) on loopback with args, its log in
// the returned buffer, and stops it when the test ends. It returns the
// addresses of -addr and (with -metrics-addr) of the operator listener.
func runServer(t *testing.T, args ...string) (addr, metricsAddr string, log *lockedBuffer) {
	t.Helper()
	o, err := parseFlags(append([]string{"-addr", "127.0.0.1:0"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	log = &lockedBuffer{}
	quit := make(chan struct{})
	addrs := make(chan [2]string, 1)
	o.quit, o.logOutput = quit, log
	o.started = func(addr, metricsAddr string) { addrs <- [2]string{addr, metricsAddr} }
	done := make(chan error, 1)
	go func() { done <- run(o) }()
	select {
	case a := <-addrs:
		addr, metricsAddr = a[0], a[1]
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, log)
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
	return addr, metricsAddr, log
}

// The startup log says what runs: hubs with paths, transports and
// protocols; limits; timeouts; backplane; operator pages; the address.
func TestStartupLogSaysWhatRuns(t *testing.T) {
	addr, metricsAddr, log := runServer(t, "-max-connections", "5000", "-max-connections-per-ip", "50",
		"-connect-rate-per-ip", "20", "-http-idle-timeout", "1m", "-metrics-addr", "127.0.0.1:0", "-pprof",
		"-max-message-size", "65536", "-transports", "websockets,longpolling")
	lines := strings.Split(log.String(), "\n")
	for _, want := range [][]string{
		{"level=INFO", "msg=hub", "name=chat", "path=/hubs/chat", "transports=WebSockets,LongPolling", "protocols=json,messagepack", "auth=none", "max_transport_message_bytes=1048576"},
		{"level=INFO", "msg=limits", "max_message_bytes=65536", "max_buffered_bytes=1048576", "max_header_bytes=40960", "max_connections=5000",
			"file_limit=", "max_pending_connections_per_hub=10000", "max_connections_per_ip=50", "connect_rate_per_ip=20", "connect_burst_per_ip=20"},
		{"level=INFO", "msg=timeouts", "keepalive=15s", "client_timeout=30s", "handshake_timeout=15s", "disconnect_timeout=15s",
			"longpoll_timeout=1m30s", "http_idle_timeout=1m0s", "http_header_timeout=10s", "http_read_timeout=30s", "shutdown_timeout=10s"},
		{"level=INFO", "msg=backplane", `kind="none (one node)"`},
		{"level=INFO", `msg="operator pages"`, "metrics=http://" + metricsAddr + "/metrics", "pprof=http://" + metricsAddr + "/debug/pprof/",
			"dashboard=http://" + metricsAddr + "/dashboard", `open_to="every client of -metrics-addr"`},
		{"level=INFO", `msg="health endpoints"`, "healthz=http://" + addr + "/healthz", "readyz=http://" + addr + "/readyz", "also_on=http://" + metricsAddr},
		{"level=INFO", "msg=hub", "name=dashboard", "path=/hubs/dashboard"},
		{"level=INFO", "msg=listening", "addr=" + addr},
		{"listening on " + addr},
	} {
		found := false
		for _, line := range lines {
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			found = found || all
		}
		if !found {
			t.Errorf("no startup line with %q in:\n%s", want, log)
		}
	}
}

// wsConn is a raw SignalR JSON WebSocket client for the server's tests.
type wsConn struct {
	t    *testing.T
	conn net.Conn
	r    io.Reader
	buf  []byte
}

// dialHub opens a WebSocket to the hub at path (skipNegotiation, or the
// token of a negotiate) and shakes hands; on a refused upgrade it returns
// the status.
func dialHub(t *testing.T, addr, path, token string) (*wsConn, int) {
	t.Helper()
	u := "ws://" + addr + path
	if token != "" {
		u += "?id=" + token
	}
	conn, br, _, err := ws.Dialer{Timeout: 10 * time.Second}.Dial(context.Background(), u)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return nil, int(se)
		}
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsConn{t: t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	c.send(`{"protocol":"json","version":1}`)
	if m := c.next(); m != "{}" {
		t.Fatalf("handshake answer %q", m)
	}
	return c, http.StatusSwitchingProtocols
}

func (c *wsConn) send(record string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, append([]byte(record), 0x1e)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next record that is not a Ping.
func (c *wsConn) next() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if i := bytes.IndexByte(c.buf, 0x1e); i >= 0 {
			rec := string(c.buf[:i])
			c.buf = c.buf[i+1:]
			if rec == `{"type":6}` {
				continue
			}
			return rec
		}
		msg, err := wsutil.ReadServerText(struct {
			io.Reader
			io.Writer
		}{c.r, c.conn})
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		c.buf = append(c.buf, msg...)
	}
}

// whoAmI checks that the connection still serves invocations.
func (c *wsConn) whoAmI(id string) {
	c.t.Helper()
	c.send(`{"type":1,"invocationId":"` + id + `","target":"WhoAmI","arguments":[]}`)
	if m := c.next(); !strings.Contains(m, `"invocationId":"`+id+`"`) || strings.Contains(m, "error") {
		c.t.Fatalf("WhoAmI: %s", m)
	}
}

// negotiateAt POSTs to path/negotiate and returns the status and, on 200,
// the connection token.
func negotiateAt(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := plainClient.Post("http://"+addr+path+"/negotiate?negotiateVersion=1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n struct {
		ConnectionToken string `json:"connectionToken"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, n.ConnectionToken
}

// plainClient keeps no connection between requests.
var plainClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// keepAlive opens n sockets to addr that each send one request and read
// its answer, then stay as a keep-alive client leaves them.
func keepAlive(t *testing.T, addr string, n int, req func() *http.Request) []net.Conn {
	t.Helper()
	var out []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		r := req()
		if err := r.Write(c); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("%s %s: %d (close %v)", r.Method, r.URL, resp.StatusCode, resp.Close)
		}
		out = append(out, c)
	}
	return out
}

// Idle keep-alive connections are closed after -http-idle-timeout on both
// listeners, while a WebSocket, an SSE stream and a pending long poll
// outlive it (and -http-read-timeout and -http-header-timeout) and still
// carry messages.
func TestIdleConnectionsClosedStreamsKept(t *testing.T) {
	const d = 300 * time.Millisecond
	addr, metricsAddr, _ := runServer(t, "-http-idle-timeout", d.String(), "-http-read-timeout", d.String(),
		"-http-header-timeout", d.String(), "-metrics-addr", "127.0.0.1:0", "-longpoll-timeout", "20s", "-log-level", "error")
	start := time.Now()
	hubURL := "http://" + addr + "/hubs/chat"

	wsc, _ := dialHub(t, addr, "/hubs/chat", "")
	_, sseToken := negotiateAt(t, addr, "/hubs/chat")
	sse := openStream(t, addr, "/hubs/chat?id="+sseToken)
	postRecords(t, hubURL+"?id="+sseToken, `{"protocol":"json","version":1}`)
	if m := sse.next(); m != "{}" {
		t.Fatalf("SSE handshake answer %q", m)
	}
	_, lpToken := negotiateAt(t, addr, "/hubs/chat")
	lpURL := hubURL + "?id=" + lpToken
	if s, b := getPoll(t, lpURL); s != http.StatusOK || b != "" {
		t.Fatalf("first poll: %d %q", s, b)
	}
	postRecords(t, lpURL, `{"protocol":"json","version":1}`)
	if s, b := getPoll(t, lpURL); s != http.StatusOK || b != "{}\x1e" {
		t.Fatalf("handshake poll: %d %q", s, b)
	}
	type pollResult struct {
		status int
		body   string
	}
	pending := make(chan pollResult, 1)
	go func() {
		resp, err := plainClient.Get(lpURL)
		if err != nil {
			pending <- pollResult{0, err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pending <- pollResult{resp.StatusCode, string(b)}
	}()

	idle := keepAlive(t, addr, 100, func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, hubURL+"/negotiate?negotiateVersion=1", nil)
		return r
	})
	idle = append(idle, keepAlive(t, metricsAddr, 20, func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
		return r
	})...)
	for i, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle keep-alive socket %d: %v, want the server to close it", i, err)
		}
	}
	// Time itself is under test: the open requests live well past every
	// timeout of the server.
	time.Sleep(time.Until(start.Add(6 * d)))

	wsc.whoAmI("1")
	wsc.send(`{"type":1,"target":"Send","arguments":["ann","still here"]}`)
	want := `{"type":1,"target":"ReceiveMessage","arguments":["ann","still here"]}`
	if m := wsc.next(); m != want {
		t.Fatalf("WebSocket after the timeouts: %s", m)
	}
	if m := sse.next(); m != want {
		t.Fatalf("SSE after the timeouts: %s", m)
	}
	select {
	case r := <-pending:
		if r.status != http.StatusOK || r.body != want+"\x1e" {
			t.Fatalf("the pending poll after the timeouts: %d %q", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pending poll did not return the message")
	}
}

// sseStream is a raw Server-Sent Events request.
type sseStream struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	recs []string
}

func openStream(t *testing.T, addr, path string) *sseStream {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("SSE: %v %v", resp, err)
	}
	return &sseStream{t: t, conn: c, br: bufio.NewReader(resp.Body)}
}

// next returns the next hub message of the stream that is not a Ping.
func (s *sseStream) next() string {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		for len(s.recs) > 0 {
			r := s.recs[0]
			s.recs = s.recs[1:]
			if r != `{"type":6}` && r != "" {
				return r
			}
		}
		line, err := s.br.ReadString('\n')
		if err != nil {
			s.t.Fatalf("SSE read: %v", err)
		}
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			s.recs = append(s.recs, strings.Split(data, "\x1e")...)
		}
	}
}

func postRecords(t *testing.T, u string, records ...string) {
	t.Helper()
	resp, err := plainClient.Post(u, "text/plain", strings.NewReader(strings.Join(records, "\x1e")+"\x1e"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d", u, resp.StatusCode)
	}
}

func getPoll(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := plainClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// -max-header-bytes bounds a request's line and headers: over it, 431.
func TestMaxHeaderBytes(t *testing.T) {
	addr, _, _ := runServer(t, "-max-header-bytes", "8192", "-log-level", "error")
	for _, c := range []struct {
		size int
		want int
	}{{4000, http.StatusOK}, {20000, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hubs/chat/negotiate?negotiateVersion=1", nil)
		req.Header.Set("X-Big", strings.Repeat("a", c.size))
		resp, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("a %d-byte header: %d, want %d", c.size, resp.StatusCode, c.want)
		}
	}
}

// -max-connections bounds every hub's connections together: over it,
// negotiate and upgrades get 503 while the connections held keep working;
// /metrics counts what is held and what was refused.
func TestMaxConnectionsFlag(t *testing.T) {
	addr, _, _ := runServer(t, "-max-connections", "2", "-conformance", "-log-level", "error")
	a, _ := dialHub(t, addr, "/hubs/chat", "")
	_, token := negotiateAt(t, addr, "/hubs/conformance")
	if status, _ := negotiateAt(t, addr, "/hubs/chat"); status != http.StatusServiceUnavailable {
		t.Fatalf("a 3rd negotiate: %d", status)
	}
	if _, status := dialHub(t, addr, "/hubs/conformance", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("a 3rd upgrade: %d", status)
	}
	b, _ := dialHub(t, addr, "/hubs/conformance", token)
	a.whoAmI("1")
	b.send(`{"type":1,"invocationId":"2","target":"Echo","arguments":["x"]}`)
	if m := b.next(); !strings.Contains(m, `"result":"x"`) {
		t.Fatalf("Echo: %s", m)
	}
	_, body := getPoll(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		"actorhub_limited_connections 2",
		`actorhub_connections_refused_total{reason="max_connections"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	a.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _ := negotiateAt(t, addr, "/hubs/chat"); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a freed place was not given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
