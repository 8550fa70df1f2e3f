package actors

import (
	"errors"
	"sync/atomic"
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

// statefulConn is the state of stateful reconnect, allocated by Feed at a
// handshake that turns it on (before the actor hears of the handshake):
// other connections pay one nil pointer for it.
type statefulConn struct {
	// Read side, guarded by Conn.in.mu.
	inSeq         int64 // id of the last trackable message read
	awaitSequence bool  // reattached: drop everything until the client's Sequence

	// Shared by the transport's side, the heartbeat and the actor.
	reattachable atomic.Bool  // detached, waiting for a reattach
	detachedAt   atomic.Int64 // engine time of the drop; 0 while attached
	recvSeq      atomic.Int64 // highest trackable message id received
	ackPending   atomic.Bool  // something came in since the last Ack

	lastAck int64 // owned by the heartbeat: when it last asked for an Ack

	// Owned by the connection actor.
	replay replay // sent, not acknowledged
	// A reattach won the race against the end of the connection: the
	// actor waits for its message before stopping.
	reattachInFlight bool
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
	if sf := c.stateful.Load(); sf != nil && trackable(m) {
		sf.replay.add(frame)
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
	t.c.post(&transportClosed{err: errDetachedClose})
}

// Stateful reports whether stateful reconnect is in effect for the
// connection (asked for in negotiate and handshake version >= 2). Safe from
// any goroutine.
func (c *Conn) Stateful() bool { return c.stateful.Load() != nil }

// reattach gives a detached connection a new transport (the client's
// reconnected WebSocket, see ReattachWebSocket). It fails with ErrNotFound
// when the connection is not waiting for one: attached, ended, or ending.
// The transport then feeds the connection as before; the connection answers
// with Sequence and replays what the client has not acknowledged.
func (c *Conn) reattach(t Transport) error {
	sf := c.stateful.Load()
	if sf == nil || !sf.reattachable.CompareAndSwap(true, false) {
		return ErrNotFound
	}
	c.in.mu.Lock()
	// What the old socket left unread is dropped: the client sends again
	// what the server has not acknowledged.
	c.in.done = false
	c.in.partial, c.in.backlog = nil, false
	c.in.paused.Store(false)
	c.in.socket, _ = t.(*socket)
	sf.awaitSequence = true
	c.life.lastRecv.Store(c.engine.preciseNow())
	c.in.mu.Unlock()
	c.post(&reattach{t: t})
	return nil
}

// Waiting reports whether the connection is detached and waiting for its
// client to reattach. Safe from any goroutine.
func (c *Conn) Waiting() bool {
	sf := c.stateful.Load()
	return sf != nil && sf.reattachable.Load()
}

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
	c.out.transport = detachedTransport{c}
	clear(c.out.frames)
	c.out.frames = c.out.frames[:0]
}

// attach takes the reattached transport: Sequence first, then every
// unacknowledged frame, in order.
func (c *Conn) attach(sf *statefulConn, t Transport) {
	c.out.transport = t
	sf.detachedAt.Store(0)
	clear(c.out.frames)
	c.out.frames = c.out.frames[:0]
	c.appendOwnAlways(&protocol.Sequence{SequenceID: sf.replay.next()})
	c.out.frames = append(c.out.frames, sf.replay.frames[sf.replay.head:]...)
	c.flush()
}

// sequenceLocked applies stateful reconnect to a message read from the
// client: it reports whether the message goes on (false: a duplicate, a
// message before the client's Sequence after a reattach, or an Ack or
// Sequence it handled). Called by Feed under in.mu.
func (c *Conn) sequenceLocked(sf *statefulConn, m protocol.Message) (keep bool, err error) {
	switch m := m.(type) {
	case *protocol.Sequence:
		if m.SequenceID > sf.recvSeq.Load()+1 {
			return false, errBadSequence
		}
		sf.inSeq = m.SequenceID - 1
		sf.awaitSequence = false
		return false, nil
	case *protocol.Close:
		return true, nil
	case *protocol.Ack:
		if !sf.awaitSequence {
			c.post(&ackIn{id: m.SequenceID})
		}
		return false, nil
	}
	if sf.awaitSequence {
		return false, nil
	}
	if !trackable(m) {
		return true, nil
	}
	sf.inSeq++
	if sf.inSeq <= sf.recvSeq.Load() {
		return false, nil // seen before the reattach
	}
	sf.recvSeq.Store(sf.inSeq)
	sf.ackPending.Store(true)
	return true, nil
}

// receiveStateful handles the connection actor's messages of stateful
// reconnect.
func (c *Conn) receiveStateful(msg any) {
	sf := c.stateful.Load()
	if sf == nil {
		return
	}
	switch m := msg.(type) {
	case *transportDropped:
		c.dropped(sf, m.err)
	case *reattach:
		sf.reattachInFlight = false
		if c.state.Load() != stateConnected {
			// The connection ended while the client reattached.
			m.t.Close(false)
			if c.state.Load() == stateClosed {
				c.engine.forget(c)
				c.mbox.stop()
			}
			return
		}
		c.attach(sf, m.t)
	case *ackIn:
		sf.replay.ack(m.id)
	case *ackDue:
		if c.state.Load() == stateConnected && sf.detachedAt.Load() == 0 {
			c.appendOwnAlways(&protocol.Ack{SequenceID: sf.recvSeq.Load()})
		}
	case *reattachTimedOut:
		// The heartbeat took it off reattach and ended its context.
		sf.detachedAt.Store(0)
		if c.state.Load() != stateClosed {
			c.disconnect(errReattachTimeout, reasonTransport)
		}
		c.engine.forget(c)
		c.mbox.stop()
	}
}

// dropped handles the unclean end of a stateful connection's transport:
// a live connection waits for a reattach, any other ends.
func (c *Conn) dropped(sf *statefulConn, err error) {
	if c.state.Load() == stateConnected {
		c.engine.log.Debug("stateful connection dropped; waiting for reattach", "conn", c.ID, "err", err)
		c.detach()
		return
	}
	// Not a connection that can wait: it ends. Closed had marked it
	// reattachable; a reattach that took it meanwhile has its message on
	// the way, which closes the new transport.
	if !sf.reattachable.Swap(false) {
		sf.reattachInFlight = true
	}
	sf.detachedAt.Store(0)
	c.end()
	if c.state.Load() != stateClosed {
		c.disconnect(err, reasonTransport)
	}
	c.engine.forget(c)
	if sf.reattachInFlight {
		return // stops once the reattach message has closed its transport
	}
	c.mbox.stop()
}

// beat is the heartbeat's look at a stateful connection: it times out a
// detached one, and asks for an Ack when something came in. It reports
// whether the connection is detached (nothing else applies to it then).
func (sf *statefulConn) beat(c *Conn, now, disconnect int64) (detached bool) {
	if at := sf.detachedAt.Load(); at != 0 {
		// Decided here, not in the actor, which may be blocked in hub code
		// waiting on the gone client: ending the connection's context
		// wakes that code.
		if now-at > disconnect && sf.reattachable.CompareAndSwap(true, false) {
			c.end()
			c.post(&reattachTimedOut{})
		}
		return true
	}
	if sf.ackPending.Load() && now-sf.lastAck >= ackInterval {
		sf.ackPending.Store(false)
		sf.lastAck = now
		c.post(&ackDue{})
	}
	return false
}
