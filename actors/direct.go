package actors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	"github.com/actorhub/actorhub/protocol"
)

// What the reader routes past the mailbox.
//
// A hub method runs in its connection's turn. When it waits for something
// the client sends (the items of an upload stream, the result of a client
// invocation), that message must not queue behind the method in the
// connection's mailbox: Feed hands it straight to the waiter instead. The
// tables below are the only state Feed and the actor share beyond the
// atomics, each guarded by its own mutex.

// ErrConnClosed is what waits on a connection return once it has ended.
var ErrConnClosed = errors.New("actors: connection closed")

// directState is a connection's tables of waiters, and its Items, allocated
// on first use: an idle connection pays one nil pointer for them.
type directState struct {
	mu       sync.Mutex
	ctx      context.Context    // guarded by mu: made on first use
	cancel   context.CancelFunc // guarded by mu
	ended    bool               // guarded by mu: the connection is over
	uploads  map[string]*Upload // guarded by mu: open upload streams by stream id
	upBytes  int                // guarded by mu: bytes of items waiting in uploads
	results  map[string]chan *protocol.Completion
	resultID uint64 // guarded by mu

	// items is Conn.Items' map, made by its first call; only code running
	// in the connection's turn touches it (not guarded by mu).
	items map[string]any
}

var endedCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// direct returns the connection's waiter tables, making them on first use.
func (c *Conn) direct() *directState {
	if d := c.dstate.Load(); d != nil {
		return d
	}
	c.dstate.CompareAndSwap(nil, &directState{})
	return c.dstate.Load()
}

// Context is cancelled when the connection ends (its transport closes, the
// client sends Close, or the server closes it). Safe from any goroutine.
func (c *Conn) Context() context.Context {
	d := c.direct()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return endedCtx
	}
	if d.ctx == nil {
		d.ctx, d.cancel = context.WithCancel(context.Background())
	}
	return d.ctx
}

// end marks the connection over: its context is cancelled, waiters on
// uploads and client results return.
func (c *Conn) end() {
	d := c.dstate.Load()
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return
	}
	d.ended = true
	if d.cancel != nil {
		d.cancel()
	}
	for _, u := range d.uploads {
		u.finish(ErrConnClosed, true)
	}
	d.uploads = nil
	d.upBytes = 0
}

// Blocking runs wait, which blocks, on behalf of the calling turn: the pool
// hands other connections' turns to another worker meanwhile.
func (e *Engine) Blocking(wait func()) { e.sys.pool.Blocking(wait) }

// Upload is one client-to-server stream of an invocation: the items the
// client sends with StreamItem{invocationId: streamId} until its
// Completion{invocationId: streamId}. The reader queues them here without
// waiting; the hub method takes them with Next.
type Upload struct {
	conn *Conn
	mu   sync.Mutex
	// guarded by mu
	items    []any
	head     int
	done     bool  // no more items will come
	released bool  // the invocation ended: the remaining items are dropped
	err      error // the client's error, or why the stream ended early
	wake     chan struct{}
}

// errUploadOverflow ends a connection whose upload streams hold more unread
// bytes than its budget.
var errUploadOverflow = errors.New("actors: upload streams over budget: the hub method does not read them")

// registerUploads opens the upload streams an invocation announces. Called
// by Feed, under in.mu.
func (c *Conn) registerUploads(ids []string) {
	if len(ids) == 0 {
		return
	}
	d := c.direct()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return
	}
	if d.uploads == nil {
		d.uploads = make(map[string]*Upload, len(ids))
	}
	for _, id := range ids {
		if _, ok := d.uploads[id]; !ok {
			d.uploads[id] = &Upload{conn: c, wake: make(chan struct{}, 1)}
		}
	}
}

