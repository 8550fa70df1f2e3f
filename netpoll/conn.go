package netpoll

import (
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Conn is a registered server-side WebSocket connection. An idle Conn owns
// no goroutine and no buffer: only this struct and its socket's descriptor.
// Its methods are safe for concurrent use.
//
// The descriptor is the Poller's own (Register took it from the net.Conn,
// which it closed). It is closed by the worker that delivers OnClose, under
// mu: until then no other socket can get its number, so a read in
// progress (by the one worker running the Conn, without mu) or a write
// (under mu, after checking released) always reaches this socket.
type Conn struct {
	p   *Poller
	h   Handler
	fd  int32  // the socket's descriptor; open until fdClosed
	seq uint32 // registration id, carried in epoll events to reject stale ones

	flags atomic.Uint32 // flagClosing | flagDead | flagPaused set under mu, flagHeavy by the running worker; read without it
	max   int32         // largest message payload accepted (Config.MaxMessageSize or the Handler's Limiter); set by Register

	// rd is the frame reader, and held what it read while reading was
	// paused. Only the worker running the Conn touches them (running hands
	// them from worker to worker under mu).
	rd   frameReader
	held *heldFrames

	next *Conn // guarded by p.q.mu; run-queue link

	mu        sync.Mutex
	out       [][]byte // guarded by mu; frames waiting for the socket, out[0] trimmed by what was written
	buffered  int      // guarded by mu; bytes in out
	err       error    // guarded by mu; the cause given to OnClose (nil: clean so far)
	events    uint32   // guarded by mu; readiness not yet handled by a worker
	armed     uint32   // guarded by mu; interest set last given to epoll (0: fired, disarmed)
	running   bool     // guarded by mu; queued for or run by a worker
	closeSent bool     // guarded by mu; our close frame is queued: Write fails, reads are skipped
	closeRecv bool     // guarded by mu; the peer's close frame arrived
	shut      bool     // guarded by mu; FIN sent after our close frame (failing)
	pongTail  bool     // guarded by mu; the last frame in out is a pong we queued
	released  bool     // guarded by mu; socket closed and out of the Poller
	notified  bool     // guarded by mu; OnClose called
	timed     bool     // guarded by mu; in the deadline queue
	fdClosed  bool     // guarded by mu; fd is closed (after released)
}

const (
	flagClosing = 1 << iota // our close frame is queued
	flagDead                // released
	flagPaused              // PauseReading: the socket is not read, frames already read are held
	// flagHeavy: the peer sends more than lightPass bytes a read pass,
	// or more than its Handler keeps up with (it paused reading). Its
	// turns go to the run queue's bulk lane, behind connections that send
	// now and then, and its reads are heavyRead bytes at most. Cleared by
	// a read pass that reads lightPass bytes or fewer: a connection that
	// drained its socket in one pass of many bytes is still heavy.
	flagHeavy
)

// Write queues whole, already framed WebSocket frames (see AppendFrame) and
// writes what the socket takes now, with writev, without blocking; a worker
// writes the rest when the socket drains. Write keeps references to the
// slices until they are written: the caller must not modify them afterwards,
// and may share them between connections. Frames from one Write stay
// contiguous and in order. Write may be called from any goroutine, including
// from inside OnMessage and OnClose. It returns ErrClosed once the connection
// started closing, or the socket's error if the write failed (the connection
// is then released and OnClose follows).
func (c *Conn) Write(frames [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.released {
		return ErrClosed
	}
	return c.writeLocked(frames)
}

// Buffered reports the bytes queued by Write but not yet written to the
// socket: the caller's measure for a slow-consumer budget.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buffered
}

// CloseWith closes gracefully: it queues a close frame with code and reason
// (cut to fit 125 bytes) after what is queued, writes it, then waits up to
// Config.CloseTimeout for the peer's close frame or EOF before releasing the
// socket; OnClose follows. Messages arriving meanwhile are dropped. It does
// not block and may be called from any goroutine, including a Handler.
func (c *Conn) CloseWith(code ws.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startCloseLocked(code, reason, nil)
}

// Drop releases the socket at once, without a close frame and with
// SO_LINGER 0 so that the peer sees a reset; queued frames are discarded.
// OnClose(c, ErrDropped) follows (unless the connection was already gone).
func (c *Conn) Drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseLocked(ErrDropped, true)
}

