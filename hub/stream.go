package hub

import (
	"context"
	"errors"
	"iter"
	"reflect"
	"sync"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/protocol"
)

// Stream is an upload stream: a hub method parameter of type *Stream[T]
// receives the items a client streams to it (a Subject in the JavaScript
// client). The invocation's stream ids map, in order, to the method's
// *Stream parameters; its arguments leave them out.
//
// Items wait in the stream until the method takes them with Next or All;
// the connection's reader never waits for the method. Unread items of all
// of a connection's upload streams are bounded by Config.MaxBufferedBytes:
// past it the connection is closed with "Connection closed with an error."
// (ASP.NET instead stops reading the connection after StreamBufferCapacity,
// 10, items; here one reader serves many connections and must not stop).
//
// When the method returns (or, for a streaming method, its stream ends),
// its upload streams are closed: items still to come are ignored. A Stream
// is used by one goroutine at a time.
type Stream[T any] struct {
	up     *actors.Upload
	proto  protocol.Protocol
	ctx    context.Context
	inTurn bool
	err    error
}

// upload is the parameter type of an upload stream.
type upload interface {
	attach(hc *Context, up *actors.Upload, proto protocol.Protocol, inTurn bool)
}

var uploadType = reflect.TypeFor[upload]()

func (s *Stream[T]) attach(hc *Context, up *actors.Upload, proto protocol.Protocol, inTurn bool) {
	s.up, s.proto, s.ctx, s.inTurn = up, proto, hc.Context, inTurn
	if up == nil {
		s.err = ErrDisconnected
	}
}

// Next waits for the next item. It returns false at the end of the stream:
// the client completed it (Err tells whether with an error), an item did not
// decode into T (Err says so), or the invocation's context ended (the
// connection went, or a streaming method's stream was cancelled).
func (s *Stream[T]) Next() (T, bool) {
	var zero T
	if s.err != nil || s.up == nil {
		return zero, false
	}
	raw, ok := s.up.Next(s.ctx, s.inTurn)
	if !ok {
		return zero, false
	}
	var v T
	if err := s.proto.Bind(raw, &v); err != nil {
		s.err = bindError{err}
		return zero, false
	}
	return v, true
}

// All ranges over the items until Next returns false.
func (s *Stream[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		for {
			v, ok := s.Next()
			if !ok || !yield(v) {
				return
			}
		}
	}
}

// Err is why the stream ended early: a *ClientError when the client
// completed it with an error (its text is the client's), ErrDisconnected
// when the connection went, an error when an item did not decode. It is nil
// while the stream runs and when the client completed it normally.
func (s *Stream[T]) Err() error {
	if s.err != nil {
		return s.err
	}
	if s.up == nil {
		return nil
	}
	err := s.up.Err()
	if errors.Is(err, actors.ErrConnClosed) {
		return ErrDisconnected
	}
	var ce *actors.ClientError
	if errors.As(err, &ce) {
		return &ClientError{Message: ce.Message}
	}
	return err
}

// ClientError is a failure a client reported: the error of an upload
// stream it completed with one. Message is the client's text.
type ClientError struct {
	Message string
}

func (e *ClientError) Error() string { return e.Message }

// ErrDisconnected is what waits on a connection that has ended return.
var ErrDisconnected = errors.New("hub: connection disconnected")

// streamWindow is how many items of one server-to-client stream may wait in
// the connection's mailbox; the producer waits for the connection to take
// them (after that, the outgoing budget applies).
const streamWindow = 16

// streamErrorText is ASP.NET's text for a stream that failed.
const streamErrorText = "An error occurred on the server while streaming results."

// connStreams is a connection's active server-to-client streams.
type connStreams struct {
	mu     sync.Mutex
	active map[string]context.CancelFunc // guarded by mu: by invocation id
}

func (h *Hub) streamsOf(c *actors.Conn, create bool) *connStreams {
	if v, ok := h.streams.Load(c); ok {
		return v.(*connStreams)
	}
	if !create {
		return nil
	}
	v, _ := h.streams.LoadOrStore(c, &connStreams{active: make(map[string]context.CancelFunc)})
	return v.(*connStreams)
}

// add registers an active stream; false when the id is in use.
func (s *connStreams) add(id string, cancel context.CancelFunc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[id]; ok {
		return false
	}
	s.active[id] = cancel
	return true
}

func (s *connStreams) inUse(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.active[id]
	return ok
}

func (s *connStreams) remove(id string) {
	s.mu.Lock()
	delete(s.active, id)
	s.mu.Unlock()
}

// cancel cancels an active stream; an unknown id is ignored.
func (s *connStreams) cancel(id string) {
	s.mu.Lock()
	cancel := s.active[id]
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// runStream sends the items of a streaming method's stream to the client,
// in order, then its Completion. It runs on its own goroutine, one per
// active stream, and ends with the stream: when the source is done, or its
// context is (the client cancelled it, the connection ended).
func (h *Hub) runStream(c *actors.Conn, st *connStreams, kind streamKind, inv *protocol.StreamInvocation, ctx context.Context, cancel context.CancelFunc, src reflect.Value) {
	defer h.running.Done()
	id := inv.InvocationID
	credits := make(chan struct{}, streamWindow)
	release := func() { <-credits }
	send := func(item any) bool {
		select {
		case credits <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		if ctx.Err() != nil {
			<-credits
			return false
		}
		c.SendThen(&protocol.StreamItem{InvocationID: id, Item: item}, release)
		return true
	}
	err := pump(ctx, kind, src, send)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil // cancelled, as asked: not a failure
	}
	if err != nil {
		if _, isPanic := err.(panicError); isPanic {
			h.log.Error("stream panicked", "method", inv.Target, "conn", c.ID, "panic", err)
		}
	}
	st.remove(id) // before the Completion: the client may reuse the id after it
	cancel()
	c.ReleaseUploads(inv.StreamIDs...)
	done := &protocol.Completion{InvocationID: id}
	if err != nil {
		done.Error = errorMessage(streamErrorText, err, h.detailed)
	}
	c.Send(done) // after the items: one sender, one mailbox, in order
}

// pump takes the items of src until it ends, send refuses one (the context
// ended), or the context ends; it returns the stream's error.
func pump(ctx context.Context, kind streamKind, src reflect.Value, send func(any) bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError{r}
		}
	}()
	switch kind {
	case streamChan:
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: src},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		}
		for {
			chosen, v, ok := reflect.Select(cases)
			if chosen == 1 || !ok || !send(v.Interface()) {
				return nil
			}
		}
	case streamSeq, streamSeq2:
		var failed error
		yield := reflect.MakeFunc(src.Type().In(0), func(args []reflect.Value) []reflect.Value {
			if kind == streamSeq2 && !args[1].IsNil() {
				failed = args[1].Interface().(error)
				return []reflect.Value{reflect.ValueOf(false)}
			}
			return []reflect.Value{reflect.ValueOf(failed == nil && send(args[0].Interface()))}
		})
		src.Call([]reflect.Value{yield})
		return failed
	}
	return nil
}

// waitStreams waits for the goroutines of active streams to end, or ctx.
func (h *Hub) waitStreams(ctx context.Context) error {
	done := make(chan struct{})
	// Owner: waitStreams, which waits for it unless ctx ends first. It
	// ends with the last stream goroutine; only a stream method that
	// ignores its context (the hub cannot stop user code) outlives ctx.
	go func() {
		h.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
