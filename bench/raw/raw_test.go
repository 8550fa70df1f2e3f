package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// start serves a Server on loopback for the test's lifetime and checks
// that no goroutine outlives it.
func start(t *testing.T, cfg Config) string {
	t.Helper()
	before := runtime.NumGoroutine()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		testutil.Eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	})
	return strings.TrimPrefix(hs.URL, "http://")
}

type negotiated struct {
	ConnectionID        string `json:"connectionId"`
	ConnectionToken     string `json:"connectionToken"`
	NegotiateVersion    int    `json:"negotiateVersion"`
	AvailableTransports []struct {
		Transport       string   `json:"transport"`
		TransferFormats []string `json:"transferFormats"`
	} `json:"availableTransports"`
}

func negotiate(t *testing.T, addr, query string) negotiated {
	t.Helper()
	resp, err := http.Post("http://"+addr+HubPath+"/negotiate"+query, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n negotiated
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// client is a raw SignalR client: gobwas frames, hub messages as bytes.
type client struct {
	t    *testing.T
	conn net.Conn
	op   ws.OpCode // the frame type of the protocol
}

// dial negotiates, opens the WebSocket and completes the handshake.
func dial(t *testing.T, addr, proto string) *client {
	t.Helper()
	n := negotiate(t, addr, "?negotiateVersion=1")
	conn, _, _, err := ws.Dial(context.Background(), "ws://"+addr+HubPath+"?id="+n.ConnectionToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, op: ws.OpText}
	if proto == "messagepack" {
		c.op = ws.OpBinary
	}
	// The client sends the handshake as text whatever the protocol.
	c.sendOp(ws.OpText, `{"protocol":"`+proto+`","version":1}`+"\x1e")
	if got := c.recv(); got != "{}\x1e" {
		t.Fatalf("handshake reply %q", got)
	}
	return c
}

func (c *client) send(payload string) { c.sendOp(c.op, payload) }

func (c *client) sendOp(op ws.OpCode, payload string) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(c.conn, op, []byte(payload)); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads the next data message (answering pings), checking its frame type.
func (c *client) recv() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, op, err := wsutil.ReadServerData(c.conn)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if op != c.op {
		c.t.Fatalf("frame %v, want %v", op, c.op)
	}
	return string(data)
}

// expectNothing checks that no data message arrives for a short while.
func (c *client) expectNothing() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	data, _, err := wsutil.ReadServerData(c.conn)
	if err == nil {
		c.t.Fatalf("unexpected message %q", data)
	}
	_ = c.conn.SetReadDeadline(time.Time{})
}

// expectClosed reads until the server's close frame and EOF, and returns
// the data messages that came before.
func (c *client) expectClosed() []string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for {
		data, _, err := wsutil.ReadServerData(c.conn)
		var closed wsutil.ClosedError
		switch {
		case err == nil:
			got = append(got, string(data))
		case errors.As(err, &closed), err == io.EOF:
			return got
		default:
			c.t.Fatalf("read: %v, want the connection closed", err)
		}
	}
}

const rs = "\x1e"

func TestNegotiate(t *testing.T) {
	addr := start(t, Config{})
	n := negotiate(t, addr, "?negotiateVersion=1")
	if n.NegotiateVersion != 1 || n.ConnectionID == "" || n.ConnectionToken == "" || n.ConnectionID == n.ConnectionToken {
		t.Fatalf("v1 reply %+v", n)
	}
	if len(n.AvailableTransports) != 1 || n.AvailableTransports[0].Transport != "WebSockets" ||
		strings.Join(n.AvailableTransports[0].TransferFormats, ",") != "Text,Binary" {
		t.Fatalf("transports %+v", n.AvailableTransports)
	}
	if n := negotiate(t, addr, ""); n.NegotiateVersion != 0 || n.ConnectionToken != "" {
		t.Fatalf("v0 reply %+v", n)
	}
	if n := negotiate(t, addr, "?negotiateVersion=99"); n.NegotiateVersion != 1 {
		t.Fatalf("version 99 gave %d, want 1", n.NegotiateVersion)
	}
	resp, err := http.Get("http://" + addr + HubPath + "/negotiate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET negotiate: %d", resp.StatusCode)
	}
}

