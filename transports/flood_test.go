package transports_test

import (
	"bufio"
	"errors"
	"github.com/actorhub/actorhub/internal/testutil"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
)

// floodFor is how long a flooding client writes.
const floodFor = 3 * time.Second

// floodFrame is one WebSocket message holding n non-blocking invocations
// of target with args: the cheapest messages a client can make the server
// parse and run.
func floodFrame(n int, target string, args ...any) []byte {
	rec := invocation("", target, args...) + "\x1e"
	return clientFrame(ws.OpText, []byte(strings.Repeat(rec, n)))
}

// flooder writes frame over and over on conn until stop is closed, and
// counts what the socket took and how often it was full: a write that
// could not finish within 100 ms (the server stopped reading).
type flooder struct {
	written atomic.Int64
	stalled atomic.Int64
}

func (f *flooder) run(conn net.Conn, frame []byte, stop <-chan struct{}) error {
	for rest := frame; ; {
		select {
		case <-stop:
			// The frame cut short is finished: the connection stays usable.
			_ = conn.SetWriteDeadline(time.Time{})
			if len(rest) < len(frame) {
				_, err := conn.Write(rest)
				return err
			}
			return nil
		default:
		}
		_ = conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Write(rest)
		f.written.Add(int64(n))
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			f.stalled.Add(1)
			rest = rest[n:] // the frame goes on where it stopped
		case err != nil:
			return err
		default:
			rest = frame
		}
	}
}

// heapWatch samples the Go heap until stopped and keeps two peaks: the
// live heap (what the last GC found reachable: what the server holds) and
// the heap including the garbage not yet collected (how far it lies above
// the live heap is Go's GC setting, GOGC, and when the GC happens to run).
// The tests bound the first and log the second.
type heapWatch struct {
	live, alloc atomic.Uint64
	stop        chan struct{}
	done        sync.WaitGroup
}

func watchHeap() *heapWatch {
	w := &heapWatch{stop: make(chan struct{})}
	w.done.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			w.live.Store(max(w.live.Load(), sample[0].Value.Uint64()))
			w.alloc.Store(max(w.alloc.Load(), sample[1].Value.Uint64()))
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	})
	return w
}

// end stops the watch and returns the peaks of the live heap and of the
// heap with its garbage.
func (w *heapWatch) end() (live, alloc uint64) {
	close(w.stop)
	w.done.Wait()
	return w.live.Load(), w.alloc.Load()
}

// echoes invokes Echo on c, one call after the other, until stop is
// closed, checks every answer, and returns how many it made.
func echoes(t *testing.T, c *wsClient, stop <-chan struct{}) int {
	t.Helper()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return n
		default:
		}
		c.echo(strconv.Itoa(n))
	}
}

