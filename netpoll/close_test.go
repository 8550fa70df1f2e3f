package netpoll

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/gobwas/ws"
)

func TestCloseHandshakeFromClient(t *testing.T) {
	p := newPoller(t, Config{})
	rec := newRecorder()
	cl := dial(t, serve(t, p, rec))

	cl.sendMsg(ws.OpText, []byte("hi"))
	cl.expect(ws.OpText, []byte("hi"))
	cl.send(clientFrame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")))
	if code := cl.expectClose(); code != ws.StatusGoingAway {
		t.Fatalf("close reply code %d, want %d", code, ws.StatusGoingAway)
	}
	if err := cl.expectEOF(); err != io.EOF {
		t.Fatalf("after close: %v, want EOF", err)
	}
	if ev := rec.waitClose(t, 5*time.Second); ev.err != nil {
		t.Fatalf("OnClose(%v), want nil", ev.err)
	}
	if err := ev0(rec).Write([][]byte{AppendFrame(nil, ws.OpText, nil)}); err != ErrClosed {
		t.Fatalf("Write after close: %v, want ErrClosed", err)
	}
}

// ev0 returns a closed Conn seen by rec.
func ev0(rec *recorder) *Conn {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for c := range rec.closed {
		return c
	}
	return nil
}

// A close with no status is answered with 1000 (normal closure), as
// ASP.NET Core answers it: the ws package and browsers then report a clean
// close with code 1000 (ASP.NET's functional test "WebSockets can be used
// to connect to SignalR" asserts it).
func TestCloseEmptyBody(t *testing.T) {
	p := newPoller(t, Config{})
	rec := newRecorder()
	cl := dial(t, serve(t, p, rec))
	cl.send(clientFrame(ws.OpClose, true, nil))
	h, body := cl.read()
	if code, _ := ws.ParseCloseFrameData(body); h.OpCode != ws.OpClose || code != ws.StatusNormalClosure {
		t.Fatalf("reply %v %q, want a close frame with 1000", h.OpCode, body)
	}
	if ev := rec.waitClose(t, 5*time.Second); ev.err != nil {
		t.Fatalf("OnClose(%v), want nil", ev.err)
	}
}

func TestCloseWith(t *testing.T) {
	p := newPoller(t, Config{})
	h := newConnHandler()
	cl := dial(t, serve(t, p, h))
	c := h.conn(t, cl)

	c.CloseWith(ws.StatusPolicyViolation, strings.Repeat("é", 100)) // reason cut to fit
	hd, body := cl.read()
	if hd.OpCode != ws.OpClose || len(body) > ws.MaxControlFramePayloadSize {
		t.Fatalf("got %v with %d bytes, want a close frame of <= 125", hd.OpCode, len(body))
	}
	code, reason := ws.ParseCloseFrameData(body)
	if code != ws.StatusPolicyViolation || ws.CheckCloseFrameData(code, reason) != nil {
		t.Fatalf("close %d %q", code, reason)
	}
	if err := c.Write([][]byte{AppendFrame(nil, ws.OpText, nil)}); err != ErrClosed {
		t.Fatalf("Write while closing: %v, want ErrClosed", err)
	}
	// Messages sent before our close reached the client are dropped.
	cl.sendMsg(ws.OpText, []byte("late"))
	cl.send(clientFrame(ws.OpClose, true, body[:2]))
	if err := cl.expectEOF(); err != io.EOF {
		t.Fatalf("after close: %v, want EOF", err)
	}
	if ev := h.waitClose(t, 5*time.Second); ev.err != nil || ev.c != c {
		t.Fatalf("OnClose(%v), want nil", ev.err)
	}
	if n := h.count(); n != 1 {
		t.Fatalf("%d messages delivered, want 1 (the late one dropped)", n)
	}
}

func TestCloseWithTimeout(t *testing.T) {
	p := newPoller(t, Config{CloseTimeout: 100 * time.Millisecond})
	h := newConnHandler()
	cl := dial(t, serve(t, p, h))
	c := h.conn(t, cl)
	start := time.Now()
	c.CloseWith(ws.StatusNormalClosure, "")
	if code := cl.expectClose(); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d", code)
	}
	// The client never answers.
	ev := h.waitClose(t, 5*time.Second)
	if ev.err != ErrCloseTimeout {
		t.Fatalf("OnClose(%v), want ErrCloseTimeout", ev.err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("released after %v, before CloseTimeout", d)
	}
}

func TestCloseWithPeerHangsUp(t *testing.T) {
	p := newPoller(t, Config{})
	h := newConnHandler()
	cl := dial(t, serve(t, p, h))
	c := h.conn(t, cl)
	c.CloseWith(ws.StatusNormalClosure, "")
	cl.expectClose()
	cl.conn.Close()
	if ev := h.waitClose(t, 2*time.Second); ev.err != io.EOF {
		t.Fatalf("OnClose(%v), want io.EOF (no close frame from the peer)", ev.err)
	}
}

func TestDrop(t *testing.T) {
	p := newPoller(t, Config{})
	h := newConnHandler()
	cl := dial(t, serve(t, p, h))
	c := h.conn(t, cl)
	c.Drop()
	if err := cl.expectEOF(); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read after Drop: %v, want ECONNRESET", err)
	}
	if ev := h.waitClose(t, 5*time.Second); ev.err != ErrDropped {
		t.Fatalf("OnClose(%v), want ErrDropped", ev.err)
	}
	c.Drop() // no second OnClose
	c.CloseWith(ws.StatusNormalClosure, "")
	if err := c.Write(nil); err != ErrClosed {
		t.Fatalf("Write after Drop: %v", err)
	}
}

