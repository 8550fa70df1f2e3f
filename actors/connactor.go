package actors

import (
	"errors"
	"fmt"

	"github.com/actorhub/actorhub/protocol"
	"github.com/asynkron/protoactor-go/actor"
)

// connActor is the actor of one connection. Everything it touches on Conn
// outside the atomics is its own.
type connActor struct{ *Conn }

func (a connActor) Receive(ctx actor.Context) {
	c := a.Conn
	// A panic here is a bug of the engine (hub code recovers its own). It
	// ends this connection, never the process, and never restarts the actor
	// with its state half-changed.
	defer func() {
		if r := recover(); r != nil {
			c.engine.log.Error("connection actor panicked", "conn", c.ID, "panic", r)
			if c.state.Load() != stateClosed {
				c.state.Store(stateClosed)
				c.engine.leaveAll(c)
			}
			c.transport.Close(false)
		}
	}()
	if c.raw && c.receiveRaw(ctx.Message()) {
		return
	}
	switch m := ctx.Message().(type) {
	case *Payload:
		c.deliver(m)
	case *own:
		c.enqueue(m.p)
	case *batchEnd:
		c.flush()
	case *incoming:
		if c.state.Load() == stateHandshake {
			c.stash = append(c.stash, m.msgs) // the handshake is still being answered
			return
		}
		c.handle(m.msgs)
	case *sendOwn:
		if c.state.Load() == stateConnected {
			c.appendOwn(m.msg)
		}
		if m.queued != nil {
			m.queued()
		}
	case *keepAliveDue:
		if c.state.Load() == stateConnected && c.engine.now()-c.lastSend.Load() >= int64(c.engine.cfg.KeepAliveInterval) && len(c.out) == 0 {
			c.out = append(c.out, c.engine.pings[c.slot].frame(c.transport.Framed()))
		}
	case *handshakeDone:
		if c.statefulOut = c.stateful.Load(); c.statefulOut {
			c.replay = new(replay) // only stateful connections pay for it
		}
		c.connect()
	case *memberAdded:
		if c.joining--; c.joining == 0 {
			c.ready()
		}
	case *handshakeFailed:
		c.rejectHandshake(m.msg)
	case *handshakeTimedOut:
		if c.state.Load() == stateHandshake {
			c.rejectHandshake("Handshake was canceled.")
		}
	case *protocolError:
		c.engine.log.Debug("protocol error", "conn", c.ID, "err", m.err)
		if c.state.Load() == stateHandshake && c.joining > 0 {
			c.stashErr = m.err // answered once the handshake is, as ASP.NET does
			return
		}
		c.serverClose(protocol.Close{Error: "Connection closed with an error.", AllowReconnect: true}, m.err, reasonProtocol)
	case *clientTimedOut:
		c.serverClose(protocol.Close{AllowReconnect: true}, errClientTimeout, reasonTimeout)
	case *closeConn:
		reason := reasonServer
		if errors.Is(m.cause, errShutdown) {
			reason = reasonShutdown
		}
		c.serverClose(m.close, m.cause, reason)
	case *dropConn:
		c.transport.Close(false)
	case *transportDropped:
		if c.state.Load() == stateConnected && c.statefulOut {
			c.engine.log.Debug("stateful connection dropped; waiting for reattach", "conn", c.ID, "err", m.err)
			c.detach()
			return
		}
		// Not a connection that can wait: it ends. Closed had marked it
		// reattachable; a reattach that took it meanwhile has its message on
		// the way, which closes the new transport.
		if !c.reattachable.Swap(false) {
			c.reattachInFlight = true
		}
		c.detachedAt.Store(0)
		c.end()
		if c.state.Load() != stateClosed {
			c.disconnect(m.err, reasonTransport)
		}
		c.engine.forget(c)
		if c.reattachInFlight {
			return // stops once the reattach message has closed its transport
		}
		ctx.Stop(ctx.Self())
	case *reattach:
		c.reattachInFlight = false
		if c.state.Load() != stateConnected {
			// The connection ended while the client reattached.
			m.t.Close(false)
			if c.state.Load() == stateClosed {
				c.engine.forget(c)
				ctx.Stop(ctx.Self())
			}
			return
		}
		c.attach(m.t)
	case *ackIn:
		if c.statefulOut {
			c.replay.ack(m.id)
		}
	case *ackDue:
		if c.state.Load() == stateConnected && c.detachedAt.Load() == 0 {
			c.appendOwnAlways(&protocol.Ack{SequenceID: c.recvSeq.Load()})
		}
	case *reattachTimedOut:
		// The heartbeat took it off reattach and ended its context.
		c.detachedAt.Store(0)
		if c.state.Load() != stateClosed {
			c.disconnect(errReattachTimeout, reasonTransport)
		}
		c.engine.forget(c)
		ctx.Stop(ctx.Self())
	case *transportClosed:
		if c.state.Load() != stateClosed {
			c.disconnect(m.err, reasonTransport)
		}
		if c.reattachInFlight {
			return // stops once the reattach message has closed its transport
		}
		c.engine.forget(c)
		ctx.Stop(ctx.Self())
	}
}

