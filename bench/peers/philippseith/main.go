// Command philippseith is a benchmark peer: the conformance hub's benchmark
// methods (Echo, SendToAll, JoinGroup, LeaveGroup, SendToGroup) hosted with
// github.com/philippseith/signalr v0.6.3, the Go SignalR server, written with
// that library's usual idioms. The load generator (cmd/bench) drives it
// beside actorhub and bench/raw; see ../README.md for the target contract.
//
// It is its own module so that the actorhub module never depends on it.
//
//	go build -o /tmp/peer-philippseith .
//	/tmp/peer-philippseith -addr 127.0.0.1:0
//
// It prints "listening on HOST:PORT" on stderr once it accepts connections,
// serves the hub at /hubs/conformance (WebSockets and Server-Sent Events,
// JSON and MessagePack), Prometheus text at /metrics and net/http/pprof at
// /debug/pprof/, and exits on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/philippseith/signalr"
)

// conformance is the hub. The library makes one per invocation (the
// SimpleHubFactory copies it), as ASP.NET Core does: state lives outside it.
type conformance struct {
	signalr.Hub
}

// groups serialises every touch of the library's group table. v0.6.3
// keeps each group's members in a plain map, written by AddToGroup and
// RemoveFromGroup and ranged over by a group send, with no lock; and it runs
// each invocation on its own goroutine. Unguarded, concurrent JoinGroup
// calls crash the process ("concurrent map writes"). The library also
// never removes a closed connection from its groups, so OnDisconnected does
// it here from our own record of memberships.
var groups = struct {
	sync.Mutex
	member map[string]map[string]bool // connection id -> groups; guarded by the mutex
}{member: map[string]map[string]bool{}}

// Echo returns its argument unchanged.
func (h *conformance) Echo(x any) any { return x }

// SendToAll sends method(arg) to every connection, the caller included.
func (h *conformance) SendToAll(method string, arg any) {
	h.Clients().All().Send(method, arg)
}

// JoinGroup adds the caller to group; the membership is in effect when it returns.
func (h *conformance) JoinGroup(group string) {
	groups.Lock()
	defer groups.Unlock()
	id := h.ConnectionID()
	h.Groups().AddToGroup(group, id)
	if groups.member[id] == nil {
		groups.member[id] = map[string]bool{}
	}
	groups.member[id][group] = true
}

// LeaveGroup removes the caller from group.
func (h *conformance) LeaveGroup(group string) {
	groups.Lock()
	defer groups.Unlock()
	id := h.ConnectionID()
	h.Groups().RemoveFromGroup(group, id)
	delete(groups.member[id], group)
}

// SendToGroup sends method(arg) to the members of group.
func (h *conformance) SendToGroup(group, method string, arg any) {
	groups.Lock()
	defer groups.Unlock()
	h.Clients().Group(group).Send(method, arg)
}

// OnDisconnected takes the connection out of the groups it joined.
func (h *conformance) OnDisconnected(id string) {
	groups.Lock()
	defer groups.Unlock()
	for g := range groups.member[id] {
		h.Groups().RemoveFromGroup(g, id)
	}
	delete(groups.member, id)
}

// quiet discards the library's logs (it logs every connection at info level).
type quiet struct{}

func (quiet) Log(...any) error { return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "listen address (port 0 picks a free one)")
	keepAlive := flag.Duration("keepalive", 15*time.Second, "server KeepAliveInterval")
	clientTimeout := flag.Duration("client-timeout", 30*time.Second, "server ClientTimeoutInterval")
	maxMsg := flag.Uint("max-message-size", 32768, "MaximumReceiveMessageSize in bytes")
	debug := flag.Bool("debug", false, "log the library's debug output to stderr")
	flag.Parse()
	if err := run(*addr, *keepAlive, *clientTimeout, *maxMsg, *debug); err != nil {
		fmt.Fprintln(os.Stderr, "philippseith:", err)
		os.Exit(1)
	}
}

func run(addr string, keepAlive, clientTimeout time.Duration, maxMsg uint, debug bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	mux, err := newMux(ctx, keepAlive, clientTimeout, maxMsg, debug)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	// Owner: this function, which receives Serve's return in both cases.
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// WebSocket handlers never return on their own: Close, not Shutdown.
	err = hs.Close()
	<-done // Serve's ErrServerClosed: its goroutine has ended
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newMux serves the hub, /metrics and /debug/pprof/. The hub's
// connections end when ctx is done.
func newMux(ctx context.Context, keepAlive, clientTimeout time.Duration, maxMsg uint, debug bool) (*http.ServeMux, error) {
	var logger signalr.StructuredLogger = quiet{}
	if debug {
		logger = stderrLogger{}
	}
	srv, err := signalr.NewServer(ctx,
		signalr.SimpleHubFactory(&conformance{}),
		signalr.KeepAliveInterval(keepAlive),
		signalr.TimeoutInterval(clientTimeout),
		signalr.MaximumReceiveMessageSize(maxMsg),
		signalr.Logger(logger, debug),
	)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	srv.MapHTTP(signalr.WithHTTPServeMux(mux), "/hubs/conformance")
	mux.HandleFunc("/metrics", metrics)
	// As actorhub's -pprof: the harness forces a GC through
	// /debug/pprof/heap?gc=1 before it samples memory.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux, nil
}

// metrics writes the few Prometheus lines the harness reads.
func metrics(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n", ms.HeapAlloc)
	fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
}

// stderrLogger prints the library's key/value logs, one line each.
type stderrLogger struct{}

func (stderrLogger) Log(kv ...any) error {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%v=%v ", kv[i], kv[i+1])
	}
	fmt.Fprintln(os.Stderr, b.String())
	return nil
}
