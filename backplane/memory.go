package backplane

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// Memory is an in-process broker: each Node it makes is a Backplane, and
// the hubs that use them act as nodes of one deployment. A message reaches
// each subscribed node through that node's own delivery goroutine, in the
// order it was published, as Redis delivers. For tests and examples; it
// crosses no process boundary.
type Memory struct {
	mu       sync.Mutex
	nodes    map[*MemoryNode]struct{}   // guarded by mu
	presence map[string]map[string]fact // set -> node -> report; guarded by mu
	down     bool                       // guarded by mu
}

type fact struct {
	counts  map[string]int64
	expires time.Time
}

// NewMemory makes an empty broker.
func NewMemory() *Memory {
	return &Memory{nodes: make(map[*MemoryNode]struct{}), presence: make(map[string]map[string]fact)}
}

// SetDown makes the broker unavailable (true) or available again (false),
// as a Redis that stops and returns: publishes fail with ErrUnavailable and
// nothing is delivered meanwhile; subscriptions are kept.
func (m *Memory) SetDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// Node makes a node of the broker.
func (m *Memory) Node() *MemoryNode {
	n := &MemoryNode{m: m, subs: make(map[string]Handler), signal: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	m.mu.Lock()
	m.nodes[n] = struct{}{}
	m.mu.Unlock()
	// Owner: the node. Close closes stop and waits for stopped.
	go n.run()
	return n
}

// MemoryNode is one node's Backplane on a Memory broker.
type MemoryNode struct {
	m       *Memory
	subs    map[string]Handler // guarded by m.mu
	queue   []delivery         // guarded by m.mu: published, not yet handled
	signal  chan struct{}      // capacity 1: queue is not empty
	stop    chan struct{}
	stopped chan struct{}
	closed  bool // guarded by m.mu
	counters
}

var (
	_ Backplane     = (*MemoryNode)(nil)
	_ StatsReporter = (*MemoryNode)(nil)
)

type delivery struct {
	channel string
	msg     []byte
	h       Handler
}

func (n *MemoryNode) run() {
	defer close(n.stopped)
	for {
		select {
		case <-n.signal:
		case <-n.stop:
			return
		}
		n.m.mu.Lock()
		batch := n.queue
		n.queue = nil
		n.m.mu.Unlock()
		n.received.Add(uint64(len(batch)))
		for _, d := range batch {
			d.h(d.channel, d.msg)
		}
	}
}

// Publish implements Backplane.
func (n *MemoryNode) Publish(channel string, msg []byte, done func(int, error)) error {
	m := n.m
	m.mu.Lock()
	if n.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if m.down {
		m.mu.Unlock()
		n.publishErrors.Add(1)
		return ErrUnavailable
	}
	n.published.Add(1)
	msg = slices.Clone(msg)
	receivers := 0
	for node := range m.nodes {
		if h, ok := node.subs[channel]; ok {
			receivers++
			// Queued under mu, never waiting (a handler may publish):
			// publishes reach every node in one order.
			node.queue = append(node.queue, delivery{channel, msg, h})
			select {
			case node.signal <- struct{}{}:
			default:
			}
		}
	}
	m.mu.Unlock()
	if done != nil {
		done(receivers, nil)
	}
	return nil
}

// Subscribe implements Backplane.
func (n *MemoryNode) Subscribe(channel string, h Handler) <-chan struct{} {
	n.m.mu.Lock()
	if !n.closed {
		n.subs[channel] = h
	}
	n.m.mu.Unlock()
	return closedChan
}

// Unsubscribe implements Backplane.
func (n *MemoryNode) Unsubscribe(channel string) {
	n.m.mu.Lock()
	delete(n.subs, channel)
	n.m.mu.Unlock()
}

// PutPresence implements Backplane.
func (n *MemoryNode) PutPresence(_ context.Context, set, node string, counts map[string]int64, ttl time.Duration) error {
	m := n.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if m.down {
		return ErrUnavailable
	}
	if m.presence[set] == nil {
		m.presence[set] = make(map[string]fact)
	}
	m.presence[set][node] = fact{counts: maps.Clone(counts), expires: time.Now().Add(ttl)}
	return nil
}

// Presence implements Backplane.
func (n *MemoryNode) Presence(_ context.Context, set, name string) (map[string]int64, error) {
	m := n.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, ErrUnavailable
	}
	out := make(map[string]int64)
	now := time.Now()
	for node, f := range m.presence[set] {
		if now.After(f.expires) {
			delete(m.presence[set], node)
			continue
		}
		out[node] = f.counts[name]
	}
	return out, nil
}

// DropPresence implements Backplane.
func (n *MemoryNode) DropPresence(_ context.Context, set, node string) error {
	m := n.m
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.presence[set], node)
	return nil
}

// Ready is nil while the broker is up, ErrUnavailable while it is down,
// ErrClosed after Close.
func (n *MemoryNode) Ready(context.Context) error {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.m.down:
		return ErrUnavailable
	}
	return nil
}

// Stats implements StatsReporter.
func (n *MemoryNode) Stats() Stats {
	n.m.mu.Lock()
	up := !n.m.down
	n.m.mu.Unlock()
	return n.snapshot(up, 0)
}

// Close implements Backplane: the node stops delivering and leaves the
// broker.
func (n *MemoryNode) Close() error {
	m := n.m
	m.mu.Lock()
	if n.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	n.closed = true
	delete(m.nodes, n)
	n.subs = map[string]Handler{}
	m.mu.Unlock()
	close(n.stop)
	<-n.stopped
	return nil
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
