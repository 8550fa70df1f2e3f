package testutil

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// Transport is an in-memory transport for a connection made with
// hub.Hub.Connect or actors.Engine.NewConn (it satisfies both Transport
// interfaces): it records what the connection writes, one bare hub message
// per entry (record separators removed), and tells the connection when it
// is closed. Make it with NewTransport, hand it to the connection, then Bind
// the connection's Closed to it.
type Transport struct {
	// Discard counts writes but keeps no messages, for tests that send a
	// lot. Set it before the transport is used.
	Discard bool

	mu     sync.Mutex
	msgs   []string // guarded by mu
	writes atomic.Int64
	frames atomic.Int64
	buffer atomic.Int64 // what Buffered reports
	closed atomic.Int32 // 0 open, closedGraceful, closedDropped
	gate   atomic.Pointer[chan struct{}]

	bound    chan struct{} // closed by Bind
	onClosed func(error)   // set once, before bound is closed
}

const (
	closedGraceful = 1
	closedDropped  = 2
)

// NewTransport makes an open transport.
func NewTransport() *Transport { return &Transport{bound: make(chan struct{})} }

// Bind gives the transport its connection's Closed, which Close calls. Call
// it once, right after the connection is made.
func (t *Transport) Bind(closed func(error)) {
	t.onClosed = closed
	close(t.bound)
}

// Framed reports false: Write takes bare hub messages.
func (t *Transport) Framed() bool { return false }

// Write records bufs, split into hub messages. While a gate is set (Gate)
// it waits for the gate to open first, as a transport whose socket does
// not drain.
func (t *Transport) Write(bufs [][]byte) error {
	if g := t.gate.Load(); g != nil {
		<-*g
	}
	t.writes.Add(1)
	t.frames.Add(int64(len(bufs)))
	if t.Discard {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range bufs {
		for _, rec := range bytes.Split(b, []byte{0x1e}) {
			if len(rec) > 0 {
				t.msgs = append(t.msgs, string(rec))
			}
		}
	}
	return nil
}

// Buffered reports what SetBuffered set (0 at first): the bytes a slow
// socket would hold.
func (t *Transport) Buffered() int { return int(t.buffer.Load()) }

// SetBuffered sets what Buffered reports, to make the connection a slow
// consumer.
func (t *Transport) SetBuffered(n int) { t.buffer.Store(int64(n)) }

// Close records how the transport was closed and tells the connection
// (once it is bound), as a real transport does when its socket ends.
func (t *Transport) Close(graceful bool) {
	v := int32(closedDropped)
	if graceful {
		v = closedGraceful
	}
	if t.closed.CompareAndSwap(0, v) {
		<-t.bound
		t.onClosed(nil)
	}
}

// Closed reports whether the connection closed the transport.
func (t *Transport) Closed() bool { return t.closed.Load() != 0 }

// ClosedGracefully reports whether the connection closed the transport
// after what it had queued (false while open, or after a drop).
func (t *Transport) ClosedGracefully() bool { return t.closed.Load() == closedGraceful }

// Dropped reports whether the connection dropped the transport at once.
func (t *Transport) Dropped() bool { return t.closed.Load() == closedDropped }

// Gate makes Write wait until the returned function is called.
func (t *Transport) Gate() (open func()) {
	g := make(chan struct{})
	t.gate.Store(&g)
	var once sync.Once
	return func() {
		once.Do(func() {
			t.gate.Store(nil)
			close(g)
		})
	}
}

// Messages returns what was written so far, one hub message per entry.
func (t *Transport) Messages() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.msgs...)
}

// Writes is the number of Write calls, and Frames the number of buffers
// they carried: one write per mailbox batch shows coalescing.
func (t *Transport) Writes() int64 { return t.writes.Load() }

// Frames is the number of buffers written.
func (t *Transport) Frames() int64 { return t.frames.Load() }

// Drop records that the transport ended by itself (the test then tells the
// connection with its Closed): a later Close does not tell it again.
func (t *Transport) Drop() { t.closed.CompareAndSwap(0, closedDropped) }
