package actors

import (
	"errors"
	"sync/atomic"

	"github.com/actorhub/actorhub/protocol"

	"github.com/gobwas/ws"
)

// Raw connections: the bytes of a transport, with no handshake and no hub
// protocol (ASP.NET Core's ConnectionHandler). An engine made with
// EngineConfig.Raw makes only raw connections. They are connection actors
// like the others, on the same workers and poller: the transport feeds them
// (Feed, as WebSocket messages or pieces of POST bodies), the application
// gets the bytes in the connection's turn (RawApp.Received), and what it
// writes (WriteRaw, from anywhere) goes out through the actor, one write
// per mailbox batch. They join no group, get no pings and have no client
// or handshake timeout.
//
// Both directions are bounded. Bytes fed and not yet received by the
// application count against EngineConfig.MaxBufferedBytes; past it the
// connection ends with errInputOverBudget (pausing the reader, as a hub
// connection's inbound budget does in conn_in.go, would be kinder). Bytes
// written count
// against the same budget twice over: while they wait for the actor, and
// while they wait in the transport (as a hub connection's do); past either
// the connection is closed as a slow consumer.

// RawApp is the application of an engine's raw connections. Its methods
// run in the connection's turn, one at a time per connection.
type RawApp interface {
	// Connected runs first. An error ends the connection.
	Connected(c *Conn) error
	// Received gets the client's bytes, in order. data is valid during the
	// call only.
	Received(c *Conn, data []byte)
	// Disconnected runs last, once; err is nil for a clean end.
	Disconnected(c *Conn, err error)
}

// rawConn is a raw connection's state. Atomics: Feed, WriteRaw and the
// actor share them.
type rawConn struct {
	inPending atomic.Int64 // bytes fed and not yet received by the application
	pending   atomic.Int64 // bytes written and not yet queued by the actor
	binary    atomic.Bool  // WebSocket messages go out binary
}

// errInputOverBudget ends a raw connection whose client sent more than the
// application took.
var errInputOverBudget = errors.New("actors: raw connection input over budget: the application does not keep up")

// Messages to a raw connection's actor.
type (
	rawStart struct{}
	rawIn    struct{ data []byte }
	rawOut   struct {
		frame []byte // framed for the transport already
		n     int    // payload bytes, as counted in rawPending
	}
	rawClose struct{ err error }
)

// feedRaw is Feed for a raw connection.
func (c *Conn) feedRaw(data []byte) {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	if c.in.done || len(data) == 0 {
		return
	}
	c.life.lastRecv.Store(c.engine.preciseNow())
	// Counted once the budget is checked: whoever sees BytesIn past the
	// budget knows the connection's end is decided.
	over := c.extra.raw.inPending.Add(int64(len(data))) > int64(c.engine.cfg.MaxBufferedBytes)
	c.engine.stats.bytesIn.Add(uint64(len(data)))
	if over {
		c.in.finishLocked()
		c.post(&protocolError{err: errInputOverBudget})
		return
	}
	c.post(&rawIn{data: append([]byte(nil), data...)})
}

// WriteRaw queues data (copied) for the client of a raw connection: one
// WebSocket message (text, or binary after SetBinary), or bytes of the
// stream of the HTTP transports. Safe from any goroutine. It fails with
// ErrConnClosed once the connection is ending, and with errSlowConsumer,
// closing the connection, when more than MaxBufferedBytes would wait for
// the actor (the actor closes it too once more than MaxBufferedBytes wait
// in the transport).
func (c *Conn) WriteRaw(data []byte) error {
	if c.state.Load() >= stateClosing {
		return ErrConnClosed
	}
	if len(data) == 0 {
		return nil
	}
	// What waits in the mailbox is counted here; what the transport holds
	// is checked by the actor after each write (flush), as for hub
	// connections: each is bounded by MaxBufferedBytes.
	if c.extra.raw.pending.Add(int64(len(data))) > int64(c.engine.cfg.MaxBufferedBytes) {
		c.extra.raw.pending.Add(-int64(len(data)))
		c.post(&rawClose{err: errSlowConsumer})
		return errSlowConsumer
	}
	var frame []byte
	if c.out.transport.Framed() {
		op := ws.OpText
		if c.extra.raw.binary.Load() {
			op = ws.OpBinary
		}
		h := ws.Header{Fin: true, OpCode: op, Length: int64(len(data))}
		frame = make([]byte, headerSize(len(data)), headerSize(len(data))+len(data))
		w := fixedWriter{buf: frame}
		_ = ws.WriteHeader(&w, h)
		frame = append(frame, data...)
	} else {
		frame = append([]byte(nil), data...)
	}
	c.post(&rawOut{frame: frame, n: len(data)})
	return nil
}

// SetBinary makes a raw connection's later WebSocket messages binary
// (true) or text (false, the default, as ASP.NET Core's ActiveFormat).
// The HTTP transports carry bytes either way.
func (c *Conn) SetBinary(binary bool) { c.extra.raw.binary.Store(binary) }

// CloseRaw ends a raw connection from the server side once what is queued
// is written: a WebSocket gets a close frame (1000), an event stream ends,
// a long poll gets 204. err reaches Disconnected (nil for a normal end).
// Safe from any goroutine.
func (c *Conn) CloseRaw(err error) { c.post(&rawClose{err: err}) }

// receiveRaw is the actor's side of the raw messages; it reports whether m
// was one.
func (c *Conn) receiveRaw(m any) bool {
	switch m := m.(type) {
	case *rawStart:
		if c.state.Load() != stateConnected {
			return true
		}
		c.engine.stats.connected.Add(1)
		c.engine.stats.byTransport[c.tslot].Add(1) // no hub protocol: not in byProtocol
		var err error
		c.call(func() { err = c.engine.cfg.Raw.Connected(c) })
		if err != nil {
			c.engine.log.Debug("raw connection refused", "conn", c.ID, "err", err)
			c.life.connectFailed = true // as for hub connections: Disconnected does not run
			c.serverClose(protocol.Close{}, err, reasonServer)
		}
	case *rawIn:
		c.extra.raw.inPending.Add(-int64(len(m.data)))
		if c.state.Load() != stateConnected {
			return true
		}
		c.life.dispatching.Store(true)
		c.call(func() { c.engine.cfg.Raw.Received(c, m.data) })
		c.life.dispatching.Store(false)
	case *rawOut:
		c.extra.raw.pending.Add(-int64(m.n))
		if c.state.Load() == stateConnected {
			c.out.frames = append(c.out.frames, m.frame)
		}
	case *rawClose:
		reason := reasonServer
		if errors.Is(m.err, errSlowConsumer) {
			reason = reasonSlow
		}
		c.serverClose(protocol.Close{}, m.err, reason)
	default:
		return false
	}
	return true
}
