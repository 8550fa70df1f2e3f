package netpoll

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Errors reported by the package. Protocol violations by the peer are
// reported to Handler.OnClose as the ws.ProtocolError values of
// github.com/gobwas/ws (errors.As(err, new(ws.ProtocolError))).
var (
	// ErrClosed is returned by Conn.Write once the connection started
	// closing (a close frame is queued) or is gone.
	ErrClosed = errors.New("netpoll: connection closed")

	// ErrPollerClosed is returned by Register after Poller.Close, and given to
	// Handler.OnClose of the connections that were still open when it ran.
	ErrPollerClosed = errors.New("netpoll: poller closed")

	// ErrMessageTooLarge is given to Handler.OnClose when the peer sent a
	// message longer than its limit (Config.MaxMessageSize, or the Handler's
	// Limiter); the peer got close 1009.
	ErrMessageTooLarge = errors.New("netpoll: message too large")

	// ErrInvalidUTF8 is given to Handler.OnClose when the peer sent a text
	// message that is not valid UTF-8; the peer got close 1007.
	ErrInvalidUTF8 = errors.New("netpoll: invalid UTF-8 in text message")

	// ErrDropped is given to Handler.OnClose after Conn.Drop.
	ErrDropped = errors.New("netpoll: connection dropped")

	// ErrCloseTimeout is given to Handler.OnClose when the peer did not
	// answer our close frame (nor hang up) within Config.CloseTimeout.
	ErrCloseTimeout = errors.New("netpoll: close handshake timed out")

	// ErrNotSyscallConn is returned by Register for a net.Conn that does not
	// expose its file descriptor (it does not implement syscall.Conn, as
	// *tls.Conn).
	ErrNotSyscallConn = errors.New("netpoll: connection does not implement syscall.Conn")
)

const (
	defaultMaxMessageSize = 1 << 20
	defaultCloseTimeout   = 5 * time.Second

	readBufSize = 64 << 10        // per worker, reused for every connection it serves
	readBudget  = 4 * readBufSize // bytes read from one connection per readiness event
	// heavyRead bounds one read from a heavy connection (flagHeavy): what
	// a Handler that paused reading mid-read leaves the Conn to hold.
	heavyRead = 16 << 10
	// lightPass is the most bytes a read pass of a connection that is
	// not heavy reads (flagHeavy): a few messages of a client that sends
	// now and then.
	lightPass = 4 << 10
	maxEvents = 256  // epoll_wait batch
	iovMax    = 1024 // IOV_MAX: frames per writev

	// readMask is the interest set of every armed connection; EPOLLOUT is
	// added while writes are pending.
	readMask = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT
	// readEvents are the events that make a worker read the socket.
	readEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	// evBuffered and evTimeout are pseudo-events, never given to epoll;
	// their bits are unused by epoll (events are 0x1-0x2000, flags 1<<28-31).
	evBuffered = 1 << 24 // bytes handed to Register are waiting
	evTimeout  = 1 << 25 // the close handshake's deadline passed
	evResume   = 1 << 26 // ResumeReading: deliver what was held, then read the socket
)

// Config configures a Poller. The zero value works.
type Config struct {
	// Workers is the number of goroutines that read, parse and write for
	// all connections, plus one: at most Workers of them read heavy
	// connections (see runQueue) at once, so that one is free for a
	// connection that sends now and then. If zero, runtime.GOMAXPROCS(0)
	// is used.
	Workers int

	// MaxMessageSize is the largest WebSocket message payload accepted,
	// after joining continuation frames, unless the connection's Handler
	// is a Limiter. A larger message closes the connection with 1009. If
	// zero, 1 MiB is used.
	MaxMessageSize int

	// CloseTimeout is how long a closing connection waits for the peer's
	// close frame or EOF (and for its own close frame to be written) before
	// the socket is released anyway. If zero, 5 seconds is used.
	CloseTimeout time.Duration

	// Logger receives the rare errors the package cannot report to a
	// caller (epoll failures). If nil, nothing is logged.
	Logger *slog.Logger
}

