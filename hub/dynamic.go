package hub

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/protocol"
)

// Dynamic is a hub whose methods are not Go methods: every invocation a
// client makes, whatever its target, goes to Invoke. A dynamic hub serves
// targets decided at run time, such as a hub whose logic lives behind an
// HTTP endpoint (package service's upstream).
//
// Invoke runs in the connection's turn, as a hub method does: one
// invocation of a connection at a time, in order. It returns the result
// (nil: a null result) or an error, which reaches the client as a hub
// method's error does (an *Error's text, else the generic text). An Invoke
// that must wait for something slow should not hold the turn: it calls
// inv.Defer and answers later, from any goroutine, through the Reply.
//
// A Dynamic may also implement Connector, Disconnector and Authorizer
// (Authorize gets the target as the client spelled it). Streaming
// invocations and upload streams are refused with ASP.NET Core's texts.
type Dynamic interface {
	Invoke(ctx *Context, inv *Invocation) (result any, err error)
}

// NewDynamic makes a hub of d. Config.Name defaults to d's Go type.
func NewDynamic(d Dynamic, cfg Config) (*Hub, error) {
	if d == nil {
		return nil, errors.New("hub: NewDynamic needs a Dynamic")
	}
	if cfg.Name == "" {
		cfg.Name = strings.TrimLeft(fmt.Sprintf("%T", d), "*")
	}
	h, err := New(&dynamicHub{d}, cfg)
	if err != nil {
		return nil, err
	}
	h.dyn = d
	return h, nil
}

// dynamicHub gives New a value with no methods for clients, only the hooks
// of d.
type dynamicHub struct{ d Dynamic }

func (x *dynamicHub) OnConnected(ctx *Context) error {
	if c, ok := x.d.(Connector); ok {
		return c.OnConnected(ctx)
	}
	return nil
}

func (x *dynamicHub) OnDisconnected(ctx *Context, err error) {
	if d, ok := x.d.(Disconnector); ok {
		d.OnDisconnected(ctx, err)
	}
}

func (x *dynamicHub) Authorize(ctx *Context, method string) error {
	if a, ok := x.d.(Authorizer); ok {
		return a.Authorize(ctx, method)
	}
	return nil
}

// Invocation is a client's invocation of a dynamic hub.
type Invocation struct {
	// Target is the method the client named, as it spelled it.
	Target string
	// Arguments are as the caller's protocol decoded them: json.RawMessage
	// for JSON, msgpack.RawMessage for MessagePack. They are valid only
	// during Invoke: Bind them, or take Message, before it returns.
	Arguments []any
	// Protocol is the caller's protocol.
	Protocol protocol.Protocol

	id       string
	h        *Hub
	conn     *actors.Conn
	deferred atomic.Pointer[Reply]
}

// Bind decodes argument i into the value v points to.
func (inv *Invocation) Bind(i int, v any) error {
	if i < 0 || i >= len(inv.Arguments) {
		return fmt.Errorf("hub: argument %d of %d", i, len(inv.Arguments))
	}
	return inv.Protocol.Bind(inv.Arguments[i], v)
}

// Message is the invocation as the caller's protocol encodes it, without
// the framing (no record separator, no length prefix): a JSON object for
// JSON, a MessagePack array for MessagePack. The bytes are the caller's.
func (inv *Invocation) Message() ([]byte, error) {
	b, err := inv.Protocol.AppendMessage(nil, &protocol.Invocation{InvocationID: inv.id, Target: inv.Target, Arguments: inv.Arguments})
	if err != nil {
		return nil, err
	}
	return Unframe(inv.Protocol, b)
}

