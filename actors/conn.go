package actors

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/actorhub/actorhub/protocol"
	"github.com/asynkron/protoactor-go/actor"
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
// state of its connection actor.
//
// Three parties touch it. The transport calls Feed and Closed, from any
// goroutines, even at the same time (an HTTP transport's POSTs feed while its
// receive side may end): readMu orders them, and what a Feed let through
// reaches the actor before the end. The heartbeat reads the atomics. The
// connection actor owns everything else; hub code running in the actor's turn
// (a hub method, OnConnected, OnDisconnected) may use Items and Enqueue.
type Conn struct {
	// ID is the public connection id.
	ID string

	// Hot on every delivery; kept together so a fan-out touches few cache lines.
	state     atomic.Int32
	slot      int               // proto's index in the engine's protocol list
	proto     protocol.Protocol // set once by Feed before the actor hears of the handshake
	transport Transport
	out       [][]byte // owned by the actor: frames to write at the end of this batch
	engine    *Engine
	mbox      *batchingMailbox // the actor's mailbox, for fan-outs
	pid       *actor.PID
	seq       uint64 // creation order, spreads members over group shards

	// UserID is the authenticated user id, or "".
	UserID string
	// Claims are the claims of the user's token, or nil. Read-only.
	Claims map[string]any
	// Items lives as long as the connection. Only hub code running in this
	// connection's turn may touch it.
	Items map[string]any
	// Transport and Request are those of ConnInfo. Read-only.
	Transport string
	Request   *http.Request

	raw           bool  // a raw connection (raw.go): no handshake, no hub protocol
	transportSlot uint8 // index of ConnInfo.Transport in the engine's transport counters
	textOnly      bool  // the transport carries no binary
	noKeepAlive   bool  // the transport keeps itself alive
	allowStateful bool  // stateful reconnect was negotiated

	// Stateful reconnect (stateful.go). stateful is set by Feed at the
	// handshake, before the actor hears of it.
	stateful     atomic.Bool
	reattachable atomic.Bool  // detached, waiting for a reattach
	detachedAt   atomic.Int64 // engine time of the drop; 0 while attached
	recvSeq      atomic.Int64 // highest trackable message id received
	ackPending   atomic.Bool  // something came in since the last Ack
	lastAck      int64        // owned by the heartbeat: when it last asked for an Ack

	// Raw connections only: bytes fed and not yet received by the
	// application, bytes written and not yet queued, the WebSocket
	// message type.
	rawInPending atomic.Int64
	rawPending   atomic.Int64
	rawBinary    atomic.Bool

	// Read side, guarded by readMu (the transport's calls may come from
	// different goroutines over time).
	readMu        sync.Mutex
	handshaken    bool
	readDone      bool
	partial       []byte
	statefulIn    bool  // number incoming trackable messages
	inSeq         int64 // id of the last trackable message read
	awaitSequence bool  // reattached: drop everything until the client's Sequence

	// Read by the heartbeat.
	created     int64
	lastRecv    atomic.Int64
	lastSend    atomic.Int64
	pinged      atomic.Bool // the client pings; client timeout applies
	dispatching atomic.Bool // a message is being handled: client timeout pauses

	// Waiters the reader serves past the mailbox (upload streams, client
	// results) and the connection's context; nil until first used.
	dstate atomic.Pointer[directState]

	// Group membership, guarded by gmu. Keys are engine group keys.
	gmu    sync.Mutex
	groups keySet
	left   bool // guarded by gmu: no more joins, the connection is gone

	// While hub code runs (inCall), out is guarded by callMu too.
	callMu sync.Mutex
	inCall bool // guarded by callMu

	// Owned by the connection actor.
	joining       int                  // initial joins (and the BeforeConnected gate) not yet in effect
	gated         bool                 // BeforeConnected was asked
	connectFailed bool                 // OnConnected failed: OnDisconnected must not run
	stashErr      error                // a protocol error that came before the handshake was answered
	stash         [][]protocol.Message // client messages that came before the handshake was answered
	statefulOut   bool                 // number and keep outgoing trackable messages
	replay        *replay              // sent, not acknowledged; only on stateful connections (statefulOut)
	// A reattach won the race against the end of the connection: the
	// actor waits for its message before stopping.
	reattachInFlight bool
}