// TestInboundFloodBounded: one client floods the cheapest invocations
// (SendToGroup to a group nobody is in, 270 to a WebSocket message) as
// fast as its socket takes them. Its connection's inbound budget stops the
// server reading it, so TCP pushes back: the server's live Go heap stays within
// 64 MB of where it was (without the budget the server parses millions of
// messages a second, a few hundred bytes each, into an unbounded mailbox),
// while an honest client on another connection gets an answer to every
// one of its calls. Both throughputs are logged.
func TestInboundFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("floods for 3 s")
	}
	const bound = 64 << 20
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	honest := connect(t, hubURL)
	honest.echo("warm")

	// The honest client's pace with the server to itself.
	stop := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(stop) })
	alone := echoes(t, honest, stop)

	bad := connect(t, hubURL)
	runtime.GC()
	before := heapAfterGC()
	w := watchHeap()
	var f flooder
	stop = make(chan struct{})
	var flooding sync.WaitGroup
	var floodErr error
	flooding.Go(func() { floodErr = f.run(bad.conn, floodFrame(270, "SendToGroup", "nobody", "x"), stop) })
	time.AfterFunc(floodFor, func() { close(stop) })
	during := echoes(t, honest, stop)
	flooding.Wait()
	peak, alloc := w.end()
	if floodErr != nil {
		t.Fatalf("flooding client: %v", floodErr)
	}

	s := h.Stats()
	t.Logf("flooder: %d MB written, stalled %d times; server: %d messages in, reading paused %d times",
		f.written.Load()>>20, f.stalled.Load(), s.MessagesIn, s.ReadPauses)
	t.Logf("honest client: %d calls/s alone, %d calls/s during the flood", alone, during*int(time.Second)/int(floodFor))
	t.Logf("server Go heap: %d MB before, at most %d MB live and %d MB with garbage during the flood", before>>20, peak>>20, alloc>>20)
	// Whether the flooder's own writes stall within the 3 s depends on how
	// fast this machine drains the socket; the server pausing its reads is
	// what holds it back (TestWebSocketHeldWhileHubBehind shows the
	// client's writes stopping when the hub does not drain at all).
	if s.ReadPauses == 0 {
		t.Fatal("the server never paused reading the flooding client")
	}
	if peak > before+bound {
		t.Fatalf("the live Go heap reached %d MB during the flood, %d MB before: over the %d MB bound", peak>>20, before>>20, bound>>20)
	}
	if during == 0 {
		t.Fatal("the honest client made no call during the flood")
	}
	// The flooder's connection is still served once it stops.
	bad.echo("after")
	honest.echo("after")
}

// gateHub's Block waits until the test opens the gate; Count counts.
type gateHub struct {
	gate  chan struct{}
	count atomic.Int64
}

func (g *gateHub) Block()               { <-g.gate }
func (g *gateHub) Count()               { g.count.Add(1) }
func (g *gateHub) Echo(s string) string { return s }

// TestWebSocketHeldWhileHubBehind: over WebSockets, a client whose first
// call blocks its connection and who then writes 28 MB of calls is held:
// the server stops reading the socket once the connection's inbound budget
// is spent, so the client's writes stall with most of the 28 MB unsent and
// the server's Go heap stays near where it was; an honest client on
// another connection is answered meanwhile. When the hub catches up, the
// rest is read and every call is handled.
func TestWebSocketHeldWhileHubBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 28 MB")
	}
	g := &gateHub{gate: make(chan struct{})}
	hubURL, h := startServerWith(t, g, hub.Config{}, transports.Config{})
	honest := connect(t, hubURL)
	bad := connect(t, hubURL)
	runtime.GC()
	before := heapAfterGC()
	bad.send(invocation("", "Block"))

	const perFrame, frames = 1000, 700 // 700,000 calls, 28 MB
	frame := floodFrame(perFrame, "Count")
	total := frames * len(frame)
	var written, stalls int
	for written < total && stalls < 3 {
		_ = bad.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		k, err := bad.conn.Write(frame[written%len(frame):])
		written += k
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			stalls++
		case err != nil:
			t.Fatalf("flooding client: %v", err)
		}
	}
	if written >= total {
		t.Fatalf("the server read all %d MB while the hub was blocked", total>>20)
	}
	if s := h.Stats(); s.ReadPauses == 0 {
		t.Fatalf("reading never paused: %+v", s)
	}
	heap := heapAfterGC()
	t.Logf("held after %d of %d MB; server Go heap %d MB before, %d MB held", written>>20, total>>20, before>>20, heap>>20)
	if heap > before+32<<20 {
		t.Fatalf("the server holds %d MB of Go heap for one blocked client (%d MB before)", heap>>20, before>>20)
	}
	honest.echo("while held")

	close(g.gate)
	_ = bad.conn.SetWriteDeadline(time.Time{})
	for written < total {
		k, err := bad.conn.Write(frame[written%len(frame):])
		if err != nil {
			t.Fatalf("flooding client: %v", err)
		}
		written += k
	}
	testutil.EventuallyWithin(t, 30*time.Second, "every call handled", func() bool { return g.count.Load() == perFrame*frames })
	bad.echo("after")
}

