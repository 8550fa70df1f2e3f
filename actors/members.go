package actors

import (
	"context"
	"sync"
	"sync/atomic"
)

// Members is the connections of this engine that are members of the group
// key, as the hub actor has them once what was asked before the call is in
// effect. A large group's shards each add theirs. The order is not
// meaningful.
func (e *Engine) Members(ctx context.Context, key string) ([]*Conn, error) {
	c := &memberCollector{done: make(chan struct{})}
	c.pending.Store(1)
	e.send(e.hubPID, &listMembers{key: key, c: c})
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.conns, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.stopBeat: // shut down: the hub actor is stopping
		return nil, errShutdown
	}
}

// GroupKeys is the named groups' keys (GroupKey) the connection is a member
// of; the keys of all connections and of its user are left out.
func (c *Conn) GroupKeys() []string {
	c.groups.mu.Lock()
	defer c.groups.mu.Unlock()
	var keys []string
	c.groups.each(func(key string) {
		if isGroupKey(key) {
			keys = append(keys, key)
		}
	})
	return keys
}

// listMembers asks the hub actor, then the group and its shards, for the
// members of key.
type listMembers struct {
	key string
	c   *memberCollector
}

// memberCollector gathers the members that a group and its shards report;
// done is closed once every part has.
type memberCollector struct {
	mu      sync.Mutex
	conns   []*Conn // guarded by mu
	pending atomic.Int32
	done    chan struct{}
}

// expect adds n parts still to report.
func (m *memberCollector) expect(n int) { m.pending.Add(int32(n)) }

// report adds one part's members and marks that part done.
func (m *memberCollector) report(conns []*Conn) {
	if len(conns) > 0 {
		m.mu.Lock()
		m.conns = append(m.conns, conns...)
		m.mu.Unlock()
	}
	if m.pending.Add(-1) == 0 {
		close(m.done)
	}
}

// listFromHub is the hub actor's part: a group with no members (or none at
// all) answers at once; otherwise the group answers. A group the hub actor
// counts members in is not stopped before it has handled the request:
// membership changes reach it through the hub actor, in order, and it only
// goes idle after its last member has left.
func (h *hubActor) listMembers(m *listMembers) {
	g, ok := h.groups[m.key]
	if !ok || g.members <= 0 {
		m.c.report(nil)
		return
	}
	h.e.send(g.ref.pid, m)
}

// listMembers is the group's part: its own members, or its shards'.
func (g *groupActor) listMembers(m *listMembers) {
	if g.shards == nil {
		m.c.report(append([]*Conn(nil), g.local.members...))
		return
	}
	m.c.expect(len(g.shards))
	for _, s := range g.shards {
		g.e.send(s, m)
	}
	m.c.report(nil)
}
