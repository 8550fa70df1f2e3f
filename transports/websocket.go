package transports

import (
	"net/http"
	"strings"
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
	token := queryValue(r, "id")
	var id string
	if token == "" { // skipNegotiation: a connection with no negotiate
		id = newID()
		token = id
		h.conns.add(token, &entry{id: id, user: user, created: h.now(), transport: wsName})
	} else {
		e, status := h.conns.claim(token, wsName, user, nil)
		if status != 0 {
			claimError(w, status)
			return
		}
		id = e.id
	}

	conn, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		h.conns.remove(token)
		h.log.Debug("websocket upgrade failed", "err", err)
		return
	}
	var buffered []byte
	if n := rw.Reader.Buffered(); n > 0 {
		buffered, _ = rw.Reader.Peek(n)
		buffered = append([]byte(nil), buffered...)
	}

	t := &wsTransport{h: h, token: token}
	c, err := h.engine.NewConn(actors.ConnInfo{ID: id, UserID: user, Claims: claims}, t)
	if err != nil { // shutting down
		h.conns.remove(token)
		_ = conn.Close()
		return
	}
	t.conn = c
	nc, err := h.poller.Register(conn, t, buffered)
	if err != nil {
		h.log.Warn("websocket register failed", "err", err)
		_ = conn.Close()
		t.OnClose(nil, err)
		return
	}
	t.setConn(nc)
}

// wsTransport joins a netpoll connection to its connection actor.
type wsTransport struct {
	h       *Handler
	token   string
	conn    *actors.Conn
	nc      atomic.Pointer[netpoll.Conn] // set on Register's return or the first message, whichever is first
	closing atomic.Int32                 // a Close that came before nc: closeGraceful or closeDrop
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
	nc := t.nc.Load()
	if nc == nil {
		return netpoll.ErrClosed
	}
	return nc.Write(bufs)
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
	t.h.conns.remove(t.token)
	t.conn.Closed(err)
}
