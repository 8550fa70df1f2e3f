package actors

import (
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/actorhub/actorhub/protocol"
)

// Transport carries one connection's bytes to its client. The connection
// actor calls it from its turn only, one call at a time.
type Transport interface {
	// Framed reports whether Write takes whole WebSocket frames (true) or bare
	// hub messages.
	Framed() bool
	// Write queues bufs, in order, and sends what it can without blocking.
	// It keeps references to the slices until they are sent; callers never
	// modify them afterwards (they may be shared by many connections).
	Write(bufs [][]byte) error
	// Buffered is the number of bytes queued and not yet sent.
	Buffered() int
	// Close ends the transport: after what is queued when graceful, at once
	// (an unclean drop) otherwise. The transport then calls Conn.Closed.
	Close(graceful bool)
}

// ConnInfo describes a new connection.
type ConnInfo struct {
	// ID is the public connection id.
	ID string
	// UserID is the authenticated user, or "" when anonymous.
	UserID string
	// Claims are the claims of the user's token (nil when there are none).
	// The connection keeps the map; nobody modifies it afterwards.
	Claims map[string]any
	// TextOnly is set when the transport cannot carry binary (SSE).
	TextOnly bool
	// NoKeepAlive is set for transports that keep themselves alive (long polling).
	NoKeepAlive bool
	// StatefulReconnect is set when the client negotiated stateful reconnect
	// and the engine allows it; a handshake version >= 2 then turns it on.
	StatefulReconnect bool
	// Transport names the transport ("WebSockets", "ServerSentEvents",
	// "LongPolling"), or "" when the connection came some other way.
	Transport string
	// Request is the HTTP request that opened the connection, when the
	// transport keeps it (nil otherwise). Nobody modifies it afterwards.
	Request *http.Request
}

// Errors reported to OnDisconnected and by the engine.
var (
	errClientTimeout = errors.New("actors: client timeout elapsed without a message from the client")
	errSlowConsumer  = errors.New("actors: client too slow: outgoing buffer over budget")
	errShutdown      = errors.New("actors: server shutting down")
	ErrAborted       = errors.New("actors: connection aborted by the server")
	ErrNotFound      = errors.New("actors: no such connection")
)

// Connection states, kept in Conn.state.
const (
	stateHandshake int32 = iota
	stateConnected
	stateClosing // the server decided to end it; nothing more is sent
	stateClosed  // disconnected: OnDisconnected ran, groups left
)

// Conn is one SignalR connection: the handle the transport feeds, and the
// state of its connection actor. Its state is split by responsibility, one
// part per file, each field's owner written beside it:
//
//   - in (conn_in.go): the read side. Feed parses what the transport hands
//     it, answers nothing itself and posts hub messages to the actor; it
//     keeps the inbound budget and pauses the transport when it is spent.
//     Guarded by in.mu: the transport's calls (Feed, Closed, WaitRoom) may
//     come from several goroutines, and the actor takes it to refill.
//   - out (conn_out.go): the write path. Owned by the connection actor;
//     while hub code runs in the actor's turn (inCall), its frames are
//     also guarded by out.callMu, since that code may send from goroutines
//     of its own.
//   - life (conn_life.go): the lifecycle. Timestamps are atomics the
//     heartbeat reads; handshake and close state is the actor's.
//   - groups (engine.go): the connection's group keys, guarded by groups.mu.
//   - stateful (stateful.go): stateful reconnect, allocated at a handshake
//     that turns it on; nil for every other connection.
//   - direct (direct.go): upload streams, client results and the
//     connection's context, allocated on first use; guarded by its own mu.
//   - extra.raw (raw.go): a raw connection's counters, for the connections of a
//     raw engine only; atomics.
//
// Everything else is set before the actor starts (ID, engine, pid, ...) or
// once by Feed before the actor hears of the handshake (slot).
//
// # Lock order
//
// A goroutine that holds several of these locks took them in this order,
// and never calls the transport, the hub code or another connection while
// holding in.mu or groups.mu (posting to a mailbox is fine: it only takes
// the mailbox's lock, last):
//
//	in.mu -> direct.mu -> Upload.mu
//	in.mu -> the transport's pause lock (socket, netpoll.Conn.mu)
//	out.callMu -> the transport's write lock (socket.mu, netpoll.Conn.mu)
//	groups.mu (alone)
//	batchingMailbox.mu (last, always)
type Conn struct {
	// ID is the public connection id.
	ID string

	// Hot on every delivery; kept together so a fan-out touches few cache lines.
	state  atomic.Int32
	slot   uint8 // 1 + the protocol's index in the engine's list (Protocol); 0 until the handshake chose one
	opts   connOpts
	tslot  uint8 // index of the transport's name in the engine's transport counters
	engine *Engine
	seq    uint64          // creation order, spreads members over group shards
	mbox   batchingMailbox // the actor's mailbox (connactor.go)

	// UserID is the authenticated user id, or "".
	UserID string
	extra  *connExtra // what few connections have; nil when none. Read-only.

	in       inbound
	out      outbound
	life     lifecycle
	groups   membership
	stateful atomic.Pointer[statefulConn] // set by Feed at the handshake, before the actor hears of it
	dstate   atomic.Pointer[directState]  // waiters past the mailbox; nil until first used
}

// connExtra is the part of ConnInfo that most connections do not have
// (Claims, Request), or that the transport counters do not name. A
// connection that has none of it keeps a nil pointer instead.
type connExtra struct {
	claims    map[string]any
	request   *http.Request
	transport string
	raw       *rawConn // a raw connection's state (raw.go); nil for a hub connection
}

