package actors

import (
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// heartbeat is the one timer of an engine. Each tick it looks at every
// connection's timestamps and tells the few that need it to ping, time out
// or give up on their handshake. No connection has a timer of its own.
func (e *Engine) heartbeat() {
	defer close(e.beatDone)
	t := time.NewTicker(e.tick())
	defer t.Stop()
	keepAlive := int64(e.cfg.KeepAliveInterval)
	clientTimeout := int64(e.cfg.ClientTimeoutInterval)
	handshake := int64(e.cfg.HandshakeTimeout)
	disconnect := int64(e.cfg.DisconnectTimeout)
	for {
		select {
		case <-e.stopBeat:
			return
		case <-t.C:
		}
		now := int64(time.Since(e.epoch))
		e.clock.Store(now)
		e.conns.each(func(c *Conn) {
			switch c.state.Load() {
			case stateHandshake:
				if now-c.life.created > handshake {
					c.post(&handshakeTimedOut{})
				}
			case stateConnected:
				if sf := c.stateful.Load(); sf != nil && sf.beat(c, now, disconnect) {
					return
				}
				if c.opts.has(optNoKeepAlive) {
					// Transports that keep themselves alive (long polling) have
					// no client timeout either, as in ASP.NET: their client
					// does not ping.
					return
				}
				if now-c.life.lastSend.Load() >= keepAlive {
					c.post(&keepAliveDue{})
				}
				if c.life.pinged.Load() && !c.life.dispatching.Load() && now-c.life.lastRecv.Load() > clientTimeout {
					c.post(&clientTimedOut{})
				}
			}
		})
	}
}

// tick is a quarter of the shortest interval, between 50 ms and 1 s.
func (e *Engine) tick() time.Duration {
	d := min(e.cfg.KeepAliveInterval, e.cfg.ClientTimeoutInterval, e.cfg.HandshakeTimeout, e.cfg.DisconnectTimeout) / 4
	return max(50*time.Millisecond, min(d, time.Second))
}

// pingFrames is a protocol's Ping, encoded once for every connection.
type pingFrames struct {
	buf   []byte
	start int
}

func newPingFrames(p protocol.Protocol) pingFrames {
	buf, start, err := encodeFrame(p, &protocol.Ping{})
	if err != nil {
		panic("actors: cannot encode a Ping with " + p.Name() + ": " + err.Error())
	}
	return pingFrames{buf: buf, start: start}
}

func (f pingFrames) frame(framed bool) []byte {
	if framed {
		return f.buf[f.start:]
	}
	return f.buf[wsHeaderRoom:]
}
