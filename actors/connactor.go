package actors

import (
	"errors"

	"github.com/actorhub/actorhub/protocol"
	"github.com/asynkron/protoactor-go/actor"
)

// A connection's actor is its mailbox (Conn.mbox) and receive: the
// mailbox runs on the System's worker pool and hands receive one message
// at a time. It is not a protoactor process: a connection needs no PID, no
// actor context and no entry in protoactor's process registry (together
// some 600 bytes), since everything that talks to it holds its *Conn. The
// hub, group and shard actors are protoactor actors.
//
// Everything receive touches on Conn outside the atomics and the locked
// parts (see Conn) is the actor's own.

// connActor is what the mailbox invokes: a connection's actor.
type connActor struct{ *Conn }

var _ actor.MessageInvoker = connActor{}

// InvokeUserMessage hands the actor the next message.
func (a connActor) InvokeUserMessage(msg any) { a.receive(msg) }

// InvokeSystemMessage: nothing posts system messages to a connection.
func (a connActor) InvokeSystemMessage(any) {}

// EscalateFailure is a panic that receive did not recover (recoverTurn
// itself failed): the connection is cut.
func (a connActor) EscalateFailure(reason any, _ any) {
	a.engine.log.Error("connection actor failed", "conn", a.ID, "panic", reason)
	a.out.transport.Close(false)
}

// post sends msg to the connection's actor; once the actor has stopped, msg
// is dropped. Safe from any goroutine.
func (c *Conn) post(msg any) { c.mbox.PostUserMessage(msg) }

// receive is the actor's turn on one message.
func (c *Conn) receive(msg any) {
	defer c.recoverTurn()
	if c.isRaw() && c.receiveRaw(msg) {
		return
	}
	switch m := msg.(type) {
	case *Payload:
		c.deliver(m)
	case *own:
		c.enqueue(m.p)
	case *batchEnd:
		c.flush()
	case *mailboxFull:
		c.flush() // what came before goes first, unless that is over budget too
		if st := c.state.Load(); st == stateConnected || st == stateHandshake {
			c.engine.log.Warn("closing slow consumer: its mailbox is over the outgoing budget", "conn", c.ID)
			c.closeSlow()
		}
	case *incoming:
		c.received(m)
	case *sendOwn:
		if c.state.Load() == stateConnected {
			c.appendOwn(m.msg)
		}
		if m.queued != nil {
			m.queued()
		}
	case *keepAliveDue:
		c.keepAlive()
	case *handshakeDone:
		c.connect()
	case *memberAdded:
		c.joined()
	case *handshakeFailed:
		c.rejectHandshake(m.msg)
	case *handshakeTimedOut:
		c.rejectHandshake("Handshake was canceled.") // unless answered meanwhile
	case *protocolError:
		c.badInput(m.err)
	case *clientTimedOut:
		c.serverClose(protocol.Close{AllowReconnect: true}, errClientTimeout, reasonTimeout)
	case *closeConn:
		reason := reasonServer
		if errors.Is(m.cause, errShutdown) {
			reason = reasonShutdown
		}
		c.serverClose(m.close, m.cause, reason)
	case *dropConn:
		c.out.transport.Close(false)
	case *transportClosed:
		if c.state.Load() != stateClosed {
			c.disconnect(m.err, reasonTransport)
		}
		c.stop()
	default:
		c.receiveStateful(m)
	}
}

// recoverTurn ends the connection on a panic in its turn. Such a panic is a
// bug of the engine (hub code recovers its own): it ends this connection,
// never the process, and never restarts the actor with its state
// half-changed.
func (c *Conn) recoverTurn() {
	r := recover()
	if r == nil {
		return
	}
	c.engine.log.Error("connection actor panicked", "conn", c.ID, "panic", r)
	if c.state.Load() != stateClosed {
		c.state.Store(stateClosed)
		c.engine.leaveAll(c)
	}
	c.out.transport.Close(false)
}

// keepAlive queues a Ping when nothing was sent for KeepAliveInterval and
// nothing is about to be.
func (c *Conn) keepAlive() {
	if c.state.Load() == stateConnected && c.engine.now()-c.life.lastSend.Load() >= int64(c.engine.cfg.KeepAliveInterval) && len(c.out.frames) == 0 {
		c.out.frames = append(c.out.frames, c.engine.pings[c.protoSlot()].frame(c.out.transport.Framed()))
	}
}

// stop forgets the connection and stops its actor once its transport is
// gone, unless a reattach that won the race must still close its transport
// (its message comes next, and stops the actor).
func (c *Conn) stop() {
	if sf := c.stateful.Load(); sf != nil && sf.reattachInFlight {
		return
	}
	c.engine.forget(c)
	c.mbox.stop()
}
