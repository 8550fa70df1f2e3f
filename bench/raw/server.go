package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub/protocol"
	"github.com/actorhub/actorhub/netpoll"
	"github.com/gobwas/ws"
)

// HubPath is where the hub is served; its negotiate is HubPath + "/negotiate".
const HubPath = "/hubs/conformance"

// Config configures a Server. The zero value works.
type Config struct {
	// KeepAlive is how often every connection gets a Ping. If zero, never.
	KeepAlive time.Duration
	// MaxMessageSize is the largest hub message accepted, in bytes; a larger
	// one ends the connection with a Close message. If zero, there is no
	// hub-level limit. A WebSocket message, which may carry several hub
	// messages, may be up to 1 MiB or MaxMessageSize, whichever is larger.
	MaxMessageSize int
	// Workers is the number of netpoll workers. If zero, GOMAXPROCS.
	Workers int
}

// Server is the raw endpoint: an http.Handler for negotiate, the WebSocket
// upgrade and /metrics, and the registry of connections and groups.
type Server struct {
	cfg    Config
	poller *netpoll.Poller
	stop   chan struct{}
	done   chan struct{}

	mu     sync.RWMutex
	all    []*conn                       // guarded by mu; every connection past its handshake (conn.slot is its index)
	groups map[string]map[*conn]struct{} // guarded by mu; members by group name
}

// NewServer starts the netpoll workers and, if cfg.KeepAlive is set, the
// keep-alive goroutine; Close stops them.
func NewServer(cfg Config) (*Server, error) {
	switch {
	case cfg.KeepAlive < 0:
		return nil, fmt.Errorf("raw: Config.KeepAlive is negative (%v)", cfg.KeepAlive)
	case cfg.MaxMessageSize < 0:
		return nil, fmt.Errorf("raw: Config.MaxMessageSize is negative (%d)", cfg.MaxMessageSize)
	}
	p, err := netpoll.New(netpoll.Config{Workers: cfg.Workers, MaxMessageSize: max(cfg.MaxMessageSize, 1<<20)})
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		poller: p,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		groups: map[string]map[*conn]struct{}{},
	}
	go s.keepAlive()
	return s, nil
}

// Close ends every connection at once and stops the goroutines NewServer
// started. It does not close listeners: the http.Server's owner does.
func (s *Server) Close() error {
	close(s.stop)
	<-s.done
	return s.poller.Close()
}

// ServeHTTP routes negotiate, the hub's WebSocket and /metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case HubPath + "/negotiate":
		s.negotiate(w, r)
	case HubPath:
		s.upgrade(w, r)
	case "/metrics":
		metrics(w)
	default:
		http.NotFound(w, r)
	}
}

// negotiate answers with a fresh connection id (and token, from version 1)
// and WebSockets as the only transport. Nothing is recorded: the WebSocket
// request is not checked against it.
func (s *Server) negotiate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	version := 0
	if q := r.URL.Query(); q.Has("negotiateVersion") {
		n, err := strconv.Atoi(q.Get("negotiateVersion"))
		if err != nil || n < 0 {
			writeJSON(w, `{"error":"The client requested an invalid protocol version."}`)
			return
		}
		version = min(n, 1)
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"connectionId":"`...)
	b = append(b, newID()...)
	if version >= 1 {
		b = append(b, `","connectionToken":"`...)
		b = append(b, newID()...)
	}
	b = append(b, `","negotiateVersion":`...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, `,"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}`...)
	writeJSON(w, string(b))
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write([]byte(body))
}

// newID is 16 random bytes in base64url: 22 URL-safe characters.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// upgrade completes the WebSocket upgrade on the hijacked connection and
// hands the socket to netpoll, with the bytes the HTTP reader had already
// read past the request (the client's first frames). The HTTP goroutine then
// returns: no goroutine belongs to the connection.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "WebSockets only", http.StatusBadRequest)
		return
	}
	nc, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		return // the upgrader answered the request
	}
	var buffered []byte
	if n := rw.Reader.Buffered(); n > 0 {
		buffered, _ = rw.Reader.Peek(n) // Register copies them
	}
	c := &conn{srv: s, slot: -1}
	if _, err := s.poller.Register(nc, c, buffered); err != nil {
		_ = nc.Close()
	}
}

// add puts c in the registry once its handshake succeeded.
func (s *Server) add(c *conn) {
	s.mu.Lock()
	c.slot = len(s.all)
	s.all = append(s.all, c)
	s.mu.Unlock()
}

