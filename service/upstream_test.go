package service_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/protocol"
	"github.com/actorhub/actorhub/service"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// request is what the backend got.
type request struct {
	path   string
	header http.Header
	body   string
}

// backend is the upstream of the tests: it records every request and
// answers invocations by their event (see answer).
type backend struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []request            // guarded by mu
	gates    map[string]chan bool // event -> closed to let its requests answer; guarded by mu
	fails    map[string]int       // event -> how many more 503s; guarded by mu
}

func newBackend(t *testing.T) *backend {
	b := &backend{gates: map[string]chan bool{}, fails: map[string]int{}}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(func() {
		b.mu.Lock()
		for _, g := range b.gates {
			select {
			case <-g:
			default:
				close(g)
			}
		}
		b.mu.Unlock()
		b.srv.Close()
	})
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	event := r.Header.Get("X-ASRS-Event")
	b.mu.Lock()
	b.requests = append(b.requests, request{path: r.URL.EscapedPath(), header: r.Header.Clone(), body: string(body)})
	gate := b.gates[event]
	fail := b.fails[event] > 0
	if fail {
		b.fails[event]--
	}
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Content-Type") == "application/x-msgpack" && event == "echo" {
		framed := append([]byte{byte(len(body))}, body...) // short bodies: a one-byte length
		m, _, err := protocol.MessagePack.ReadMessage(framed, 0)
		inv, ok := m.(*protocol.Invocation)
		if err != nil || !ok || len(body) >= 0x80 {
			http.Error(w, "bad invocation", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-msgpack")
		out, _ := protocol.MessagePack.AppendMessage(nil, &protocol.Completion{InvocationID: inv.InvocationID, HasResult: true, Result: inv.Arguments[0]})
		w.Write(out)
		return
	}
	var inv struct {
		InvocationID string            `json:"invocationId"`
		Arguments    []json.RawMessage `json:"arguments"`
	}
	_ = json.Unmarshal(body, &inv)
	switch event {
	case "echo", "slow": // what the Azure Functions extension answers
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"type":3,"invocationId":%q,"result":%s}`+"\x1e", inv.InvocationID, inv.Arguments[0])
	case "plain":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(`{"x":[1,"two"]}`))
	case "empty":
	case "nocontent":
		w.WriteHeader(http.StatusNoContent)
	case "fail":
		http.Error(w, "secret", http.StatusInternalServerError)
	case "refuse":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"type":3,"invocationId":%q,"error":"not allowed"}`, inv.InvocationID)
	case "html":
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>oops</html>"))
	case "notjson":
		w.Write([]byte("{oops"))
	case "big":
		w.Write([]byte(`"` + strings.Repeat("b", 2<<20) + `"`))
	case "connected", "disconnected":
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// gate makes the requests of event wait until the returned func is called.
func (b *backend) gate(event string) func() {
	g := make(chan bool)
	b.mu.Lock()
	b.gates[event] = g
	b.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

func (b *backend) got() []request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]request(nil), b.requests...)
}

// of returns the requests of a connection, as "event body".
func (b *backend) of(id string) []string {
	var out []string
	for _, r := range b.got() {
		if r.header.Get("X-ASRS-Connection-Id") == id {
			out = append(out, r.header.Get("X-ASRS-Event")+" "+r.body)
		}
	}
	return out
}

// upstreamNode serves a hub of an Upstream to b at /hubs/serverless and at
// /client/?hub=serverless.
type upstreamNode struct {
	url string
	hub *hub.Hub
	up  *service.Upstream
	key *service.AccessKey
}

