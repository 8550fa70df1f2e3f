package backplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sharded subscriptions of the Redis Cluster engine. One goroutine, the
// subscribe loop, owns the slot map, the connections (one per master
// that holds a subscribed channel) and which channel is subscribed on
// which; it applies Subscribe / Unsubscribe in order, pings the
// connections, and moves channels to their slot's new master when a
// connection is lost or the server unsubscribes them (their slot moved).
// Each connection has a reader goroutine that delivers its messages and
// matches the replies to the commands sent.

// shard is the subscription connection to one master.
type shard struct {
	addr string
	conn *shardConn
	done chan struct{} // closed when its reader has returned

	mu   sync.Mutex // guards sent
	sent []sentCmd  // commands written whose reply has not been read, in order; at most one per subscribed channel and change, plus pings

	channels map[string]struct{} // subscribed here; owned by the subscribe loop
}

type sentCmd struct {
	kind    string // "ssubscribe", "sunsubscribe" or "ping"
	channel string
	ready   chan struct{} // ssubscribe: closed by its reply; may be nil
}

// send writes a command (buffered: flush sends) and records it to match
// its reply.
func (s *shard) send(kind, channel string, ready chan struct{}) error {
	s.mu.Lock()
	s.sent = append(s.sent, sentCmd{kind: kind, channel: channel, ready: ready})
	s.mu.Unlock()
	if kind == "ping" {
		return s.conn.write("PING")
	}
	return s.conn.write(kind, channel)
}

// subLoop is the subscribe loop's state; only that goroutine touches it.
type subLoop struct {
	r       *RedisCluster
	owner   []string // slot -> master's host:port; nil until read
	shards  map[string]*shard
	home    map[string]*shard   // channel -> the connection it is subscribed on
	pending map[string]struct{} // wanted channels not subscribed anywhere yet
	refresh bool                // the slot map must be read again
	lostAt  time.Time           // when a connection was last lost; zero once every channel is home again
	warn    every
}

func (r *RedisCluster) subscribeLoop() {
	defer r.wg.Done()
	l := &subLoop{r: r, shards: map[string]*shard{}, home: map[string]*shard{}, pending: map[string]struct{}{}, refresh: true}
	defer l.closeAll()
	ping := time.NewTicker(r.cfg.OpTimeout)
	defer ping.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	bo := newBackoff(50*time.Millisecond, 250*time.Millisecond)
	for {
		select {
		case <-r.ctx.Done():
			r.mu.Lock()
			for _, o := range r.ops {
				if o.ready != nil {
					close(o.ready)
				}
			}
			r.ops = nil
			r.mu.Unlock()
			return
		case <-ping.C:
			l.ping()
			continue
		case <-r.opSignal:
		case <-retry.C:
		}
		l.work()
		if len(l.pending) > 0 {
			retry.Reset(bo.wait())
		} else {
			bo.reset()
		}
	}
}

// work applies what is waiting: lost connections, channels to move,
// subscription changes, then subscribes what is pending.
func (l *subLoop) work() {
	r := l.r
	r.mu.Lock()
	ops := r.ops
	r.ops = nil
	lost := r.lost
	r.lost = nil
	rehome := r.rehome
	if len(rehome) > 0 {
		r.rehome = make(map[string]struct{})
	}
	r.mu.Unlock()

	for _, s := range lost {
		l.drop(s)
	}
	for ch := range rehome {
		if s := l.home[ch]; s != nil {
			delete(s.channels, ch)
			delete(l.home, ch)
		}
		l.pending[ch] = struct{}{}
		l.refresh = true
	}
	if l.refresh {
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.OpTimeout)
		owner, err := clusterSlots(ctx, r.client)
		cancel()
		if err == nil {
			l.owner, l.refresh = owner, false
		} else if r.ctx.Err() == nil && l.warn.allow(5*time.Second) {
			r.errors.Add(1)
			r.log.Warn("backplane: cannot read the redis cluster's slots; subscriptions wait", "err", err)
		}
	}
	unreachable := map[string]bool{}
	for _, o := range ops {
		delete(l.pending, o.channel)
		if !o.sub {
			if s := l.home[o.channel]; s != nil {
				delete(s.channels, o.channel)
				delete(l.home, o.channel)
				if err := s.send("sunsubscribe", o.channel, nil); err != nil {
					l.drop(s)
				}
			}
			continue
		}
		if !l.subscribe(o.channel, o.ready, unreachable) {
			l.pending[o.channel] = struct{}{}
			if o.ready != nil {
				close(o.ready) // takes effect when its master answers
			}
		}
	}
	for ch := range l.pending {
		r.mu.Lock()
		_, wanted := r.handlers[ch]
		r.mu.Unlock()
		if !wanted || l.subscribe(ch, nil, unreachable) {
			delete(l.pending, ch)
		}
	}
	for _, s := range l.shards {
		if err := s.conn.flush(); err != nil {
			l.drop(s)
		}
	}
	if len(l.pending) == 0 && !l.lostAt.IsZero() {
		r.reconnects.Add(1)
		r.log.Info("backplane: redis cluster subscriptions back", "after", time.Since(l.lostAt))
		l.lostAt = time.Time{}
	}
}