func TestPeerVanishes(t *testing.T) {
	p := newPoller(t, Config{})
	h := newConnHandler()
	cl := dial(t, serve(t, p, h))
	h.conn(t, cl)
	start := time.Now()
	cl.conn.Close()
	ev := h.waitClose(t, 2*time.Second)
	if ev.err != io.EOF {
		t.Fatalf("OnClose(%v), want io.EOF", ev.err)
	}
	t.Logf("OnClose %v after the peer's close", time.Since(start))
	testutil.EventuallyWithin(t, time.Second, "unregistration", func() bool { return p.Len() == 0 })
}

func TestPeerResets(t *testing.T) {
	p := newPoller(t, Config{})
	h := newConnHandler()
	cl := dial(t, serve(t, p, h))
	h.conn(t, cl)
	_ = cl.conn.(*net.TCPConn).SetLinger(0)
	cl.conn.Close()
	if ev := h.waitClose(t, 2*time.Second); !errors.Is(ev.err, syscall.ECONNRESET) {
		t.Fatalf("OnClose(%v), want ECONNRESET", ev.err)
	}
}

func TestProtocolErrors(t *testing.T) {
	unmasked, _ := ws.CompileFrame(ws.NewTextFrame([]byte("not masked")))
	rsv := clientFrame(ws.OpText, true, []byte("x"))
	rsv[0] |= 0x40
	cases := []struct {
		name       string
		max        int
		send       [][]byte
		peerClosed bool // the client's close frame came first: no answer to ours
		code       ws.StatusCode
		wantErr    error
	}{
		{
			name:    "unmasked",
			send:    [][]byte{unmasked},
			code:    ws.StatusProtocolError,
			wantErr: ws.ErrProtocolMaskRequired,
		},
		{
			name:    "rsv",
			send:    [][]byte{rsv},
			code:    ws.StatusProtocolError,
			wantErr: ws.ErrProtocolNonZeroRsv,
		},
		{
			name:    "continuation first",
			send:    [][]byte{clientFrame(ws.OpContinuation, true, []byte("x"))},
			code:    ws.StatusProtocolError,
			wantErr: ws.ErrProtocolContinuationUnexpected,
		},
		{
			name: "new message inside a fragmented one",
			send: [][]byte{
				clientFrame(ws.OpText, false, []byte("x")),
				clientFrame(ws.OpText, true, []byte("y")),
			},
			code:    ws.StatusProtocolError,
			wantErr: ws.ErrProtocolContinuationExpected,
		},
		{
			name:    "fragmented ping",
			send:    [][]byte{clientFrame(ws.OpPing, false, nil)},
			code:    ws.StatusProtocolError,
			wantErr: ws.ErrProtocolControlNotFinal,
		},
		{
			name:    "reserved opcode",
			send:    [][]byte{clientFrame(ws.OpCode(3), true, nil)},
			code:    ws.StatusProtocolError,
			wantErr: ws.ErrProtocolOpCodeReserved,
		},
		{
			name:       "bad close code",
			send:       [][]byte{clientFrame(ws.OpClose, true, []byte{0x03, 0xed})}, // 1005
			peerClosed: true,
			code:       ws.StatusProtocolError,
			wantErr:    ws.ErrProtocolStatusCodeApplicationLevel,
		},
		{
			name:    "invalid utf-8",
			send:    [][]byte{clientFrame(ws.OpText, true, []byte{0xff, 0xfe})},
			code:    ws.StatusInvalidFramePayloadData,
			wantErr: ErrInvalidUTF8,
		},
		{
			name:    "too large",
			max:     1000,
			send:    [][]byte{clientFrame(ws.OpBinary, true, make([]byte, 1001))},
			code:    ws.StatusMessageTooBig,
			wantErr: ErrMessageTooLarge,
		},
		{
			name: "too large fragmented",
			max:  1000,
			send: [][]byte{
				clientFrame(ws.OpBinary, false, make([]byte, 600)),
				clientFrame(ws.OpContinuation, true, make([]byte, 600)),
			},
			code:    ws.StatusMessageTooBig,
			wantErr: ErrMessageTooLarge,
		},
		{
			name: "too large declared only",
			max:  1000,
			// A 1 GiB header; the payload never comes.
			send:    [][]byte{{0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4}},
			code:    ws.StatusMessageTooBig,
			wantErr: ErrMessageTooLarge,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPoller(t, Config{MaxMessageSize: tc.max})
			rec := newRecorder()
			cl := dial(t, serve(t, p, rec))
			cl.send(tc.send...)
			if code := cl.expectClose(); code != tc.code {
				t.Fatalf("close code %d, want %d", code, tc.code)
			}
			// Answer the close, as a client does; the server half-closes,
			// and the client hangs up when it sees EOF.
			if !tc.peerClosed {
				cl.send(clientFrame(ws.OpClose, true, nil))
			}
			if err := cl.expectEOF(); err != io.EOF {
				t.Fatalf("after close: %v, want EOF", err)
			}
			cl.conn.Close()
			if ev := rec.waitClose(t, 2*time.Second); !errors.Is(ev.err, tc.wantErr) {
				t.Fatalf("OnClose(%v), want %v", ev.err, tc.wantErr)
			}
			if n := rec.count(); n != 0 {
				t.Fatalf("%d messages delivered", n)
			}
		})
	}
}