func startUpstream(t *testing.T, b *backend, cfg service.UpstreamConfig) *upstreamNode {
	t.Helper()
	key, err := service.NewAccessKey(testKey, "second-key-0123456789-abcdefghijklmnopq")
	if err != nil {
		t.Fatal(err)
	}
	cfg.URLTemplate = b.srv.URL + "/{hub}/api/{category}/{event}"
	cfg.Hub = "serverless"
	cfg.Key = key
	up, err := service.NewUpstream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.NewDynamic(up, hub.Config{Name: "serverless"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	own, err := transports.NewHandler(h, transports.Config{Authenticator: testTokens})
	if err != nil {
		t.Fatal(err)
	}
	own.Mount(mux, "/hubs/serverless")
	viaClient, err := transports.NewHandler(h, transports.Config{Authenticator: key.ClientAuthenticator(), KeepRequests: true})
	if err != nil {
		t.Fatal(err)
	}
	router := service.NewClientRouter()
	router.Add("serverless", viaClient)
	router.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		_ = up.Close(ctx)
		_ = own.Close()
		_ = viaClient.Close()
	})
	return &upstreamNode{url: srv.URL, hub: h, up: up, key: key}
}

func signature(key, id string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(id))
	return "sha256=" + strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// The upstream requests: URL, headers, signature, bodies; and what the