// deliver queues a payload's bytes for this connection unless it is
// excluded from it.
func (c *Conn) deliver(p *Payload) {
	if p.excludes(c.ID) || (len(p.skip) > 0 && p.skips(c)) {
		return
	}
	c.enqueue(p)
}

// enqueue queues a payload's bytes for this connection.
func (c *Conn) enqueue(p *Payload) {
	if c.state.Load() != stateConnected {
		return
	}
	if p.seen != nil {
		// Sent to several groups: the first copy to reach this connection
		// is delivered, the others are dropped.
		if _, dup := p.seen.LoadOrStore(c, struct{}{}); dup {
			return
		}
	}
	b, err := p.bytes(c.slot, c.proto, c.transport.Framed())
	if err != nil {
		c.engine.log.Error("encode failed", "conn", c.ID, "err", err)
		return
	}
	c.track(p.msg, b)
	c.out = append(c.out, b)
}

// appendOwn encodes a message for this connection alone.
func (c *Conn) appendOwn(m protocol.Message) {
	buf, start, err := encodeFrame(c.proto, m)
	if err != nil {
		c.engine.log.Error("encode failed", "conn", c.ID, "err", err)
		return
	}
	if !c.transport.Framed() {
		start = wsHeaderRoom
	}
	c.track(m, buf[start:])
	c.out = append(c.out, buf[start:])
}

// flush writes what the batch queued, in one call, and closes a slow
// consumer.
func (c *Conn) flush() {
	if len(c.out) == 0 {
		return
	}
	if err := c.write(); err != nil {
		return // the transport is ending; Closed follows
	}
	if c.state.Load() == stateConnected && c.transport.Buffered() > c.engine.cfg.MaxBufferedBytes {
		c.engine.log.Warn("closing slow consumer", "conn", c.ID, "buffered", c.transport.Buffered())
		c.out = c.out[:0] // the Close goes out next; the backlog is moot
		c.serverClose(protocol.Close{Error: "Connection closed with an error.", AllowReconnect: true}, errSlowConsumer, reasonSlow)
		return
	}
	if c.state.Load() == stateConnected && c.replayOverBudget() {
		c.engine.log.Warn("closing slow consumer: stateful reconnect buffer over budget", "conn", c.ID, "unacked", c.replay.bytes)
		c.out = c.out[:0]
		c.serverClose(protocol.Close{Error: "Connection closed with an error.", AllowReconnect: true}, errSlowConsumer, reasonSlow)
	}
}

// write hands what is queued to the transport.
func (c *Conn) write() error {
	if len(c.out) == 0 {
		return nil
	}
	n := 0
	for _, b := range c.out {
		n += len(b)
	}
	err := c.transport.Write(c.out)
	c.engine.stats.addOut(c.seq, len(c.out), n)
	clear(c.out)
	c.out = c.out[:0]
	if cap(c.out) > 256 {
		c.out = nil
	}
	c.lastSend.Store(c.engine.now())
	return err
}

// connect finishes the handshake: the connection joins the hub's groups of
// all connections and of its user; once both are in effect (memberAdded),
// ready answers the handshake and runs OnConnected. Nothing blocks the
// actor's worker meanwhile; client messages wait in stash.
func (c *Conn) connect() {
	if c.state.Load() != stateHandshake || c.joining > 0 {
		return
	}
	e := c.engine
	if e.closing.Load() {
		c.rejectHandshake("Handshake was canceled.")
		return
	}
	c.joining = 1
	e.join(c, keyAll, true)
	if c.UserID != "" {
		if _, ok := e.join(c, UserKey(c.UserID), true); ok {
			c.joining++
		}
	}
}

// ready runs when the connection's initial joins are in effect, and again
// once the BeforeConnected gate, if any, has opened.
func (c *Conn) ready() {
	if c.state.Load() != stateHandshake {
		return
	}
	e := c.engine
	if gate := e.cfg.BeforeConnected; gate != nil && !c.gated {
		c.gated = true
		c.joining = 1
		gate(c, func() { e.send(c.pid, &memberAdded{}) })
		return
	}
	c.state.Store(stateConnected)
	e.stats.connected.Add(1)
	e.stats.byTransport[c.transportSlot].Add(1)
	e.stats.byProtocol[c.slot].Add(1)
	c.out = append(c.out, handshakeOK(c.proto, c.transport.Framed()))
	var err error
	c.call(func() { err = e.invoker.OnConnected(c) })
	if err != nil {
		// As ASP.NET: the handshake answer stands, a Close that forbids
		// reconnecting follows, and OnDisconnected does not run.
		e.log.Debug("OnConnected failed", "conn", c.ID, "err", err)
		c.connectFailed = true
		c.serverClose(protocol.Close{Error: closeText(err)}, err, reasonServer)
		return
	}
	stash := c.stash
	c.stash = nil
	for _, msgs := range stash {
		c.handle(msgs)
	}
	if err := c.stashErr; err != nil {
		c.stashErr = nil
		c.serverClose(protocol.Close{Error: "Connection closed with an error.", AllowReconnect: true}, err, reasonProtocol)
	}
}

