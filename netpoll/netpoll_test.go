package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/gobwas/ws"
)

func TestEcho(t *testing.T) {
	p := newPoller(t, Config{})
	rec := newRecorder()
	cl := dial(t, serve(t, p, rec))

	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: several reads, 64-bit length
	cases := []struct {
		name string
		op   ws.OpCode
		p    []byte
	}{
		{name: "text", op: ws.OpText, p: []byte("hello, world")},
		{name: "binary", op: ws.OpBinary, p: []byte{0, 1, 2, 0xff}},
		{name: "empty", op: ws.OpText, p: nil},
		{name: "125", op: ws.OpBinary, p: bytes.Repeat([]byte{7}, 125)},
		{name: "126", op: ws.OpBinary, p: bytes.Repeat([]byte{7}, 126)},
		{name: "65536", op: ws.OpBinary, p: bytes.Repeat([]byte{9}, 65536)},
		{name: "big", op: ws.OpText, p: big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl.t = t
			cl.sendMsg(tc.op, tc.p)
			cl.expect(tc.op, tc.p)
		})
	}
	cl.t = t

	t.Run("fragmented with ping", func(t *testing.T) {
		cl.t = t
		cl.send(
			clientFrame(ws.OpText, false, []byte("frag")),
			clientFrame(ws.OpContinuation, false, []byte("men")),
			clientFrame(ws.OpPing, true, []byte("are you there")),
			clientFrame(ws.OpContinuation, false, nil),
			clientFrame(ws.OpPong, true, []byte("unsolicited")),
			clientFrame(ws.OpContinuation, true, []byte("ted")),
		)
		cl.expect(ws.OpPong, []byte("are you there"))
		cl.expect(ws.OpText, []byte("fragmented"))
	})

	t.Run("byte by byte", func(t *testing.T) {
		cl.t = t
		var all []byte
		all = append(all, clientFrame(ws.OpBinary, false, []byte("ab"))...)
		all = append(all, clientFrame(ws.OpPing, true, []byte("p"))...)
		all = append(all, clientFrame(ws.OpContinuation, true, bytes.Repeat([]byte("c"), 300))...)
		for i := range all {
			cl.send(all[i : i+1])
		}
		cl.expect(ws.OpPong, []byte("p"))
		cl.expect(ws.OpBinary, append([]byte("ab"), bytes.Repeat([]byte("c"), 300)...))
	})

	t.Run("pipelined", func(t *testing.T) {
		cl.t = t
		var all []byte
		for i := range 500 {
			all = append(all, clientFrame(ws.OpText, true, fmt.Appendf(nil, "message %d", i))...)
		}
		cl.send(all)
		for i := range 500 {
			cl.expect(ws.OpText, fmt.Appendf(nil, "message %d", i))
		}
	})
	cl.t = t
}

func TestRegisterBuffered(t *testing.T) {
	p := newPoller(t, Config{})
	rec := newRecorder()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	one := clientFrame(ws.OpText, true, []byte("one"))
	two := clientFrame(ws.OpText, true, []byte("two"))
	three := clientFrame(ws.OpText, true, []byte("three"))
	cut := 3 // frame two is split between the buffered bytes and the socket

	cconn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cconn.Close()
	first := append(append([]byte(req), one...), two[:cut]...)
	if _, err := cconn.Write(first); err != nil {
		t.Fatal(err)
	}

	sconn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// Read everything the client sent, as an HTTP server's bufio.Reader
	// would, then upgrade from the request part only.
	got := make([]byte, 0, len(first))
	for len(got) < len(first) {
		n, err := sconn.Read(got[len(got):cap(got)])
		if err != nil {
			t.Fatal(err)
		}
		got = got[:len(got)+n]
	}
	_, err = ws.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(got[:len(req)]), sconn})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	buffered := got[len(req):]
	if _, err := p.Register(sconn, rec, buffered); err != nil {
		t.Fatal(err)
	}
	clear(buffered) // Register copied them

	cl := &client{t: t, conn: cconn, r: cconn}
	if _, err := io.ReadFull(cconn, make([]byte, len("HTTP/1.1 101"))); err != nil {
		t.Fatal(err)
	}
	// Skip the rest of the response head.
	var head []byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		var b [1]byte
		if _, err := cconn.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		head = append(head, b[0])
	}
	cl.expect(ws.OpText, []byte("one"))
	cl.send(two[cut:], three)
	cl.expect(ws.OpText, []byte("two"))
	cl.expect(ws.OpText, []byte("three"))
}

