package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/backplane"
)

// Engine group keys, under the names this package uses.
const allKey = actors.KeyAll

func userKey(u string) string  { return actors.UserKey(u) }
func groupKey(g string) string { return actors.GroupKey(g) }

// closeConn ends a connection from the server side: the client gets a
// Close message with reason as its error (none when reason is "") that
// does not allow reconnecting.
func closeConn(c *actors.Conn, reason string) {
	cause := ErrServerClosed
	if reason != "" {
		cause = fmt.Errorf("%w: %s", ErrServerClosed, reason)
	}
	c.Close(reason, false, cause)
}

// Except is the proxy without the connections ids: they neither get its
// sends nor are closed by its Close.
func (p Proxy) Except(ids ...string) Proxy {
	p.exclude = append(slices.Clip(p.exclude), ids...)
	return p
}

// Close ends every connection of the proxy, on every node: each client gets
// a Close message whose error is reason (none when reason is "") and that
// does not allow it to reconnect, and its OnDisconnected gets an error
// wrapping ErrServerClosed. Connections the proxy excludes stay.
//
// Close returns once every node has told its connections to close (they
// close right after, on their own). With a backplane, nodes that do not
// answer within Config.AckTimeout give an error wrapping ErrNoAck; an
// unreachable backplane gives an error wrapping backplane.ErrUnavailable
// (this node's connections are closed either way). Closing a connection
// that does not exist is not an error.
func (p Proxy) Close(ctx context.Context, reason string) error {
	h := p.h
	switch p.kind {
	case toCaller:
		closeConn(p.caller, reason)
		return nil
	case toConns:
		var errs []error
		for _, id := range uniq(p.names) {
			if slices.Contains(p.exclude, id) {
				continue
			}
			if c, ok := h.engine.Conn(id); ok {
				closeConn(c, reason)
				continue
			}
			if _, err := h.everywhere(ctx, &backplane.Command{Op: backplane.OpCloseConn, Name: id, Reason: reason}, true); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	var errs []error
	for _, cmd := range p.commands(backplane.OpCloseAll, backplane.OpCloseGroup, backplane.OpCloseUser) {
		cmd.Reason = reason
		if _, err := h.everywhere(ctx, cmd, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exists reports whether the proxy has at least one connection, on any
// node: a connection of Client or Clients that is connected, a member of a
// group, a connection of a user, any connection for All; connections the
// proxy excludes do not count.
//
// This node answers from its own connections at once; otherwise, with a
// backplane, every node is asked, and Exists returns at the first that has
// one or once all have answered. Nodes that do not answer within
// Config.AckTimeout give false (if no other node has one) with an error
// wrapping ErrNoAck: their connections cannot be reached anyway.
func (p Proxy) Exists(ctx context.Context) (bool, error) {
	h := p.h
	var cmds []*backplane.Command
	switch p.kind {
	case toCaller:
		return p.caller.Connected(), nil
	case toConns:
		for _, id := range uniq(p.names) {
			if !slices.Contains(p.exclude, id) {
				cmds = append(cmds, &backplane.Command{Op: backplane.OpConnExists, Name: id})
			}
		}
	default:
		cmds = p.commands(backplane.OpAnyExists, backplane.OpGroupExists, backplane.OpUserExists)
	}
	var errs []error
	for _, cmd := range cmds {
		found, err := h.runLocal(ctx, cmd)
		if err == nil && !found && h.cmds != nil {
			found, err = h.cmds.ask(ctx, cmd, true)
		}
		if found {
			return true, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return false, errors.Join(errs...)
}

// commands is one command per target of the proxy: of op for all, group or
// user targets, with the proxy's exclusions.
func (p Proxy) commands(all, group, user backplane.CommandOp) []*backplane.Command {
	switch p.kind {
	case toAll:
		return []*backplane.Command{{Op: all, Excluded: p.exclude}}
	case toGroups:
		var out []*backplane.Command
		for _, g := range uniq(p.names) {
			out = append(out, &backplane.Command{Op: group, Name: g, Excluded: p.exclude})
		}
		return out
	case toUsers:
		var out []*backplane.Command
		for _, u := range uniq(p.names) {
			out = append(out, &backplane.Command{Op: user, Name: u, Excluded: p.exclude})
		}
		return out
	}
	return nil
}

// errNotFound is the engine's unknown connection.
var errNotFound = actors.ErrNotFound
