// Command raw is the benchmark floor: a minimal SignalR endpoint on gobwas/ws
// and actorhub's netpoll, with no actors and no hub layer, that writes the
// same bytes a SignalR server writes for the benchmark's methods. The load
// generator (cmd/bench) measures it beside actorhub and the peers under
// bench/peers (whose README states the target contract). Whatever actorhub
// spends above this floor is the cost of its actors and hub layer.
//
//	go build -o /tmp/raw ./bench/raw
//	/tmp/raw -addr 127.0.0.1:0
//
// It prints "listening on HOST:PORT" on stderr once it accepts connections
// and serves, on that one listener:
//
//   - POST /hubs/conformance/negotiate: a negotiate v1 (or v0) reply that
//     offers WebSockets only;
//   - GET /hubs/conformance with Upgrade: websocket: the WebSocket, handed to
//     netpoll, so that no goroutine belongs to a connection; the handshake
//     (JSON or MessagePack, versions 1 and 2), then the methods Echo(x),
//     SendToAll(method, arg), JoinGroup(group), LeaveGroup(group) and
//     SendToGroup(group, method, arg), names matched case-insensitively, plus
//     Ping and Close;
//   - GET /metrics: go_goroutines, go_memstats_heap_alloc_bytes and
//     go_memstats_heap_inuse_bytes; net/http/pprof under /debug/pprof/ (the
//     harness forces a GC there before it samples memory).
//
// A broadcast encodes its Invocation once per protocol in use and writes the
// same frame bytes to every recipient. Connections are kept in one shard
// per core; SendToAll writes the shards in parallel (the caller's worker and
// a fixed fan-out pool), so that every core writes, and completes once every
// frame is queued. A group send writes its members on the caller's worker.
// Goroutines: netpoll's event loop and workers, the fan-out pool, the
// keep-alive ticker, and the HTTP server's while a request is read: none
// per connection. What it leaves out, on purpose:
// a connection-token registry (any ?id= is accepted, and none), handshake
// and client timeouts, a per-connection write budget (a reader that stalls
// makes its queue grow), SSE and long polling, streams, stateful reconnect,
// and every hub method but those five. Keep-alive: one goroutine pings every
// connection each -keepalive (15 s; 0 disables it), whether or not something
// else was sent meanwhile.
//
// SIGINT or SIGTERM closes the listener and every connection, then exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg Config
	addr := flag.String("addr", "127.0.0.1:5000", "listen address (port 0 picks a free one)")
	flag.DurationVar(&cfg.KeepAlive, "keepalive", 15*time.Second, "ping every connection this often (0: never)")
	flag.IntVar(&cfg.MaxMessageSize, "max-message-size", 32768, "largest hub message accepted, in bytes (0: no limit)")
	flag.IntVar(&cfg.Workers, "workers", 0, "netpoll workers (0: GOMAXPROCS)")
	flag.Parse()
	if err := run(*addr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "raw:", err)
		os.Exit(1)
	}
}

func run(addr string, cfg Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	srv, err := NewServer(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	// Owner: this function, which receives Serve's return in both cases.
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = hs.Close()
		<-done // ErrServerClosed
	}
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
