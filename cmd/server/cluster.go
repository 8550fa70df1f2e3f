package main

import (
	"github.com/actorhub/actorhub/hub"
)

// cluster is the conformance hub plus what a deployment of several nodes
// adds: group changes and client results for connections on any node, and
// counts over every node. Mounted at /hubs/cluster with -conformance; the
// multi-node tests drive it with the official client.
type cluster struct {
	*conformance
	node string
	hub  *hub.Hub // set once the hub exists
}

// NodeID is the node the caller is connected to.
func (h *cluster) NodeID(ctx *hub.Context) string { return h.node }

// AddToGroup adds any connection, on any node, to a group; it completes
// once a send to the group from any node reaches it.
func (h *cluster) AddToGroup(ctx *hub.Context, id, group string) error {
	return ctx.Groups.Add(ctx, id, group)
}

// RemoveFromGroup takes any connection, on any node, out of a group.
func (h *cluster) RemoveFromGroup(ctx *hub.Context, id, group string) error {
	return ctx.Groups.Remove(ctx, id, group)
}

// AskConnection invokes method(arg) on any connection, on any node, and
// returns its client's result.
func (h *cluster) AskConnection(ctx *hub.Context, id, method string, arg any) (any, error) {
	return hub.InvokeClient[any](ctx, ctx.Clients.Client(id), method, arg)
}

// GroupCount is the number of members of a group on every node.
func (h *cluster) GroupCount(ctx *hub.Context, group string) (int, error) {
	return ctx.Groups.Count(ctx, group)
}

// ConnectionCount is the number of connections on every node.
func (h *cluster) ConnectionCount(ctx *hub.Context) (int, error) {
	return h.hub.ConnectionCount(ctx)
}