// remove takes c out of the registry and its groups.
func (s *Server) remove(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.slot < 0 {
		return
	}
	last := len(s.all) - 1
	moved := s.all[last]
	s.all[c.slot] = moved
	moved.slot = c.slot
	s.all[last] = nil
	s.all = s.all[:last]
	c.slot = -1
	for g := range c.groups {
		s.leaveLocked(c, g)
	}
}

// join adds c to group; the membership is in effect when join returns.
func (s *Server) join(c *conn, group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.slot < 0 {
		return // closed meanwhile
	}
	m := s.groups[group]
	if m == nil {
		m = map[*conn]struct{}{}
		s.groups[group] = m
	}
	m[c] = struct{}{}
	if c.groups == nil {
		c.groups = map[string]struct{}{}
	}
	c.groups[group] = struct{}{}
}

// leave removes c from group.
func (s *Server) leave(c *conn, group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(c, group)
}

func (s *Server) leaveLocked(c *conn, group string) {
	delete(c.groups, group)
	if m := s.groups[group]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.groups, group)
		}
	}
}

// sendAll writes method(arg) to every connection; sendGroup to the members of
// group. arg is a value decoded by from (the caller's protocol).
func (s *Server) sendAll(from protocol.Protocol, method string, arg any) {
	b := broadcast{from: from, method: method, arg: arg}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.all {
		b.writeTo(c)
	}
}

func (s *Server) sendGroup(from protocol.Protocol, group, method string, arg any) {
	b := broadcast{from: from, method: method, arg: arg}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.groups[group] {
		b.writeTo(c)
	}
}

// broadcast is one Invocation to many connections: framed at most once per
// protocol, on first need, and the same bytes written to each recipient.
// One goroutine uses it.
type broadcast struct {
	from    protocol.Protocol
	method  string
	arg     any
	frames  [2][]byte // by conn.pi
	encoded [2]bool
}

func (b *broadcast) writeTo(c *conn) {
	i := c.pi
	if !b.encoded[i] {
		b.frames[i] = b.encode(protocols[i])
		b.encoded[i] = true
	}
	if f := b.frames[i]; f != nil {
		c.write(f)
	}
}

// encode frames the Invocation for p. The argument is copied verbatim into
// the caller's own protocol; for the other one it is decoded first (a JSON
// argument goes to MessagePack directly). A value that p cannot carry gives
// nil: those recipients get nothing.
func (b *broadcast) encode(p protocol.Protocol) []byte {
	arg := b.arg
	if p != b.from && p == protocol.JSON {
		var v any
		if err := b.from.Bind(arg, &v); err != nil {
			return nil
		}
		arg = v
	}
	args := [1]any{arg}
	f, err := appendFramed(p, &protocol.Invocation{Target: b.method, Arguments: args[:]})
	if err != nil {
		return nil
	}
	return f
}

// frameRoom is kept before an encoded payload for its WebSocket header.
const frameRoom = 10

// appendFramed encodes m with p into a new buffer and puts the WebSocket
// frame header (text for JSON, binary for MessagePack) right before it, in
// room kept for it: one allocation, no copy.
func appendFramed(p protocol.Protocol, m protocol.Message) ([]byte, error) {
	b, err := p.AppendMessage(make([]byte, frameRoom, 128), m)
	if err != nil {
		return nil, err
	}
	return frameAt(b, opFor(p)), nil
}

// frameAt turns b, a payload after frameRoom bytes of room, into one frame.
func frameAt(b []byte, op ws.OpCode) []byte {
	n := len(b) - frameRoom
	start := frameRoom - netpoll.FrameHeaderLen(n)
	netpoll.AppendFrameHeader(b[start:start], op, n)
	return b[start:]
}

func opFor(p protocol.Protocol) ws.OpCode {
	if p == protocol.JSON {
		return ws.OpText
	}
	return ws.OpBinary
}

// keepAlive pings every connection each Config.KeepAlive, with one frame
// per protocol built once.
func (s *Server) keepAlive() {
	defer close(s.done)
	if s.cfg.KeepAlive == 0 {
		<-s.stop
		return
	}
	var pings [2][]byte
	for i, p := range protocols {
		pings[i], _ = appendFramed(p, &protocol.Ping{})
	}
	t := time.NewTicker(s.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.RLock()
		for _, c := range s.all {
			c.write(pings[c.pi])
		}
		s.mu.RUnlock()
	}
}

// metrics writes the Prometheus text lines the harness reads.
func metrics(w http.ResponseWriter) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
}