// Handler receives what happens on a registered connection. Its methods run
// on the Poller's worker goroutines: they should return quickly (hand work to
// another goroutine) and must not call Poller.Close.
type Handler interface {
	// OnMessage is called with each complete data message (ws.OpText or
	// ws.OpBinary; continuation frames joined, payload unmasked). payload
	// is valid until OnMessage returns. Calls for one Conn never overlap
	// and come in the order the messages arrived; OnMessage may be called
	// before Register returns (for bytes passed to Register).
	OnMessage(c *Conn, op ws.OpCode, payload []byte)

	// OnClose is called exactly once, when the connection is gone for
	// any reason, after the last OnMessage. err is nil only for a clean
	// close: the close handshake completed (the peer's close frame was
	// received, answering ours or answered by us). Otherwise err is the
	// cause: io.EOF or a syscall error (ECONNRESET) for an unclean drop,
	// ErrMessageTooLarge, ErrInvalidUTF8, a ws.ProtocolError, ErrDropped,
	// ErrCloseTimeout, ErrPollerClosed.
	OnClose(c *Conn, err error)
}

// Limiter is implemented by a Handler whose connection takes another bound
// on message size than the Poller's Config.MaxMessageSize: several users of
// one Poller, each with its own limit. Register asks it once; a value <= 0
// means Config.MaxMessageSize, one above math.MaxInt32 counts as that.
type Limiter interface {
	MaxMessageSize() int
}

// Poller owns one epoll instance, the goroutine that waits on it and a
// fixed pool of worker goroutines serving every registered connection.
type Poller struct {
	cfg   Config
	log   *slog.Logger
	epfd  int             // our epoll instance; owned (and closed) by epf
	epf   *os.File        // epfd, registered in the runtime's poller: the event loop parks on it
	erc   syscall.RawConn // epf's
	epoch time.Time       // origin of deadline times (monotonic)

	q  runQueue
	dl deadlines

	mu     sync.RWMutex
	conns  []*Conn // guarded by mu; registered connections indexed by fd
	n      int     // guarded by mu; number of registered connections
	seq    uint32  // guarded by mu; last registration id
	closed bool    // guarded by mu

	// PollNow's: one call at a time collects (the others return).
	pollMu     sync.Mutex
	pollEvents []unix.EpollEvent // guarded by pollMu; made on first use
	pollReady  []readyConn       // guarded by pollMu: scratch space

	loopDone chan struct{}  // closed when the event loop returned
	live     sync.WaitGroup // one count per Conn until its OnClose returned
	workers  sync.WaitGroup
}

// New starts a Poller: one event-loop goroutine and cfg.Workers+1 workers.
// Poller.Close stops them.
func New(cfg Config) (*Poller, error) {
	switch {
	case cfg.Workers < 0:
		return nil, fmt.Errorf("netpoll: Config.Workers is negative (%d)", cfg.Workers)
	case cfg.MaxMessageSize < 0:
		return nil, fmt.Errorf("netpoll: Config.MaxMessageSize is negative (%d)", cfg.MaxMessageSize)
	case cfg.CloseTimeout < 0:
		return nil, fmt.Errorf("netpoll: Config.CloseTimeout is negative (%v)", cfg.CloseTimeout)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = defaultMaxMessageSize
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = defaultCloseTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	// The epoll descriptor is itself pollable (readable while events are
	// ready): in non-blocking mode, os.NewFile registers it with the
	// runtime's poller, so the event loop parks like any goroutine waiting
	// for a socket, instead of holding a thread in a blocking epoll_wait,
	// and its read deadline is the close-timeout alarm.
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	epf := os.NewFile(uintptr(epfd), "netpoll-epoll")
	erc, err := epf.SyscallConn()
	if err == nil {
		err = epf.SetReadDeadline(time.Time{}) // fails unless the runtime polls it
	}
	if err != nil {
		epf.Close()
		return nil, fmt.Errorf("netpoll: epoll descriptor: %w", err)
	}

	p := &Poller{
		cfg:      cfg,
		log:      cfg.Logger,
		epfd:     epfd,
		epf:      epf,
		erc:      erc,
		epoch:    time.Now(),
		loopDone: make(chan struct{}),
	}
	p.dl.alarm = epf.SetReadDeadline
	p.dl.epoch = p.epoch
	p.q.init(cfg.Workers)
	// Owner of the workers and the event loop: the Poller. Close closes the
	// epoll descriptor (the loop returns; Close waits for loopDone), then
	// the queue (the workers return; Close waits for workers).
	p.workers.Add(cfg.Workers + 1)
	for range cfg.Workers + 1 {
		go p.worker()
	}
	go p.loop()
	return p, nil
}

// Register hands conn to the Poller. conn must implement syscall.Conn (a
// *net.TCPConn, as returned by Hijack). The Poller keeps the socket and not
// conn: it takes a descriptor of its own for the socket (F_DUPFD_CLOEXEC)
// and closes conn, so that a registered connection holds one descriptor
// and none of the runtime's net.Conn, address and poller state. While
// Register runs the socket has two descriptors: at the process's file
// limit it fails with EMFILE. buffered holds bytes already read past the
// upgrade request (by an HTTP server's bufio.Reader); Register copies them
// and they are processed before anything read from the socket.
//
// After a successful Register conn is closed and the caller must not use
// it. On error the caller still owns conn (and should close it).
func (p *Poller) Register(conn net.Conn, h Handler, buffered []byte) (*Conn, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, ErrNotSyscallConn
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("netpoll: taking the descriptor: %w", dupErr)
	}

	c := &Conn{p: p, h: h, fd: int32(fd), max: messageLimit(p.cfg.MaxMessageSize, h)}
	if len(buffered) > 0 {
		c.rd.st = &readState{pre: append([]byte(nil), buffered...)}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := p.add(c); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	mask := uint32(readMask)
	ev := unix.EpollEvent{Events: mask, Fd: c.fd, Pad: int32(c.seq)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.remove(c)
		c.released, c.fdClosed = true, true
		_ = unix.Close(fd)
		p.live.Done()
		return nil, fmt.Errorf("netpoll: epoll_ctl: %w", err)
	}
	// The socket stays open through the Poller's descriptor. Closing conn
	// takes its descriptor out of the runtime's poller first.
	_ = conn.Close()
	c.armed = mask
	if len(buffered) > 0 {
		c.scheduleLocked(evBuffered)
	}
	return c, nil
}

// messageLimit is the message size bound of a connection served by h.
func messageLimit(def int, h Handler) int32 {
	n := def
	if l, ok := h.(Limiter); ok {
		if m := l.MaxMessageSize(); m > 0 {
			n = m
		}
	}
	return int32(min(n, math.MaxInt32))
}

// add puts c in the table and counts it live.
func (p *Poller) add(c *Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPollerClosed
	}
	fd := int(c.fd)
	if fd >= len(p.conns) {
		grown := make([]*Conn, max(fd+1, 2*len(p.conns), 64))
		copy(grown, p.conns)
		p.conns = grown
	}
	if p.conns[fd] != nil {
		return fmt.Errorf("netpoll: descriptor %d is already registered", fd)
	}
	p.seq++
	c.seq = p.seq
	p.conns[fd] = c
	p.n++
	p.live.Add(1)
	return nil
}