// answers make of the invocations.
func TestUpstream(t *testing.T) {
	b := newBackend(t)
	n := startUpstream(t, b, service.UpstreamConfig{})
	redirect, err := n.key.Negotiate(n.url, "serverless", "alice", map[string]any{"role": []any{"a", "b"}, "tier": "gold"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, redirect.URL, redirect.AccessToken)
	testutil.EventuallyWithin(t, 10*time.Second, "connected", func() bool { return len(b.of(c.id)) == 1 })
	conn := b.got()[0]
	h := conn.header
	if conn.path != "/serverless/api/connections/connected" || conn.body != `{"type":10}` || h.Get("Content-Type") != "application/json" ||
		h.Get("X-ASRS-Hub") != "serverless" || h.Get("X-ASRS-Category") != "connections" || h.Get("X-ASRS-Event") != "connected" ||
		h.Get("X-ASRS-User-Id") != "alice" || h.Get("X-ASRS-User-Claims") != "role: a, role: b, tier: gold" ||
		h.Get("X-ASRS-Client-Query") != "?hub=serverless" {
		t.Fatalf("connected: %s %s %v", conn.path, conn.body, h)
	}
	if want := signature(testKey, c.id) + "," + signature("second-key-0123456789-abcdefghijklmnopq", c.id); h.Get("X-ASRS-Signature") != want {
		t.Fatalf("signature %q, want %q", h.Get("X-ASRS-Signature"), want)
	}

	generic := func(target string) string {
		return fmt.Sprintf("%q", "An unexpected error occurred invoking '"+target+"' on the server.")
	}
	for _, tc := range []struct {
		target, arg, result, error string
	}{
		{target: "echo", arg: "hi", result: `"hi"`},
		{target: "plain", result: `{"x":[1,"two"]}`},
		{target: "empty", result: `null`},
		{target: "nocontent", result: `null`},
		{target: "refuse", error: `"not allowed"`},
		{target: "fail", error: generic("fail")},
		{target: "html", error: generic("html")},
		{target: "notjson", error: generic("notjson")},
		{target: "big", error: generic("big")},
	} {
		var args []any
		if tc.arg != "" {
			args = append(args, tc.arg)
		}
		done := c.invoke(tc.target, tc.target, args...)
		if string(done["result"]) != tc.result || string(done["error"]) != tc.error {
			t.Errorf("%s: %s / %s", tc.target, done["result"], done["error"])
		}
	}
	req := b.of(c.id)[1]
	if req != `echo {"type":1,"invocationId":"echo","target":"echo","arguments":["hi"]}` {
		t.Errorf("invocation: %s", req)
	}
	last := b.got()[len(b.got())-1]
	if last.path != "/serverless/api/messages/big" || last.header.Get("X-ASRS-Category") != "messages" || last.header.Get("Content-Type") != "application/json" {
		t.Errorf("invocation request: %s %v", last.path, last.header)
	}

	// Non-blocking invocations, and a target that needs escaping.
	c.sendInvocation("", "with space/slash", 1)
	testutil.EventuallyWithin(t, 10*time.Second, "the non-blocking invocation", func() bool {
		for _, r := range b.got() {
			if r.path == "/serverless/api/messages/with%20space%2Fslash" && r.body == `{"type":1,"target":"with space/slash","arguments":[1]}` {
				return true
			}
		}
		return false
	})

	// Disconnected, after the rest.
	c.conn.Close()
	testutil.EventuallyWithin(t, 10*time.Second, "disconnected", func() bool {
		reqs := b.of(c.id)
		return len(reqs) > 0 && strings.HasPrefix(reqs[len(reqs)-1], "disconnected ")
	})
	if reqs := b.of(c.id); !strings.HasPrefix(reqs[len(reqs)-1], `disconnected {"type":11`) {
		t.Errorf("disconnected: %s", reqs[len(reqs)-1])
	}
	testutil.EventuallyWithin(t, 10*time.Second, "the queues to empty", func() bool { return n.up.Stats().Connections == 0 })
}

// One connection's requests go in order, one at a time; a slow request
// holds only its connection; the queues are bounded.
func TestUpstreamOrderSlowAndBounds(t *testing.T) {
	b := newBackend(t)
	n := startUpstream(t, b, service.UpstreamConfig{Concurrency: 2, MaxPendingPerConnection: 2, MaxPending: 3})
	a := connect(t, n.url+"/hubs/serverless", "test:a")
	bc := connect(t, n.url+"/hubs/serverless", "test:b")
	testutil.EventuallyWithin(t, 10*time.Second, "connected", func() bool { return len(b.of(a.id)) == 1 && len(b.of(bc.id)) == 1 })

	release := b.gate("slow")
	a.sendInvocation("1", "slow", "first")
	a.sendInvocation("2", "echo", "second") // waits behind the slow one
	a.sendInvocation("3", "echo", "third")  // past a's bound: refused at once
	if m := a.completion("3"); string(m["error"]) != `"An unexpected error occurred invoking 'echo' on the server."` {
		t.Fatalf("past the connection's bound: %v", m)
	}
	// b is not held up by a's slow request.
	if m := bc.invoke("4", "echo", "b"); string(m["result"]) != `"b"` {
		t.Fatalf("b: %v", m)
	}
	// The hub's bound: a has 2 waiting, one more is all.
	bc.sendInvocation("5", "slow", "b-slow")
	testutil.EventuallyWithin(t, 10*time.Second, "b's slow request", func() bool { return len(b.of(bc.id)) == 3 })
	c := connect(t, n.url+"/hubs/serverless", "test:c")
	if m := c.invoke("6", "echo", "c"); string(m["error"]) == "" {
		t.Fatalf("past the hub's bound: %v", m)
	}
	if got := b.of(a.id); len(got) != 2 {
		t.Fatalf("a's second went before its first answered: %v", got)
	}
	if s := n.up.Stats(); s.Pending != 3 || s.Refused != 2 {
		t.Fatalf("stats: %+v", s)
	}
	release()
	if m := a.completion("2"); string(m["result"]) != `"second"` {
		t.Fatalf("second: %v", m)
	}
	if m := a.completion("1"); string(m["result"]) != `"first"` {
		t.Fatalf("first: %v", m)
	}
	if got := b.of(a.id); len(got) != 3 || !strings.HasPrefix(got[1], "slow ") || !strings.HasPrefix(got[2], "echo ") {
		t.Fatalf("a's order: %v", got)
	}
	if m := c.invoke("7", "echo", "c again"); string(m["result"]) != `"c again"` {
		t.Fatalf("after the queues drained: %v", m)
	}
}

// Connection events are retried after 5xx with a backoff; the invocations
// wait behind them; Close delivers what is queued.
func TestUpstreamEventRetries(t *testing.T) {
	b := newBackend(t)
	b.fails["connected"] = 2
	n := startUpstream(t, b, service.UpstreamConfig{RetryBackoff: 5 * time.Millisecond})
	c := connect(t, n.url+"/hubs/serverless", "")
	if m := c.invoke("1", "echo", "x"); string(m["result"]) != `"x"` {
		t.Fatalf("echo: %v", m)
	}
	if got := b.of(c.id); len(got) != 4 || got[0] != got[1] || got[1] != got[2] || !strings.HasPrefix(got[2], "connected ") || !strings.HasPrefix(got[3], "echo ") {
		t.Fatalf("requests: %v", got)
	}
	// Shut the hub down, then the upstream: the disconnected event goes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.up.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.of(c.id); !strings.HasPrefix(got[len(got)-1], "disconnected ") {
		t.Fatalf("after Close: %v", got)
	}
}

