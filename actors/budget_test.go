package actors

import (
	"fmt"
	"github.com/actorhub/actorhub/internal/testutil"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// invocations is n non-blocking invocations of target, as one transport
// message.
func invocations(n int, target string) []byte {
	return []byte(strings.Repeat(`{"type":1,"target":"`+target+`","arguments":[]}`+"\x1e", n))
}

// TestInboundBudgetHoldsBacklog: while the connection's actor is busy,
// what it was fed past its inbound budget stays unparsed, and the
// transport is told to wait (WaitRoom blocks); once the actor catches up,
// every message is handled, in order, and WaitRoom returns.
func TestInboundBudgetHoldsBacklog(t *testing.T) {
	e, inv := newTestEngine(t, EngineConfig{MaxInboundMessages: 10})
	inv.block = make(chan struct{})
	c, tr := connect(t, e, "c", "", true)
	c.Feed([]byte(`{"type":1,"invocationId":"b","target":"Block","arguments":[]}` + "\x1e"))
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, `{"type":1,"invocationId":"%d","target":"Echo","arguments":[%d]}`+"\x1e", i, i)
	}
	c.Feed([]byte(b.String()))

	if !c.in.paused.Load() {
		t.Fatal("reading was not paused with 101 messages fed to a busy connection and a budget of 10")
	}
	if msgs, _ := unpackInbound(c.in.queued.Load()); msgs > 10 {
		t.Fatalf("%d messages parsed and queued, budget 10", msgs)
	}
	waited := make(chan error, 1)
	go func() { waited <- c.WaitRoom(t.Context()) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitRoom returned (%v) while the budget was spent", err)
	default:
	}

	close(inv.block)
	testutil.Eventually(t, `"invocationId":"99"`, hasMsg(tr, `"invocationId":"99"`))
	if err := <-waited; err != nil {
		t.Fatalf("WaitRoom: %v", err)
	}
	var ids []string
	for _, m := range tr.Messages() {
		if _, rest, ok := strings.Cut(m, `"invocationId":"`); ok {
			ids = append(ids, rest[:strings.IndexByte(rest, '"')])
		}
	}
	if len(ids) != 101 || ids[0] != "b" || ids[1] != "0" || ids[100] != "99" {
		t.Fatalf("completions %v", ids)
	}
	if c.in.paused.Load() || c.in.queued.Load() != 0 {
		t.Fatalf("after the actor caught up: paused %v, queued %x", c.in.paused.Load(), c.in.queued.Load())
	}
	if n := e.Stats().ReadPauses; n == 0 {
		t.Fatal("no pause counted")
	}
}

// TestGroupQueueBounded: a sender that outruns a large group's fan-out
// waits once the group is groupQueueMessages payloads behind, so the
// group's queue never grows past it; every member still gets every
// payload.
func TestGroupQueueBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("fans 2,000 payloads out to 2,000 connections")
	}
	const members, sends = 2000, 2000
	e, _ := newTestEngine(t, EngineConfig{})
	var delivered atomic.Int64
	for i := range members {
		c, err := e.NewConn(ConnInfo{ID: fmt.Sprint("m", i)}, deliveryCounter{&delivered})
		if err != nil {
			t.Fatal(err)
		}
		c.Feed([]byte(`{"protocol":"json","version":1}` + "\x1e"))
	}
	// Each handshake's reply is one frame: wait for all of them, which
	// may be written after the connection counts, before counting.
	testutil.Eventually(t, "every member's handshake reply", func() bool { return delivered.Load() == members })
	delivered.Store(0)
	v, _ := e.groups.Load(keyAll)
	g := v.(*groupRef)
	msg := &protocol.Invocation{Target: "Tick", Arguments: []any{"0123456789"}}
	peak := int64(0)
	for range sends {
		p := NewPayload(msg)
		if err := e.Prepare(p); err != nil {
			t.Fatal(err)
		}
		e.SendAll(p)
		peak = max(peak, g.queued.Load())
	}
	testutil.EventuallyWithin(t, time.Minute, "every delivery", func() bool { return delivered.Load() == members*sends })
	t.Logf("the group's queue peaked at %d payloads", peak)
	if peak > groupQueueMessages {
		t.Fatalf("the group's queue reached %d payloads, bound %d", peak, groupQueueMessages)
	}
	if peak < groupQueueMessages/2 {
		t.Fatalf("the queue only reached %d: the sender never outran the group, the test shows nothing", peak)
	}
}

// deliveryCounter is a Transport that counts the frames written to it.
type deliveryCounter struct{ n *atomic.Int64 }

func (deliveryCounter) Framed() bool { return true }
func (d deliveryCounter) Write(bufs [][]byte) error {
	d.n.Add(int64(len(bufs)))
	return nil
}
func (deliveryCounter) Buffered() int { return 0 }
func (deliveryCounter) Close(bool)    {}

// TestMailboxBoundWhileActorBlocked: payloads for a connection whose actor
// is held up by hub code wait in its mailbox up to mailboxBudget times
// MaxBufferedBytes, no more; the connection is then closed as a slow
// consumer, and another connection, which keeps up, gets every payload.
func TestMailboxBoundWhileActorBlocked(t *testing.T) {
	const budget = 10_000
	e, inv := newTestEngine(t, EngineConfig{MaxBufferedBytes: budget / mailboxBudget})
	inv.block = make(chan struct{})
	stuck, stuckTr := connect(t, e, "stuck", "", true)
	_, other := connect(t, e, "other", "", true)
	stuck.Feed([]byte(`{"type":1,"invocationId":"1","target":"Block","arguments":[]}` + "\x1e"))
	testutil.Eventually(t, "the blocked invocation to run", stuck.life.dispatching.Load)

	arg := strings.Repeat("x", 1000)
	for i := range 100 {
		p := NewPayload(&protocol.Invocation{Target: fmt.Sprint("P", i), Arguments: []any{arg}})
		if err := e.Prepare(p); err != nil {
			t.Fatal(err)
		}
		e.SendAll(p)
		testutil.Eventually(t, fmt.Sprint("payload P", i), hasMsg(other, fmt.Sprintf(`"P%d"`, i)))
	}
	stuck.mbox.mu.Lock()
	held, full := stuck.mbox.payloads, stuck.mbox.full
	stuck.mbox.mu.Unlock()
	if held > budget || !full {
		t.Fatalf("the blocked connection's mailbox holds %d payload bytes (full %v), budget %d", held, full, budget)
	}

	close(inv.block)
	testutil.Eventually(t, "the blocked connection's close", stuckTr.ClosedGracefully)
	if !hasMsg(stuckTr, `"type":7`)() || e.Stats().Closes["slow_consumer"] != 1 {
		t.Fatalf("the blocked connection was not closed as a slow consumer: %v", e.Stats().Closes)
	}
	if n := count(other, `"target":"P`); n != 100 {
		t.Fatalf("the other connection got %d payloads, want 100", n)
	}
}