// TestPostHeldWhileHubBehind: over Server-Sent Events and long polling, a
// POST whose messages the hub cannot keep up with (here its first message
// blocks the connection) is held: the server stops reading its body once
// the connection's inbound budget is spent, so the client's writes stall;
// when the hub catches up, the rest is read, every message is handled and
// the POST gets 200.
func TestPostHeldWhileHubBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("POSTs 30 MB")
	}
	for _, transport := range []string{"longPolling", "serverSentEvents"} {
		t.Run(transport, func(t *testing.T) {
			g := &gateHub{gate: make(chan struct{})}
			hubURL, h := startServerWith(t, g, hub.Config{MaxInboundBytes: 4 << 10, MaxTransportMessageSize: 64 << 20}, transports.Config{})
			var id string
			if transport == "longPolling" {
				id = startLongPoll(t, hubURL, true)
			} else {
				n := negotiate(t, hubURL, "negotiateVersion=1", nil)
				id = "id=" + n.ConnectionToken
				sse := openSSE(t, hubURL, id, nil)
				if got := sse.readN(3); got != ":\r\n" {
					t.Fatalf("first bytes %q", got)
				}
				if s, _, b := send(t, "POST", hubURL+"?"+id, records(handshakeRequest), nil); s != 200 {
					t.Fatalf("POST handshake: %d %s", s, b)
				}
				if ev := sse.rawEvent(); ev != "data: {}\x1e\r\n\r\n" {
					t.Fatalf("handshake event %q", ev)
				}
			}

			const n = 700_000 // 30 MB: more than loopback's socket buffers hold
			one := invocation("", "Count") + "\x1e"
			body := invocation("", "Block") + "\x1e" + strings.Repeat(one, n)
			conn, err := net.Dial("tcp", hostOf(t, hubURL))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			u := strings.TrimPrefix(hubURL, "http://"+hostOf(t, hubURL))
			head := "POST " + u + "?" + id + " HTTP/1.1\r\nHost: " + hostOf(t, hubURL) +
				"\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
			if _, err := conn.Write([]byte(head)); err != nil {
				t.Fatal(err)
			}
			rest := []byte(body)
			stalls := 0
			for stalls < 3 && len(rest) > 0 {
				_ = conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				k, err := conn.Write(rest)
				rest = rest[k:]
				var ne net.Error
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					stalls++
				case err != nil:
					t.Fatalf("POST body: %v", err)
				}
			}
			if len(rest) == 0 {
				t.Fatalf("the server read the whole %d MB body while the hub was blocked", len(body)>>20)
			}
			if s := h.Stats(); s.ReadPauses == 0 {
				t.Fatalf("reading never paused: %+v", s)
			}
			t.Logf("held with %d of %d MB unread", len(rest)>>20, len(body)>>20)

			close(g.gate)
			_ = conn.SetWriteDeadline(time.Time{})
			if _, err := conn.Write(rest); err != nil {
				t.Fatalf("POST body: %v", err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("POST answer: %v %v", resp, err)
			}
			testutil.EventuallyWithin(t, 30*time.Second, "every message handled", func() bool { return g.count.Load() == n })
		})
	}
}

// TestInboundBudgetKeepsOrder: with a small inbound budget, a client that
// pipelines 2,000 calls in large WebSocket messages makes the server pause
// and resume reading it many times; every call is answered, in order.
func TestInboundBudgetKeepsOrder(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{MaxInboundMessages: 16}, transports.Config{})
	c := connect(t, hubURL)
	const calls, perMessage = 2000, 100
	for i := 0; i < calls; i += perMessage {
		recs := make([]string, perMessage)
		for k := range recs {
			recs[k] = invocation(strconv.Itoa(i+k), "Echo", strconv.Itoa(i+k))
		}
		c.send(recs...)
	}
	for i := range calls {
		if m := c.completion(strconv.Itoa(i)); m.Result != strconv.Itoa(i) {
			t.Fatalf("call %d: %+v", i, m)
		}
	}
	if h.Stats().ReadPauses == 0 {
		t.Fatal("reading never paused")
	}
}

