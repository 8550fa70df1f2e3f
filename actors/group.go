package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// Membership messages. done, when set, is closed once the change is in effect.
type (
	joinGroup struct {
		key    string
		conn   *Conn
		done   chan struct{}
		notify bool // tell the connection's actor with *memberAdded
	}
	leaveGroup struct {
		key  string
		conn *Conn
		done chan struct{}
	}
	ensureGroup struct {
		key  string
		done chan struct{}
	}
	addMember struct {
		conn   *Conn
		done   chan struct{}
		notify bool
	}
	// memberAdded tells a connection actor that a join it asked for is in effect.
	memberAdded  struct{}
	removeMember struct {
		conn *Conn
		done chan struct{}
	}
	// countMembers asks a group for its member count (for tests and stats).
	countMembers struct{ reply chan int }
	// countAll asks the hub actor for the member count of every group key.
	countAll struct {
		keys  []string // only these; none means every key
		reply chan map[string]int64
	}
	// groupIdle: the group lost its last member after joins joins in all.
	groupIdle struct {
		key   string
		pid   *actor.PID
		joins uint64
	}
)

// ack tells whoever asked that the member is in.
func (m *addMember) ack(ctx actor.Context) {
	if m.done != nil {
		close(m.done)
	}
	if m.notify {
		ctx.Send(m.conn.pid, &memberAdded{})
	}
}

// hubActor owns the map of group actors: it creates a group on its first
// join and stops it when it is empty with no join on the way. Sends do not
// pass through it: senders read Engine.groups, which only it writes.
type hubActor struct {
	e      *Engine
	groups map[string]*groupEntry
}

type groupEntry struct {
	pid       *actor.PID
	joins     uint64 // joins forwarded to it
	members   int64  // joins minus leaves: the connections join and leave only once each
	permanent bool
}

func newHubActor(e *Engine) *hubActor {
	return &hubActor{e: e, groups: make(map[string]*groupEntry)}
}

func (h *hubActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *ensureGroup:
		h.entry(ctx, m.key).permanent = true
		close(m.done)
	case *joinGroup:
		g := h.entry(ctx, m.key)
		g.joins++
		g.members++
		ctx.Send(g.pid, &addMember{conn: m.conn, done: m.done, notify: m.notify})
	case *leaveGroup:
		if g, ok := h.groups[m.key]; ok {
			g.members--
			ctx.Send(g.pid, &removeMember{conn: m.conn, done: m.done})
		} else if m.done != nil {
			close(m.done)
		}
	case *groupIdle:
		g, ok := h.groups[m.key]
		if !ok || g.pid != m.pid || g.joins != m.joins || g.permanent {
			return // a join is on its way, or it is a group that always exists
		}
		delete(h.groups, m.key)
		h.e.groups.Delete(m.key)
		ctx.Stop(g.pid)
		if f := h.e.cfg.OnGroupActive; f != nil {
			f(m.key, false)
		}
	case *listMembers:
		h.listMembers(m)
	case *countAll:
		if len(m.keys) > 0 {
			counts := make(map[string]int64, len(m.keys))
			for _, key := range m.keys {
				if g, ok := h.groups[key]; ok && g.members > 0 {
					counts[key] = g.members
				}
			}
			m.reply <- counts
			return
		}
		counts := make(map[string]int64, len(h.groups))
		for key, g := range h.groups {
			if g.members > 0 {
				counts[key] = g.members
			}
		}
		m.reply <- counts
	}
}

func (h *hubActor) entry(ctx actor.Context, key string) *groupEntry {
	if g, ok := h.groups[key]; ok {
		return g
	}
	ga := &groupActor{e: h.e, key: key, hub: ctx.Self()}
	pid := ctx.Spawn(h.e.sys.coreProps(func() actor.Actor { return ga }))
	g := &groupEntry{pid: pid}
	h.groups[key] = g
	h.e.groups.Store(key, pid)
	if f := h.e.cfg.OnGroupActive; f != nil {
		f(key, true)
	}
	return g
}

// groupActor holds a group's members and fans each payload out to them. A
// group that grows past partitionSize moves its members to child actors
// (shards), so that one broadcast to a large group runs on every core.
type groupActor struct {
	e      *Engine
	key    string
	hub    *actor.PID
	count  int
	joins  uint64
	local  memberSet    // members while not partitioned
	shards []*actor.PID // children once partitioned
}

