package hub

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/actorhub/actorhub/actors"
)

// The transport side of a hub: what package transports uses to run
// connections on it. A program that serves its hubs with package
// transports never calls these itself.
//
// A transport makes a connection with Hub.Connect (Server-Sent Events, long
// polling: the transport writes what the connection hands its Transport) or
// Hub.ConnectWebSocket (the hub's runtime then reads and writes the
// socket), feeds it what the client sends (Conn.Feed) and tells it when its
// transport has ended (Conn.Closed).

// ErrNotWaiting is what Conn.ReattachWebSocket returns for a connection
// that is not waiting for its client to reattach.
var ErrNotWaiting = errors.New("hub: connection is not waiting for a reattach")

// ConnInfo describes a new connection.
type ConnInfo struct {
	// ID is the public connection id (negotiate's connectionId).
	ID string
	// UserID is the authenticated user, or "" when anonymous.
	UserID string
	// Claims are the claims of the user's token, or nil. The connection
	// keeps the map; nobody may modify it afterwards.
	Claims map[string]any
	// TextOnly is set when the transport cannot carry binary (Server-Sent
	// Events): a binary protocol's handshake is refused.
	TextOnly bool
	// NoKeepAlive is set for a transport that keeps itself alive (long
	// polling): the hub sends it no pings and runs no client timeout.
	NoKeepAlive bool
	// StatefulReconnect is set when the client negotiated stateful
	// reconnect (see TransportOptions.AllowStatefulReconnects); a handshake
	// of version 2 or more then turns it on.
	StatefulReconnect bool
	// Transport names the transport ("WebSockets", "ServerSentEvents",
	// "LongPolling"), for Context.Transport.
	Transport string
	// Request is the HTTP request that opened the connection, for
	// Context.Request, or nil when the transport does not keep it. Nobody
	// modifies it afterwards.
	Request *http.Request
}

func (i ConnInfo) engineInfo() actors.ConnInfo {
	return actors.ConnInfo{
		ID: i.ID, UserID: i.UserID, Claims: i.Claims,
		TextOnly: i.TextOnly, NoKeepAlive: i.NoKeepAlive, StatefulReconnect: i.StatefulReconnect,
		Transport: i.Transport, Request: i.Request,
	}
}

// Transport carries one connection's bytes to its client: the transport
// side of a connection made with Hub.Connect. The hub calls it from the
// connection's turn only, one call at a time.
type Transport interface {
	// Framed reports whether Write takes whole WebSocket frames (true) or
	// bare hub messages (false, as the HTTP transports want them).
	Framed() bool
	// Write queues bufs, in order, and sends what it can without blocking.
	// It keeps references to the slices until they are sent; the hub
	// never modifies them afterwards (many connections may share them).
	Write(bufs [][]byte) error
	// Buffered is the number of bytes queued and not yet sent: past
	// Config.MaxBufferedBytes the client is closed as a slow consumer.
	Buffered() int
	// Close ends the transport: after what is queued when graceful, at
	// once (an unclean drop) otherwise. The transport then calls
	// Conn.Closed.
	Close(graceful bool)
}

// Conn is a connection as its transport sees it. It is a small value,
// to copy freely; the zero Conn is no connection.
type Conn struct{ c *actors.Conn }

// ID is the connection's public id.
func (c Conn) ID() string { return c.c.ID }

// Feed hands the connection bytes from its client: one transport message
// (a WebSocket message, a POST body or part of one). data is only read
// during the call. Calls may come from several goroutines, one at a time.
func (c Conn) Feed(data []byte) { c.c.Feed(data) }

// Closed tells the connection that its transport has ended; err is nil for
// a clean close. The transport calls it once.
func (c Conn) Closed(err error) { c.c.Closed(err) }

// CloseWithError ends the connection from the server side, as bad input
// does: the client gets a Close message with "Connection closed with an
// error." that lets it reconnect, and OnDisconnected gets err.
func (c Conn) CloseWithError(err error) {
	c.c.Close("Connection closed with an error.", true, err)
}

// Connected reports whether the handshake is done and the connection is
// not closing.
func (c Conn) Connected() bool { return c.c.Connected() }

// Stateful reports whether stateful reconnect is in effect (negotiated,
// and a handshake of version 2 or more).
func (c Conn) Stateful() bool { return c.c.Stateful() }