// A MessagePack client's invocations go as MessagePack; the answer may be
// a MessagePack Completion or JSON.
func TestUpstreamMessagePack(t *testing.T) {
	b := newBackend(t)
	n := startUpstream(t, b, service.UpstreamConfig{})
	conn, _, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(n.url, "http")+"/hubs/serverless")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := wsutil.WriteClientText(conn, []byte(`{"protocol":"messagepack","version":1}`+"\x1e")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if data, _, err := wsutil.ReadServerData(conn); err != nil || string(data) != "{}\x1e" {
		t.Fatalf("handshake: %q %v", data, err)
	}
	read := func() *protocol.Completion {
		t.Helper()
		for {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			data, err := wsutil.ReadServerBinary(conn)
			if err != nil {
				t.Fatal(err)
			}
			for len(data) > 0 {
				m, rest, err := protocol.MessagePack.ReadMessage(data, 0)
				if err != nil {
					t.Fatal(err)
				}
				data = rest
				if c, ok := m.(*protocol.Completion); ok {
					return c
				}
			}
		}
	}
	for _, target := range []string{"plain", "echo"} {
		frame, _ := protocol.MessagePack.AppendMessage(nil, &protocol.Invocation{InvocationID: target, Target: target, Arguments: []any{"m"}})
		if err := wsutil.WriteClientBinary(conn, frame); err != nil {
			t.Fatal(err)
		}
		c := read()
		var got any
		if err := protocol.MessagePack.Bind(c.Result, &got); err != nil || c.Error != "" {
			t.Fatalf("%s: %+v %v", target, c, err)
		}
		if s := fmt.Sprint(got); target == "plain" && s != "map[x:[1 two]]" {
			t.Fatalf("plain: %s", s)
		}
	}
	reqs := b.got()
	last := reqs[len(reqs)-1]
	if last.header.Get("Content-Type") != "application/x-msgpack" {
		t.Fatalf("content type %q", last.header.Get("Content-Type"))
	}
	unframed, _ := hub.Unframe(protocol.MessagePack, must(protocol.MessagePack.AppendMessage(nil, &protocol.Invocation{InvocationID: "echo", Target: "echo", Arguments: []any{"m"}})))
	if last.body != string(unframed) {
		t.Fatalf("body % x, want % x", last.body, unframed)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Close stops every goroutine of the Upstream: its workers, and a retry
// that waits past Close's deadline.
func TestUpstreamCloseStopsGoroutines(t *testing.T) {
	b := newBackend(t)
	b.fails["connected"] = 1 << 20
	baseline := runtime.NumGoroutine()
	key, err := service.NewAccessKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	up, err := service.NewUpstream(service.UpstreamConfig{URLTemplate: b.srv.URL + "/{event}", Hub: "h", Key: key, RetryBackoff: time.Hour, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.NewDynamic(up, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := transports.NewHandler(h, transports.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hd.Mount(mux, "/h")
	srv := httptest.NewServer(mux)
	c := connect(t, srv.URL+"/h", "")
	testutil.EventuallyWithin(t, 10*time.Second, "the first attempt", func() bool { return len(b.of(c.id)) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := up.Close(short); err != context.DeadlineExceeded {
		t.Fatalf("Close with a retry an hour away: %v", err)
	}
	srv.Close()
	_ = hd.Close()
	c.conn.Close()
	<-c.done
	http.DefaultClient.CloseIdleConnections()
	if !testutil.Poll(10*time.Second, func() bool { return runtime.NumGoroutine() <= baseline }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
	}
}
