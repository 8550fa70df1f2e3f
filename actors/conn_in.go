package actors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/actorhub/actorhub/protocol"
)

// The read side of a connection: what the transport hands Feed becomes hub
// messages posted to the connection actor.
//
// Feed runs on the transport's goroutines (a poller worker for a WebSocket,
// the POST's handler for Server-Sent Events and long polling), one call at a
// time under in.mu. It answers nothing itself: the handshake, every message
// and every error go to the actor as messages, in the order read. What the
// actor must not wait for (upload stream items, client results) is handed
// straight to its waiter (direct.go).

// inbound is a connection's read side. Every field is guarded by mu but
// the atomics, which the actor reads and writes without it.
type inbound struct {
	mu       sync.Mutex
	awaiting int32 // hub code in the actor's turn waits for the client: the budget stretches
	// paused: the budget is spent, and the transport is told to stop
	// reading (a WebSocket leaves epoll; an HTTP transport's POST waits in
	// WaitRoom). Written under mu; the actor reads it after each release.
	paused     atomic.Bool
	handshaken bool   // the handshake request was read and accepted
	done       bool   // nothing more is read: Close, bad input, or the transport ended
	backlog    bool   // partial holds whole messages held back while the budget is spent
	partial    []byte // bytes of an incomplete message kept for the next Feed, or the backlog
	// queued is what Feed posted and the actor has not handled yet, as
	// inboundCount packs it. Feed adds, the actor takes away.
	queued atomic.Uint64
	socket *socket       // the WebSocket to pause, or nil (an HTTP transport waits in WaitRoom)
	room   chan struct{} // closed when reading may go on; made by WaitRoom
}

// inBatch is what one Feed posts to the actor: the messages it read, and
// the bytes they took.
type inBatch struct {
	msgs  []protocol.Message
	bytes int
}