// RemoteAddr returns the peer's address (asked of the socket: the Conn
// keeps no copy), or nil once the socket is closed.
func (c *Conn) RemoteAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fdClosed {
		return nil
	}
	sa, err := unix.Getpeername(int(c.fd))
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port, Zone: zoneName(sa.ZoneId)}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

func zoneName(id uint32) string {
	if id == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// closing reports whether our close frame is queued or the socket is gone.
func (c *Conn) closing() bool { return c.flags.Load()&(flagClosing|flagDead) != 0 }

// paused reports whether reading is paused (PauseReading).
func (c *Conn) paused() bool { return c.flags.Load()&flagPaused != 0 }

// PauseReading stops reading the socket until ResumeReading, so that TCP
// flow control pushes back on the peer: the socket is left out of epoll
// for reading (written to as before), and no OnMessage comes after the one
// in progress. Frames the worker already read are kept, as read, and
// handed on (OnMessage, control frames in their order) before the socket is
// read again: at most one read's worth. It may be called from any goroutine,
// OnMessage included; a connection that is closing ignores it (it reads on,
// for the peer's close frame).
func (c *Conn) PauseReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.released {
		return
	}
	c.flags.Or(flagPaused | flagHeavy)
}

// ResumeReading undoes PauseReading: a worker hands on what was held, then
// reads the socket again. It may be called from any goroutine.
func (c *Conn) ResumeReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumeLocked()
}

func (c *Conn) resumeLocked() {
	if !c.paused() {
		return
	}
	c.flags.And(^uint32(flagPaused))
	if !c.released {
		c.scheduleLocked(evResume)
	}
}

// dead reports whether the socket was released.
func (c *Conn) dead() bool { return c.flags.Load()&flagDead != 0 }

// onEvent is called by the event loop when epoll reports c ready.
func (c *Conn) onEvent(events uint32) {
	c.mu.Lock()
	if !c.released {
		c.armed = 0 // EPOLLONESHOT disarmed it
		c.scheduleLocked(events)
	}
	c.mu.Unlock()
}

// scheduleLocked records events for a worker and queues c unless a worker
// already has it: one worker at a time runs a Conn.
func (c *Conn) scheduleLocked(events uint32) {
	c.events |= events
	if !c.running {
		c.running = true
		c.p.q.push(c, c.heavy())
	}
}

// heavy reports whether c's turns go to the run queue's bulk lane.
func (c *Conn) heavy() bool { return c.flags.Load()&flagHeavy != 0 }

// run is one worker's turn on c: handle the recorded events, then re-arm
// (or requeue, if more events came meanwhile), or deliver OnClose.
func (c *Conn) run(w *worker) {
	c.mu.Lock()
	ev := c.events
	c.events = 0
	c.mu.Unlock()

	if !c.dead() {
		if ev&evTimeout != 0 {
			c.timeout()
		}
		if ev&unix.EPOLLOUT != 0 {
			c.mu.Lock()
			c.flushLocked()
			c.mu.Unlock()
		}
		if ev&(readEvents|evBuffered|evResume) != 0 && !c.paused() {
			c.readPass(w)
		}
	}

	c.mu.Lock()
	switch {
	case c.released:
		// running stays true: nothing schedules c again.
		if c.notified {
			c.mu.Unlock()
			return
		}
		c.notified = true
		err := c.err
		// This worker is the only one running c: no read is in progress,
		// and writes check released under mu.
		c.fdClosed = true
		_ = unix.Close(int(c.fd))
		c.mu.Unlock()
		c.rd.st, c.held = nil, nil
		c.h.OnClose(c, err)
		c.p.live.Done()
		return
	case c.events != 0:
		c.p.q.push(c, c.heavy()) // more events: go to the back of the queue
	default:
		c.running = false
		c.armLocked()
	}
	c.mu.Unlock()
}

