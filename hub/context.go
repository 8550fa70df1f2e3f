package hub

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/backplane"
)

// Context is what a hub method knows about its caller. It is a
// context.Context too, to hand to whatever the method calls.
//
// A Context is made for one call and is valid during it; Items outlives it.
// Its context.Context is cancelled when the connection ends; for a
// streaming method, also when the client cancels the stream, and when the
// stream ends.
type Context struct {
	context.Context
	// ConnectionID is the caller's connection id.
	ConnectionID string
	// InvocationID is the id the client gave this invocation, or "" for a
	// non-blocking one (and in OnConnected and OnDisconnected).
	InvocationID string
	// UserID is the caller's user id, or "" when anonymous.
	UserID string
	// Claims are the claims of the caller's token, as the transport's
	// authenticator found them (for a JWT, its payload: "sub", "exp",
	// "roles", ...), or nil. The map is shared by every call of the
	// connection: read it, never modify it.
	Claims map[string]any
	// Clients sends to clients, the caller among them.
	Clients CallerClients
	// Groups manages group membership.
	Groups Groups

	conn *actors.Conn
}

func (h *Hub) newContext(c *actors.Conn) *Context {
	return &Context{
		Context:      connContext{c},
		ConnectionID: c.ID,
		UserID:       c.UserID,
		Claims:       c.Claims(),
		Clients:      CallerClients{clients{h: h, caller: c}},
		Groups:       Groups{h: h},
		conn:         c,
	}
}

// Items is the connection's own map: it belongs to the connection and lives
// as long as it does; hub methods of that connection may read and write it
// freely (they never run at the same time). It is made on the first call,
// so a connection whose hub never uses it does not pay for it (48 B each).
func (x *Context) Items() map[string]any { return x.conn.Items() }

// connContext is a connection's context.Context, made only when something
// waits on it (Done, Err): most connections never need one, and it costs a
// few hundred bytes each.
type connContext struct{ c *actors.Conn }

func (x connContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (x connContext) Done() <-chan struct{}       { return x.c.Context().Done() }
func (x connContext) Err() error                  { return x.c.Context().Err() }
func (x connContext) Value(any) any               { return nil }

// membershipContext is the context a membership change is watched with: a
// hub method's own Context ends only with its connection, and a change
// takes microseconds (it is bounded anyway), so it is not watched and its
// connection's context need not be made.
func membershipContext(ctx context.Context) context.Context {
	if hc, ok := ctx.(*Context); ok {
		if _, plain := hc.Context.(connContext); plain {
			return context.Background()
		}
	}
	return ctx
}

// Transport names the caller's transport: "WebSockets", "ServerSentEvents"
// or "LongPolling" ("" for a connection made without package transports).
func (c *Context) Transport() string { return c.conn.Transport() }

// Request is the HTTP request that opened the caller's connection (the
// WebSocket upgrade, the Server-Sent Events GET, the first long poll), as
// ASP.NET Core's Context.GetHttpContext(): its headers, URL and query,
// cookies, Host and RemoteAddr; it has no body, and its context is not the
// connection's. nil unless the transport keeps requests
// (transports.Config.KeepRequests), since a request's headers cost memory
// for as long as the connection lives. Read it, never modify it: every call
// of the connection shares it.
func (c *Context) Request() *http.Request { return c.conn.Request() }

// Abort ends the caller's connection once the current call returns. The
// client gets a Close message that forbids reconnecting.
func (c *Context) Abort() { c.conn.Close("", false, actors.ErrAborted) }

// CloseWithError ends the caller's connection with a Close message that
// carries "Connection closed with an error." and lets the client reconnect.
func (c *Context) CloseWithError(err error) {
	c.conn.Close("Connection closed with an error.", true, err)
}

// Drop cuts the caller's connection with no Close message or close frame,
// as a network failure would.
func (c *Context) Drop() { c.conn.Drop() }

// Groups adds connections to groups and removes them. Membership lives as
// long as the connection does.
type Groups struct{ h *Hub }

// groupTimeout bounds a membership change made for another node; it only
// runs out when the server is overloaded. (A change made here is bounded by
// the engine, as long.)
const groupTimeout = 30 * time.Second

// Add makes the connection a member of group and returns once that is in
// effect: a send to the group after Add returns reaches the connection,
// from any node. On a single node an unknown connection id is ignored, as
// in ASP.NET Core. With a backplane, a connection this node does not hold
// is added by the node that holds it, which acknowledges it; when none does
// within Config.AckTimeout (the id is unknown everywhere, or that node is
// gone), Add returns an error wrapping ErrNoAck, as ASP.NET Core's Redis
// backplane times out.
func (g Groups) Add(ctx context.Context, connectionID, group string) error {
	// No context derived from ctx here: a child of a connection's context
	// would leave its trace (the parent's map of children) in every
	// connection that ever joined a group.
	ctx = membershipContext(ctx)
	e, s := g.h.engine, g.h.scale
	if s == nil {
		err := e.AddToGroup(ctx, connectionID, actors.GroupKey(group))
		if err == actors.ErrNotFound {
			return nil
		}
		return groupError(err)
	}
	if _, ok := e.Conn(connectionID); ok {
		err := s.addLocal(ctx, e, connectionID, group)
		if err != actors.ErrNotFound {
			return groupError(err)
		}
	}
	return s.groupCommand(ctx, backplane.GroupAdd, connectionID, group)
}

// groupError is the hub's error for what the engine reports of a join.
func groupError(err error) error {
	if errors.Is(err, actors.ErrTooManyGroups) {
		return ErrTooManyGroups
	}
	return err
}

// Remove ends the connection's membership of group and returns once that is
// in effect, on whichever node holds the connection (see Add: an unknown
// id waits for AckTimeout and gives ErrNoAck with a backplane).
func (g Groups) Remove(ctx context.Context, connectionID, group string) error {
	ctx = membershipContext(ctx)
	e, s := g.h.engine, g.h.scale
	if s == nil {
		return e.RemoveFromGroup(ctx, connectionID, actors.GroupKey(group))
	}
	if _, ok := e.Conn(connectionID); ok {
		return s.removeLocal(ctx, e, connectionID, group)
	}
	return s.groupCommand(ctx, backplane.GroupRemove, connectionID, group)
}

// Count is the number of members of group on every node: this node's
// exactly, the others' as of their last report, which follows a change
// within about a second (see Config.NodeExpiry).
// With the backplane unreachable it returns this node's count and an error.
func (g Groups) Count(ctx context.Context, group string) (int, error) {
	return g.h.count(ctx, actors.GroupKey(group))
}