func (g *groupActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *countMembers:
		m.reply <- g.count
	case *listMembers:
		g.listMembers(m)
	case *Payload:
		if g.shards == nil {
			g.local.fanOut(g.e, m)
			return
		}
		for _, s := range g.shards {
			ctx.Send(s, m)
		}
	case *addMember:
		g.count++
		g.joins++
		if g.shards != nil {
			// Every later send passes through this actor to the same shard,
			// after the forwarded change: the membership is in effect now.
			// (Acknowledging here also means no ack can be lost in a shard
			// that is stopped with the message still queued.)
			ctx.Send(g.shardOf(m.conn), &addMember{conn: m.conn})
			m.ack(ctx)
			return
		}
		g.local.add(m.conn)
		m.ack(ctx)
		if g.count > g.e.cfg.partitionSize {
			g.partition(ctx)
		}
	case *removeMember:
		g.count--
		if g.shards != nil {
			ctx.Send(g.shardOf(m.conn), &removeMember{conn: m.conn})
		} else {
			g.local.remove(m.conn)
		}
		if m.done != nil {
			close(m.done)
		}
		if g.count == 0 {
			ctx.Send(g.hub, &groupIdle{key: g.key, pid: ctx.Self(), joins: g.joins})
		}
	}
}

func (g *groupActor) shardOf(c *Conn) *actor.PID {
	return g.shards[c.seq%uint64(len(g.shards))]
}

// partition moves the members to child actors.
func (g *groupActor) partition(ctx actor.Context) {
	n := g.e.cfg.partitions
	sets := make([]*shardActor, n)
	g.shards = make([]*actor.PID, n)
	for i := range sets {
		s := &shardActor{e: g.e}
		sets[i] = s
		g.shards[i] = ctx.Spawn(g.e.sys.coreProps(func() actor.Actor { return s }))
	}
	// The shards have not run yet; filling them here happens before their
	// first message (the spawn's mailbox hand-off orders it).
	members := g.local.members
	g.local = memberSet{}
	for _, c := range members {
		sets[c.seq%uint64(n)].set.add(c)
	}
}

// shardActor holds part of a large group's members.
type shardActor struct {
	e   *Engine
	set memberSet
}

func (s *shardActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Payload:
		s.set.fanOut(s.e, m)
	case *listMembers:
		m.c.report(append([]*Conn(nil), s.set.members...))
	case *addMember: // the group acknowledged it
		s.set.add(m.conn)
	case *removeMember:
		s.set.remove(m.conn)
	}
}

// memberSet is a set of connections with O(1) add and remove and a dense
// slice to range over when fanning out.
type memberSet struct {
	members []*Conn
	index   map[*Conn]int
}

func (s *memberSet) add(c *Conn) {
	if s.index == nil {
		s.index = make(map[*Conn]int)
	}
	if _, ok := s.index[c]; ok {
		return
	}
	s.index[c] = len(s.members)
	s.members = append(s.members, c)
}

func (s *memberSet) remove(c *Conn) {
	i, ok := s.index[c]
	if !ok {
		return
	}
	last := len(s.members) - 1
	s.members[i] = s.members[last]
	s.index[s.members[i]] = i
	s.members[last] = nil
	s.members = s.members[:last]
	delete(s.index, c)
}

// fanOutBatch is how many woken mailboxes a fan-out hands the pool at once.
const fanOutBatch = 256

// fanOut sends the same payload to every member: one message each into its
// actor's mailbox, no copy. Mailboxes the message wakes are handed to the
// pool in batches, one lock per batch instead of one per member.
func (s *memberSet) fanOut(e *Engine, p *Payload) {
	var runs [fanOutBatch]func()
	n := 0
	for _, c := range s.members {
		if len(p.exclude) > 0 && p.excludes(c.ID) {
			continue
		}
		if c.mbox.post(p) {
			runs[n] = c.mbox.runFn
			if n++; n == fanOutBatch {
				e.sys.pool.ScheduleMany(runs[:n])
				n = 0
			}
		}
	}
	e.sys.pool.ScheduleMany(runs[:n])
}
