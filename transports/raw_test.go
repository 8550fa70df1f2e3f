package transports_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// rawApp is the test's raw connection application: it echoes what it
// receives, and obeys a few commands.
type rawApp struct {
	binary bool          // SetBinary(true) on connect
	refuse bool          // OnConnected fails
	hold   chan struct{} // when set, OnReceive waits for it to close

	events testutil.Events

	mu       sync.Mutex
	writeErr error // guarded by mu: the first failed Write
}

func (a *rawApp) OnConnected(c hub.RawConn) error {
	if a.refuse {
		return errors.New("raw_test: refused")
	}
	c.SetBinary(a.binary)
	a.events.Add("connected " + c.Transport())
	return nil
}

func (a *rawApp) OnReceive(c hub.RawConn, data []byte) {
	if a.hold != nil {
		<-a.hold
	}
	switch string(data) {
	case "close":
		c.Close()
	case "panic":
		panic("raw_test: panic")
	case "flood":
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		go func() { // a producer of its own: Write never waits
			for range 4096 { // at most 128 MiB
				if err := c.Write(chunk); err != nil {
					a.mu.Lock()
					a.writeErr = err
					a.mu.Unlock()
					return
				}
			}
		}()
	default:
		_ = c.Write(data)
	}
}

func (a *rawApp) OnDisconnected(c hub.RawConn, err error) {
	a.events.Add(fmt.Sprintf("disconnected %v", err))
}

// startRaw serves app as a raw endpoint at /echo on a loopback server and
// returns its URL and the endpoint; the cleanup checks that no goroutine
// outlives them.
func startRaw(t *testing.T, app hub.ConnectionHandler, ecfg hub.EndpointConfig, cfg transports.Config) (string, *hub.Endpoint) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	e, err := hub.NewEndpoint(app, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	hd, err := transports.NewConnectionHandler(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hd.Mount(mux, "/echo")
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil && !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Endpoint.Shutdown: %v", err)
		}
		if err := hd.Close(); err != nil {
			t.Errorf("Handler.Close: %v", err)
		}
		waitGoroutines(t, baseline)
	})
	return srv.URL + "/echo", e
}

// rawDial opens a bare WebSocket (no SignalR) to u with the query.
func rawDial(t *testing.T, u, query string, header http.Header) net.Conn {
	t.Helper()
	d := ws.Dialer{Timeout: 10 * time.Second}
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	conn, br, _, err := d.Dial(context.Background(), wsURL(u, query))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if br != nil { // the server wrote already: read that first
		return bufConn{conn, io.MultiReader(br, conn)}
	}
	return conn
}

// bufConn reads what the dialer buffered before the connection.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// readFrame reads the next data or close frame from the server.
func readFrame(t *testing.T, conn net.Conn) (ws.OpCode, []byte) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		h, err := ws.ReadHeader(conn)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(conn, p); err != nil {
			t.Fatalf("read: %v", err)
		}
		if h.OpCode == ws.OpPing || h.OpCode == ws.OpPong {
			continue
		}
		return h.OpCode, p
	}
}

// closeCode reads the next frame, which must be a close frame, and
// returns its status.
func closeCode(t *testing.T, conn net.Conn) ws.StatusCode {
	t.Helper()
	op, p := readFrame(t, conn)
	if op != ws.OpClose {
		t.Fatalf("got a %v frame %q, want a close frame", op, p)
	}
	code, _ := ws.ParseCloseFrameData(p)
	return code
}

// A bare WebSocket without negotiate: what it sends comes back as text
// (ASP.NET's default transfer format), and its close is answered with 1000.
func TestRawWebSocketEcho(t *testing.T) {
	app := &rawApp{}
	u, _ := startRaw(t, app, hub.EndpointConfig{}, transports.Config{})
	conn := rawDial(t, u, "", nil)
	for _, m := range []struct {
		op ws.OpCode
		p  string
	}{{ws.OpText, "message"}, {ws.OpBinary, "\x00\x01bin"}, {ws.OpText, strings.Repeat("é", 40000)}} {
		if err := wsutil.WriteClientMessage(conn, m.op, []byte(m.p)); err != nil {
			t.Fatal(err)
		}
		if op, p := readFrame(t, conn); op != ws.OpText || string(p) != m.p {
			t.Fatalf("echo of %d bytes: %v %d bytes", len(m.p), op, len(p))
		}
	}
	if err := ws.WriteFrame(conn, ws.MaskFrameInPlace(ws.NewCloseFrame(nil))); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, conn); code != ws.StatusNormalClosure {
		t.Fatalf("close answered with %d, want 1000", code)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected(nil)", func() bool { return app.events.Has("disconnected <nil>") })
	if !app.events.Has("connected WebSockets") {
		t.Fatalf("events %q", app.events.All())
	}
}