func TestJSON(t *testing.T) {
	addr := start(t, Config{})
	a, b := dial(t, addr, "json"), dial(t, addr, "json")

	a.send(`{"type":1,"invocationId":"0","target":"echo","arguments":[{"x":[1,"é",null]}]}` + rs)
	if got, want := a.recv(), `{"type":3,"invocationId":"0","result":{"x":[1,"é",null]}}`+rs; got != want {
		t.Fatalf("Echo: %q, want %q", got, want)
	}

	a.send(`{"type":1,"invocationId":"1","target":"SendToAll","arguments":["tick",{"k":1}]}` + rs)
	inv := `{"type":1,"target":"tick","arguments":[{"k":1}]}` + rs
	if got := a.recv(); got != inv {
		t.Fatalf("caller got %q, want %q", got, inv)
	}
	if got, want := a.recv(), `{"type":3,"invocationId":"1","result":null}`+rs; got != want {
		t.Fatalf("SendToAll completion %q, want %q", got, want)
	}
	if got := b.recv(); got != inv {
		t.Fatalf("other got %q, want %q", got, inv)
	}

	// Several messages in one frame: one reply frame, in order; a Ping and
	// a non-blocking call get nothing.
	a.send(`{"type":6}` + rs +
		`{"type":1,"target":"Echo","arguments":[1]}` + rs +
		`{"type":1,"invocationId":"2","target":"Echo","arguments":[2]}` + rs +
		`{"type":1,"invocationId":"3","target":"Nope","arguments":[]}` + rs +
		`{"type":1,"invocationId":"4","target":"JoinGroup","arguments":[]}` + rs)
	want := `{"type":3,"invocationId":"2","result":2}` + rs +
		`{"type":3,"invocationId":"3","error":"Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."}` + rs +
		`{"type":3,"invocationId":"4","error":"Failed to invoke 'JoinGroup' due to an error on the server."}` + rs
	if got := a.recv(); got != want {
		t.Fatalf("batch: %q, want %q", got, want)
	}
	b.expectNothing()
}

func TestGroups(t *testing.T) {
	addr := start(t, Config{})
	a, b := dial(t, addr, "json"), dial(t, addr, "json")
	b.send(`{"type":1,"invocationId":"0","target":"JoinGroup","arguments":["g"]}` + rs)
	if got := b.recv(); got != `{"type":3,"invocationId":"0","result":null}`+rs {
		t.Fatalf("JoinGroup: %q", got)
	}
	a.send(`{"type":1,"invocationId":"0","target":"SendToGroup","arguments":["g","room","hi"]}` + rs)
	if got := a.recv(); got != `{"type":3,"invocationId":"0","result":null}`+rs {
		t.Fatalf("SendToGroup completion: %q", got)
	}
	if got := b.recv(); got != `{"type":1,"target":"room","arguments":["hi"]}`+rs {
		t.Fatalf("member got %q", got)
	}
	a.expectNothing()

	b.send(`{"type":1,"invocationId":"1","target":"LeaveGroup","arguments":["g"]}` + rs)
	b.recv()
	a.send(`{"type":1,"invocationId":"1","target":"SendToGroup","arguments":["g","room","gone"]}` + rs)
	a.recv()
	b.expectNothing()
}

