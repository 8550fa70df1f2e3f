package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/actorhub/actorhub/actors"
)

// Raw connections: an Endpoint serves connections that carry the bytes of
// their transport with no hub protocol, as ASP.NET Core's ConnectionHandler
// mounted with MapConnectionHandler. Package transports serves an Endpoint
// exactly as it serves a Hub (transports.NewConnectionHandler): negotiate,
// WebSockets (with or without negotiate), Server-Sent Events and long
// polling; no handshake is read and nothing is framed: what the client
// sends reaches ConnectionHandler.OnReceive, what RawConn.Write writes
// reaches the client.
//
// The connections are actors on the endpoint's Runtime, beside those of
// hubs: a WebSocket's socket is on the runtime's poller, no goroutine
// belongs to a connection, and the handler's methods run in the
// connection's turn on the runtime's workers, one at a time per
// connection, as hub methods do.

// ConnectionHandler is the application of an Endpoint.
type ConnectionHandler interface {
	// OnConnected runs first, before any data. An error ends the
	// connection (OnDisconnected does not run).
	OnConnected(c RawConn) error
	// OnReceive gets the client's bytes, in order: on a WebSocket one
	// message per call; on the HTTP transports (a POST body) a stream,
	// whose pieces need not match the client's sends. data is valid until
	// OnReceive returns.
	OnReceive(c RawConn, data []byte)
	// OnDisconnected runs last, once: err is nil when the client closed
	// the connection or the application did (RawConn.Close), else why it
	// ended (Shutdown, a drop, a slow client, a panic of the handler).
	OnDisconnected(c RawConn, err error)
}

// EndpointConfig configures an Endpoint. The zero value works: every zero
// field takes the default its comment names.
type EndpointConfig struct {
	// Runtime runs the connections; several hubs and endpoints may share
	// one. nil means the endpoint makes its own and closes it in Shutdown.
	Runtime *Runtime
	// DisconnectTimeout: how long a connection that no transport request
	// holds is kept (negotiated and waiting for its transport, long
	// polling between polls). 0 means DefaultDisconnectTimeout.
	DisconnectTimeout time.Duration
	// MaxTransportMessageSize bounds one WebSocket message and one POST
	// body from a client. 0 means DefaultMaxTransportMessageSize.
	MaxTransportMessageSize int
	// MaxBufferedBytes bounds each connection's buffers, each way: bytes
	// written and not yet sent (past it the client is closed as a slow
	// consumer, and Write fails), and bytes received and not yet handed to
	// OnReceive (past it the connection ends: the handler does not keep
	// up). 0 means DefaultMaxBufferedBytes.
	MaxBufferedBytes int
	// Logger; nil discards.
	Logger *slog.Logger
}

// Endpoint is a running raw connection endpoint.
type Endpoint struct {
	engine *actors.Engine
	rt     *Runtime
	ownRT  bool
	log    *slog.Logger
	closed atomic.Bool
}