// subscribe sends SSUBSCRIBE for channel on its master's connection
// (connecting it if need be); false when that cannot be done now.
func (l *subLoop) subscribe(channel string, ready chan struct{}, unreachable map[string]bool) bool {
	if l.owner == nil {
		return false
	}
	addr := l.owner[keySlot(channel)]
	if addr == "" || unreachable[addr] {
		return false
	}
	if s := l.home[channel]; s != nil && s.addr != addr { // its slot moved
		delete(s.channels, channel)
		delete(l.home, channel)
		if err := s.send("sunsubscribe", channel, nil); err != nil {
			l.drop(s)
		}
	}
	s := l.shards[addr]
	if s == nil {
		var err error
		if s, err = l.connect(addr); err != nil {
			unreachable[addr] = true
			l.refresh = true
			if l.r.ctx.Err() == nil && l.warn.allow(5*time.Second) {
				l.r.errors.Add(1)
				l.r.log.Warn("backplane: cannot connect to a redis cluster master; its subscriptions wait", "addr", addr, "err", err)
			}
			return false
		}
	}
	if err := s.send("ssubscribe", channel, ready); err != nil {
		l.drop(s) // releases ready
		return false
	}
	s.channels[channel] = struct{}{}
	l.home[channel] = s
	return true
}

func (l *subLoop) connect(addr string) (*shard, error) {
	r := l.r
	c, err := dialShard(addr, r.cfg.Username, r.cfg.Password, r.cfg.DialTimeout, r.cfg.OpTimeout)
	if err != nil {
		return nil, err
	}
	s := &shard{addr: addr, conn: c, done: make(chan struct{}), channels: map[string]struct{}{}}
	l.shards[addr] = s
	r.wg.Add(1) // the loop holds a count of wg: this never races Close's Wait at zero
	go r.readShard(s)
	return s, nil
}

// drop closes a connection and makes its channels pending.
func (l *subLoop) drop(s *shard) {
	if l.shards[s.addr] != s {
		return // dropped already
	}
	delete(l.shards, s.addr)
	s.conn.close()
	<-s.done
	for ch := range s.channels {
		delete(l.home, ch)
		l.pending[ch] = struct{}{}
	}
	l.refresh = true
	if l.lostAt.IsZero() {
		l.lostAt = time.Now()
	}
}

func (l *subLoop) closeAll() {
	for _, s := range l.shards {
		s.conn.close()
		<-s.done
	}
}

// ping sends a PING on every connection; its PONG keeps the connection's
// read deadline ahead, and measures the lag.
func (l *subLoop) ping() {
	if len(l.shards) == 0 {
		return
	}
	l.r.probe(time.Now())
	for _, s := range l.shards {
		err := s.send("ping", "", nil)
		if err == nil {
			err = s.conn.flush()
		}
		if err != nil {
			l.drop(s)
		}
	}
	if len(l.pending) > 0 {
		l.r.signal()
	}
}

