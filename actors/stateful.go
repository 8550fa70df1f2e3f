package actors

import (
	"errors"
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// Stateful reconnect (ASP.NET Core 8+, WebSockets only).
//
// A connection whose transport allows it (ConnInfo.StatefulReconnect) and
// whose handshake asks for version 2 or more numbers the trackable messages
// (Invocation, StreamItem, Completion, StreamInvocation, CancelInvocation)
// it sends and receives, from 1.
//
// Outgoing, the actor keeps the frames of what it sent and the client has
// not acknowledged (replay), in order, until an Ack drops them. Past
// EngineConfig.StatefulReconnectBufferSize bytes the connection is closed as
// a slow consumer: ASP.NET makes the sender wait instead, which an actor
// cannot do without holding its worker, and the buffer must never grow
// without bound.
//
// Incoming, the reader (Feed) counts trackable messages, drops those it has
// already seen after a reattach, and the heartbeat tells the actor to send
// Ack{highest received} about once a second when something new came in.
//
// When the transport drops without a clean close, the connection is
// detached instead of ended: its actor, groups, items and registry entry
// stay, and what is sent meanwhile goes only to the replay buffer. A reattach
// gives it a new transport; the server then sends Sequence and replays what
// is unacknowledged. Without a reattach within DisconnectTimeout the
// connection ends as if its transport had just closed with errReattachTimeout.

// ackInterval is how often at most the server acknowledges what it received.
const ackInterval = int64(time.Second)

// errReattachTimeout is what OnDisconnected gets when a dropped stateful
// connection was not reattached within the disconnect timeout.
var errReattachTimeout = errors.New("actors: connection dropped and not reattached within the disconnect timeout")

// errDetachedClose is what a detached connection's placeholder transport
// reports when the server ends it.
var errDetachedClose = errors.New("actors: detached connection closed")

// errBadSequence ends a connection whose client's Sequence skips messages.
var errBadSequence = errors.New("actors: Sequence id from the client is past the next expected message")

// trackable reports whether m is numbered by stateful reconnect.
func trackable(m protocol.Message) bool {
	switch m.(type) {
	case *protocol.Invocation, *protocol.StreamItem, *protocol.Completion,
		*protocol.StreamInvocation, *protocol.CancelInvocation:
		return true
	}
	return false
}

// replay holds the frames a stateful connection sent and the client has not
// acknowledged. Owned by the connection actor.
type replay struct {
	sent   int64    // trackable messages sent so far: the id of the last one
	first  int64    // id of frames[head]
	frames [][]byte // shared, never modified
	head   int
	bytes  int
}

// add records the frame of the next trackable message.
func (r *replay) add(b []byte) {
	r.sent++
	if r.head == len(r.frames) {
		r.frames, r.head, r.first = r.frames[:0], 0, r.sent
	}
	r.frames = append(r.frames, b)
	r.bytes += len(b)
}

// ack drops the frames with ids <= id.
func (r *replay) ack(id int64) {
	for r.head < len(r.frames) && r.first <= id {
		r.bytes -= len(r.frames[r.head])
		r.frames[r.head] = nil
		r.head++
		r.first++
	}
	if r.head == len(r.frames) {
		r.frames, r.head = r.frames[:0], 0
		if cap(r.frames) > 1024 {
			r.frames = nil
		}
		r.first = r.sent + 1
	} else if r.head > 1024 && r.head*2 > len(r.frames) {
		n := copy(r.frames, r.frames[r.head:])
		clear(r.frames[n:])
		r.frames, r.head = r.frames[:n], 0
	}
}

// next is the Sequence id to announce on reattach: the first unacknowledged
// message, or the one after the last sent when none is.
func (r *replay) next() int64 {
	if r.head < len(r.frames) {
		return r.first
	}
	return r.sent + 1
}

// track records an outgoing frame of m when the connection is stateful.
func (c *Conn) track(m protocol.Message, frame []byte) {
	if c.statefulOut && trackable(m) {
		c.replay.add(frame)
	}
}

// detachedTransport stands in for the transport of a detached connection:
// it discards writes (the replay buffer has them) and, closed, ends the
// connection.
type detachedTransport struct{ c *Conn }

func (detachedTransport) Framed() bool         { return true }
func (detachedTransport) Write([][]byte) error { return nil }
func (detachedTransport) Buffered() int        { return 0 }
func (t detachedTransport) Close(graceful bool) {
	t.c.engine.send(t.c.pid, &transportClosed{err: errDetachedClose})
}

// Stateful reports whether stateful reconnect is in effect for the
// connection (asked for in negotiate and handshake version >= 2). Safe from
// any goroutine.
func (c *Conn) Stateful() bool { return c.stateful.Load() }

// reattach gives a detached connection a new transport (the client's
// reconnected WebSocket, see ReattachWebSocket). It fails with ErrNotFound
// when the connection is not waiting for one: attached, ended, or ending.
// The transport then feeds the connection as before; the connection answers
// with Sequence and replays what the client has not acknowledged.
func (c *Conn) reattach(t Transport) error {
	if !c.reattachable.CompareAndSwap(true, false) {
		return ErrNotFound
	}
	c.readMu.Lock()
	c.readDone = false
	c.partial = nil
	c.awaitSequence = true
	c.lastRecv.Store(c.engine.preciseNow())
	c.readMu.Unlock()
	c.engine.send(c.pid, &reattach{t: t})
	return nil
}

// Waiting reports whether the connection is detached and waiting for its
// client to reattach. Safe from any goroutine.
func (c *Conn) Waiting() bool { return c.reattachable.Load() }

// Messages of stateful reconnect to the connection actor.
type (
	transportDropped struct{ err error }
	reattach         struct{ t Transport }
	ackIn            struct{ id int64 }
	ackDue           struct{}
	reattachTimedOut struct{}
)

// detach keeps a connection whose transport dropped, for a reattach. Closed
// already marked it detached (detachedAt, reattachable) from the transport
// side; the actor swaps its transport for one that only buffers.
func (c *Conn) detach() {
	c.transport = detachedTransport{c}
	clear(c.out)
	c.out = c.out[:0]
}

// attach takes the reattached transport: Sequence first, then every
// unacknowledged frame, in order.
func (c *Conn) attach(t Transport) {
	c.transport = t
	c.detachedAt.Store(0)
	clear(c.out)
	c.out = c.out[:0]
	c.appendOwnAlways(&protocol.Sequence{SequenceID: c.replay.next()})
	c.out = append(c.out, c.replay.frames[c.replay.head:]...)
	c.flush()
}

// replayOverBudget reports whether the unacknowledged bytes exceed the budget.
func (c *Conn) replayOverBudget() bool {
	return c.statefulOut && c.replay.bytes > c.engine.cfg.StatefulReconnectBufferSize
}

// sequenceLocked applies stateful reconnect to a message read from the
// client: it reports whether the message goes on (false: a duplicate, a
// message before the client's Sequence after a reattach, or an Ack or
// Sequence it handled). Called by Feed under readMu.
func (c *Conn) sequenceLocked(m protocol.Message) (keep bool, err error) {
	switch m := m.(type) {
	case *protocol.Sequence:
		if m.SequenceID > c.recvSeq.Load()+1 {
			return false, errBadSequence
		}
		c.inSeq = m.SequenceID - 1
		c.awaitSequence = false
		return false, nil
	case *protocol.Close:
		return true, nil
	case *protocol.Ack:
		if !c.awaitSequence {
			c.engine.send(c.pid, &ackIn{id: m.SequenceID})
		}
		return false, nil
	}
	if c.awaitSequence {
		return false, nil
	}
	if !trackable(m) {
		return true, nil
	}
	c.inSeq++
	if c.inSeq <= c.recvSeq.Load() {
		return false, nil // seen before the reattach
	}
	c.recvSeq.Store(c.inSeq)
	c.ackPending.Store(true)
	return true, nil
}
