package actors

import (
	"sync"
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// The write path of a connection: what reaches the actor for its client
// (payloads of fan-outs, its own messages) is queued during the turn and
// written once at the end of the mailbox batch (coalescing).

// outbound is a connection's write path. The connection actor owns it;
// while hub code runs in the actor's turn (inCall), frames is also guarded
// by callMu, because that code may send (Enqueue, Invoke) from goroutines
// of its own.
type outbound struct {
	transport Transport // swapped by the actor on detach and reattach (stateful.go)
	frames    [][]byte  // to write at the end of this batch

	callMu sync.Mutex
	inCall bool // guarded by callMu: hub code runs in the actor's turn
}

// call runs hub code for the connection. Meanwhile Enqueue, from that code
// or from goroutines it started, appends to the turn's output under callMu.
func (c *Conn) call(fn func()) {
	c.out.callMu.Lock()
	c.out.inCall = true
	c.out.callMu.Unlock()
	defer func() {
		c.out.callMu.Lock()
		c.out.inCall = false
		c.out.callMu.Unlock()
	}()
	fn()
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
	b, err := p.bytes(c.protoSlot(), c.Protocol(), c.out.transport.Framed())
	if err != nil {
		c.engine.log.Error("encode failed", "conn", c.ID, "err", err)
		return
	}
	c.track(p.msg, b)
	c.out.frames = append(c.out.frames, b)
}

// appendOwn encodes a message for this connection alone.
func (c *Conn) appendOwn(m protocol.Message) {
	b, err := c.encodeOwn(m)
	if err != nil {
		c.engine.log.Error("encode failed", "conn", c.ID, "err", err)
		return
	}
	c.track(m, b)
	c.out.frames = append(c.out.frames, b)
}

// appendOwnAlways queues a message that stateful reconnect does not track
// (Close, Sequence, Ack), even on a connection that is closing.
func (c *Conn) appendOwnAlways(m protocol.Message) {
	if b, err := c.encodeOwn(m); err == nil {
		c.out.frames = append(c.out.frames, b)
	}
}

// encodeOwn encodes m as the transport takes it: a whole frame, or the
// bare hub message.
func (c *Conn) encodeOwn(m protocol.Message) ([]byte, error) {
	buf, start, err := encodeFrame(c.Protocol(), m)
	if err != nil {
		return nil, err
	}
	if !c.out.transport.Framed() {
		start = wsHeaderRoom
	}
	return buf[start:], nil
}

// flush writes what the batch queued, in one call, and closes a slow
// consumer.
func (c *Conn) flush() {
	if len(c.out.frames) == 0 {
		return
	}
	if err := c.write(); err != nil {
		return // the transport is ending; Closed follows
	}
	if c.state.Load() != stateConnected {
		return
	}
	if n := c.out.transport.Buffered(); n > c.engine.cfg.MaxBufferedBytes {
		c.engine.log.Warn("closing slow consumer", "conn", c.ID, "buffered", n)
		c.closeSlow()
		return
	}
	if sf := c.stateful.Load(); sf != nil && sf.replay.bytes > c.engine.cfg.StatefulReconnectBufferSize {
		c.engine.log.Warn("closing slow consumer: stateful reconnect buffer over budget", "conn", c.ID, "unacked", sf.replay.bytes)
		c.closeSlow()
	}
}

// closeSlow closes a slow consumer: the Close goes out next, the backlog
// is moot.
func (c *Conn) closeSlow() {
	clear(c.out.frames)
	c.out.frames = c.out.frames[:0]
	c.serverClose(protocol.Close{Error: "Connection closed with an error.", AllowReconnect: true}, errSlowConsumer, reasonSlow)
}

// write hands what is queued to the transport.
func (c *Conn) write() error {
	if len(c.out.frames) == 0 {
		return nil
	}
	n := 0
	for _, b := range c.out.frames {
		n += len(b)
	}
	err := c.out.transport.Write(c.out.frames)
	c.engine.stats.addOut(c.seq, len(c.out.frames), n, time.Now().UnixNano())
	clear(c.out.frames)
	c.out.frames = c.out.frames[:0]
	if cap(c.out.frames) > 1 {
		// Room for one frame, the usual batch, is kept; a batch that
		// coalesced several allocates again (one allocation per write).
		c.out.frames = nil
	}
	c.life.lastSend.Store(c.engine.now())
	return err
}

// handshakeOK is the handshake's answer, as the transport takes it.
func handshakeOK(proto protocol.Protocol, framed bool) []byte {
	buf := protocol.AppendHandshakeResponse(make([]byte, wsHeaderRoom, wsHeaderRoom+3), "")
	if !framed {
		return buf[wsHeaderRoom:]
	}
	return buf[putHeader(buf, proto):]
}