// Unframe returns the message of one framed hub message: without JSON's
// record separator, or MessagePack's length prefix.
func Unframe(p protocol.Protocol, b []byte) ([]byte, error) {
	if p.TransferFormat() == protocol.Text {
		if len(b) == 0 || b[len(b)-1] != protocol.RecordSeparator {
			return nil, errors.New("hub: a JSON message without its record separator")
		}
		return b[:len(b)-1], nil
	}
	n, shift := 0, 0
	for i := 0; i < 5 && i < len(b); i++ {
		n |= int(b[i]&0x7f) << shift
		shift += 7
		if b[i]&0x80 == 0 {
			if rest := b[i+1:]; len(rest) == n {
				return rest, nil
			}
			break
		}
	}
	return nil, errors.New("hub: a MessagePack message without a valid length prefix")
}

// Defer makes the invocation answer later: Invoke's own result is then
// ignored, and the client gets its Completion when the Reply is done. The
// connection's next invocation runs as soon as Invoke returns; a handler
// that wants one at a time in order queues them itself.
func (inv *Invocation) Defer() *Reply {
	r := &Reply{h: inv.h, conn: inv.conn, id: inv.id, target: inv.Target}
	if !inv.deferred.CompareAndSwap(nil, r) {
		return inv.deferred.Load()
	}
	return r
}

// Reply answers a deferred invocation.
type Reply struct {
	h      *Hub
	conn   *actors.Conn
	id     string
	target string
	done   atomic.Bool
}

// Done sends the client the invocation's Completion: err's text as a hub
// method's error would give it, else result (nil: a null result; a
// json.RawMessage or msgpack.RawMessage is written as it is, transcoded
// for the other protocol). Only the first call counts; a non-blocking
// invocation, or a connection that has gone, gets nothing. Safe from any
// goroutine.
func (r *Reply) Done(result any, err error) {
	if !r.done.CompareAndSwap(false, true) || r.id == "" {
		return
	}
	r.conn.Send(r.h.completion(r.id, r.target, result, err))
}

// Fail sends the client an error Completion whose error is exactly text
// (not wrapped in the generic text), as a client result's error or an
// upstream's own Completion carries it. Only the first answer counts.
func (r *Reply) Fail(text string) {
	if !r.done.CompareAndSwap(false, true) || r.id == "" {
		return
	}
	r.conn.Send(&protocol.Completion{InvocationID: r.id, Error: text})
}

// completion is the Completion of a method's outcome.
func (h *Hub) completion(id, target string, result any, err error) *protocol.Completion {
	if err != nil {
		return &protocol.Completion{InvocationID: id, Error: errorMessage(unexpectedText(target), err, h.detailed)}
	}
	return &protocol.Completion{InvocationID: id, HasResult: true, Result: result}
}

// invokeDynamic runs an invocation of a dynamic hub in the connection's
// turn.
func (d dispatcher) invokeDynamic(c *actors.Conn, inv *protocol.Invocation) *protocol.Completion {
	h := d.h
	if n := len(inv.StreamIDs); n > 0 {
		err := &Error{Message: fmt.Sprintf("Client sent %d stream(s), Hub method expects 0.", n)}
		return h.completion(inv.InvocationID, inv.Target, nil, err)
	}
	hc := h.newContext(c)
	hc.InvocationID = inv.InvocationID
	if !h.authorizedTarget(hc, inv.Target) {
		return &protocol.Completion{InvocationID: inv.InvocationID, Error: unauthorizedText(inv.Target)}
	}
	call := &Invocation{Target: inv.Target, Arguments: inv.Arguments, Protocol: c.Protocol(), id: inv.InvocationID, h: h, conn: c}
	var result any
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				result, err = nil, panicError{r}
				h.log.Error("dynamic hub panicked", "target", inv.Target, "conn", c.ID, "panic", r)
			}
		}()
		result, err = h.dyn.Invoke(hc, call)
	}()
	if r := call.deferred.Load(); r != nil {
		if _, isPanic := err.(panicError); isPanic {
			r.Done(nil, err)
		}
		return nil
	}
	return h.completion(inv.InvocationID, inv.Target, result, err)
}

// authorizedTarget asks the hub's Authorizer about a dynamic hub's target.
func (h *Hub) authorizedTarget(hc *Context, target string) (ok bool) {
	if h.authz == nil {
		return true
	}
	return h.authorized(hc, &method{name: target}, target)
}