func TestBackpressure(t *testing.T) {
	p := newPoller(t, Config{})
	h := newConnHandler()
	cl := dial(t, serve(t, p, h))
	c := h.conn(t, cl)

	chunk := AppendFrame(nil, ws.OpBinary, bytes.Repeat([]byte{'x'}, 64<<10))
	// The client reads nothing: the kernel buffers fill, then Write queues.
	total := 0
	var queued []int
	for i := 0; i < 4096 && len(queued) < 8; i++ {
		if err := c.Write([][]byte{chunk, chunk}); err != nil {
			t.Fatalf("Write: %v", err)
		}
		total += 2 * len(chunk)
		if b := c.Buffered(); b > 0 {
			queued = append(queued, b)
		}
	}
	for i := 1; i < len(queued); i++ {
		if queued[i] <= queued[i-1] {
			t.Fatalf("Buffered did not grow while the peer is not reading: %v", queued)
		}
	}
	if len(queued) < 8 {
		t.Fatalf("the socket never filled up after %d bytes", total)
	}
	t.Logf("Buffered %d after writing %d bytes", queued[len(queued)-1], total)

	// Pings from a peer that does not read queue one pong, not 1000.
	before := c.Buffered()
	var pings []byte
	for i := range 1000 {
		pings = append(pings, clientFrame(ws.OpPing, true, fmt.Appendf(nil, "ping %d", i))...)
	}
	cl.send(pings)
	cl.sendMsg(ws.OpText, []byte("after pings"))
	testutil.EventuallyWithin(t, 5*time.Second, "the message after the pings", func() bool { return h.count() == 2 })
	pong := AppendFrame(nil, ws.OpPong, []byte("ping 999"))
	echo := AppendFrame(nil, ws.OpText, []byte("after pings"))
	if grown := c.Buffered() - before; grown != len(pong)+len(echo) {
		t.Fatalf("Buffered grew by %d, want one pong and the echo (%d)", grown, len(pong)+len(echo))
	}

	// Now the peer reads: a worker finishes on EPOLLOUT.
	read := 0
	for read < total {
		hd, p := cl.read()
		if hd.OpCode != ws.OpBinary || len(p) != 64<<10 {
			t.Fatalf("frame %v of %d bytes", hd.OpCode, len(p))
		}
		read += FrameHeaderLen(len(p)) + len(p)
	}
	cl.expect(ws.OpPong, []byte("ping 999"))
	cl.expect(ws.OpText, []byte("after pings"))
	testutil.EventuallyWithin(t, 5*time.Second, "Buffered() == 0", func() bool { return c.Buffered() == 0 })

	// The connection still works both ways.
	cl.sendMsg(ws.OpText, []byte("after"))
	cl.expect(ws.OpText, []byte("after"))
}

// TestConcurrentWrites checks that frames from one Write stay contiguous
// when many goroutines write to one Conn at once.
func TestConcurrentWrites(t *testing.T) {
	p := newPoller(t, Config{})
	h := newConnHandler()
	h.quiet = true
	cl := dial(t, serve(t, p, h))
	c := h.conn(t, cl)

	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				a := AppendFrame(nil, ws.OpText, fmt.Appendf(nil, "%d:%d:a", w, i))
				b := AppendFrame(nil, ws.OpText, fmt.Appendf(nil, "%d:%d:b", w, i))
				if err := c.Write([][]byte{a, b}); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
	}
	next := make([]int, writers)
	for range writers * each {
		_, a := cl.read()
		_, b := cl.read()
		var w, i int
		if _, err := fmt.Sscanf(string(a), "%d:%d:a", &w, &i); err != nil {
			t.Fatalf("frame %q: %v", a, err)
		}
		if string(b) != fmt.Sprintf("%d:%d:b", w, i) || i != next[w] {
			t.Fatalf("got %q then %q, want writer %d's frame %d", a, b, w, next[w])
		}
		next[w]++
	}
	wg.Wait()
}

func TestPollerClose(t *testing.T) {
	before := runtime.NumGoroutine()
	p, err := New(Config{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	addr := serve(t, p, rec)
	var clients []*client
	for range 5 {
		cl := dial(t, addr)
		cl.sendMsg(ws.OpText, []byte("x"))
		cl.expect(ws.OpText, []byte("x"))
		clients = append(clients, cl)
	}
	// One is in the middle of a fragmented message.
	clients[0].send(clientFrame(ws.OpText, false, []byte("half")), clientFrame(ws.OpPing, true, nil))
	clients[0].expect(ws.OpPong, nil)

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range clients {
		if ev := rec.waitClose(t, time.Second); ev.err != ErrPollerClosed {
			t.Fatalf("OnClose(%v), want ErrPollerClosed", ev.err)
		}
	}
	for _, cl := range clients {
		if err := cl.expectEOF(); err != io.EOF {
			t.Fatalf("client: %v, want EOF", err)
		}
	}
	if err := p.Close(); err != ErrPollerClosed {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Register(clients[0].conn, rec, nil); err != ErrPollerClosed {
		t.Fatalf("Register after Close: %v", err)
	}
	// The accept goroutine of serve is still running: it counts as one.
	testutil.EventuallyWithin(t, 5*time.Second, "the Poller's goroutines to exit", func() bool {
		return runtime.NumGoroutine() <= before+1
	})
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{{Workers: -1}, {MaxMessageSize: -1}, {CloseTimeout: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	p := newPoller(t, Config{})
	if p.cfg.Workers != runtime.GOMAXPROCS(0) || p.cfg.MaxMessageSize != 1<<20 || p.cfg.CloseTimeout != 5*time.Second {
		t.Errorf("defaults: %+v", p.cfg)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := p.Register(a, newRecorder(), nil); err != ErrNotSyscallConn {
		t.Errorf("Register(net.Pipe): %v", err)
	}
}