// A negotiated WebSocket, and binary messages when the application asks.
func TestRawNegotiatedWebSocketBinary(t *testing.T) {
	app := &rawApp{binary: true}
	u, _ := startRaw(t, app, hub.EndpointConfig{}, transports.Config{})
	n := negotiate(t, u, "negotiateVersion=1", nil)
	conn := rawDial(t, u, "id="+n.ConnectionToken, nil)
	if err := wsutil.WriteClientMessage(conn, ws.OpText, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if op, p := readFrame(t, conn); op != ws.OpBinary || string(p) != "abc" {
		t.Fatalf("got %v %q, want binary abc", op, p)
	}
	// The application closes: a close frame with 1000.
	if err := wsutil.WriteClientMessage(conn, ws.OpText, []byte("close")); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, conn); code != ws.StatusNormalClosure {
		t.Fatalf("server close %d, want 1000", code)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected(nil)", func() bool { return app.events.Has("disconnected <nil>") })
}

func TestRawServerSentEventsEcho(t *testing.T) {
	app := &rawApp{}
	u, _ := startRaw(t, app, hub.EndpointConfig{}, transports.Config{})
	n := negotiate(t, u, "negotiateVersion=1", nil)
	sse := openSSE(t, u, "id="+n.ConnectionToken, nil)
	if got := sse.readN(3); got != ":\r\n" {
		t.Fatalf("SSE start %q", got)
	}
	if s, _, _ := send(t, http.MethodPost, u+"?id="+n.ConnectionToken, "Hello World!", nil); s != http.StatusOK {
		t.Fatalf("POST: %d", s)
	}
	if ev := sse.rawEvent(); ev != "data: Hello World!\r\n\r\n" {
		t.Fatalf("event %q", ev)
	}
	if s, _, _ := send(t, http.MethodPost, u+"?id="+n.ConnectionToken, "close", nil); s != http.StatusOK {
		t.Fatalf("POST: %d", s)
	}
	if err := sse.end(); err != nil {
		t.Fatalf("the event stream ended with %v, want a complete response", err)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected(nil)", func() bool { return app.events.Has("disconnected <nil>") })
	if !app.events.Has("connected ServerSentEvents") {
		t.Fatalf("events %q", app.events.All())
	}
}

func TestRawLongPollingEcho(t *testing.T) {
	app := &rawApp{}
	u, _ := startRaw(t, app, hub.EndpointConfig{}, transports.Config{})
	n := negotiate(t, u, "negotiateVersion=1", nil)
	lp := u + "?id=" + n.ConnectionToken
	if s, _, b := send(t, http.MethodGet, lp, "", nil); s != http.StatusOK || len(b) != 0 {
		t.Fatalf("first poll: %d %q", s, b)
	}
	if s, _, _ := send(t, http.MethodPost, lp, "Hello World!", nil); s != http.StatusOK {
		t.Fatalf("POST: %d", s)
	}
	if s, _, b := send(t, http.MethodGet, lp, "", nil); s != http.StatusOK || string(b) != "Hello World!" {
		t.Fatalf("poll: %d %q", s, b)
	}
	if s, _, _ := send(t, http.MethodDelete, lp, "", nil); s != http.StatusAccepted {
		t.Fatalf("DELETE: %d", s)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected(nil)", func() bool { return app.events.Has("disconnected <nil>") })
	if s, _, _ := send(t, http.MethodGet, lp, "", nil); s != http.StatusNotFound {
		t.Fatalf("poll after DELETE: %d, want 404", s)
	}
}

// OnConnected fails: the connection ends at once, OnDisconnected does not
// run; a panic in OnReceive ends its connection only.
func TestRawRefusedAndPanics(t *testing.T) {
	refusing := &rawApp{refuse: true}
	u, _ := startRaw(t, refusing, hub.EndpointConfig{}, transports.Config{})
	conn := rawDial(t, u, "", nil)
	if op, _ := readFrame(t, conn); op != ws.OpClose {
		t.Fatalf("refused connection got %v, want a close frame", op)
	}

	app := &rawApp{}
	u, _ = startRaw(t, app, hub.EndpointConfig{}, transports.Config{})
	honest := rawDial(t, u, "", nil)
	bad := rawDial(t, u, "", nil)
	if err := wsutil.WriteClientMessage(bad, ws.OpText, []byte("panic")); err != nil {
		t.Fatal(err)
	}
	if op, _ := readFrame(t, bad); op != ws.OpClose {
		t.Fatalf("panicking connection got %v, want a close frame", op)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected of the panic", func() bool { return app.events.Has("disconnected raw_test: panic") })
	if err := wsutil.WriteClientMessage(honest, ws.OpText, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, p := readFrame(t, honest); string(p) != "still" {
		t.Fatalf("honest connection got %q", p)
	}
}

// Both directions are bounded: a client that does not read is closed as a
// slow consumer once MaxBufferedBytes wait (Write then fails), and a client
// that sends faster than the application takes is closed once
// MaxBufferedBytes wait for it; an honest connection carries on meanwhile.
func TestRawBuffersBounded(t *testing.T) {
	const budget = 64 << 10
	app := &rawApp{}
	u, _ := startRaw(t, app, hub.EndpointConfig{MaxBufferedBytes: budget}, transports.Config{})
	honest := rawDial(t, u, "", nil)
	reader := rawDial(t, u, "", nil)
	if err := wsutil.WriteClientMessage(reader, ws.OpText, []byte("flood")); err != nil {
		t.Fatal(err)
	}
	// reader never reads: the kernel's buffers fill, then the budget.
	testutil.EventuallyWithin(t, 20*time.Second, "the slow consumer closed", func() bool {
		app.mu.Lock()
		defer app.mu.Unlock()
		return app.writeErr != nil
	})
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected of the slow consumer", func() bool {
		return app.events.Has("disconnected actors: client too slow: outgoing buffer over budget")
	})
	if err := wsutil.WriteClientMessage(honest, ws.OpText, []byte("after the flood")); err != nil {
		t.Fatal(err)
	}
	if _, p := readFrame(t, honest); string(p) != "after the flood" {
		t.Fatalf("honest connection got %q", p)
	}

	hold := make(chan struct{})
	slow := &rawApp{hold: hold}
	u, e := startRaw(t, slow, hub.EndpointConfig{MaxBufferedBytes: budget}, transports.Config{})
	sender := rawDial(t, u, "", nil)
	msg := bytes.Repeat([]byte("y"), 8<<10)
	var closed bool
	for i := 0; i < 64 && !closed; i++ { // up to 512 KiB, 8 times the budget
		if err := wsutil.WriteClientMessage(sender, ws.OpText, msg); err != nil {
			closed = true
		}
	}
	// The writes may sit in the kernel's buffers still: the hold ends once
	// the server has read past the budget (released before, the
	// application would take the bytes as they come, within budget).
	testutil.EventuallyWithin(t, 20*time.Second, "the server read past the budget", func() bool {
		return e.Stats().BytesIn > budget
	})
	close(hold)
	testutil.EventuallyWithin(t, 10*time.Second, "the flooding client closed", func() bool {
		return slow.events.Has("disconnected actors: raw connection input over budget: the application does not keep up")
	})
}

// Shutdown closes every connection as Close does; OnDisconnected hears
// why.
func TestRawShutdown(t *testing.T) {
	app := &rawApp{}
	u, e := startRaw(t, app, hub.EndpointConfig{}, transports.Config{})
	conn := rawDial(t, u, "", nil)
	testutil.EventuallyWithin(t, 5*time.Second, "connected", func() bool { return e.ConnectionCount() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Shutdown(ctx) }()
	if code := closeCode(t, conn); code != ws.StatusNormalClosure {
		t.Fatalf("shutdown close %d, want 1000", code)
	}
	// The close handshake: Shutdown returns once the client has answered.
	if err := ws.WriteFrame(conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !app.events.Has("disconnected actors: server shutting down") {
		t.Fatalf("events %q", app.events.All())
	}
	// A WebSocket after Shutdown is upgraded, then closed at once.
	if c, err := tryDial(t, u, "", nil); err == nil {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.r.Read(make([]byte, 1)); err == nil {
			t.Fatalf("a WebSocket after Shutdown read %d bytes", n)
		}
	}
	if n := e.ConnectionCount(); n != 0 {
		t.Fatalf("%d connections after Shutdown", n)
	}
}

// The raw endpoint is served by the same handler: origins apply.
func TestRawOrigins(t *testing.T) {
	u, _ := startRaw(t, &rawApp{}, hub.EndpointConfig{}, transports.Config{})
	if s := dialStatus(t, u, "", http.Header{"Origin": {"https://evil.example"}}); s != http.StatusForbidden {
		t.Fatalf("WebSocket from another origin: %d, want 403", s)
	}
	if s, _, _ := post(t, u+"/negotiate?negotiateVersion=1", http.Header{"Origin": {"https://evil.example"}}); s != http.StatusForbidden {
		t.Fatalf("negotiate from another origin: %d, want 403", s)
	}
}
