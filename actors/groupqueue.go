package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// A group's queue: what senders handed a group and its actor (and shards)
// have not fanned out yet. A group's fan-out costs a message per member,
// a send costs its sender one: a client that floods sends to a large group
// (each invocation one SendToGroup) would grow the group's mailbox without
// bound. So a sender on this node waits while a group is far behind, as an
// ASP.NET Core sender waits for its writes: past groupQueueMessages
// payloads or groupQueueBytes bytes, until it is down to half. A sender
// that runs in a connection's turn waits through the pool's Blocking: its
// connection's actor waits, the client's inbound budget fills, and TCP
// pushes back on the client. Sends from other nodes (through the
// backplane) are counted but never wait: the backplane's receiver must not
// stall.

const (
	groupQueueMessages = 1024
	groupQueueBytes    = 4 << 20
)

// groupRef is a group as senders see it: its actor, and its queue.
type groupRef struct {
	pid    *actor.PID
	key    string       // the group's key, shared by its members' keySets
	queued atomic.Int64 // payloads accepted, not yet fanned out by every shard
	bytes  atomic.Int64 // their sizes (Payload.size)
	// waiting: a sender waits for room. Set under mu; fannedOut reads it
	// after taking its payload off the queue, the waiter reads the queue
	// after setting it: one of them sees the other.
	waiting atomic.Bool

	mu      sync.Mutex
	room    chan struct{} // guarded by mu: closed when the queue is down to half
	stopped bool          // guarded by mu: the actor is stopping: nobody waits
}

// behind reports whether the queue is at its bound (past half: low false).
func (g *groupRef) behind(low bool) bool {
	n, b := g.queued.Load(), g.bytes.Load()
	if low {
		return n > groupQueueMessages/2 || b > groupQueueBytes/2
	}
	return n >= groupQueueMessages || b >= groupQueueBytes
}

// accept puts p on the group's queue; a local sender first waits for room.
func (g *groupRef) accept(e *Engine, p *Payload) {
	if !p.remote && g.behind(false) {
		e.sys.pool.Blocking(func() { g.waitRoom() })
	}
	g.queued.Add(1)
	g.bytes.Add(int64(p.size))
}

// waitRoom waits until the queue is down to half, or the group stops.
func (g *groupRef) waitRoom() {
	for g.behind(true) {
		g.mu.Lock()
		if g.stopped {
			g.mu.Unlock()
			return
		}
		if g.room == nil {
			g.room = make(chan struct{})
		}
		room := g.room
		g.waiting.Store(true)
		if !g.behind(true) {
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		<-room
	}
}

// fannedOut takes a payload off the queue once every member had it.
func (g *groupRef) fannedOut(p *Payload) {
	g.queued.Add(-1)
	g.bytes.Add(-int64(p.size))
	if g.waiting.Load() && !g.behind(true) {
		g.wake(false)
	}
}

// isStopped reports whether the group's actor is stopping.
func (g *groupRef) isStopped() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopped
}

// wake lets the waiting senders go on; with stop, for good.
func (g *groupRef) wake(stop bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = g.stopped || stop
	g.waiting.Store(false)
	if g.room != nil {
		close(g.room)
		g.room = nil
	}
}

// shardJob is a payload (or a drain marker) a partitioned group hands its
// shards; the last shard to finish it takes it off the group's queue.
type shardJob struct {
	p    *Payload      // nil for a drain marker
	left atomic.Int32  // shards still to do it
	g    *groupRef     // the group, for a payload
	done chan struct{} // closed by the last shard, for a drain marker
}

func (j *shardJob) finish() {
	if j.left.Add(-1) != 0 {
		return
	}
	if j.p != nil {
		j.g.fannedOut(j.p)
	}
	if j.done != nil {
		close(j.done)
	}
}