// Feed hands the connection bytes from the client: one transport message
// (a WebSocket message, a POST body). data is only read during the call.
// Feed may be called again before the actor has handled the previous bytes.
func (c *Conn) Feed(data []byte) {
	if c.isRaw() {
		c.feedRaw(data)
		return
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	if c.in.done {
		return
	}
	c.life.lastRecv.Store(c.engine.preciseNow())
	c.engine.stats.bytesIn.Add(uint64(len(data)))
	data = c.in.take(data)
	if !c.in.handshaken {
		var ok bool
		if data, ok = c.handshakeLocked(data); !ok {
			return
		}
	}
	c.readLocked(data)
}

// take returns data joined to the incomplete message kept from before, in
// a buffer of the connection's own: decoded messages alias it.
func (in *inbound) take(data []byte) []byte {
	if len(in.partial) > 0 {
		data = append(in.partial, data...)
	} else {
		data = append([]byte(nil), data...)
	}
	in.partial, in.backlog = nil, false
	return data
}

// finishLocked ends the read side: nothing more is read, and a transport
// waiting for room stops waiting.
func (in *inbound) finishLocked() {
	in.done = true
	in.partial, in.backlog = nil, false
	if in.room != nil {
		close(in.room)
		in.room = nil
	}
}

// handshakeLocked reads the handshake request at the start of data and
// returns what follows it; ok is false when there is nothing more to read
// (the request is incomplete, or refused).
func (c *Conn) handshakeLocked(data []byte) (rest []byte, ok bool) {
	req, rest, err := protocol.ReadHandshake(data, c.engine.maxMessage)
	switch {
	case errors.Is(err, protocol.ErrIncomplete):
		c.in.partial = data
		return nil, false
	case errors.Is(err, protocol.ErrTooLarge):
		c.failHandshakeLocked("Handshake was canceled.")
		return nil, false
	case err != nil:
		c.failHandshakeLocked("An unexpected error occurred during connection handshake.")
		return nil, false
	}
	_, slot, msg := c.engine.chooseProtocol(req, c.opts.has(optTextOnly))
	if msg != "" {
		c.failHandshakeLocked(msg)
		return nil, false
	}
	c.slot, c.in.handshaken = uint8(slot+1), true // the actor reads it after handshakeDone
	if c.opts.has(optAllowStateful) && req.Version >= 2 {
		c.stateful.Store(&statefulConn{})
	}
	c.post(&handshakeDone{version: req.Version})
	return rest, true
}

func (c *Conn) failHandshakeLocked(msg string) {
	c.in.finishLocked()
	c.post(&handshakeFailed{msg: msg})
}

// readLocked reads the hub messages in data and posts them to the actor in
// one batch; an incomplete message at the end waits for the next Feed, and
// what comes once the inbound budget is spent waits, unread, for the actor
// to catch up.
func (c *Conn) readLocked(data []byte) {
	var b inBatch
	for len(data) > 0 {
		if c.budgetSpentLocked(data, &b) {
			return
		}
		m, rest, err := c.Protocol().ReadMessage(data, c.engine.maxMessage)
		switch {
		case errors.Is(err, protocol.ErrIncomplete):
			c.in.partial = data
			c.postLocked(&b)
			return
		case errors.Is(err, protocol.ErrUnknownType):
			data = rest
			continue
		case err != nil:
			c.failReadLocked(&b, err)
			return
		}
		n := len(data) - len(rest)
		data = rest
		c.engine.stats.msgsIn.Add(1)
		r, err := c.routeLocked(m)
		switch {
		case err != nil:
			c.failReadLocked(&b, err)
			return
		case r == routeTaken:
			continue
		}
		b.msgs = append(b.msgs, m)
		b.bytes += inCost(n)
		if r == routeLast {
			// Nothing more comes: whatever waits for the client stops waiting.
			c.postLocked(&b)
			c.in.finishLocked()
			c.end()
			return
		}
		if len(b.msgs) == inChunk {
			c.postLocked(&b)
		}
	}
	c.postLocked(&b)
}

// inChunk is the most messages one incoming carries: the budget is given
// back as chunks are handled, so a large transport message does not hold
// all of its budget until its last message is handled.
const inChunk = turnQuantum

// msgOverhead is what a decoded message holds beyond its bytes, counted
// against MaxInboundBytes with them: the message struct and its argument
// slice (a JSON or MessagePack invocation: 160 B), an argument boxed in
// an interface (24 B each, a few of them), its place in the batch.
const msgOverhead = 256

// inCost is what a message of n bytes counts against MaxInboundBytes
// while it waits for the actor: the memory it holds, its bytes (the
// decoded message points into a copy of them) and its decoded form.
func inCost(n int) int { return n + msgOverhead }

// postLocked hands the batch read so far to the actor.
func (c *Conn) postLocked(b *inBatch) {
	if len(b.msgs) == 0 {
		return
	}
	c.in.queued.Add(inboundCount(len(b.msgs), b.bytes))
	c.post(&incoming{msgs: b.msgs, bytes: b.bytes})
	*b = inBatch{}
}

// failReadLocked ends the read side on bad input: what was read before it
// still reaches the actor, then the error, which closes the connection.
func (c *Conn) failReadLocked(b *inBatch, err error) {
	c.postLocked(b)
	c.in.finishLocked()
	c.post(&protocolError{err: err})
	c.end()
}

// route is what the reader does with a message it read.
type route uint8

const (
	routeOn    route = iota // to the actor
	routeTaken              // handled here (a ping, an upload item, a client result, a stateful duplicate)
	routeLast               // to the actor, and nothing more is read (the client's Close)
)

// routeLocked decides where a message read from the client goes; an error
// ends the connection.
func (c *Conn) routeLocked(m protocol.Message) (route, error) {
	if sf := c.stateful.Load(); sf != nil {
		if keep, err := c.sequenceLocked(sf, m); err != nil || !keep {
			return routeTaken, err
		}
	}
	switch m := m.(type) {
	case *protocol.Ping:
		c.life.pinged.Store(true)
		return routeTaken, nil
	case *protocol.Invocation:
		c.registerUploads(m.StreamIDs)
	case *protocol.StreamInvocation:
		c.registerUploads(m.StreamIDs)
	case *protocol.StreamItem:
		taken, overflow := c.routeItem(m)
		if overflow {
			return routeTaken, errUploadOverflow
		}
		if taken {
			return routeTaken, nil
		}
	case *protocol.Completion:
		if c.routeCompletion(m) {
			return routeTaken, nil
		}
	case *protocol.Close:
		return routeLast, nil
	}
	return routeOn, nil
}

// Closed tells the connection that its transport has ended; err is nil for a
// clean close. The transport calls it exactly once.
//
// On a stateful connection an unclean end (err != nil) only detaches it:
// the actor keeps the connection for a reattach.
func (c *Conn) Closed(err error) { c.transportEnded(c.stopReading(err), err) }

// stopReading ends the read side for a transport that has ended with err,
// and reports whether the connection outlives it, waiting for a reattach:
// an unclean end of a stateful connection that is still live. One that
// already ended on its own (the client's Close, bad input, the server's
// Close or OnDisconnected) does not wait, even briefly.
func (c *Conn) stopReading(err error) (keep bool) {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	keep = err != nil && c.stateful.Load() != nil && !c.in.done && c.state.Load() <= stateConnected
	c.in.finishLocked()
	return keep
}

// transportEnded applies the end of the transport, as stopReading decided.
func (c *Conn) transportEnded(keep bool, err error) {
	if keep {
		// Detached from now on, whatever the actor is doing (it may be
		// blocked in hub code that waits on this client): a reattach may
		// claim it at once, and the heartbeat times it out. The message goes
		// first so that a reattach's message comes after it.
		sf := c.stateful.Load()
		c.post(&transportDropped{err: err})
		sf.detachedAt.Store(c.engine.preciseNow())
		sf.reattachable.Store(true)
		return
	}
	c.end()
	c.post(&transportClosed{err: err})
}

// The inbound budget.
//
// What Feed posts to the actor and the actor has not handled yet (its
// messages and the memory they hold, inCost: their bytes and their decoded
// form, in inbound.queued) is bounded by
// EngineConfig.MaxInboundMessages and MaxInboundBytes. Once either is
// reached, Feed stops parsing: the rest of what it was fed stays in
// partial, unparsed (the backlog), and the transport is paused: a WebSocket
// is left out of epoll (netpoll.Conn.PauseReading), so that TCP flow
// control pushes back on the client; an HTTP transport's POST waits in
// WaitRoom before it reads more of its body. When the actor has handled
// what it was fed down to half the budget, it reads the backlog itself and
// resumes the transport (refill). A client whose actor keeps up never
// reaches the budget; one that floods holds at most the budget, plus one
// transport message and one socket read.
//
// While hub code in the actor's turn waits for the client (an upload
// stream's items, a client result), reading must go on or the two would
// wait for each other: the budget then stretches to four times its size,
// and a client that sends more meanwhile is closed with an error.

// errInboundOverflow ends a connection that sent more than four times its
// inbound budget while its hub method waited for it.
var errInboundOverflow = errors.New("actors: inbound budget exceeded while the hub method waited for the client")

// inboundCount packs a number of messages and their bytes as
// inbound.queued holds them: messages in the top 24 bits, bytes in the low
// 40. The limits keep both well inside (see EngineConfig).
func inboundCount(msgs, bytes int) uint64 { return uint64(msgs)<<40 | uint64(bytes) }

func unpackInbound(v uint64) (msgs, bytes uint64) { return v >> 40, v & (1<<40 - 1) }

// budgetSpentLocked checks the budget before the next message of data is
// read; true means reading stopped here (data is the backlog, or the
// connection failed).
func (c *Conn) budgetSpentLocked(data []byte, b *inBatch) bool {
	e := c.engine
	msgs, bytes := unpackInbound(c.in.queued.Load() + inboundCount(len(b.msgs), b.bytes))
	if msgs < e.inMsgs && bytes < e.inBytes {
		return false
	}
	if c.in.awaiting > 0 {
		if msgs < 4*e.inMsgs && bytes < 4*e.inBytes {
			return false
		}
		c.failReadLocked(b, errInboundOverflow)
		return true
	}
	c.postLocked(b)
	if !c.in.paused.Load() {
		c.in.paused.Store(true)
		// The actor releases, then looks at paused; Feed sets paused, then
		// looks at queued: one of them sees the other's change.
		if c.engine.inboundLow(c.in.queued.Load()) {
			c.in.paused.Store(false)
			return false
		}
		if c.in.socket != nil {
			c.in.socket.pauseReading()
		}
		e.stats.readPauses.Add(1)
	}
	c.in.partial, c.in.backlog = data, true
	return true
}

// inboundLow reports whether what a connection has queued is down to half
// its budget: time to read on.
func (e *Engine) inboundLow(v uint64) bool {
	msgs, bytes := unpackInbound(v)
	return msgs <= e.inMsgs/2 && bytes <= e.inBytes/2
}

// release gives back the budget of messages the actor has handled, and
// reads on when the connection was held back and is down to half its
// budget.
func (c *Conn) release(m *incoming) {
	v := c.in.queued.Add(-inboundCount(len(m.msgs), m.bytes))
	if c.in.paused.Load() && c.engine.inboundLow(v) {
		c.refill()
	}
}

// refill reads what was held back, and resumes the transport unless that
// spent the budget again. The actor calls it.
func (c *Conn) refill() {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	if c.in.paused.Load() && !c.in.done && c.engine.inboundLow(c.in.queued.Load()) {
		c.readBacklogLocked()
	}
}

// readBacklogLocked reads the backlog and, unless that spends the budget
// again, resumes reading.
func (c *Conn) readBacklogLocked() {
	if c.in.backlog {
		c.readLocked(c.in.take(nil))
		if c.in.backlog || c.in.done {
			return
		}
	}
	c.in.paused.Store(false)
	if c.in.socket != nil {
		c.in.socket.resumeReading()
	}
	if c.in.room != nil {
		close(c.in.room)
		c.in.room = nil
	}
}

// awaitClient runs wait, which waits for something from the client (an
// upload stream's item, a client result), for hub code in the actor's
// turn: meanwhile the client is read even past the budget, up to four
// times it.
func (c *Conn) awaitClient(wait func()) {
	c.in.mu.Lock()
	c.in.awaiting++
	if c.in.paused.Load() && !c.in.done {
		c.readBacklogLocked()
	}
	c.in.mu.Unlock()
	defer func() {
		c.in.mu.Lock()
		c.in.awaiting--
		c.in.mu.Unlock()
	}()
	c.engine.Blocking(wait)
}

// WaitRoom is for a transport that feeds the connection from requests
// (the POSTs of Server-Sent Events and long polling): before it reads more
// of a request's body, it waits while the connection's inbound budget is
// spent, so that TCP flow control pushes back on the client. It returns
// nil at once when the connection takes more, ctx's error if ctx ends
// first, ErrConnClosed when the connection reads nothing more.
func (c *Conn) WaitRoom(ctx context.Context) error {
	for {
		if !c.in.paused.Load() {
			return nil
		}
		c.in.mu.Lock()
		if c.in.done {
			c.in.mu.Unlock()
			return ErrConnClosed
		}
		if !c.in.paused.Load() {
			c.in.mu.Unlock()
			return nil
		}
		if c.in.room == nil {
			c.in.room = make(chan struct{})
		}
		room := c.in.room
		c.in.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
