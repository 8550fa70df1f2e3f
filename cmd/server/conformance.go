package main

import (
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// conformance is the hub of docs/conformance-hub.md, mounted at
// /hubs/conformance with -conformance. Its contract is fixed: outside
// checks rely on it.
type conformance struct {
	mu     sync.Mutex
	events []string // guarded by mu
}

func (h *conformance) record(event string) {
	h.mu.Lock()
	h.events = append(h.events, event)
	h.mu.Unlock()
}

// OnConnected logs connected:<id>.
func (h *conformance) OnConnected(ctx *hub.Context) error {
	h.record("connected:" + ctx.ConnectionID)
	return nil
}

// OnDisconnected logs disconnected:<id> or disconnected-error:<id>.
func (h *conformance) OnDisconnected(ctx *hub.Context, err error) {
	if err != nil {
		h.record("disconnected-error:" + ctx.ConnectionID)
		return
	}
	h.record("disconnected:" + ctx.ConnectionID)
}

// Events is the lifecycle log, oldest first.
func (h *conformance) Events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string{}, h.events...)
}

// Echo returns its argument unchanged.
func (h *conformance) Echo(x any) any { return x }

// Add returns a + b.
func (h *conformance) Add(a, b float64) float64 { return a + b }

// Void completes with no result.
func (h *conformance) Void() {}

// Throw fails with an error whose text stays on the server.
func (h *conformance) Throw() error { return errors.New("conformance: Throw was called") }

// ThrowHub fails with a hub error whose text reaches the client.
func (h *conformance) ThrowHub(msg string) error { return &hub.Error{Message: msg} }

// GetConnectionID is the caller's connection id.
func (h *conformance) GetConnectionID(ctx *hub.Context) string { return ctx.ConnectionID }

// WhoAmI is the caller's user id, or null.
func (h *conformance) WhoAmI(ctx *hub.Context) any {
	if ctx.UserID == "" {
		return nil
	}
	return ctx.UserID
}

// SetItem stores a per-connection item.
func (h *conformance) SetItem(ctx *hub.Context, key string, value any) { ctx.Items()[key] = value }

// AppendItem appends value to the per-connection list item key: the order
// in which the server ran the calls.
func (h *conformance) AppendItem(ctx *hub.Context, key string, value any) {
	l, _ := ctx.Items()[key].([]any)
	ctx.Items()[key] = append(l, value)
}

// GetItem reads a per-connection item.
func (h *conformance) GetItem(ctx *hub.Context, key string) any { return ctx.Items()[key] }

// SendToAll sends method(arg) to every connection.
func (h *conformance) SendToAll(ctx *hub.Context, method string, arg any) error {
	return ctx.Clients.All().Send(method, arg)
}

// SendToOthers sends to everyone but the caller.
func (h *conformance) SendToOthers(ctx *hub.Context, method string, arg any) error {
	return ctx.Clients.Others().Send(method, arg)
}

// SendToCaller sends to the caller.
func (h *conformance) SendToCaller(ctx *hub.Context, method string, arg any) error {
	return ctx.Clients.Caller().Send(method, arg)
}

// SendToConnection sends to one connection.
func (h *conformance) SendToConnection(ctx *hub.Context, id, method string, arg any) error {
	return ctx.Clients.Client(id).Send(method, arg)
}

// SendToConnections sends to those connections.
func (h *conformance) SendToConnections(ctx *hub.Context, ids []string, method string, arg any) error {
	return ctx.Clients.Clients(ids...).Send(method, arg)
}

// SendToAllExcept sends to all but those connections.
func (h *conformance) SendToAllExcept(ctx *hub.Context, ids []string, method string, arg any) error {
	return ctx.Clients.AllExcept(ids...).Send(method, arg)
}

// JoinGroup adds the caller to group; it returns once that is in effect.
func (h *conformance) JoinGroup(ctx *hub.Context, group string) error {
	return ctx.Groups.Add(ctx, ctx.ConnectionID, group)
}

