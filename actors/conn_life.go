package actors

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/actorhub/actorhub/protocol"
)

// The life of a connection: the handshake's answer, the client's messages
// run one at a time, and its end (the client's Close, the server's, a
// timeout, the transport's end). No connection has a timer: the engine's
// heartbeat (heartbeat.go) reads the timestamps here and tells the actor
// when a ping, a timeout or the end of the handshake's wait is due.

// lifecycle is a connection's state over its life.
type lifecycle struct {
	// Read by the heartbeat.
	created     int64        // engine time of creation; set before the actor starts
	lastRecv    atomic.Int64 // engine time of the last bytes from the client; written by Feed
	lastSend    atomic.Int64 // engine time of the last write; written by the actor
	pinged      atomic.Bool  // the client timeout applies (the client pinged, or strict timeouts); written by Feed and the actor
	dispatching atomic.Bool  // a message is being handled: the client timeout pauses; written by the actor

	// Owned by the connection actor.
	joining       int32       // initial joins (and the BeforeConnected gate) not yet in effect
	gated         bool        // BeforeConnected was asked
	connectFailed bool        // OnConnected failed: OnDisconnected must not run
	stash         *earlyInput // what the client sent before the handshake was answered; nil while none
}

// earlyInput is what a client sent before its handshake was answered: the
// actor keeps it until then (most connections never have any).
type earlyInput struct {
	msgs []*incoming
	err  error // a protocol error, answered once the handshake is
}

// connect finishes the handshake: the connection joins the hub's groups of
// all connections and of its user; once both are in effect (memberAdded),
// ready answers the handshake and runs OnConnected. Nothing blocks the
// actor's worker meanwhile; client messages wait in stash.
func (c *Conn) connect() {
	if c.state.Load() != stateHandshake || c.life.joining > 0 {
		return
	}
	e := c.engine
	if e.closing.Load() {
		c.rejectHandshake("Handshake was canceled.")
		return
	}
	c.life.joining = 1
	e.join(c, keyAll, true)
	if c.UserID != "" {
		if _, ok, _ := e.join(c, UserKey(c.UserID), true); ok {
			c.life.joining++
		}
	}
}

// joined: one of the initial joins is in effect (or the gate opened).
func (c *Conn) joined() {
	if c.life.joining--; c.life.joining == 0 {
		c.ready()
	}
}

// ready runs when the connection's initial joins are in effect, and again
// once the BeforeConnected gate, if any, has opened.
func (c *Conn) ready() {
	if c.state.Load() != stateHandshake {
		return
	}
	e := c.engine
	if gate := e.cfg.BeforeConnected; gate != nil && !c.life.gated {
		c.life.gated = true
		c.life.joining = 1
		gate(c, func() { c.post(&memberAdded{}) })
		return
	}
	c.state.Store(stateConnected)
	e.stats.connected.Add(1)
	e.stats.byTransport[c.tslot].Add(1)
	e.stats.byProtocol[c.protoSlot()].Add(1)
	if e.cfg.ClientTimeoutStrict {
		c.life.pinged.Store(true) // silent from the handshake on counts
	}
	c.out.frames = append(c.out.frames, handshakeOK(c.Protocol(), c.out.transport.Framed()))
	var err error
	c.call(func() { err = e.invoker.OnConnected(c) })
	if err != nil {
		// As ASP.NET: the handshake answer stands, a Close that forbids
		// reconnecting follows, and OnDisconnected does not run.
		e.log.Debug("OnConnected failed", "conn", c.ID, "err", err)
		c.life.connectFailed = true
		c.serverClose(protocol.Close{Error: closeText(err)}, err, reasonServer)
		return
	}
	early := c.life.stash
	if early == nil {
		return
	}
	c.life.stash = nil
	for _, m := range early.msgs {
		c.handle(m, false)
		c.release(m)
	}
	if early.err != nil {
		c.serverClose(protocol.Close{Error: "Connection closed with an error.", AllowReconnect: true}, early.err, reasonProtocol)
	}
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
	if c.out.transport.Framed() {
		c.out.frames = append(c.out.frames, buf[putHeader(buf, textProtocol{}):])
	} else {
		c.out.frames = append(c.out.frames, buf[wsHeaderRoom:])
	}
	c.flush()
	c.out.transport.Close(true)
}

