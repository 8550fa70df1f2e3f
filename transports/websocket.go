package transports

import (
	"net"
	"net/http"
	"strings"

	"github.com/actorhub/actorhub/hub"
	"github.com/gobwas/ws"
)

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// serveWebSocket upgrades the request and hands the socket to the hub's
// runtime: from then on no goroutine belongs to the connection.
func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	user, claims, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	// The socket keeps the token as long as it lives: the registry's
	// string, never the query's, which shares its bytes with the whole
	// request line.
	token := queryValue(r, "id")
	var id string
	var stateful bool
	if token == "" { // skipNegotiation: a connection with no negotiate
		id = newID()
		token = id
		if ref := h.conns.open(token, &entry{id: id, user: user, created: h.now(), transport: WebSockets}, clientAddr(r)); ref.refused {
			h.answerRefusal(w, r, ref)
			return
		}
	} else {
		e, reattach, status := h.conns.claim(token, WebSockets, user, nil)
		if status != 0 {
			claimError(w, status)
			return
		}
		token = e.token
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
	ws, err := h.srv.ConnectWebSocket(hub.ConnInfo{ID: id, UserID: user, Claims: claims, StatefulReconnect: stateful, Transport: wsName, Request: h.keep(r)}, token, h.socketEnded)
	if err != nil { // shutting down
		h.conns.remove(token)
		_ = conn.Close()
		return
	}
	if stateful {
		h.conns.bind(token, ws.Conn())
	}
	ws.Start(conn, buffered)
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

// reattachWebSocket hands a stateful connection whose WebSocket dropped the
// client's new one: no negotiate, no handshake; the connection answers with
// Sequence and replays what the client has not acknowledged.
func (h *Handler) reattachWebSocket(w http.ResponseWriter, r *http.Request, token string, c hub.Conn) {
	// Before the upgrade, so that a lost race answers 404; what the
	// connection writes meanwhile waits until the socket is started.
	ws, err := c.ReattachWebSocket(token, h.socketEnded)
	if err != nil {
		claimError(w, http.StatusNotFound)
		return
	}
	conn, buffered, err := h.upgrade(w, r)
	if err != nil {
		ws.Abandon(err) // dropped again: the connection waits on
		return
	}
	ws.Start(conn, buffered)
}

// onSocketEnded keeps the token of a connection that waits for its client
// to reattach, and forgets the others'. h.socketEnded holds it as a
// hub.SocketEnded, made once.
func (h *Handler) onSocketEnded(token string, waiting bool) {
	if waiting {
		h.conns.keep(token) // the client may reattach
	} else {
		h.conns.remove(token)
	}
}