// remove takes c out of the table, so that events still queued for its
// descriptor number are ignored.
func (p *Poller) remove(c *Conn) {
	p.mu.Lock()
	if fd := int(c.fd); fd < len(p.conns) && p.conns[fd] == c {
		p.conns[fd] = nil
		p.n--
	}
	p.mu.Unlock()
}

// Len reports the number of registered connections (those not yet released).
func (p *Poller) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.n
}

// Close releases every registered connection at once (no close frame; each
// OnClose gets ErrPollerClosed), waits for those OnClose calls, then stops
// the event loop and the workers. No goroutine of the Poller outlives Close.
// It must not be called from a Handler. A second Close returns
// ErrPollerClosed.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	p.closed = true
	var open []*Conn
	for _, c := range p.conns {
		if c != nil {
			open = append(open, c)
		}
	}
	p.mu.Unlock()

	for _, c := range open {
		c.mu.Lock()
		c.releaseLocked(ErrPollerClosed, false)
		c.mu.Unlock()
	}
	p.live.Wait()

	err := p.epf.Close() // wakes the event loop, which returns
	<-p.loopDone
	p.q.close()
	p.workers.Wait()
	p.dl.clear()
	if err != nil {
		return fmt.Errorf("netpoll: %w", err)
	}
	return nil
}

// now is the deadline clock: time since the Poller started (monotonic).
func (p *Poller) now() time.Duration { return time.Since(p.epoch) }

// loop is the event-loop goroutine: it collects ready connections (parked
// in the runtime's poller while there are none) and hands them to the
// workers. It returns when Close closes the epoll descriptor.
func (p *Poller) loop() {
	defer close(p.loopDone)
	events := make([]unix.EpollEvent, maxEvents)
	ready := make([]readyConn, 0, maxEvents)
	var (
		n    int
		werr error
	)
	wait := func(fd uintptr) bool {
		for {
			n, werr = unix.EpollWait(int(fd), events, 0)
			if werr != unix.EINTR {
				return n > 0 || werr != nil // false: park until epfd is readable
			}
		}
	}
	for {
		n, werr = 0, nil
		err := p.erc.Read(wait)
		fired := errors.Is(err, os.ErrDeadlineExceeded)
		switch {
		case fired:
			// A close handshake timed out: expire below.
		case err != nil:
			return // closed
		case werr != nil:
			p.log.Error("netpoll: epoll_wait", "err", werr)
			return
		}
		ready = p.dispatch(events[:n], ready)
		for _, c := range p.dl.expire(p.now(), fired) {
			c.mu.Lock()
			if !c.released {
				c.scheduleLocked(evTimeout)
			}
			c.mu.Unlock()
		}
	}
}