// routeItem queues a StreamItem for an open upload stream. It reports
// whether the item was taken (false: not an upload, the actor gets it), and
// overflow when the connection's budget is spent.
func (c *Conn) routeItem(m *protocol.StreamItem) (taken, overflow bool) {
	d := c.dstate.Load()
	if d == nil {
		return false, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.uploads[m.InvocationID]
	if !ok {
		return false, false
	}
	n := itemSize(m.Item)
	if d.upBytes+n > c.engine.cfg.MaxBufferedBytes {
		return true, true
	}
	if u.push(m.Item) {
		d.upBytes += n
	}
	return true, false
}

// routeCompletion ends an open upload stream, or hands a client result to
// its waiter. It reports whether the Completion was taken.
func (c *Conn) routeCompletion(m *protocol.Completion) bool {
	d := c.dstate.Load()
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if u, ok := d.uploads[m.InvocationID]; ok {
		var err error
		if m.Error != "" {
			err = &ClientError{Message: m.Error}
		}
		u.finish(err, false)
		return true
	}
	if ch, ok := d.results[m.InvocationID]; ok {
		delete(d.results, m.InvocationID)
		ch <- m // capacity 1, one send
		return true
	}
	return false
}

// itemSize is what an item counts against the upload budget: its encoded
// length when it is raw bytes (JSON), plus a fixed overhead.
func itemSize(item any) int {
	const overhead = 32
	if v := reflect.ValueOf(item); v.Kind() == reflect.Slice || v.Kind() == reflect.String {
		return overhead + v.Len()
	}
	return overhead
}

// Upload returns the open upload stream with that id, or nil.
func (c *Conn) Upload(id string) *Upload {
	d := c.dstate.Load()
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.uploads[id]
}

// ReleaseUploads closes the upload streams of an invocation that has ended:
// their waiting items are dropped and later items for those ids ignored.
func (c *Conn) ReleaseUploads(ids ...string) {
	d := c.dstate.Load()
	if d == nil || len(ids) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if u, ok := d.uploads[id]; ok {
			delete(d.uploads, id)
			u.mu.Lock()
			for _, it := range u.items[u.head:] {
				d.upBytes -= itemSize(it)
			}
			u.mu.Unlock()
			u.finish(nil, true)
		}
	}
}

// push queues an item; false when the stream takes no more.
func (u *Upload) push(item any) bool {
	u.mu.Lock()
	if u.done || u.released {
		u.mu.Unlock()
		return false
	}
	u.items = append(u.items, item)
	u.mu.Unlock()
	u.signal()
	return true
}

// finish ends the stream: the client completed it (err is its error, or
// nil), or with release the invocation or the connection ended.
func (u *Upload) finish(err error, release bool) {
	u.mu.Lock()
	if !u.done {
		u.done, u.err = true, err
	}
	if release {
		u.released = true
		clear(u.items)
		u.items, u.head = nil, 0
	}
	u.mu.Unlock()
	u.signal()
}

func (u *Upload) signal() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Next waits for the stream's next item, in the protocol's raw form. ok is
// false once the stream has ended (see Err) or ctx is done. inTurn says the
// caller runs in the connection's turn: the pool then hands other turns to
// another worker while it waits.
func (u *Upload) Next(ctx context.Context, inTurn bool) (item any, ok bool) {
	for {
		u.mu.Lock()
		if u.head < len(u.items) {
			item = u.items[u.head]
			u.items[u.head] = nil
			u.head++
			if u.head == len(u.items) {
				u.items, u.head = u.items[:0], 0
			}
			u.mu.Unlock()
			u.taken(item)
			return item, true
		}
		if u.done {
			u.mu.Unlock()
			return nil, false
		}
		u.mu.Unlock()
		connDone := u.conn.Context().Done()
		wait := func() {
			select {
			case <-u.wake:
			case <-ctx.Done():
			case <-connDone:
			}
		}
		if inTurn {
			u.conn.awaitClient(wait)
		} else {
			wait()
		}
		if ctx.Err() != nil {
			return nil, false
		}
		select {
		case <-connDone:
			u.finish(ErrConnClosed, true)
		default:
		}
	}
}

// taken gives an item's bytes back to the connection's budget.
func (u *Upload) taken(item any) {
	d := u.conn.dstate.Load()
	d.mu.Lock()
	if !d.ended {
		d.upBytes -= itemSize(item)
	}
	d.mu.Unlock()
}