// NewEndpoint starts an endpoint whose connections app handles.
func NewEndpoint(app ConnectionHandler, cfg EndpointConfig) (*Endpoint, error) {
	if app == nil {
		return nil, errors.New("hub: NewEndpoint needs a ConnectionHandler")
	}
	for _, d := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxTransportMessageSize", &cfg.MaxTransportMessageSize, DefaultMaxTransportMessageSize},
		{"MaxBufferedBytes", &cfg.MaxBufferedBytes, DefaultMaxBufferedBytes},
	} {
		switch {
		case *d.v < 0:
			return nil, fmt.Errorf("hub: EndpointConfig.%s is negative (%d)", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	switch {
	case cfg.DisconnectTimeout < 0:
		return nil, fmt.Errorf("hub: EndpointConfig.DisconnectTimeout is negative (%v)", cfg.DisconnectTimeout)
	case cfg.DisconnectTimeout == 0:
		cfg.DisconnectTimeout = DefaultDisconnectTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Endpoint{rt: cfg.Runtime, log: log}
	if e.rt == nil {
		rt, err := NewRuntime(RuntimeConfig{Logger: log})
		if err != nil {
			return nil, err
		}
		e.rt, e.ownRT = rt, true
	}
	var err error
	e.engine, err = actors.NewEngine(e.rt.sys, nil, actors.EngineConfig{
		Raw:                     rawApp{app: app, log: log},
		MaxTransportMessageSize: cfg.MaxTransportMessageSize,
		MaxBufferedBytes:        cfg.MaxBufferedBytes,
		DisconnectTimeout:       cfg.DisconnectTimeout,
		// The hub protocol's settings, which raw connections never use.
		KeepAliveInterval:           DefaultKeepAliveInterval,
		ClientTimeoutInterval:       DefaultClientTimeoutInterval,
		HandshakeTimeout:            DefaultHandshakeTimeout,
		MaximumReceiveMessageSize:   -1,
		StatefulReconnectBufferSize: DefaultStatefulReconnectBufferSize,
		MaxInboundBytes:             DefaultMaxInboundBytes,
		MaxInboundMessages:          DefaultMaxInboundMessages,
		MaxGroupsPerConnection:      DefaultMaxGroupsPerConnection,
		Logger:                      log,
	})
	if err != nil {
		if e.ownRT {
			e.rt.Close()
		}
		return nil, err
	}
	return e, nil
}

// Shutdown closes every connection (as RawConn.Close does), waits for them
// to end until ctx is done (then cuts what is left), and closes the
// runtime when the endpoint made it. A second call returns ErrClosed.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	if !e.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	err := e.engine.Shutdown(ctx)
	if e.ownRT {
		e.rt.Close()
	}
	return err
}

// ConnectionCount is the number of open connections.
func (e *Endpoint) ConnectionCount() int { return int(e.engine.Stats().Connections) }

// Stats is a snapshot of the endpoint's counters, as Hub.Stats. Raw
// connections have no hub messages, groups or protocols: those stay zero
// or empty.
func (e *Endpoint) Stats() Stats { return Stats(e.engine.Stats()) }

// Connect makes a connection whose transport is t (Server-Sent Events, long
// polling): the transport surface, as Hub.Connect.
func (e *Endpoint) Connect(info ConnInfo, t Transport) (Conn, error) {
	c, err := e.engine.NewConn(info.engineInfo(), t)
	if err != nil {
		return Conn{}, ErrClosed
	}
	return Conn{c}, nil
}

// ConnectWebSocket makes a connection whose transport is a WebSocket: the
// transport surface, as Hub.ConnectWebSocket.
func (e *Endpoint) ConnectWebSocket(info ConnInfo, token string, ended SocketEnded) (WebSocket, error) {
	w, err := e.engine.NewWebSocket(info.engineInfo(), token, actors.SocketEnded(ended))
	if err != nil {
		return WebSocket{}, ErrClosed
	}
	return WebSocket{w}, nil
}

// TransportOptions returns the settings the endpoint's transports apply.
func (e *Endpoint) TransportOptions() TransportOptions {
	cfg := e.engine.Config()
	return TransportOptions{DisconnectTimeout: cfg.DisconnectTimeout, MaxTransportMessageSize: cfg.MaxTransportMessageSize}
}

// RawConn is one connection of an Endpoint, as its ConnectionHandler sees
// it. It is a small value, to copy freely; its methods are safe from any
// goroutine, during and after the handler's calls.
type RawConn struct{ c *actors.Conn }

// ID is the connection's public id (negotiate's connectionId).
func (c RawConn) ID() string { return c.c.ID }

// UserID is the authenticated user, or "" when anonymous.
func (c RawConn) UserID() string { return c.c.UserID }

// Claims are the claims of the user's token, or nil. Read them, never
// modify them.
func (c RawConn) Claims() map[string]any { return c.c.Claims() }

// Items belongs to the connection and lives as long as it does; only the
// handler's calls for this connection, which never overlap, may touch it.
func (c RawConn) Items() map[string]any { return c.c.Items() }

// Transport names the connection's transport: "WebSockets",
// "ServerSentEvents" or "LongPolling".
func (c RawConn) Transport() string { return c.c.Transport() }

// Request is the HTTP request that opened the connection, when the
// transport keeps it (see Context.Request), or nil.
func (c RawConn) Request() *http.Request { return c.c.Request() }

// Write sends data (copied) to the client: one WebSocket message, text
// unless SetBinary(true); on the HTTP transports, bytes of the stream that
// the client reads (an event of Server-Sent Events, part of a poll's
// answer). It does not wait: what waits to be sent is bounded by
// EndpointConfig.MaxBufferedBytes, past which the connection is closed as
// a slow consumer and Write fails. After the connection has ended, Write
// fails too.
func (c RawConn) Write(data []byte) error {
	err := c.c.WriteRaw(data)
	if err != nil {
		return fmt.Errorf("hub: write to raw connection %s: %w", c.c.ID, err)
	}
	return nil
}

// SetBinary chooses the type of the WebSocket messages Write sends: binary
// (true) or text (false, the default), as ASP.NET Core's ActiveFormat
// does. A client that reads text, as the JavaScript client with
// TransferFormat.Text, wants text messages.
func (c RawConn) SetBinary(binary bool) { c.c.SetBinary(binary) }

// Close ends the connection once what was written before is sent: a
// WebSocket gets a close frame (1000, normal closure), an event stream ends,
// the next poll gets 204. OnDisconnected then runs with a nil error.
func (c RawConn) Close() { c.c.CloseRaw(nil) }

// rawApp adapts a ConnectionHandler to the engine: a panic in the
// handler ends its connection, never the process.
type rawApp struct {
	app ConnectionHandler
	log *slog.Logger
}

var _ actors.RawApp = rawApp{}

func (r rawApp) Connected(c *actors.Conn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("OnConnected panicked", "conn", c.ID, "panic", p)
			err = panicError{p}
		}
	}()
	return r.app.OnConnected(RawConn{c})
}

func (r rawApp) Received(c *actors.Conn, data []byte) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("OnReceive panicked", "conn", c.ID, "panic", p)
			c.CloseRaw(panicError{p})
		}
	}()
	r.app.OnReceive(RawConn{c}, data)
}

func (r rawApp) Disconnected(c *actors.Conn, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("OnDisconnected panicked", "conn", c.ID, "panic", p)
		}
	}()
	r.app.OnDisconnected(RawConn{c}, err)
}
