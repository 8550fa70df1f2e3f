package netpoll

import (
	"errors"
	"github.com/actorhub/actorhub/internal/testutil"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// pausingHandler records the messages it gets, in order, and pauses
// reading at a message "pause".
type pausingHandler struct {
	mu     sync.Mutex
	conn   *Conn    // guarded by mu
	msgs   []string // guarded by mu
	closed chan error
}

func (h *pausingHandler) OnMessage(c *Conn, _ ws.OpCode, p []byte) {
	h.mu.Lock()
	h.conn = c
	h.msgs = append(h.msgs, string(p))
	h.mu.Unlock()
	if string(p) == "pause" {
		c.PauseReading()
	}
}

func (h *pausingHandler) OnClose(_ *Conn, err error) { h.closed <- err }

func (h *pausingHandler) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

func (h *pausingHandler) server() *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn
}

// fill writes frames of size bytes until the socket takes no more for a
// while (the server does not read), and returns how many it wrote. It
// fails the test if the server goes on reading past limit bytes.
func fill(t *testing.T, cl *client, size, limit int) int {
	t.Helper()
	frame := clientFrame(ws.OpBinary, true, make([]byte, size))
	n := 0
	for written := 0; written < limit; written += len(frame) {
		_ = cl.conn.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		k, err := cl.conn.Write(frame)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			_ = cl.conn.SetWriteDeadline(time.Time{})
			if k > 0 { // a partial frame: finish it, it counts
				if _, err := cl.conn.Write(frame[k:]); err != nil {
					t.Fatalf("client write: %v", err)
				}
				n++
			}
			return n
		}
		if err != nil {
			t.Fatalf("client write: %v", err)
		}
		n++
	}
	t.Fatalf("the server read %d bytes while paused", limit)
	return 0
}

// TestPauseReading: after PauseReading the socket is not read (the
// client's writes block: TCP pushes back), messages and control frames
// already read wait, the server still writes; after ResumeReading
// everything arrives, in order, and the pong answers the held ping.
func TestPauseReading(t *testing.T) {
	p := newPoller(t, Config{})
	h := &pausingHandler{closed: make(chan error, 1)}
	cl := dial(t, serve(t, p, h))

	// One write: "b", "c" and the ping come in the same read as "pause".
	cl.send(clientFrame(ws.OpText, true, []byte("a")), clientFrame(ws.OpText, true, []byte("pause")),
		clientFrame(ws.OpText, true, []byte("b")), clientFrame(ws.OpText, true, []byte("c")),
		clientFrame(ws.OpPing, true, []byte("p1")))
	testutil.EventuallyWithin(t, 5*time.Second, "the first two messages", func() bool { return len(h.got()) == 2 })
	filled := fill(t, cl, 64<<10, 256<<20)
	if got := h.got(); strings.Join(got, ",") != "a,pause" {
		t.Fatalf("while paused the handler got %q", got)
	}

	srv := h.server()
	if err := srv.Write([][]byte{AppendFrame(nil, ws.OpText, []byte("from server"))}); err != nil {
		t.Fatal(err)
	}
	cl.expect(ws.OpText, []byte("from server")) // not the pong: the ping is held

	srv.ResumeReading()
	cl.expect(ws.OpPong, []byte("p1"))
	testutil.EventuallyWithin(t, 10*time.Second, "every message", func() bool { return len(h.got()) == 4+filled })
	if got := h.got()[:4]; strings.Join(got, ",") != "a,pause,b,c" {
		t.Fatalf("after resuming the handler got %q first", got)
	}
	cl.sendMsg(ws.OpText, []byte("after"))
	testutil.EventuallyWithin(t, 5*time.Second, "a message after resuming", func() bool { return len(h.got()) == 5+filled })
}