// dispatch hands the connections of events to the workers; ready is
// scratch space, returned for reuse.
func (p *Poller) dispatch(events []unix.EpollEvent, ready []readyConn) []readyConn {
	p.mu.RLock()
	for i := range events {
		ev := &events[i]
		fd := int(ev.Fd)
		if fd < len(p.conns) {
			if c := p.conns[fd]; c != nil && c.seq == uint32(ev.Pad) {
				ready = append(ready, readyConn{c, ev.Events})
			}
		}
	}
	p.mu.RUnlock()
	for i, r := range ready {
		r.c.onEvent(r.events)
		ready[i] = readyConn{}
	}
	return ready[:0]
}

// PollNow collects, without waiting, the connections epoll has ready and
// queues them for the workers. A worker calls it after a heavy
// connection's pass, and a busy caller (the actor runtime, after a long
// turn) may: while every processor is busy, the Go runtime looks at its
// own poller, which wakes the event loop, only every 10 ms or so
// (sysmon), and a connection that sends now and then would wait that
// long to be read. It returns at once when another call is collecting.
// Safe from any goroutine.
func (p *Poller) PollNow() {
	if !p.pollMu.TryLock() {
		return // another is collecting now
	}
	defer p.pollMu.Unlock()
	if p.pollEvents == nil {
		p.pollEvents = make([]unix.EpollEvent, 64)
	}
	// Under mu, not closed: epfd is still ours (Close marks the Poller
	// closed before it closes epfd, whose number may then be reused).
	p.mu.RLock()
	n, err := 0, error(nil)
	if !p.closed {
		for n, err = unix.EpollWait(p.epfd, p.pollEvents, 0); err == unix.EINTR; {
			n, err = unix.EpollWait(p.epfd, p.pollEvents, 0)
		}
	}
	p.mu.RUnlock()
	if err == nil && n > 0 {
		p.pollReady = p.dispatch(p.pollEvents[:n], p.pollReady)
	}
}

// BulkPark is how long a worker parks after a heavy connection's pass
// when connections were pushed to the front lane since its last one: it
// leaves its processor to the front lane's goroutines (the event loop, a
// worker, whoever they hand to) instead of waiting in the run queue beside
// them. Bounded, so heavy connections keep being read under any front
// load; with no front work the worker only yields. The actor pool's bulk
// workers park as long, for the same reason (the layer above uses it).
const BulkPark = 5 * time.Millisecond

type readyConn struct {
	c      *Conn
	events uint32
}

// worker is one goroutine of the fixed pool. Its read buffer is reused for
// every connection it serves.
type worker struct {
	buf []byte
}

func (p *Poller) worker() {
	defer p.workers.Done()
	w := &worker{buf: make([]byte, readBufSize)}
	bulk := false
	var fronts uint64 // p.q.fronts when this worker's last bulk pass ended
	for {
		var c *Conn
		c, bulk = p.q.pop(bulk)
		if c == nil {
			return
		}
		c.run(w)
		if bulk {
			// A heavy connection's pass is long: pick up what epoll has
			// ready meanwhile, and let the other goroutines have the
			// processor. The pass counts as running until the next pop:
			// what it queued meanwhile wakes a waiting worker only for
			// the front lane, and that worker is not kept from it.
			// While the front lane is in use, park rather than yield, so
			// that its hand-offs find a processor free (see BulkPark); not
			// after a connection's last pass (released, as all are on
			// Close), which must not hold a shutdown back.
			p.PollNow()
			if p.q.frontsMoved(&fronts) && !c.dead() {
				time.Sleep(BulkPark)
			} else {
				runtime.Gosched()
			}
		}
	}
}

// readFrom reads once from c's socket without blocking, at most size
// bytes. err is unix.EAGAIN when nothing is there; n == 0 with a nil err
// is EOF. The descriptor is open: only this worker, which runs c, closes it.
func (w *worker) readFrom(c *Conn, size int) (int, error) {
	for {
		n, err := unix.Read(int(c.fd), w.buf[:size])
		switch {
		case err == unix.EINTR:
			continue
		case err == nil || err == unix.EAGAIN:
			return max(n, 0), err
		}
		return 0, os.NewSyscallError("read", err)
	}
}