func TestMessagePack(t *testing.T) {
	addr := start(t, Config{})
	a, b := dial(t, addr, "messagepack"), dial(t, addr, "json")
	frame := func(body string) string { return string(rune(len(body))) + body }
	unhex := func(s string) string {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// [1, {}, "0", "Echo", [{"a": [1, "x"]}]], as the JS client writes it.
	a.send(frame(unhex("950180a130a44563686f9181a1619201a178")))
	if got, want := hex.EncodeToString([]byte(a.recv())), "0d950380a1300381a1619201a178"; got != want {
		t.Fatalf("Echo: %s, want %s", got, want)
	}
	// SendToAll("m", {"k": 1}) reaches the JSON client transcoded.
	a.send(frame(unhex("950180a131a953656e64546f416c6c92a16d81a16b01")))
	if got, want := hex.EncodeToString([]byte(a.recv())), "0b950180c0a16d9181a16b01"; got != want {
		t.Fatalf("caller got %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString([]byte(a.recv())), "07950380a13103c0"; got != want {
		t.Fatalf("completion %s, want %s", got, want)
	}
	if got, want := b.recv(), `{"type":1,"target":"m","arguments":[{"k":1}]}`+rs; got != want {
		t.Fatalf("JSON client got %q, want %q", got, want)
	}
	// And back: a JSON caller's argument reaches the MessagePack client.
	b.send(`{"type":1,"target":"SendToAll","arguments":["m",{"k":1}]}` + rs)
	if got, want := hex.EncodeToString([]byte(a.recv())), "0b950180c0a16d9181a16b01"; got != want {
		t.Fatalf("from JSON: %s, want %s", got, want)
	}
}

func TestMalformedInput(t *testing.T) {
	addr := start(t, Config{MaxMessageSize: 1000})
	cases := map[string]func(c *client){
		"bad json":  func(c *client) { c.send(`{"type":1,"target":` + rs) },
		"cut short": func(c *client) { c.send(`{"type":1,"invocationId":"0","target":"Echo","arguments":[1]}`) },
		"too large": func(c *client) {
			c.send(`{"type":1,"target":"Echo","arguments":["` + strings.Repeat("x", 2000) + `"]}` + rs)
		},
		"bad msgpack":    func(c *client) { c.op = ws.OpBinary; c.send("\x03\x93\xc1\xc1") },
		"close message":  func(c *client) { c.send(`{"type":7}` + rs) },
		"binary garbage": func(c *client) { c.sendOp(ws.OpBinary, "\x00\xff\xfe") },
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			proto := "json"
			if name == "bad msgpack" {
				proto = "messagepack"
			}
			c := dial(t, addr, proto)
			send(c)
			got := c.expectClosed()
			if proto == "json" && name != "close message" {
				want := `{"type":7,"error":"Connection closed with an error.","allowReconnect":true}` + rs
				if len(got) != 1 || got[0] != want {
					t.Fatalf("before the close: %q, want %q", got, want)
				}
			}
		})
	}
	for name, hs := range map[string]string{
		"unknown protocol": `{"protocol":"foo","version":1}` + rs,
		"version 3":        `{"protocol":"json","version":3}` + rs,
		"not json":         "hello" + rs,
	} {
		t.Run("handshake "+name, func(t *testing.T) {
			conn, _, _, err := ws.Dial(context.Background(), "ws://"+addr+HubPath)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := &client{t: t, conn: conn, op: ws.OpText}
			c.send(hs)
			got := c.expectClosed()
			if name != "not json" && (len(got) != 1 || !strings.HasPrefix(got[0], `{"error":`)) {
				t.Fatalf("handshake reply %q, want an error", got)
			}
		})
	}
	// The server is still there.
	c := dial(t, addr, "json")
	c.send(`{"type":1,"invocationId":"0","target":"Echo","arguments":[true]}` + rs)
	if got := c.recv(); got != `{"type":3,"invocationId":"0","result":true}`+rs {
		t.Fatalf("after bad input: %q", got)
	}
}

func TestKeepAlive(t *testing.T) {
	addr := start(t, Config{KeepAlive: 50 * time.Millisecond})
	c := dial(t, addr, "json")
	if got := c.recv(); got != `{"type":6}`+rs {
		t.Fatalf("got %q, want a Ping", got)
	}
}

func TestMetrics(t *testing.T) {
	addr := start(t, Config{})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, name := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "go_memstats_heap_inuse_bytes "} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("no %q line in:\n%s", name, body)
		}
	}
	resp, err = http.Get("http://" + addr + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/debug/pprof/heap?gc=1: %s", resp.Status)
	}
}

// TestProcess runs the command as the harness does: -addr 127.0.0.1:0, the
// listening line on stderr, SIGTERM.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "raw")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("first stderr line %q (%v)", line, err)
	}
	c := dial(t, addr, "json")
	c.send(`{"type":1,"invocationId":"0","target":"Echo","arguments":["hi"]}` + rs)
	if got := c.recv(); got != `{"type":3,"invocationId":"0","result":"hi"}`+rs {
		t.Fatalf("Echo: %q", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGTERM")
	}
}

// TestSendToAllShards broadcasts to more connections than shards, with
// both protocols, from both: each connection gets each message once, the
// caller before its completion.
func TestSendToAllShards(t *testing.T) {
	addr := start(t, Config{Workers: 3})
	var cs []*client
	for i := range 20 {
		cs = append(cs, dial(t, addr, []string{"json", "messagepack"}[i%2]))
	}
	cs[0].send(`{"type":1,"invocationId":"7","target":"SendToAll","arguments":["m",[1,"a"]]}` + rs)
	if got, want := cs[0].recv(), `{"type":1,"target":"m","arguments":[[1,"a"]]}`+rs; got != want {
		t.Fatalf("caller got %q first, want %q", got, want)
	}
	if got, want := cs[0].recv(), `{"type":3,"invocationId":"7","result":null}`+rs; got != want {
		t.Fatalf("then %q, want %q", got, want)
	}
	for i, c := range cs[1:] {
		want := `{"type":1,"target":"m","arguments":[[1,"a"]]}` + rs
		if c.op == ws.OpBinary {
			want = "\x0b\x95\x01\x80\xc0\xa1m\x91\x92\x01\xa1a" // [1, {}, nil, "m", [[1, "a"]]]
		}
		if got := c.recv(); got != want {
			t.Fatalf("connection %d got %q, want %q", i+1, got, want)
		}
		c.expectNothing()
	}
}