// TestCloseWhilePaused: a connection closed by the server while its
// reading is paused still reads the peer's close frame: the close
// handshake completes (OnClose gets nil), without waiting for a resume.
func TestCloseWhilePaused(t *testing.T) {
	p := newPoller(t, Config{CloseTimeout: time.Minute})
	h := &pausingHandler{closed: make(chan error, 1)}
	cl := dial(t, serve(t, p, h))
	cl.sendMsg(ws.OpText, []byte("pause"))
	testutil.EventuallyWithin(t, 5*time.Second, "the message", func() bool { return len(h.got()) == 1 })
	cl.sendMsg(ws.OpText, []byte("held"))

	h.server().CloseWith(ws.StatusNormalClosure, "bye")
	if code := cl.expectClose(); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d", code)
	}
	cl.send(clientFrame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	select {
	case err := <-h.closed:
		if err != nil {
			t.Fatalf("OnClose: %v, want a clean close", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the paused connection did not complete the close handshake")
	}
	if got := h.got(); len(got) != 1 {
		t.Fatalf("a message reached the handler after the server closed: %q", got)
	}
}

// The run queue's bulk lane: heavy connections wait behind the others but
// get one pop in bulkEvery, and each lane keeps its order.
func TestRunQueueBulkLane(t *testing.T) {
	var q runQueue
	q.init(1)
	bulk := []*Conn{{seq: 100}, {seq: 101}, {seq: 102}}
	for _, c := range bulk {
		q.push(c, true)
	}
	for i := range 2 * bulkEvery {
		q.push(&Conn{seq: uint32(i)}, false)
	}
	var got []uint32
	var want []uint32
	for i := range 2 * bulkEvery {
		want = append(want, uint32(i))
		if (i+1)%bulkEvery == 0 {
			want = append(want, uint32(100+(i+1)/bulkEvery-1))
		}
	}
	want = append(want, 102)
	isBulk := false
	for range want {
		var c *Conn
		c, isBulk = q.pop(isBulk) // the last pass ended
		if isBulk != (c.seq >= 100) {
			t.Fatalf("conn %d popped with bulk %v", c.seq, isBulk)
		}
		got = append(got, c.seq)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
}

// While bulkMax bulk passes run, a worker takes only the front lane: a
// connection that sends now and then finds a worker free however many
// heavy ones wait, and the bulk lane goes on as each pass ends.
func TestRunQueueBulkCap(t *testing.T) {
	var q runQueue
	q.init(2)
	for i := range 4 {
		q.push(&Conn{seq: uint32(100 + i)}, true)
	}
	for i := range 2 {
		if c, bulk := q.pop(false); !bulk || c.seq != uint32(100+i) {
			t.Fatalf("pop %d: conn %d bulk %v, want bulk conn %d", i, c.seq, bulk, 100+i)
		}
	}
	q.mu.Lock()
	c, _ := q.takeLocked()
	q.mu.Unlock()
	if c != nil {
		t.Fatalf("took conn %d while bulkMax bulk passes run", c.seq)
	}
	q.push(&Conn{seq: 1}, false)
	if c, bulk := q.pop(false); bulk || c.seq != 1 {
		t.Fatalf("popped conn %d bulk %v, want the front lane's conn 1", c.seq, bulk)
	}
	if c, bulk := q.pop(true); !bulk || c.seq != 102 { // a bulk pass ended
		t.Fatalf("after a bulk pass ended: conn %d bulk %v, want bulk conn 102", c.seq, bulk)
	}
	// Closed: the cap is off, what is left drains, then pop returns nil.
	q.close()
	if c, bulk := q.pop(false); !bulk || c.seq != 103 {
		t.Fatalf("closed: conn %d bulk %v, want bulk conn 103", c.seq, bulk)
	}
	if c, _ := q.pop(false); c != nil {
		t.Fatalf("closed and empty: got conn %d", c.seq)
	}
}

// frontsMoved tells a worker whose heavy pass ended whether the front lane
// was pushed to since its last pass ended (then it parks, see BulkPark).
func TestRunQueueFrontsMoved(t *testing.T) {
	var q runQueue
	q.init(1)
	var seen uint64
	if q.frontsMoved(&seen) {
		t.Fatal("moved before any push")
	}
	q.push(&Conn{seq: 1}, true)
	if q.frontsMoved(&seen) {
		t.Fatal("a bulk push counted as front work")
	}
	q.push(&Conn{seq: 2}, false)
	if !q.frontsMoved(&seen) {
		t.Fatal("a front push not seen")
	}
	if q.frontsMoved(&seen) {
		t.Fatal("the same push seen twice")
	}
}