// Err is why the stream ended: nil when the client completed it, a
// *ClientError when the client completed it with an error, ErrConnClosed
// when the connection went first.
func (u *Upload) Err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// ClientError is an error the client reported in a Completion: the failure
// of an upload stream or of a client result. Message is the client's text.
type ClientError struct {
	Message string
}

func (e *ClientError) Error() string { return e.Message }

// Invoke invokes target on this client with a server-chosen invocation id
// and waits for its Completion (a client result), until ctx is done or the
// connection ends (ErrConnClosed). Safe from any goroutine; from hub code
// running in this connection's turn it writes the invocation at once and
// hands its worker to other turns while it waits.
func (c *Conn) Invoke(ctx context.Context, target string, args []any) (*protocol.Completion, error) {
	if args == nil {
		args = []any{}
	}
	d := c.direct()
	var id string
	ch, err := c.awaitResult(func() string {
		d.resultID++
		id = "s" + strconv.FormatUint(d.resultID, 10) // never a client's own id ("0", "1", ...)
		return id
	})
	if err != nil {
		return nil, err
	}
	forget := func() {
		d.mu.Lock()
		delete(d.results, id)
		d.mu.Unlock()
	}

	inv := &protocol.Invocation{InvocationID: id, Target: target, Arguments: args}
	inTurn := c.writeInCall(inv)
	if !inTurn {
		c.Send(inv)
	}
	connDone := c.Context().Done()
	var done *protocol.Completion
	wait := func() {
		select {
		case done = <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		case <-connDone:
			err = ErrConnClosed
		}
	}
	select {
	case done = <-ch:
	default:
		if inTurn {
			c.awaitClient(wait)
		} else {
			wait()
		}
	}
	if done == nil {
		select { // it may have come as we gave up
		case done = <-ch:
		default:
			forget()
			select {
			case <-connDone: // the caller's ctx may end with the connection
				err = ErrConnClosed
			default:
			}
			return nil, err
		}
	}
	return done, nil
}

// writeInCall writes m, after what the turn has queued, when hub code is
// running in this connection's turn; it reports whether it did. Writing
// here (and not at the end of the turn) lets that code wait for the
// client's answer.
func (c *Conn) writeInCall(m protocol.Message) bool {
	c.out.callMu.Lock()
	defer c.out.callMu.Unlock()
	if !c.out.inCall {
		return false
	}
	if c.state.Load() == stateConnected {
		c.appendOwn(m)
		c.write()
	}
	return true
}

// Forward writes a client-result invocation that another node encoded (p,
// whose invocation id is id) and returns the channel the client's
// Completion arrives on. Whoever waits also watches the connection's
// Context and calls ForgetResult if it gives up. The ids another node
// chooses must differ from Invoke's ("s1", "s2", ...).
func (c *Conn) Forward(id string, p *Payload) (<-chan *protocol.Completion, error) {
	ch, err := c.awaitResult(func() string { return id })
	if err != nil {
		return nil, err
	}
	c.post(p)
	return ch, nil
}

// awaitResult registers a wait for the Completion of the invocation id
// names (called under the direct state's lock), unless the connection is
// over.
func (c *Conn) awaitResult(name func() string) (chan *protocol.Completion, error) {
	d := c.direct()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended || c.state.Load() != stateConnected {
		return nil, ErrConnClosed
	}
	id := name()
	if _, dup := d.results[id]; dup {
		return nil, fmt.Errorf("actors: invocation id %q is waiting already", id)
	}
	if d.results == nil {
		d.results = make(map[string]chan *protocol.Completion)
	}
	ch := make(chan *protocol.Completion, 1)
	d.results[id] = ch
	return ch, nil
}

// ForgetResult stops waiting for the client's answer to invocation id.
func (c *Conn) ForgetResult(id string) {
	d := c.direct()
	d.mu.Lock()
	delete(d.results, id)
	d.mu.Unlock()
}