// Waiting reports whether the connection lost its WebSocket and waits for
// its client to reattach (stateful reconnect), for at most
// Config.DisconnectTimeout.
func (c Conn) Waiting() bool { return c.c.Waiting() }

// SocketEnded hears that a WebSocket's socket has ended: token is the one
// given to ConnectWebSocket or ReattachWebSocket; waiting reports that the
// connection outlives its socket, waiting for its client to reattach
// (stateful reconnect), so the transport keeps the token meanwhile. It runs
// once per socket, on a worker of the hub's runtime, before the connection
// hears of the end: it must not block.
type SocketEnded func(token string, waiting bool)

// WebSocket is a connection's WebSocket before the transport hands it the
// upgraded socket (Start): what the connection writes meanwhile waits, and
// goes first.
type WebSocket struct{ w actors.WebSocket }

// Conn is the WebSocket's connection.
func (w WebSocket) Conn() Conn { return Conn{w.w.Conn()} }

// Start hands the upgraded socket to the hub's runtime, which reads and
// writes it from now on: no goroutine belongs to the connection. buffered
// holds the bytes the HTTP server had read past the upgrade request (the
// client's first frames); they are processed first. Start takes nc in
// every case: if the runtime cannot take it, nc is closed and the socket
// ends as a drop.
func (w WebSocket) Start(nc net.Conn, buffered []byte) { w.w.Start(nc, buffered) }

// Abandon ends a WebSocket whose upgrade failed, as a drop: a connection
// that was reattaching waits on for its client.
func (w WebSocket) Abandon(err error) { w.w.Abandon(err) }

// ReattachWebSocket claims a connection that waits for its client (Waiting)
// for the client's new WebSocket, whose socket the transport then starts
// (or abandons, when the upgrade fails). Claim before upgrading: a lost race
// with another reattach, the end of the connection, or a connection that
// does not wait, gives ErrNotWaiting. Once started, the connection answers
// with Sequence and replays what the client has not acknowledged.
func (c Conn) ReattachWebSocket(token string, ended SocketEnded) (WebSocket, error) {
	w, err := c.c.ReattachWebSocket(token, actors.SocketEnded(ended))
	if err != nil {
		return WebSocket{}, ErrNotWaiting
	}
	return WebSocket{w}, nil
}

// Connect makes a connection whose transport is t (Server-Sent Events, long
// polling). The transport then feeds it with Conn.Feed and reports its end
// with Conn.Closed. After Shutdown it fails with ErrClosed.
func (h *Hub) Connect(info ConnInfo, t Transport) (Conn, error) {
	c, err := h.engine.NewConn(info.engineInfo(), t)
	if err != nil {
		return Conn{}, ErrClosed
	}
	return Conn{c}, nil
}

// ConnectWebSocket makes a connection whose transport is a WebSocket, once
// the HTTP request is upgraded; the transport then hands it the socket
// (WebSocket.Start). ended hears when the socket ends, with token. After
// Shutdown it fails with ErrClosed.
func (h *Hub) ConnectWebSocket(info ConnInfo, token string, ended SocketEnded) (WebSocket, error) {
	w, err := h.engine.NewWebSocket(info.engineInfo(), token, actors.SocketEnded(ended))
	if err != nil {
		return WebSocket{}, ErrClosed
	}
	return WebSocket{w}, nil
}

// TransportOptions are the settings of a hub that its transports apply,
// defaults filled in.
type TransportOptions struct {
	// AllowStatefulReconnects is Config.AllowStatefulReconnects: negotiate
	// offers stateful reconnect to the clients that ask for it.
	AllowStatefulReconnects bool
	// DisconnectTimeout is Config.DisconnectTimeout: how long a
	// connection that no transport request holds is kept.
	DisconnectTimeout time.Duration
	// MaxTransportMessageSize is Config.MaxTransportMessageSize: the bound
	// of one POST body (the hub's runtime applies it to WebSocket
	// messages).
	MaxTransportMessageSize int
}

// TransportOptions returns the settings the hub's transports apply.
func (h *Hub) TransportOptions() TransportOptions {
	cfg := h.engine.Config()
	return TransportOptions{
		AllowStatefulReconnects: cfg.AllowStatefulReconnects,
		DisconnectTimeout:       cfg.DisconnectTimeout,
		MaxTransportMessageSize: cfg.MaxTransportMessageSize,
	}
}