// closeInHandler writes, closes and drops from inside its callbacks.
type closeInHandler struct {
	*recorder
	writeErr chan error
}

func (h closeInHandler) OnMessage(c *Conn, op ws.OpCode, p []byte) {
	switch string(p) {
	case "close":
		_ = c.Write([][]byte{AppendFrame(nil, ws.OpText, []byte("bye"))})
		c.CloseWith(ws.StatusNormalClosure, "asked")
		_ = c.Write([][]byte{AppendFrame(nil, ws.OpText, []byte("too late"))})
	case "drop":
		c.Drop()
		c.Drop()
	}
	h.recorder.OnMessage(c, op, p)
}

func (h closeInHandler) OnClose(c *Conn, err error) {
	h.writeErr <- c.Write([][]byte{AppendFrame(nil, ws.OpText, nil)})
	c.CloseWith(ws.StatusNormalClosure, "")
	c.Drop()
	h.recorder.OnClose(c, err)
}

func TestCallsFromHandler(t *testing.T) {
	p := newPoller(t, Config{Workers: 1})
	h := closeInHandler{recorder: newRecorder(), writeErr: make(chan error, 2)}
	h.quiet = true
	addr := serve(t, p, h)

	cl := dial(t, addr)
	cl.sendMsg(ws.OpText, []byte("close"))
	cl.expect(ws.OpText, []byte("bye"))
	if code := cl.expectClose(); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d", code)
	}
	cl.send(clientFrame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	if ev := h.waitClose(t, 5*time.Second); ev.err != nil {
		t.Fatalf("OnClose(%v), want nil", ev.err)
	}
	if err := <-h.writeErr; err != ErrClosed {
		t.Fatalf("Write in OnClose: %v", err)
	}

	cl2 := dial(t, addr)
	// One write: the second message is in the buffer the worker reads.
	cl2.send(append(clientFrame(ws.OpText, true, []byte("drop")), clientFrame(ws.OpText, true, []byte("never delivered"))...))
	if ev := h.waitClose(t, 5*time.Second); ev.err != ErrDropped {
		t.Fatalf("OnClose(%v), want ErrDropped", ev.err)
	}
	if n := h.count(); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// limitedRecorder is a recorder whose connections take their own message
// size bound (a Limiter).
type limitedRecorder struct {
	*recorder
	max int
}

func (h limitedRecorder) MaxMessageSize() int { return h.max }

var _ Limiter = limitedRecorder{}

// TestLimiter: a Handler that is a Limiter bounds its connections' messages
// with its own limit, below or above the Poller's.
func TestLimiter(t *testing.T) {
	for _, tc := range []struct {
		name          string
		poller, limit int
		size          int
		delivered     bool
	}{
		{"tighter than the poller", 1 << 20, 1000, 1200, false},
		{"looser than the poller", 1000, 5000, 2000, true},
		{"zero keeps the poller's", 1000, 0, 1200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPoller(t, Config{MaxMessageSize: tc.poller})
			rec := newRecorder()
			cl := dial(t, serve(t, p, limitedRecorder{rec, tc.limit}))
			cl.sendMsg(ws.OpBinary, make([]byte, tc.size))
			if tc.delivered {
				if h, got := cl.read(); h.OpCode != ws.OpBinary || len(got) != tc.size {
					t.Fatalf("echo: %v, %d bytes", h.OpCode, len(got))
				}
				return
			}
			if code := cl.expectClose(); code != ws.StatusMessageTooBig {
				t.Fatalf("close code %d, want %d", code, ws.StatusMessageTooBig)
			}
			cl.send(clientFrame(ws.OpClose, true, nil))
			if ev := rec.waitClose(t, 2*time.Second); !errors.Is(ev.err, ErrMessageTooLarge) {
				t.Fatalf("OnClose(%v), want ErrMessageTooLarge", ev.err)
			}
		})
	}
}