// countingTransport is an in-memory hub.Transport that counts what it is
// given: a group member that always keeps up.
type countingTransport struct {
	frames *atomic.Int64
	conn   atomic.Pointer[hub.Conn]
}

func (t *countingTransport) Framed() bool { return false }
func (t *countingTransport) Write(bufs [][]byte) error {
	t.frames.Add(int64(len(bufs)))
	return nil
}
func (t *countingTransport) Buffered() int { return 0 }
func (t *countingTransport) Close(bool) {
	if c := t.conn.Load(); c != nil {
		c.Closed(nil)
	}
}

// TestFanOutFloodBounded: one client floods invocations that each send to
// a group of 2,000 members (in memory, always keeping up), far faster
// than the server fans them out. The group's queue holds its sender back
// (the sender's connection waits, its inbound budget fills, TCP pushes
// back on the client), the members' mailboxes stay within their budget,
// so the server's live Go heap stays within 128 MB of where it was (the
// members' mailboxes and the shared payloads behind the fan-out), no
// member is dropped as a slow consumer, and an honest client on another
// connection gets an answer to every call. (actors' TestGroupQueueBounded
// shows the group's queue itself holding at its bound.)
func TestFanOutFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("floods for 3 s")
	}
	const members, bound = 2000, 128 << 20
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	var frames atomic.Int64
	conns := make([]hub.Conn, members)
	for i := range conns {
		tr := &countingTransport{frames: &frames}
		c, err := h.Connect(hub.ConnInfo{ID: "m" + strconv.Itoa(i)}, tr)
		if err != nil {
			t.Fatal(err)
		}
		tr.conn.Store(&c)
		c.Feed([]byte(handshakeRequest + "\x1e"))
		conns[i] = c
	}
	testutil.EventuallyWithin(t, 10*time.Second, "the members' handshakes", func() bool { return h.Stats().Connections == members })
	var joins sync.WaitGroup
	for k := range 8 {
		joins.Go(func() {
			for i := k; i < members; i += 8 {
				if err := h.Groups().Add(t.Context(), conns[i].ID(), "big"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	joins.Wait()

	honest := connect(t, hubURL)
	honest.echo("warm")
	bad := connect(t, hubURL)
	before := heapAfterGC()
	w := watchHeap()
	var f flooder
	stop := make(chan struct{})
	var flooding sync.WaitGroup
	var floodErr error
	flooding.Go(func() { floodErr = f.run(bad.conn, floodFrame(100, "SendToGroup", "big", "x"), stop) })
	time.AfterFunc(floodFor, func() { close(stop) })
	calls := echoes(t, honest, stop)
	flooding.Wait()
	peak, alloc := w.end()
	if floodErr != nil {
		t.Fatalf("flooding client: %v", floodErr)
	}
	s := h.Stats()
	t.Logf("flooder: %d MB written, stalled %d times; %d messages fanned out to members so far; honest client: %d calls",
		f.written.Load()>>20, f.stalled.Load(), frames.Load(), calls)
	t.Logf("server Go heap: %d MB before, at most %d MB live and %d MB with garbage during the flood", before>>20, peak>>20, alloc>>20)
	if f.stalled.Load() == 0 {
		t.Fatal("the flooding client was never held back")
	}
	if peak > before+bound {
		t.Fatalf("the live Go heap reached %d MB during the flood, %d MB before: over the %d MB bound", peak>>20, before>>20, bound>>20)
	}
	if n := s.Closes["slow_consumer"]; n != 0 || s.Connections != members+2 {
		t.Fatalf("%d members closed as slow consumers, %d connections left", n, s.Connections)
	}
	if calls == 0 {
		t.Fatal("the honest client made no call during the flood")
	}
	// What the flooder's socket still holds (megabytes, each message 2,000
	// deliveries) is left to the hub's shutdown, which drops it.
}