func handshakeOK(proto protocol.Protocol, framed bool) []byte {
	buf := protocol.AppendHandshakeResponse(make([]byte, wsHeaderRoom, wsHeaderRoom+3), "")
	if !framed {
		return buf[wsHeaderRoom:]
	}
	return buf[putHeader(buf, proto):]
}

// rejectHandshake answers the handshake with an error and ends the
// connection; the hub never saw it.
func (c *Conn) rejectHandshake(msg string) {
	if c.state.Load() != stateHandshake {
		return
	}
	c.state.Store(stateClosed)
	c.engine.leaveAll(c) // joins made while answering the handshake
	c.engine.stats.closes[reasonHandshake].Add(1)
	buf := protocol.AppendHandshakeResponse(make([]byte, wsHeaderRoom, wsHeaderRoom+len(msg)+16), msg)
	if c.transport.Framed() {
		c.out = append(c.out, buf[putHeader(buf, textProtocol{}):])
	} else {
		c.out = append(c.out, buf[wsHeaderRoom:])
	}
	c.flush()
	c.transport.Close(true)
}

// handle runs the client's messages in order, one at a time.
func (c *Conn) handle(msgs []protocol.Message) {
	c.dispatching.Store(true)
	defer c.dispatching.Store(false)
	for _, m := range msgs {
		if c.state.Load() != stateConnected {
			return
		}
		switch m := m.(type) {
		case *protocol.Invocation:
			var done *protocol.Completion
			c.call(func() { done = c.engine.invoker.Invoke(c, m) })
			if done != nil && m.InvocationID != "" {
				c.appendOwn(done)
			}
		case *protocol.StreamInvocation:
			var done *protocol.Completion
			c.call(func() { done = c.engine.invoker.StreamInvoke(c, m) })
			if done != nil {
				c.appendOwn(done)
			}
		case *protocol.Close:
			var cause error
			if m.Error != "" {
				cause = fmt.Errorf("actors: client closed with error: %s", m.Error)
			}
			c.disconnect(cause, reasonClient)
			c.transport.Close(true)
			return
		case *protocol.CancelInvocation, *protocol.StreamItem, *protocol.Completion,
			*protocol.Ack, *protocol.Sequence:
			c.call(func() { c.engine.invoker.Other(c, m) })
		}
	}
}

// serverClose sends the client a Close message and ends the connection.
func (c *Conn) serverClose(msg protocol.Close, cause error, reason closeReason) {
	st := c.state.Load()
	if st == stateClosed || st == stateClosing {
		return
	}
	if st == stateHandshake {
		c.state.Store(stateClosed)
		c.engine.leaveAll(c) // joins made while answering the handshake
		c.engine.stats.closes[reason].Add(1)
		c.transport.Close(true)
		return
	}
	c.state.Store(stateClosing)
	if !c.raw { // a raw connection has no Close message
		c.appendOwnAlways(&msg)
	}
	c.flush()
	c.disconnect(cause, reason)
	c.transport.Close(true)
}

func (c *Conn) appendOwnAlways(m protocol.Message) {
	buf, start, err := encodeFrame(c.proto, m)
	if err != nil {
		return
	}
	if !c.transport.Framed() {
		start = wsHeaderRoom
	}
	c.out = append(c.out, buf[start:])
}

// disconnect runs OnDisconnected once and takes the connection out of every
// group. The actor stops when the transport reports it is gone.
func (c *Conn) disconnect(cause error, reason closeReason) {
	wasConnected := c.state.Load() != stateHandshake
	c.state.Store(stateClosed)
	if !c.reattachable.Swap(false) && c.detachedAt.Load() != 0 {
		// Detached, and a reattach already took it: its message is on the way.
		c.reattachInFlight = true
	}
	c.end()
	c.flush()
	c.engine.stats.closes[reason].Add(1)
	c.engine.leaveAll(c) // also the joins of a handshake being answered
	if !wasConnected {
		return
	}
	c.engine.stats.connected.Add(-1)
	c.engine.stats.byTransport[c.transportSlot].Add(-1)
	if !c.raw {
		c.engine.stats.byProtocol[c.slot].Add(-1)
	}
	switch {
	case c.connectFailed:
	case c.raw:
		c.call(func() { c.engine.cfg.Raw.Disconnected(c, cause) })
	default:
		c.call(func() { c.engine.invoker.OnDisconnected(c, cause) })
	}
	c.out = nil
}

// clientTexter is an error that says what the client should read in the
// Close message it causes.
type clientTexter interface {
	ClientText() string
}

// closeText is the Close message's error for err.
func closeText(err error) string {
	var ct clientTexter
	if errors.As(err, &ct) {
		return ct.ClientText()
	}
	return "Connection closed with an error."
}

// textProtocol frames handshake errors as text whatever was asked for.
type textProtocol struct{ protocol.Protocol }

func (textProtocol) TransferFormat() protocol.TransferFormat { return protocol.Text }
