package netpoll

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// newPoller starts a Poller closed at the end of the test.
func newPoller(t testing.TB, cfg Config) *Poller {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// serve accepts on a loopback listener, upgrades each connection with
// gobwas and registers it with h. It returns the listener's address; the
// accept goroutine ends with the test.
func serve(t testing.TB, p *Poller, h Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := ws.Upgrade(conn); err != nil {
				conn.Close()
				continue
			}
			_ = conn.SetDeadline(time.Time{})
			if _, err := p.Register(conn, h, nil); err != nil {
				conn.Close()
			}
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// client is the test's side of a WebSocket connection.
type client struct {
	t    testing.TB
	conn net.Conn
	r    io.Reader
}

// dial opens a WebSocket connection to addr, closed at the end of the test.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	return c
}

// frame returns a masked client frame.
func clientFrame(op ws.OpCode, fin bool, p []byte) []byte {
	f := ws.MaskFrame(ws.NewFrame(op, fin, p))
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

// send writes raw bytes.
func (c *client) send(b ...[]byte) {
	c.t.Helper()
	for _, p := range b {
		if _, err := c.conn.Write(p); err != nil {
			c.t.Fatalf("client write: %v", err)
		}
	}
}

// sendMsg writes one masked, final frame.
func (c *client) sendMsg(op ws.OpCode, p []byte) {
	c.t.Helper()
	c.send(clientFrame(op, true, p))
}

// read reads one server frame (which must not be masked) within 10 s.
func (c *client) read() (ws.Header, []byte) {
	c.t.Helper()
	h, p, err := c.tryRead(10 * time.Second)
	if err != nil {
		c.t.Fatalf("client read: %v", err)
	}
	return h, p
}

func (c *client) tryRead(timeout time.Duration) (ws.Header, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// expect reads a frame and checks it.
func (c *client) expect(op ws.OpCode, want []byte) {
	c.t.Helper()
	h, p := c.read()
	if h.OpCode != op || !h.Fin || string(p) != string(want) {
		c.t.Fatalf("got frame op=%v fin=%v len=%d %.40q, want op=%v len=%d %.40q",
			h.OpCode, h.Fin, len(p), p, op, len(want), want)
	}
}

// expectClose reads frames up to a close frame and returns its code.
func (c *client) expectClose() ws.StatusCode {
	c.t.Helper()
	for {
		h, p := c.read()
		if h.OpCode != ws.OpClose {
			continue
		}
		if len(p) < 2 {
			return 0
		}
		return ws.StatusCode(binary.BigEndian.Uint16(p))
	}
}

// expectEOF checks that the server closed the TCP connection.
func (c *client) expectEOF() error {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [512]byte
	for {
		_, err := c.r.Read(b[:])
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("server did not close the connection")
			}
			return err
		}
	}
}

// recorder is a Handler that echoes messages (unless quiet) and records
// what happened.
type recorder struct {
	quiet bool

	mu     sync.Mutex
	conns  []*Conn         // guarded by mu; in order of first message or close
	msgs   int             // guarded by mu
	closed map[*Conn]error // guarded by mu
	ch     chan closeEvent
}

type closeEvent struct {
	c   *Conn
	err error
}

func newRecorder() *recorder {
	return &recorder{closed: map[*Conn]error{}, ch: make(chan closeEvent, 1024)}
}

func (r *recorder) OnMessage(c *Conn, op ws.OpCode, p []byte) {
	r.mu.Lock()
	r.msgs++
	r.mu.Unlock()
	if !r.quiet {
		_ = c.Write([][]byte{AppendFrame(nil, op, p)})
	}
}

func (r *recorder) OnClose(c *Conn, err error) {
	r.mu.Lock()
	if _, dup := r.closed[c]; dup {
		panic("OnClose called twice")
	}
	r.closed[c] = err
	r.mu.Unlock()
	r.ch <- closeEvent{c, err}
}

// count returns the number of messages received.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs
}

// waitClose returns the next OnClose.
func (r *recorder) waitClose(t testing.TB, timeout time.Duration) closeEvent {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no OnClose within %v", timeout)
		return closeEvent{}
	}
}

// connHandler wraps a recorder and reports each Conn at its first message.
type connHandler struct {
	*recorder
	seen sync.Map
	ch   chan *Conn
}

func newConnHandler() *connHandler {
	return &connHandler{recorder: newRecorder(), ch: make(chan *Conn, 16)}
}

func (h *connHandler) OnMessage(c *Conn, op ws.OpCode, p []byte) {
	if _, loaded := h.seen.LoadOrStore(c, true); !loaded {
		h.ch <- c
	}
	h.recorder.OnMessage(c, op, p)
}

// conn sends a hello from cl and returns the server's Conn for it.
func (h *connHandler) conn(t testing.TB, cl *client) *Conn {
	t.Helper()
	cl.sendMsg(ws.OpText, []byte("hello"))
	select {
	case c := <-h.ch:
		if !h.quiet {
			cl.expect(ws.OpText, []byte("hello"))
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not see the connection")
		return nil
	}
}