// readShard reads one connection until it fails or is closed: messages
// go to their handler, replies release their subscriber. A connection
// that fails is reported to the subscribe loop, which subscribes its
// channels again wherever their slots live now.
func (r *RedisCluster) readShard(s *shard) {
	defer r.wg.Done()
	err := r.readLoop(s)
	s.conn.close()
	s.mu.Lock()
	for _, c := range s.sent {
		if c.ready != nil {
			close(c.ready)
		}
	}
	s.sent = nil
	s.mu.Unlock()
	close(s.done)
	if r.ctx.Err() != nil {
		return
	}
	r.errors.Add(1)
	r.log.Warn("backplane: lost a redis cluster subscription connection; subscribing again", "addr", s.addr, "err", err)
	r.probeSent.Store(0)
	r.mu.Lock()
	r.lost = append(r.lost, s)
	r.mu.Unlock()
	r.signal()
}

func (r *RedisCluster) readLoop(s *shard) error {
	deadline := 3 * r.cfg.OpTimeout
	_ = s.conn.nc.SetReadDeadline(time.Now().Add(deadline))
	for {
		p, err := s.conn.read()
		if err != nil {
			return err
		}
		switch p.kind {
		case "smessage":
			r.received.Add(1)
			r.mu.Lock()
			e, ok := r.handlers[string(p.channel)]
			r.mu.Unlock()
			if ok {
				r.dispatchMu.Lock()
				e.h(e.channel, p.payload)
				r.dispatchMu.Unlock()
			}
			continue
		case "sunsubscribe":
			if _, ok := s.pop("sunsubscribe", p.channel); !ok {
				// Not ours: the server dropped the channel, its slot
				// moved to another master.
				r.mu.Lock()
				r.rehome[string(p.channel)] = struct{}{}
				r.mu.Unlock()
				r.signal()
			}
			continue
		}
		c, ok := s.pop(p.kind, p.channel)
		switch {
		case p.kind == "error":
			// A refused command: SSUBSCRIBE of a channel whose slot is
			// not this master's (MOVED), or a ping while loading.
			if c.ready != nil {
				close(c.ready)
			}
			r.errors.Add(1)
			r.log.Warn("backplane: redis cluster refused a subscription command", "addr", s.addr, "cmd", c.kind, "err", string(p.payload))
			if c.kind == "ssubscribe" {
				r.mu.Lock()
				r.rehome[c.channel] = struct{}{}
				r.mu.Unlock()
				r.signal()
			}
		case !ok:
			return fmt.Errorf("%w: %s %q answers %s %q", errProtocol, p.kind, p.channel, c.kind, c.channel)
		case p.kind == "ssubscribe":
			if c.ready != nil {
				close(c.ready)
			}
		case p.kind == "pong":
			r.probed(time.Now())
			_ = s.conn.nc.SetReadDeadline(time.Now().Add(deadline))
		}
	}
}

// pop takes the oldest command sent, if the reply (kind, channel)
// answers it; an error reply answers any. It returns the command popped,
// or the oldest one (not popped) and false, or a zero command when none
// is out.
func (s *shard) pop(kind string, channel []byte) (sentCmd, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) == 0 {
		return sentCmd{}, false
	}
	c := s.sent[0]
	matches := kind == "error" || (kind == "pong" && c.kind == "ping") || (c.kind == kind && c.channel == string(channel))
	if !matches {
		return c, false
	}
	s.sent[0] = sentCmd{}
	s.sent = s.sent[1:]
	if len(s.sent) == 0 {
		s.sent = s.sent[:0:0] // let a long backlog's array go
	}
	return c, true
}

// clusterSlots reads the slot map: for each slot, its master's host:port.
func clusterSlots(ctx context.Context, c *redis.ClusterClient) ([]string, error) {
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	owner := make([]string, slotCount)
	for _, sl := range slots {
		if len(sl.Nodes) == 0 || sl.Start < 0 || sl.End >= slotCount {
			continue
		}
		for i := sl.Start; i <= sl.End; i++ {
			owner[i] = sl.Nodes[0].Addr
		}
	}
	if len(slots) == 0 {
		return nil, errors.New("the cluster serves no slot")
	}
	return owner, nil
}
