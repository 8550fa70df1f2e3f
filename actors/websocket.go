package actors

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/actorhub/actorhub/netpoll"
	"github.com/gobwas/ws"
)

// WebSockets: the glue between a socket on the runtime's poller and its
// connection actor.
//
// The transport upgrades the HTTP request, then makes the connection
// (Engine.NewWebSocket, or Conn.ReattachWebSocket for a stateful
// connection's new socket) and hands it the upgraded socket
// (WebSocket.Start). From then on no goroutine belongs to the connection:
// a poller worker reads the socket and feeds the connection
// (socket.OnMessage), and the connection actor writes to it (socket.Write).
//
// This is also where the reading side of a connection meets its actor:
// when Feed finds the connection's inbound budget spent, it pauses the
// socket (netpoll.Conn.PauseReading) until the actor catches up.

// SocketEnded hears that a WebSocket's socket has ended. token is the one
// the transport gave with the socket; waiting reports that the connection
// outlives its socket, waiting for its client to reattach (stateful
// reconnect), so the transport keeps the token. It runs once per socket, on
// a poller worker, before the connection hears of the end: it must not
// block.
type SocketEnded func(token string, waiting bool)

// WebSocket is a connection's WebSocket before its socket is handed over:
// what the connection writes meanwhile waits, and is written first.
type WebSocket struct{ s *socket }

// NewWebSocket makes a connection whose transport is a WebSocket; its socket
// comes with Start. ended is told when the socket ends.
func (e *Engine) NewWebSocket(info ConnInfo, token string, ended SocketEnded) (WebSocket, error) {
	s := &socket{token: token, ended: ended}
	c, err := e.NewConn(info, s)
	if err != nil {
		return WebSocket{}, err
	}
	s.conn = c
	c.in.mu.Lock()
	c.in.socket = s
	c.in.mu.Unlock()
	return WebSocket{s}, nil
}

// ReattachWebSocket claims a stateful connection that waits for its client
// (Waiting) for the client's new WebSocket, whose socket then comes with
// Start (or Abandon when the upgrade fails). It fails with ErrNotFound when
// the connection is not waiting: attached, ended or ending, or claimed by
// another reattach. Once the socket is started, the connection answers
// with Sequence and replays what the client has not acknowledged.
func (c *Conn) ReattachWebSocket(token string, ended SocketEnded) (WebSocket, error) {
	s := &socket{conn: c, token: token, ended: ended}
	if err := c.reattach(s); err != nil {
		return WebSocket{}, err
	}
	return WebSocket{s}, nil
}

// Conn is the WebSocket's connection.
func (w WebSocket) Conn() *Conn { return w.s.conn }

// Start hands the upgraded socket to the runtime's poller. buffered holds
// the bytes the HTTP server had read past the upgrade request: the client's
// first frames, processed first. Start takes nc in every case: if the
// poller refuses it, nc is closed and the socket ends as dropped.
func (w WebSocket) Start(nc net.Conn, buffered []byte) {
	s := w.s
	e := s.conn.engine
	pc, err := e.sys.poller.Register(nc, s, buffered)
	if err != nil {
		e.log.Warn("websocket register failed", "err", err)
		_ = nc.Close()
		s.OnClose(nil, err)
		return
	}
	s.setConn(pc)
}

// Abandon ends a WebSocket whose upgrade failed, as a drop: a reattached
// connection waits on for its client.
func (w WebSocket) Abandon(err error) { w.s.OnClose(nil, err) }

// socket joins a netpoll connection to its connection actor: it is the
// connection's Transport and the socket's netpoll.Handler.
type socket struct {
	conn    *Conn
	token   string
	ended   SocketEnded
	nc      atomic.Pointer[netpoll.Conn] // set on Register's return or the first message, whichever is first
	closing atomic.Int32                 // a Close that came before nc: closeGraceful or closeDrop

	// A reattached connection writes (Sequence, replay) before its socket
	// is registered: those writes wait in early until setConn.
	ready atomic.Bool // nc is set and early written
	mu    sync.Mutex
	early *[][]byte // guarded by mu; made by the first early write
}

const (
	closeGraceful int32 = 1
	closeDrop     int32 = 2
)

var (
	_ Transport       = (*socket)(nil)
	_ netpoll.Handler = (*socket)(nil)
	_ netpoll.Limiter = (*socket)(nil)
)

// setConn records the netpoll connection and applies a Close that was asked
// for before it was known.
func (s *socket) setConn(nc *netpoll.Conn) {
	if !s.nc.CompareAndSwap(nil, nc) {
		return
	}
	s.mu.Lock()
	if s.early != nil {
		_ = nc.Write(*s.early)
		s.early = nil
	}
	s.ready.Store(true)
	s.mu.Unlock()
	s.applyClose(nc, s.closing.Load())
}

func (s *socket) applyClose(nc *netpoll.Conn, how int32) {
	switch how {
	case closeGraceful:
		nc.CloseWith(ws.StatusNormalClosure, "")
	case closeDrop:
		nc.Drop()
	}
}

func (s *socket) Framed() bool { return true }

func (s *socket) Write(bufs [][]byte) error {
	if s.ready.Load() {
		return s.nc.Load().Write(bufs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready.Load() {
		return s.nc.Load().Write(bufs)
	}
	if s.closing.Load() != 0 {
		return netpoll.ErrClosed
	}
	if s.early == nil {
		s.early = new([][]byte)
	}
	*s.early = append(*s.early, bufs...) // the caller never modifies them
	return nil
}

func (s *socket) Buffered() int {
	if nc := s.nc.Load(); nc != nil {
		return nc.Buffered()
	}
	return 0
}

func (s *socket) Close(graceful bool) {
	how := closeDrop
	if graceful {
		how = closeGraceful
	}
	s.closing.CompareAndSwap(0, how)
	if nc := s.nc.Load(); nc != nil {
		s.applyClose(nc, how)
	} // else setConn applies it
}

// pauseReading stops reading the socket (its connection's inbound budget
// is spent); resumeReading reads on. Feed calls them under the
// connection's in.mu, from OnMessage or from the actor, so they come in
// order.
func (s *socket) pauseReading() {
	if nc := s.nc.Load(); nc != nil {
		nc.PauseReading()
	}
}

func (s *socket) resumeReading() {
	if nc := s.nc.Load(); nc != nil {
		nc.ResumeReading()
	}
}

// MaxMessageSize bounds the socket's WebSocket messages: the hub's
// transport message limit.
func (s *socket) MaxMessageSize() int { return s.conn.engine.cfg.MaxTransportMessageSize }

func (s *socket) OnMessage(nc *netpoll.Conn, _ ws.OpCode, payload []byte) {
	if s.nc.Load() == nil {
		s.setConn(nc)
	}
	s.conn.Feed(payload)
}

func (s *socket) OnClose(_ *netpoll.Conn, err error) {
	waiting := s.conn.stopReading(err)
	s.ended(s.token, waiting) // before the connection can be claimed
	s.conn.transportEnded(waiting, err)
}