// LeaveGroup removes the caller from group.
func (h *conformance) LeaveGroup(ctx *hub.Context, group string) error {
	return ctx.Groups.Remove(ctx, ctx.ConnectionID, group)
}

// SendToGroup sends to the members of group.
func (h *conformance) SendToGroup(ctx *hub.Context, group, method string, arg any) error {
	return ctx.Clients.Group(group).Send(method, arg)
}

// SendToGroups sends to the members of any of the groups, each once.
func (h *conformance) SendToGroups(ctx *hub.Context, groups []string, method string, arg any) error {
	return ctx.Clients.Groups(groups...).Send(method, arg)
}

// SendToGroupExcept sends to the members of group but those connections.
func (h *conformance) SendToGroupExcept(ctx *hub.Context, group string, ids []string, method string, arg any) error {
	return ctx.Clients.GroupExcept(group, ids...).Send(method, arg)
}

// SendToOthersInGroup sends to the members of group but the caller.
func (h *conformance) SendToOthersInGroup(ctx *hub.Context, group, method string, arg any) error {
	return ctx.Clients.OthersInGroup(group).Send(method, arg)
}

// SendToUser sends to every connection of user.
func (h *conformance) SendToUser(ctx *hub.Context, user, method string, arg any) error {
	return ctx.Clients.User(user).Send(method, arg)
}

// SendToUsers sends to every connection of those users.
func (h *conformance) SendToUsers(ctx *hub.Context, users []string, method string, arg any) error {
	return ctx.Clients.Users(users...).Send(method, arg)
}

// Counter streams 0..n-1, one every delayMs, and logs cancelled:<invocationId>
// when the client cancels it (or the connection ends) first.
func (h *conformance) Counter(ctx *hub.Context, n, delayMs int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if i > 0 && delayMs > 0 {
				t := time.NewTimer(time.Duration(delayMs) * time.Millisecond)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			if ctx.Err() != nil || !yield(i) {
				if ctx.Err() != nil {
					h.record("cancelled:" + ctx.InvocationID)
				}
				return
			}
		}
	}
}

// FailingStream streams 0..n-1, then fails.
func (h *conformance) FailingStream(n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := range n {
			if !yield(i, nil) {
				return
			}
		}
		yield(0, errors.New("conformance: FailingStream fails"))
	}
}

// Sum returns the sum of the numbers the client uploads; an upload the
// client ends with an error fails it (the generic text, as in ASP.NET).
func (h *conformance) Sum(numbers *hub.Stream[float64]) (float64, error) {
	sum := 0.0
	for v := range numbers.All() {
		sum += v
	}
	if err := numbers.Err(); err != nil {
		return 0, fmt.Errorf("conformance: Sum's upload failed: %w", err)
	}
	return sum, nil
}

// AskClient invokes method(arg) on the caller and returns its result, or
// fails with the client's error text.
func (h *conformance) AskClient(ctx *hub.Context, method string, arg any) (any, error) {
	return hub.InvokeClient[any](ctx, ctx.Clients.Caller(), method, arg)
}

// Abort ends the connection with a Close that forbids reconnecting.
func (h *conformance) Abort(ctx *hub.Context) { ctx.Abort() }

// CloseWithReconnect ends the connection with
// Close{error: "Connection closed with an error.", allowReconnect: true}.
func (h *conformance) CloseWithReconnect(ctx *hub.Context) {
	ctx.CloseWithError(errors.New("conformance: CloseWithReconnect was called"))
}

// Drop cuts the connection with no Close message or close frame.
func (h *conformance) Drop(ctx *hub.Context) { ctx.Drop() }

// testTokens accepts the conformance hub's test tokens: "test:<user>" is
// user <user>; no token is anonymous; anything else is refused.
var testTokens = transports.AuthenticatorFunc(func(_ *http.Request, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	user, ok := strings.CutPrefix(token, "test:")
	if !ok || user == "" {
		return "", transports.ErrUnauthorized
	}
	return user, nil
})
