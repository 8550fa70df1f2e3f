package transports

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/netpoll"
	"github.com/gobwas/ws"
)

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// serveWebSocket upgrades the request and hands the socket to the poller:
// from then on no goroutine belongs to the connection.
func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	user, claims, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	// A copy: the transport keeps it as long as the connection lives, and
	// the query's string shares its bytes with the whole request line.
	token := strings.Clone(queryValue(r, "id"))
	var id string
	var stateful bool
	if token == "" { // skipNegotiation: a connection with no negotiate
		id = newID()
		token = id
		h.conns.add(token, &entry{id: id, user: user, created: h.now(), transport: wsName})
	} else {
		e, reattach, status := h.conns.claim(token, wsName, user, nil)
		if status != 0 {
			claimError(w, status)
			return
		}
		if reattach {
			h.reattachWebSocket(w, r, token, e.conn)
			return
		}
		id, stateful = e.id, e.stateful
	}

	conn, buffered, err := h.upgrade(w, r)
	if err != nil {
		h.conns.remove(token)
		return
	}

	t := &wsTransport{h: h, token: token}
	c, err := h.engine.NewConn(actors.ConnInfo{ID: id, UserID: user, Claims: claims, StatefulReconnect: stateful, Transport: wsName, Request: h.keep(r)}, t)
	if err != nil { // shutting down
		h.conns.remove(token)
		_ = conn.Close()
		return
	}
	t.conn = c
	if stateful {
		h.conns.bind(token, c)
	}
	h.register(conn, buffered, t)
}

// upgrade completes the WebSocket upgrade on the hijacked connection and
// returns, besides it, the bytes the HTTP reader had already read past the
// request: they are the client's first frames.
func (h *Handler) upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, []byte, error) {
	conn, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		h.log.Debug("websocket upgrade failed", "err", err)
		return nil, nil, err
	}
	var buffered []byte
	if n := rw.Reader.Buffered(); n > 0 {
		buffered, _ = rw.Reader.Peek(n)
		buffered = append([]byte(nil), buffered...)
	}
	return conn, buffered, nil
}

// register hands the upgraded socket to the poller: from then on no
// goroutine belongs to it. A failure ends the transport as a drop.
func (h *Handler) register(conn net.Conn, buffered []byte, t *wsTransport) {
	nc, err := h.poller.Register(conn, t, buffered)
	if err != nil {
		h.log.Warn("websocket register failed", "err", err)
		_ = conn.Close()
		t.OnClose(nil, err)
		return
	}
	t.setConn(nc)
}

// reattachWebSocket hands a stateful connection whose WebSocket dropped the
// client's new one: no negotiate, no handshake; the connection answers with
// Sequence and replays what the client has not acknowledged.
func (h *Handler) reattachWebSocket(w http.ResponseWriter, r *http.Request, token string, c *actors.Conn) {
	t := &wsTransport{h: h, token: token, conn: c}
	// Before the upgrade, so that a lost race answers 404; what the
	// connection writes meanwhile waits in t until the socket is known.
	if err := c.Reattach(t); err != nil {
		claimError(w, http.StatusNotFound)
		return
	}
	conn, buffered, err := h.upgrade(w, r)
	if err != nil {
		t.OnClose(nil, err) // dropped again: the connection waits on
		return
	}
	h.register(conn, buffered, t)
}

// wsTransport joins a netpoll connection to its connection actor.
type wsTransport struct {
	h       *Handler
	token   string
	conn    *actors.Conn
	nc      atomic.Pointer[netpoll.Conn] // set on Register's return or the first message, whichever is first
	closing atomic.Int32                 // a Close that came before nc: closeGraceful or closeDrop

	// A reattached connection writes (Sequence, replay) before its socket
	// is registered: those writes wait in early until setConn.
	ready atomic.Bool // nc is set and early written
	mu    sync.Mutex
	early [][]byte // guarded by mu
}

const (
	closeGraceful int32 = 1
	closeDrop     int32 = 2
)

// setConn records the netpoll connection and applies a Close that was asked
// for before it was known.
func (t *wsTransport) setConn(nc *netpoll.Conn) {
	if !t.nc.CompareAndSwap(nil, nc) {
		return
	}
	t.mu.Lock()
	if len(t.early) > 0 {
		_ = nc.Write(t.early)
		t.early = nil
	}
	t.ready.Store(true)
	t.mu.Unlock()
	t.applyClose(nc, t.closing.Load())
}

func (t *wsTransport) applyClose(nc *netpoll.Conn, how int32) {
	switch how {
	case closeGraceful:
		nc.CloseWith(ws.StatusNormalClosure, "")
	case closeDrop:
		nc.Drop()
	}
}

var (
	_ actors.Transport = (*wsTransport)(nil)
	_ netpoll.Handler  = (*wsTransport)(nil)
)

func (t *wsTransport) Framed() bool { return true }

func (t *wsTransport) Write(bufs [][]byte) error {
	if t.ready.Load() {
		return t.nc.Load().Write(bufs)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ready.Load() {
		return t.nc.Load().Write(bufs)
	}
	if t.closing.Load() != 0 {
		return netpoll.ErrClosed
	}
	t.early = append(t.early, bufs...) // the caller never modifies them
	return nil
}

func (t *wsTransport) Buffered() int {
	if nc := t.nc.Load(); nc != nil {
		return nc.Buffered()
	}
	return 0
}

func (t *wsTransport) Close(graceful bool) {
	how := closeDrop
	if graceful {
		how = closeGraceful
	}
	t.closing.CompareAndSwap(0, how)
	if nc := t.nc.Load(); nc != nil {
		t.applyClose(nc, how)
	} // else setConn applies it
}

func (t *wsTransport) OnMessage(c *netpoll.Conn, _ ws.OpCode, payload []byte) {
	if t.nc.Load() == nil {
		t.setConn(c)
	}
	t.conn.Feed(payload)
}

func (t *wsTransport) OnClose(_ *netpoll.Conn, err error) {
	if err != nil && t.conn.Stateful() {
		t.h.conns.keep(t.token) // the client may reattach
	} else {
		t.h.conns.remove(t.token)
	}
	t.conn.Closed(err)
}
