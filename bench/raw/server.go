package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorhub/actorhub/netpoll"
	"github.com/actorhub/actorhub/protocol"
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
// upgrade, /metrics and /debug/pprof/, and the registry of connections and
// groups.
type Server struct {
	cfg    Config
	poller *netpoll.Poller
	stop   chan struct{}
	done   chan struct{}

	// Every connection past its handshake, in shards: a broadcast writes
	// each shard on its own goroutine, the caller's and the fan-out pool's,
	// so that every core writes.
	shards  []shard
	next    atomic.Uint32   // round robin over shards for new connections
	inUse   [2]atomic.Int64 // connections by conn.pi: the protocols a broadcast encodes
	fan     chan fanJob     // to the fan-out pool, len(shards)-1 goroutines
	fanDone sync.WaitGroup

	mu     sync.RWMutex
	groups map[string]map[*conn]struct{} // guarded by mu; members by group name
}

// NewServer starts the netpoll workers, the fan-out pool (one goroutine per
// shard but the first) and the keep-alive goroutine; Close stops them all.
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
	n := cfg.Workers
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s := &Server{
		cfg:    cfg,
		poller: p,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		shards: make([]shard, n),
		fan:    make(chan fanJob, 4*n),
		groups: map[string]map[*conn]struct{}{},
	}
	// Owner: the Server. Close closes stop and waits for the keep-alive
	// (done), then closes fan and waits for the fan-out workers (fanDone).
	s.fanDone.Add(n - 1)
	for range n - 1 {
		go s.fanOut()
	}
	go s.keepAlive()
	return s, nil
}

// Close ends every connection at once and stops the goroutines NewServer
// started. It does not close listeners: the http.Server's owner does.
func (s *Server) Close() error {
	close(s.stop)
	<-s.done
	err := s.poller.Close() // no handler, so no broadcast, runs after it
	close(s.fan)
	s.fanDone.Wait()
	return err
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
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			debug.ServeHTTP(w, r)
			return
		}
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
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.RLock()
			for _, c := range sh.conns {
				c.write(pings[c.pi])
			}
			sh.mu.RUnlock()
		}
	}
}

// metrics writes the Prometheus text lines the harness reads, named as
// the Prometheus Go collector names them.
func metrics(w http.ResponseWriter) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n", ms.HeapAlloc)
	fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
}

// debug serves net/http/pprof under /debug/pprof/, as actorhub's -pprof
// does: the harness forces a GC through /debug/pprof/heap?gc=1 before it
// samples memory, and takes CPU profiles there.
var debug = func() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}()