// received runs a batch of the client's messages, or keeps it while the
// handshake is still being answered. Once the engine shuts down, what the
// client sent and was not handled yet is dropped, as ASP.NET Core stops
// dispatching: the connection's Close is on its way. A batch the turn's
// quantum cuts is handed to the actor again next turn (handAgain), before
// anything that came after it.
func (c *Conn) received(m *incoming) {
	if c.engine.closing.Load() {
		c.release(m)
		return
	}
	if c.state.Load() == stateHandshake {
		c.early().msgs = append(c.early().msgs, m)
		return
	}
	if !c.handle(m, true) {
		c.mbox.handAgain()
		return
	}
	c.release(m)
}

// handle runs the client's messages in m, from where the last call
// stopped, in order, one at a time. With quantum it stops once the
// mailbox's quantum for this turn is spent, and reports false: the rest
// waits for the next turn. Messages are forgotten once handled, so that
// what they hold can go before the batch is done.
func (c *Conn) handle(in *incoming, quantum bool) (done bool) {
	c.life.dispatching.Store(true)
	defer c.life.dispatching.Store(false)
	for ; in.next < len(in.msgs); in.next++ {
		if quantum && !c.mbox.roomLeft() {
			return false
		}
		m := in.msgs[in.next]
		in.msgs[in.next] = nil
		if c.state.Load() != stateConnected {
			return true
		}
		if quantum {
			c.mbox.spend(1)
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
			c.out.transport.Close(true)
			return true
		case *protocol.CancelInvocation, *protocol.StreamItem, *protocol.Completion,
			*protocol.Ack, *protocol.Sequence:
			c.call(func() { c.engine.invoker.Other(c, m) })
		}
	}
	return true
}

// early returns the stash of what came before the handshake was
// answered, making it.
func (c *Conn) early() *earlyInput {
	if c.life.stash == nil {
		c.life.stash = &earlyInput{}
	}
	return c.life.stash
}

// badInput closes the connection after bad input from the client; bad
// input that came before the handshake was answered waits for the answer,
// as in ASP.NET.
func (c *Conn) badInput(err error) {
	c.engine.log.Debug("protocol error", "conn", c.ID, "err", err)
	if c.state.Load() == stateHandshake && c.life.joining > 0 {
		c.early().err = err
		return
	}
	c.serverClose(protocol.Close{Error: "Connection closed with an error.", AllowReconnect: true}, err, reasonProtocol)
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
		c.out.transport.Close(true)
		return
	}
	c.state.Store(stateClosing)
	if !c.isRaw() { // a raw connection has no Close message
		c.appendOwnAlways(&msg)
	}
	c.flush()
	c.disconnect(cause, reason)
	c.out.transport.Close(true)
}

// disconnect runs OnDisconnected once and takes the connection out of every
// group. The actor stops when the transport reports it is gone.
func (c *Conn) disconnect(cause error, reason closeReason) {
	wasConnected := c.state.Load() != stateHandshake
	c.state.Store(stateClosed)
	if sf := c.stateful.Load(); sf != nil && !sf.reattachable.Swap(false) && sf.detachedAt.Load() != 0 {
		// Detached, and a reattach already took it: its message is on the way.
		sf.reattachInFlight = true
	}
	c.end()
	c.flush()
	c.engine.stats.closes[reason].Add(1)
	c.engine.leaveAll(c) // also the joins of a handshake being answered
	if !wasConnected {
		return
	}
	c.engine.stats.connected.Add(-1)
	c.engine.stats.byTransport[c.tslot].Add(-1)
	if !c.isRaw() {
		c.engine.stats.byProtocol[c.protoSlot()].Add(-1)
	}
	switch {
	case c.life.connectFailed:
	case c.isRaw():
		c.call(func() { c.engine.cfg.Raw.Disconnected(c, cause) })
	default:
		c.call(func() { c.engine.invoker.OnDisconnected(c, cause) })
	}
	c.out.frames = nil
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