// readPass reads what the socket holds, up to readBudget bytes, and feeds it
// to the frame reader. A level-triggered re-arm brings c back if more is
// waiting, after the other ready connections. A pass that reads lightPass
// bytes or fewer clears flagHeavy; one that reads more, or leaves bytes
// behind, sets it.
func (c *Conn) readPass(w *worker) {
	max := int64(c.max)
	if !c.deliverHeld() {
		return // paused again
	}
	if st := c.rd.st; st != nil && st.pre != nil {
		pre := st.pre
		st.pre = nil
		c.rd.feed(pre, max, c)
	}
	size := readBufSize
	if c.heavy() {
		size = heavyRead
	}
	read := 0
	defer func() {
		switch {
		case read > lightPass:
			c.flags.Or(flagHeavy)
		case !c.paused(): // PauseReading made it heavy
			c.flags.And(^uint32(flagHeavy))
		}
	}()
	for budget := readBudget; !c.dead() && !c.paused(); {
		if budget <= 0 {
			return
		}
		n, err := w.readFrom(c, size)
		switch {
		case err == unix.EAGAIN:
			return
		case err != nil:
			c.mu.Lock()
			c.releaseLocked(err, false)
			c.mu.Unlock()
			return
		case n == 0:
			c.eof()
			return
		}
		read += n
		c.rd.feed(w.buf[:n], max, c)
		if n < size {
			return // drained, most likely; the re-arm tells if not
		}
		budget -= n
	}
}

// eof handles the peer's FIN.
func (c *Conn) eof() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cause error = io.EOF
	if c.closeRecv {
		cause = nil // the handshake completed; the peer then hung up
	}
	c.releaseLocked(cause, false)
}

// timeout ends a close handshake that took longer than CloseTimeout.
func (c *Conn) timeout() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timed = false
	if c.released || !c.closeSent {
		return
	}
	cause := ErrCloseTimeout
	if c.closeRecv {
		cause = nil // only our close frame could not be written
	}
	c.releaseLocked(cause, true)
}

// message, control and fail make *Conn the frameReader's sink.

func (c *Conn) message(op ws.OpCode, p []byte) bool {
	if c.closing() {
		return !c.dead()
	}
	if op == ws.OpText && !utf8.Valid(p) {
		c.fail(ws.StatusInvalidFramePayloadData, ErrInvalidUTF8)
		return true
	}
	if c.paused() || c.held != nil {
		c.hold(op, p)
		return true
	}
	c.h.OnMessage(c, op, p)
	return !c.dead()
}

func (c *Conn) control(op ws.OpCode, p []byte) bool {
	if c.paused() || c.held != nil {
		// In order with the data messages held before it; nothing valid
		// follows a close frame.
		c.hold(op, p)
		return op != ws.OpClose
	}
	return c.controlNow(op, p)
}

func (c *Conn) controlNow(op ws.OpCode, p []byte) bool {
	switch op {
	case ws.OpPing:
		c.mu.Lock()
		if !c.closeSent && !c.released {
			c.pongLocked(AppendFrame(nil, ws.OpPong, p))
		}
		c.mu.Unlock()
		return !c.dead()
	case ws.OpClose:
		c.peerClose(p)
		return false
	}
	return true // pong
}

// heldFrames are the frames read while reading was paused: whole data
// messages (joined, unmasked, valid) and control frames, in the order read,
// their payloads one after the other in buf.
type heldFrames struct {
	buf    []byte
	frames []heldFrame
	next   int // frames[next] is the first not handed on
	off    int // its payload's offset in buf
}

type heldFrame struct {
	op ws.OpCode
	n  int
}

// hold keeps a frame read while reading is paused.
func (c *Conn) hold(op ws.OpCode, p []byte) {
	if c.held == nil {
		c.held = &heldFrames{}
	}
	c.held.buf = append(c.held.buf, p...)
	c.held.frames = append(c.held.frames, heldFrame{op, len(p)})
}

