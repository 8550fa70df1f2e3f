package actors

import (
	"maps"

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
	// drainGroup: done is closed once the group has fanned out every
	// payload it had before it (Engine.Shutdown).
	drainGroup struct{ done chan struct{} }
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
func (m *addMember) ack() {
	if m.done != nil {
		close(m.done)
	}
	if m.notify {
		m.conn.post(&memberAdded{})
	}
}

// hubActor owns the map of group actors: it creates a group on its first
// join and stops it when it is empty with no join on the way. Sends do not
// pass through it: senders read Engine.groups, which only it writes.
//
// Group actors are spawned from the root, not as the hub actor's children:
// protoactor keeps a parent's children in a set whose backing array holds
// on to removed PIDs (and through their cached process, the whole stopped
// actor), so a burst of groups would stay in memory after they are gone.
// Engine.Shutdown stops the groups left.
type hubActor struct {
	e      *Engine
	groups map[string]*groupEntry
	peak   int // most entries groups held since it was last rebuilt
}

type groupEntry struct {
	ref       *groupRef
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
		ctx.Send(g.ref.pid, &addMember{conn: m.conn, done: m.done, notify: m.notify})
	case *leaveGroup:
		if g, ok := h.groups[m.key]; ok {
			g.members--
			ctx.Send(g.ref.pid, &removeMember{conn: m.conn, done: m.done})
		} else if m.done != nil {
			close(m.done)
		}
	case *groupIdle:
		g, ok := h.groups[m.key]
		if !ok || g.ref.pid != m.pid || g.joins != m.joins || g.permanent {
			return // a join is on its way, or it is a group that always exists
		}
		h.forget(m.key, g.ref)
		ctx.Stop(g.ref.pid)
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
	ref := &groupRef{key: key}
	h.e.spawningGroup = &groupActor{e: h.e, key: key, hub: ctx.Self(), ref: ref}
	ref.pid = h.e.sys.actors.Root.Spawn(h.e.groupProps)
	h.e.spawningGroup = nil
	h.e.stats.groups.Add(1)
	g := &groupEntry{ref: ref}
	h.groups[key] = g
	h.peak = max(h.peak, len(h.groups))
	h.e.groups.Store(key, ref)
	if f := h.e.cfg.OnGroupActive; f != nil {
		f(key, true)
	}
	return g
}

// forget drops a stopped group. A map keeps the room of its largest size:
// once it holds a quarter of that, it is copied into one that fits, so a
// burst of groups does not keep its memory.
func (h *hubActor) forget(key string, ref *groupRef) {
	delete(h.groups, key)
	h.e.groups.Delete(key)
	ref.wake(true)
	if h.peak > shrinkMin && len(h.groups) < h.peak/4 {
		h.groups = resized(h.groups)
		h.peak = len(h.groups)
	}
}

// shrinkMin: maps and slices smaller than this are never rebuilt to
// release memory.
const shrinkMin = 1024

// resized copies m into a map sized for what it holds (maps.Clone would
// keep m's room).
func resized[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	maps.Copy(out, m)
	return out
}

// groupActor holds a group's members and fans each payload out to them. A
// group that grows past partitionSize moves its members to child actors
// (shards), so that one broadcast to a large group runs on every core.
type groupActor struct {
	e      *Engine
	key    string
	hub    *actor.PID
	ref    *groupRef
	count  int
	joins  uint64
	local  memberSet    // members while not partitioned
	shards []*actor.PID // children once partitioned
}

func (g *groupActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Stopped:
		g.e.stats.groups.Add(-1)
	case *countMembers:
		m.reply <- g.count
	case *listMembers:
		g.listMembers(m)
	case *Payload:
		if g.shards == nil {
			g.local.fanOut(g.e, m)
			g.ref.fannedOut(m)
			return
		}
		g.toShards(ctx, &shardJob{p: m, g: g.ref})
	case *drainGroup:
		if g.shards == nil {
			close(m.done)
			return
		}
		g.toShards(ctx, &shardJob{done: m.done})
	case *addMember:
		g.count++
		g.joins++
		if g.shards != nil {
			// Every later send passes through this actor to the same shard,
			// after the forwarded change: the membership is in effect now.
			// (Acknowledging here also means no ack can be lost in a shard
			// that is stopped with the message still queued.)
			ctx.Send(g.shardOf(m.conn), &addMember{conn: m.conn})
			m.ack()
			return
		}
		g.local.add(m.conn)
		m.ack()
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

// toShards hands a job to every shard; the last to do it finishes it.
func (g *groupActor) toShards(ctx actor.Context, j *shardJob) {
	j.left.Store(int32(len(g.shards)))
	for _, s := range g.shards {
		ctx.Send(s, j)
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
	case *shardJob:
		if m.p != nil {
			s.set.fanOut(s.e, m.p)
		}
		m.finish()
	case *listMembers:
		m.c.report(append([]*Conn(nil), s.set.members...))
	case *addMember: // the group acknowledged it
		s.set.add(m.conn)
	case *removeMember:
		s.set.remove(m.conn)
	}
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