// Claims are the claims of the user's token, or nil. Read-only.
func (c *Conn) Claims() map[string]any {
	if c.extra == nil {
		return nil
	}
	return c.extra.claims
}

// Request is ConnInfo.Request: the HTTP request that opened the
// connection, or nil. Read-only.
func (c *Conn) Request() *http.Request {
	if c.extra == nil {
		return nil
	}
	return c.extra.request
}

// Transport is ConnInfo.Transport: the transport's name, or "".
func (c *Conn) Transport() string {
	if c.tslot == 0 && c.extra != nil { // a name the counters do not have
		return c.extra.transport
	}
	return c.engine.stats.transportName(int(c.tslot))
}

// connOpts are a connection's fixed options, from its ConnInfo.
type connOpts uint8

const (
	optTextOnly      connOpts = 1 << iota // the transport carries no binary
	optNoKeepAlive                        // the transport keeps itself alive
	optAllowStateful                      // stateful reconnect was negotiated
)

func (o connOpts) has(f connOpts) bool { return o&f != 0 }

// isRaw reports whether c is a raw engine's connection (no hub protocol;
// its state in extra.raw, raw.go): every connection of such an engine is.
func (c *Conn) isRaw() bool { return c.engine.cfg.Raw != nil }

// Protocol is the hub protocol chosen in the handshake. It is set before
// the connection's first turn as a connected connection, so hub code
// running in its turns may read it.
func (c *Conn) Protocol() protocol.Protocol {
	if c.slot == 0 {
		return nil
	}
	return c.engine.cfg.Protocols[c.slot-1]
}

// protoSlot is the protocol's index in the engine's list, once the
// handshake chose it.
func (c *Conn) protoSlot() int { return int(c.slot) - 1 }

// Connected reports whether the handshake is done and the connection not closing.
func (c *Conn) Connected() bool { return c.state.Load() == stateConnected }

// Enqueue hands p to this connection whatever p's exclusions say (a sender
// excludes the caller from a fan-out and gives it its copy this way). While
// hub code runs for the connection, p joins what the turn writes, so it
// reaches the client before that call's own Completion; otherwise it goes
// through the mailbox. Safe from any goroutine.
func (c *Conn) Enqueue(p *Payload) {
	c.out.callMu.Lock()
	if c.out.inCall {
		c.enqueue(p)
		c.out.callMu.Unlock()
		return
	}
	c.out.callMu.Unlock()
	c.post(&own{p: p})
}

// Send encodes m for this connection alone and sends it through its mailbox.
// Safe from any goroutine.
func (c *Conn) Send(m protocol.Message) { c.post(&sendOwn{msg: m}) }

// SendThen is Send, and then runs queued in the connection's turn once m
// is queued for writing (or dropped because the connection is closing). A
// producer that waits for it never has more than its own window of
// messages in the mailbox. If the connection is already gone, queued never
// runs: wait on Context too.
func (c *Conn) SendThen(m protocol.Message, queued func()) {
	c.post(&sendOwn{msg: m, queued: queued})
}

// Close ends the connection from the server side with a Close message:
// allowReconnect tells the client whether it may reconnect; errText, when
// set, is the Close message's error; cause is what OnDisconnected gets.
// Safe from any goroutine.
func (c *Conn) Close(errText string, allowReconnect bool, cause error) {
	c.post(&closeConn{close: protocol.Close{Error: errText, AllowReconnect: allowReconnect}, cause: cause})
}

// Drop cuts the transport without a Close message or a close frame.
// Safe from any goroutine.
func (c *Conn) Drop() { c.post(&dropConn{}) }

// InGroup reports whether the connection is a member of the group key.
func (c *Conn) InGroup(key string) bool {
	c.groups.mu.Lock()
	defer c.groups.mu.Unlock()
	return c.groups.has(key)
}

// Messages to the connection actor.
type (
	handshakeDone   struct{ version int }
	handshakeFailed struct{ msg string }
	// incoming carries client messages Feed read, and what they count
	// against the inbound budget (released once they are handled).
	incoming struct {
		msgs  []protocol.Message
		bytes int // what they count against MaxInboundBytes (inCost)
		next  int // msgs[:next] were handled (the actor's quantum ran out in between)
	}
	protocolError   struct{ err error }
	transportClosed struct{ err error }
	sendOwn         struct {
		msg    protocol.Message
		queued func() // run once msg is queued for writing, when set
	}
	own       struct{ p *Payload } // Enqueue outside a call
	closeConn struct {
		close protocol.Close
		cause error
	}
	dropConn          struct{}
	keepAliveDue      struct{}
	clientTimedOut    struct{}
	handshakeTimedOut struct{}
)

// opts returns the connection options info asks for; stateful reconnect
// only when the engine allows it.
func (i ConnInfo) opts(allowStateful bool) connOpts {
	var o connOpts
	if i.TextOnly {
		o |= optTextOnly
	}
	if i.NoKeepAlive {
		o |= optNoKeepAlive
	}
	if i.StatefulReconnect && allowStateful {
		o |= optAllowStateful
	}
	return o
}

// Items is a map that lives as long as the connection, made on the first
// call (most connections never need one), beside the tables of direct.go.
// Only code running in this connection's turn may call it or touch the map.
func (c *Conn) Items() map[string]any {
	d := c.direct()
	if d.items == nil {
		d.items = make(map[string]any)
	}
	return d.items
}