// deliverHeld hands on the frames held while reading was paused, in order.
// It reports false if reading was paused again (the rest stays held) or
// the connection is gone.
func (c *Conn) deliverHeld() bool {
	h := c.held
	for h != nil && h.next < len(h.frames) && !c.dead() {
		if c.paused() {
			return false
		}
		f := h.frames[h.next]
		p := h.buf[h.off : h.off+f.n : h.off+f.n]
		h.next++
		h.off += f.n
		if f.op.IsControl() {
			if !c.controlNow(f.op, p) {
				break // the peer's close frame: nothing valid follows
			}
		} else if !c.closing() {
			c.h.OnMessage(c, f.op, p)
		}
	}
	c.held = nil
	return !c.dead()
}

// pongLocked queues a pong. While the peer does not read, a pong still
// waiting at the tail of the queue is replaced instead of followed: RFC 6455
// 5.5.3 lets us answer only the latest ping, and a peer that pings without
// reading cannot grow the queue.
func (c *Conn) pongLocked(pong []byte) {
	if n := len(c.out); c.pongTail && n >= 2 { // out[0] may be half written; out[n-1] is not
		c.buffered += len(pong) - len(c.out[n-1])
		c.out[n-1] = pong
		return
	}
	_ = c.writeLocked([][]byte{pong})
	c.pongTail = len(c.out) > 0
}

func (c *Conn) fail(code ws.StatusCode, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startCloseLocked(code, "", err)
}

// peerClose handles the peer's close frame: answer it (echoing a valid
// code) unless we sent ours already, and release once the answer is out.
func (c *Conn) peerClose(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	c.closeRecv = true
	if !c.closeSent {
		code, err := parseCloseBody(p)
		switch {
		case err != nil:
			c.startCloseLocked(ws.StatusProtocolError, "", err)
		case code == 0:
			// A close with no status (1005 to the peer) is answered with
			// 1000, as ASP.NET Core answers it: browsers and ws report the
			// close as normal only then.
			c.startCloseLocked(ws.StatusNormalClosure, "", nil)
		default:
			c.startCloseLocked(code, "", nil)
		}
	}
	if len(c.out) == 0 {
		c.drainedLocked()
	}
}

// startCloseLocked queues our close frame (code 0: no body), marks c
// closing and starts the CloseTimeout clock. cause, if not nil, becomes the
// error given to OnClose.
func (c *Conn) startCloseLocked(code ws.StatusCode, reason string, cause error) {
	if c.released {
		return
	}
	if c.err == nil {
		c.err = cause
	}
	if c.closeSent {
		return
	}
	c.closeSent = true
	c.flags.Or(flagClosing)
	c.resumeLocked() // the peer's close frame is to be read
	if err := c.writeLocked([][]byte{closeFrame(code, reason)}); err != nil {
		return
	}
	if !c.released && !c.timed {
		c.timed = true
		c.p.dl.add(c, c.p.now()+c.p.cfg.CloseTimeout)
	}
}

// drainedLocked runs when everything queued is written. Once our close
// frame is out, the socket is released if the peer's close frame came; if
// we are failing the connection (a protocol error), we also send FIN so the
// peer hangs up even if it cannot parse what it sent us any more.
func (c *Conn) drainedLocked() {
	switch {
	case !c.closeSent || c.released:
	case c.closeRecv:
		c.releaseLocked(nil, false)
	case c.err != nil && !c.shut:
		c.shut = true
		_ = unix.Shutdown(int(c.fd), unix.SHUT_WR)
	}
}

// writeLocked writes frames now if nothing is queued before them, and
// queues what the socket did not take.
func (c *Conn) writeLocked(frames [][]byte) error {
	c.pongTail = false
	if len(c.out) > 0 {
		c.out = append(c.out, frames...)
		for _, f := range frames {
			c.buffered += len(f)
		}
		return nil
	}
	n, err := c.writev(frames)
	if err != nil {
		c.releaseLocked(err, false)
		return err
	}
	i := 0
	for i < len(frames) && n >= len(frames[i]) {
		n -= len(frames[i])
		i++
	}
	if i == len(frames) {
		c.drainedLocked()
		return nil
	}
	c.out = append(c.out, frames[i:]...) // our own slice: trimming it leaves the caller's alone
	c.out[0] = c.out[0][n:]
	for _, f := range c.out {
		c.buffered += len(f)
	}
	if !c.running && c.armed&unix.EPOLLOUT == 0 {
		c.armLocked()
	}
	return nil
}

