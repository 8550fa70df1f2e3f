package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/protocol"
)

// ErrNotSingleClient is what Invoke returns on a proxy of more than one
// client: a client result comes from one client.
var ErrNotSingleClient = errors.New("hub: client results need a single client (Caller or Client)")

// Invoke invokes method on the proxy's client, which must be one client
// (Caller, or Client(id)), and waits for the client's result: a client
// result, as ASP.NET Core's InvokeAsync. The result is decoded into result
// (a pointer; nil discards it) with the client's protocol.
//
// It returns when the client answers, ctx ends (ctx.Err()), or the
// connection goes (an error "Connection '<id>' disconnected." that matches
// ErrDisconnected). A client that answers with an error gives an *Error of
// the client's text, so a hub method that returns it shows the client's
// text to its own caller, as a HubException does; the JavaScript client
// answers "Client didn't provide a result." when it has no handler.
//
// From a hub method of the same connection, the method waits for the
// answer while its connection's other messages wait behind it (one
// invocation at a time); the answer itself does not queue behind it.
func (p Proxy) Invoke(ctx context.Context, method string, result any, args ...any) error {
	c, err := p.single()
	var unknown disconnectedError
	if errors.As(err, &unknown) && unknown.unknown && p.h.scale != nil {
		return p.invokeRemote(ctx, unknown.id, method, result, args)
	}
	if err != nil {
		return err
	}
	done, err := c.Invoke(ctx, method, args)
	if errors.Is(err, actors.ErrConnClosed) {
		return disconnectedError{id: c.ID}
	}
	if err != nil {
		return err
	}
	return bindResult(done, c.Protocol(), method, result)
}

// invokeRemote asks a client on another node, through the backplane.
func (p Proxy) invokeRemote(ctx context.Context, id, method string, result any, args []any) error {
	done, proto, err := p.h.scale.invoke(ctx, id, method, args)
	if err != nil {
		return err
	}
	return bindResult(done, proto, method, result)
}

// bindResult turns a client's Completion into Invoke's outcome: its error
// as an *Error, or its result decoded into result with the client's
// protocol.
func bindResult(done *protocol.Completion, proto protocol.Protocol, method string, result any) error {
	if done.Error != "" {
		return &Error{Message: done.Error}
	}
	if result == nil || !done.HasResult {
		return nil
	}
	if err := proto.Bind(done.Result, result); err != nil {
		return fmt.Errorf("hub: client result of %s: %w", method, err)
	}
	return nil
}

// InvokeClient is Proxy.Invoke with the result's type as a type parameter.
func InvokeClient[T any](ctx context.Context, p Proxy, method string, args ...any) (T, error) {
	var v T
	err := p.Invoke(ctx, method, &v, args...)
	return v, err
}

// single is the proxy's one connection.
func (p Proxy) single() (*actors.Conn, error) {
	switch {
	case p.kind == toCaller:
		return p.caller, nil
	case p.kind == toConns && len(p.names) == 1 && len(p.exclude) == 0:
		id := p.names[0]
		if p.caller != nil && p.caller.ID == id {
			return p.caller, nil
		}
		c, ok := p.h.engine.Conn(id)
		if !ok {
			return nil, disconnectedError{id: id, unknown: true}
		}
		return c, nil
	}
	return nil, ErrNotSingleClient
}

// disconnectedError is ASP.NET's IOException for a client result whose
// connection went.
// unknown: there was no such connection.
type disconnectedError struct {
	id      string
	unknown bool
}

func (e disconnectedError) Error() string {
	if e.unknown {
		return "Connection '" + e.id + "' does not exist."
	}
	return "Connection '" + e.id + "' disconnected."
}
func (e disconnectedError) Unwrap() error { return ErrDisconnected }
