package actors

import (
	"errors"
	"sync"

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

// inbound is a connection's read side. Every field is guarded by mu.
type inbound struct {
	mu         sync.Mutex
	handshaken bool   // the handshake request was read and accepted
	done       bool   // nothing more is read: Close, bad input, or the transport ended
	partial    []byte // bytes of an incomplete message, kept for the next Feed
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
	in.partial = nil
	return data
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
	proto, slot, msg := c.engine.chooseProtocol(req, c.opts.has(optTextOnly))
	if msg != "" {
		c.failHandshakeLocked(msg)
		return nil, false
	}
	c.proto, c.slot, c.in.handshaken = proto, slot, true // the actor reads them after handshakeDone
	if c.opts.has(optAllowStateful) && req.Version >= 2 {
		c.stateful.Store(&statefulConn{})
	}
	c.engine.send(c.pid, &handshakeDone{version: req.Version})
	return rest, true
}

func (c *Conn) failHandshakeLocked(msg string) {
	c.in.done = true
	c.engine.send(c.pid, &handshakeFailed{msg: msg})
}

// readLocked reads the hub messages in data and posts them to the actor in
// one batch; an incomplete message at the end waits for the next Feed.
func (c *Conn) readLocked(data []byte) {
	var b inBatch
	for len(data) > 0 {
		m, rest, err := c.proto.ReadMessage(data, c.engine.maxMessage)
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
		b.bytes += len(data) - len(rest)
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
		if r == routeLast {
			// Nothing more comes: whatever waits for the client stops waiting.
			c.in.done = true
			c.postLocked(&b)
			c.end()
			return
		}
	}
	c.postLocked(&b)
}

// postLocked hands the batch read so far to the actor.
func (c *Conn) postLocked(b *inBatch) {
	if len(b.msgs) == 0 {
		return
	}
	c.engine.send(c.pid, &incoming{msgs: b.msgs, bytes: b.bytes})
	*b = inBatch{}
}

// failReadLocked ends the read side on bad input: what was read before it
// still reaches the actor, then the error, which closes the connection.
func (c *Conn) failReadLocked(b *inBatch, err error) {
	c.in.done = true
	c.postLocked(b)
	c.engine.send(c.pid, &protocolError{err: err})
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
	c.in.done = true
	c.in.partial = nil
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
		c.engine.send(c.pid, &transportDropped{err: err})
		sf.detachedAt.Store(c.engine.preciseNow())
		sf.reattachable.Store(true)
		return
	}
	c.end()
	c.engine.send(c.pid, &transportClosed{err: err})
}