// flushLocked writes queued frames (on EPOLLOUT).
func (c *Conn) flushLocked() {
	if c.released || len(c.out) == 0 {
		return
	}
	n, err := c.writev(c.out)
	if err != nil {
		c.releaseLocked(err, false)
		return
	}
	c.buffered -= n
	i := 0
	for i < len(c.out) && n >= len(c.out[i]) {
		n -= len(c.out[i])
		c.out[i] = nil
		i++
	}
	if i == len(c.out) {
		c.out, c.pongTail = nil, false
		c.drainedLocked()
		return
	}
	c.out = c.out[i:]
	c.out[0] = c.out[0][n:]
}

// writev writes frames with as few writev calls as the socket allows and
// reports how many bytes it took. A full socket is not an error. The
// caller holds mu and has checked released: the descriptor is open.
func (c *Conn) writev(frames [][]byte) (int, error) {
	total := 0
	for len(frames) > 0 {
		batch := frames[:min(len(frames), iovMax)]
		frames = frames[len(batch):]
		size := 0
		for _, f := range batch {
			size += len(f)
		}
		n, err := writeFrames(int(c.fd), batch)
		if err == unix.EAGAIN {
			return total, nil
		}
		if err != nil {
			return total, os.NewSyscallError("writev", err)
		}
		total += n
		if n < size {
			return total, nil // the socket is full
		}
	}
	return total, nil
}

// writeFrames is one write (one frame: no iovec to build) or writev.
func writeFrames(fd int, iov [][]byte) (int, error) {
	for {
		var n int
		var err error
		if len(iov) == 1 {
			n, err = rawWrite(fd, iov[0])
		} else {
			n, err = unix.Writev(fd, iov)
		}
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// armLocked gives epoll c's interest set: read, plus write while frames
// are queued.
func (c *Conn) armLocked() {
	if c.released {
		return
	}
	mask := uint32(readMask)
	if c.paused() {
		// Out of epoll for reading. Only EPOLLERR and EPOLLHUP, which
		// epoll always reports, can fire, once: a connection that was
		// disarmed by its last event stays so.
		mask = unix.EPOLLONESHOT
	}
	if len(c.out) > 0 {
		mask |= unix.EPOLLOUT
	}
	if c.armed == mask || (mask == unix.EPOLLONESHOT && c.armed == 0) {
		return
	}
	ev := unix.EpollEvent{Events: mask, Fd: c.fd, Pad: int32(c.seq)}
	if err := unix.EpollCtl(c.p.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		c.p.log.Error("netpoll: epoll_ctl", "err", err)
		c.releaseLocked(err, true)
		return
	}
	c.armed = mask
}

// releaseLocked ends the socket: out of the Poller's table and epoll; the
// worker that delivers OnClose then closes its descriptor (see Conn).
// cause becomes OnClose's error unless one is set already. linger0 makes
// the close a reset.
func (c *Conn) releaseLocked(cause error, linger0 bool) {
	if c.released {
		return
	}
	c.released = true
	c.flags.Or(flagDead | flagClosing)
	if c.err == nil {
		c.err = cause
	}
	clear(c.out)
	c.out, c.buffered, c.pongTail = nil, 0, false

	p := c.p
	p.remove(c)
	// The descriptor is open until the worker closes it.
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	if linger0 {
		_ = unix.SetsockoptLinger(int(c.fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	}
	c.scheduleLocked(0) // a worker closes the descriptor and calls OnClose
}

// rawWrite is write(2) on a non-blocking socket as a raw system call: it
// returns in microseconds (EAGAIN when the socket is full), so the
// goroutine keeps its processor through it. A system call the runtime is
// told of may lose the processor while the kernel runs (sysmon hands it
// to another goroutine after 20 µs), and then the goroutine, its write
// done, queues behind every runnable goroutine for one: on a busy server
// a connection's reply would wait for other connections' passes.
func rawWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
