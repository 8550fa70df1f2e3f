// Package netpoll serves server-side WebSocket connections after the HTTP
// upgrade without a goroutine per connection.
//
// It owns, for every registered connection: epoll readiness on the socket
// through a descriptor of its own (Register takes one with F_DUPFD_CLOEXEC
// and closes the net.Conn, so that a connection keeps one descriptor and
// none of the runtime's per-connection state; the socket stays
// non-blocking; the descriptor is closed only by the worker that delivers
// OnClose, so its number is never reused under a read or write in
// progress), incremental reading of client frames (masking,
// fragmentation, control frames, limits), and non-blocking buffered writes
// of already framed messages with writev and EPOLLOUT back-pressure. Its
// frame parser is also exported for clients that do their own I/O
// (FrameReader, for a server's frames: package bench reads with it), and a
// differential fuzz test holds it to gobwas/ws's reader.
//
// # Goroutines
//
// New starts one event-loop goroutine, which collects ready connections
// from the epoll instance and queues them, and Config.Workers+1 worker
// goroutines, which read, parse, call the Handler and write (at most
// Config.Workers of them on heavy connections, so that one is free for
// the others; after a heavy connection's pass a worker yields its
// processor, or, when connections were queued in the front lane since
// its last such pass, parks for a moment (BulkPark) so that the front
// lane's goroutines find a processor free). The event loop
// does not hold a thread in a blocking epoll_wait: the epoll descriptor is
// itself registered (read-only) with the runtime's poller, and the loop
// parks on it like any goroutine waiting for a socket. Nothing else: an idle connection owns
// no goroutine, no timer and no buffer, only its Conn struct (160 bytes)
// and the runtime's net.Conn. A closing connection waits for its
// CloseTimeout in one FIFO that the event loop watches, not in a timer of
// its own. Poller.Close stops all of them and returns after the last one
// exited.
//
// Sockets are registered with EPOLLIN|EPOLLRDHUP|EPOLLONESHOT (plus
// EPOLLOUT while writes are pending) and re-armed after each worker turn,
// so one worker at a time serves a connection. A worker reads into its own
// buffer at most a few hundred KiB per turn before yielding; a frame cut
// short by the network is kept in a small per-connection state that is
// freed when the frame completes, so a client that sends half a frame and
// stalls holds a few bytes, never a worker.
//
// Only plain TCP sockets can be registered (anything implementing
// syscall.Conn): TLS must be terminated in front of the server.
//
// Handler methods run on the workers. Calls for one Conn never overlap:
// OnMessage calls come in order and OnClose comes once, last. Conn.Write,
// CloseWith and Drop never block on the network and may be called from any
// goroutine, Handler methods included.
//
// # Example
//
//	p, err := netpoll.New(netpoll.Config{})
//	if err != nil { ... }
//	defer p.Close()
//
//	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
//		conn, rw, _, err := ws.UpgradeHTTP(r, w)
//		if err != nil {
//			return
//		}
//		buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
//		if _, err := p.Register(conn, echo{}, buffered); err != nil {
//			conn.Close()
//		}
//		// The handler returns; no goroutine stays with the connection.
//	})
//
//	type echo struct{}
//
//	func (echo) OnMessage(c *netpoll.Conn, op ws.OpCode, p []byte) {
//		c.Write([][]byte{netpoll.AppendFrame(nil, op, p)})
//	}
//
//	func (echo) OnClose(c *netpoll.Conn, err error) {}
package netpoll