// Feed hands the connection bytes from the client: one transport message
// (a WebSocket message, a POST body). data is only read during the call.
// Feed may be called again before the actor has handled the previous bytes.
func (c *Conn) Feed(data []byte) {
	if c.raw {
		c.feedRaw(data)
		return
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readDone {
		return
	}
	c.lastRecv.Store(c.engine.preciseNow())
	c.engine.stats.bytesIn.Add(uint64(len(data)))
	if len(c.partial) > 0 {
		c.partial = append(c.partial, data...)
		data = c.partial
	} else {
		data = append([]byte(nil), data...) // decoded values alias it
	}
	c.partial = nil

	if !c.handshaken {
		req, rest, err := protocol.ReadHandshake(data, c.engine.maxMessage)
		switch {
		case errors.Is(err, protocol.ErrIncomplete):
			c.partial = data
			return
		case errors.Is(err, protocol.ErrTooLarge):
			c.failHandshakeLocked("Handshake was canceled.")
			return
		case err != nil:
			c.failHandshakeLocked("An unexpected error occurred during connection handshake.")
			return
		}
		proto, slot, msg := c.engine.chooseProtocol(req, c.textOnly)
		if msg != "" {
			c.failHandshakeLocked(msg)
			return
		}
		c.proto, c.slot, c.handshaken = proto, slot, true // the actor reads them after handshakeDone
		if c.allowStateful && req.Version >= 2 {
			c.statefulIn = true
			c.stateful.Store(true)
		}
		c.engine.send(c.pid, &handshakeDone{version: req.Version})
		data = rest
	}

	var batch []protocol.Message
	for len(data) > 0 {
		m, rest, err := c.proto.ReadMessage(data, c.engine.maxMessage)
		if errors.Is(err, protocol.ErrIncomplete) {
			c.partial = data
			break
		}
		if errors.Is(err, protocol.ErrUnknownType) {
			data = rest
			continue
		}
		if err != nil {
			c.readDone = true
			if len(batch) > 0 {
				c.engine.send(c.pid, &incoming{msgs: batch})
				batch = nil
			}
			c.engine.send(c.pid, &protocolError{err: err})
			c.end()
			return
		}
		data = rest
		c.engine.stats.msgsIn.Add(1)
		if c.statefulIn {
			keep, err := c.sequenceLocked(m)
			if err != nil {
				c.readDone = true
				if len(batch) > 0 {
					c.engine.send(c.pid, &incoming{msgs: batch})
				}
				c.engine.send(c.pid, &protocolError{err: err})
				c.end()
				return
			}
			if !keep {
				continue
			}
		}
		switch m := m.(type) {
		case *protocol.Ping:
			c.pinged.Store(true)
			continue
		case *protocol.Invocation:
			if len(m.StreamIDs) > 0 {
				c.registerUploads(m.StreamIDs)
			}
		case *protocol.StreamInvocation:
			if len(m.StreamIDs) > 0 {
				c.registerUploads(m.StreamIDs)
			}
		case *protocol.StreamItem:
			taken, overflow := c.routeItem(m)
			if overflow {
				c.readDone = true
				if len(batch) > 0 {
					c.engine.send(c.pid, &incoming{msgs: batch})
				}
				c.engine.send(c.pid, &protocolError{err: errUploadOverflow})
				c.end()
				return
			}
			if taken {
				continue
			}
		case *protocol.Completion:
			if c.routeCompletion(m) {
				continue
			}
		case *protocol.Close:
			// Nothing more comes: whatever waits for the client stops waiting.
			batch = append(batch, m)
			c.readDone = true
			c.engine.send(c.pid, &incoming{msgs: batch})
			c.end()
			return
		}
		batch = append(batch, m)
	}
	if len(batch) > 0 {
		c.engine.send(c.pid, &incoming{msgs: batch})
	}
}

func (c *Conn) failHandshakeLocked(msg string) {
	c.readDone = true
	c.engine.send(c.pid, &handshakeFailed{msg: msg})
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
	c.readMu.Lock()
	defer c.readMu.Unlock()
	keep = err != nil && c.statefulIn && !c.readDone && c.state.Load() <= stateConnected
	c.readDone = true
	c.partial = nil
	return keep
}

// transportEnded applies the end of the transport, as stopReading decided.
func (c *Conn) transportEnded(keep bool, err error) {
	if keep {
		// Detached from now on, whatever the actor is doing (it may be
		// blocked in hub code that waits on this client): a reattach may
		// claim it at once, and the heartbeat times it out. The message goes
		// first so that a reattach's message comes after it.
		c.engine.send(c.pid, &transportDropped{err: err})
		c.detachedAt.Store(c.engine.preciseNow())
		c.reattachable.Store(true)
		return
	}
	c.end()
	c.engine.send(c.pid, &transportClosed{err: err})
}

// Protocol is the hub protocol chosen in the handshake. It is set before
// the connection's first turn as a connected connection, so hub code
// running in its turns may read it.
func (c *Conn) Protocol() protocol.Protocol { return c.proto }

// Connected reports whether the handshake is done and the connection not closing.
func (c *Conn) Connected() bool { return c.state.Load() == stateConnected }

// Enqueue hands p to this connection whatever p's exclusions say (a sender
// excludes the caller from a fan-out and gives it its copy this way). While
// hub code runs for the connection, p joins what the turn writes, so it
// reaches the client before that call's own Completion; otherwise it goes
// through the mailbox. Safe from any goroutine.
func (c *Conn) Enqueue(p *Payload) {
	c.callMu.Lock()
	if c.inCall {
		c.enqueue(p)
		c.callMu.Unlock()
		return
	}
	c.callMu.Unlock()
	c.engine.send(c.pid, &own{p: p})
}

// call runs hub code for the connection. Meanwhile Enqueue, from that code
// or from goroutines it started, appends to the turn's output under callMu.
func (c *Conn) call(fn func()) {
	c.callMu.Lock()
	c.inCall = true
	c.callMu.Unlock()
	defer func() {
		c.callMu.Lock()
		c.inCall = false
		c.callMu.Unlock()
	}()
	fn()
}

// Send encodes m for this connection alone and sends it through its mailbox.
// Safe from any goroutine.
func (c *Conn) Send(m protocol.Message) { c.engine.send(c.pid, &sendOwn{msg: m}) }

// SendThen is Send, and then runs queued in the connection's turn once m
// is queued for writing (or dropped because the connection is closing). A
// producer that waits for it never has more than its own window of
// messages in the mailbox. If the connection is already gone, queued never
// runs: wait on Context too.
func (c *Conn) SendThen(m protocol.Message, queued func()) {
	c.engine.send(c.pid, &sendOwn{msg: m, queued: queued})
}

// Close ends the connection from the server side with a Close message:
// allowReconnect tells the client whether it may reconnect; errText, when
// set, is the Close message's error; cause is what OnDisconnected gets.
// Safe from any goroutine.
func (c *Conn) Close(errText string, allowReconnect bool, cause error) {
	c.engine.send(c.pid, &closeConn{close: protocol.Close{Error: errText, AllowReconnect: allowReconnect}, cause: cause})
}

// Drop cuts the transport without a Close message or a close frame.
// Safe from any goroutine.
func (c *Conn) Drop() { c.engine.send(c.pid, &dropConn{}) }

// InGroup reports whether the connection is a member of the group key.
func (c *Conn) InGroup(key string) bool {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	return c.groups.has(key)
}

// Messages to the connection actor.
type (
	handshakeDone   struct{ version int }
	handshakeFailed struct{ msg string }
	incoming        struct{ msgs []protocol.Message }
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
