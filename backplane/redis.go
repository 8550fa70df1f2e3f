package backplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisConfig configures a Redis backplane. The zero value of every field
// but URL works.
type RedisConfig struct {
	// URL of the Redis server: redis://[user:password@]host:port[/db], or
	// rediss:// for TLS. Required.
	URL string
	// Prefix goes in front of every channel and key, so several
	// applications can share one Redis (ASP.NET's ChannelPrefix). Default
	// none.
	Prefix string
	// DialTimeout bounds connecting to Redis, also at start. 0 means 2 s.
	DialTimeout time.Duration
	// OpTimeout bounds one round trip (a batch of publishes, a presence
	// update). 0 means 2 s.
	OpTimeout time.Duration
	// QueueSize is how many publishes may wait to be written; past it
	// Publish fails. 0 means 65,536.
	QueueSize int
	// Logger; nil discards.
	Logger *slog.Logger
}

// Redis is a Backplane on Redis publish/subscribe, the standard SignalR
// scale-out. Every node of a hub connects to the same Redis.
//
// Publishes go through one goroutine that writes them in pipelined
// batches, so they keep their order and cost one round trip per batch.
// When a batch fails (Redis stopped, or too slow), the backplane is marked
// unavailable: publishes fail at once with ErrUnavailable, and a probe
// pings Redis until it answers. The subscription connection reconnects on
// its own and subscribes again to every channel it had.
type Redis struct {
	cfg    RedisConfig
	log    *slog.Logger
	client *redis.Client
	ps     *redis.PubSub

	queue    chan publish
	queueMu  sync.RWMutex  // held (read) while a publish is queued, (write) by Close: none is queued after
	opSignal chan struct{} // capacity 1: ops are pending
	down     atomic.Bool

	mu       sync.Mutex
	handlers map[string]Handler         // full channel name -> handler; guarded by mu
	ops      []subOp                    // subscription changes not yet applied, in order; guarded by mu
	waiters  map[string][]chan struct{} // full channel name -> Redis confirmations awaited, in order (nil: nobody waits); guarded by mu
	probing  bool                       // guarded by mu

	counters

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

var (
	_ Backplane     = (*Redis)(nil)
	_ StatsReporter = (*Redis)(nil)
)

type publish struct {
	channel string
	msg     []byte
	done    func(int, error)
}

type subOp struct {
	channel string
	sub     bool
	ready   chan struct{} // sub only
}

// NewRedis connects to Redis and checks that it answers within
// DialTimeout; an unreachable Redis is an error naming it, not a wait.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.URL == "" {
		return nil, errors.New("backplane: RedisConfig.URL is required")
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("backplane: RedisConfig.URL: %w", err)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 65536
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opt.DialTimeout = cfg.DialTimeout
	opt.ReadTimeout = cfg.OpTimeout
	opt.WriteTimeout = cfg.OpTimeout
	opt.MaxRetries = -1 // fail fast; the probe finds out when Redis is back
	opt.DialerRetries = 1
	opt.DialerRetryTimeout = 10 * time.Millisecond
	opt.PoolSize = 4
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout+cfg.OpTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("backplane: redis at %s unreachable: %w", opt.Addr, err)
	}
	r := &Redis{
		cfg: cfg, log: cfg.Logger, client: client,
		queue:    make(chan publish, cfg.QueueSize),
		opSignal: make(chan struct{}, 1),
		handlers: make(map[string]Handler),
		waiters:  make(map[string][]chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.ps = client.Subscribe(r.ctx)
	r.wg.Add(4)
	// Owner of these and of the probe markDown starts: the Redis (wg).
	// Close cancels ctx, which every one of them returns on, and waits.
	go r.receive()
	go r.ping()
	go r.publishLoop()
	go r.subscribeLoop()
	return r, nil
}

// Publish implements Backplane.
func (r *Redis) Publish(channel string, msg []byte, done func(int, error)) error {
	r.queueMu.RLock()
	defer r.queueMu.RUnlock()
	if r.closed.Load() {
		return ErrClosed
	}
	if r.down.Load() {
		r.publishErrors.Add(1)
		return ErrUnavailable
	}
	select {
	case r.queue <- publish{channel: r.cfg.Prefix + channel, msg: msg, done: done}:
		return nil
	default:
		r.publishErrors.Add(1)
		return fmt.Errorf("%w: %d publishes waiting", ErrUnavailable, cap(r.queue))
	}
}

// publishLoop writes what is queued in pipelined batches, in order.
func (r *Redis) publishLoop() {
	defer r.wg.Done()
	batch := make([]publish, 0, 256)
	for {
		select {
		case <-r.ctx.Done():
			r.failQueued()
			return
		case p := <-r.queue:
			batch = append(batch[:0], p)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case p := <-r.queue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		r.publishBatch(batch)
		clear(batch)
	}
}

func (r *Redis) publishBatch(batch []publish) {
	if r.down.Load() {
		r.publishErrors.Add(uint64(len(batch)))
		for _, p := range batch {
			if p.done != nil {
				p.done(0, ErrUnavailable)
			}
		}
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.OpTimeout)
	defer cancel()
	pipe := r.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(batch))
	for i, p := range batch {
		cmds[i] = pipe.Publish(ctx, p.channel, p.msg)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && r.ctx.Err() == nil {
		r.errors.Add(1)
		r.log.Error("backplane: publish to redis failed; cross-node sends fail until it is back", "err", err, "messages", len(batch))
		r.markDown()
		err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err != nil {
		r.publishErrors.Add(uint64(len(batch)))
	} else {
		r.published.Add(uint64(len(batch)))
	}
	for i, p := range batch {
		if p.done == nil {
			continue
		}
		if err != nil {
			p.done(0, err)
		} else {
			p.done(int(cmds[i].Val()), cmds[i].Err())
		}
	}
}

func (r *Redis) failQueued() {
	for {
		select {
		case p := <-r.queue:
			if p.done != nil {
				p.done(0, ErrClosed)
			}
		default:
			return
		}
	}
}

// markDown makes publishes fail at once and starts the probe that finds
// out when Redis is back.
func (r *Redis) markDown() {
	r.down.Store(true)
	r.mu.Lock()
	start := !r.probing && r.ctx.Err() == nil
	r.probing = true
	r.mu.Unlock()
	if !start {
		return
	}
	// markDown runs on publishLoop, which holds a count of wg: this Add
	// never races Close's Wait at zero.
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(r.ctx, r.cfg.OpTimeout)
			err := r.client.Ping(ctx).Err()
			cancel()
			if err == nil {
				r.mu.Lock()
				r.probing = false
				r.mu.Unlock()
				r.down.Store(false)
				r.log.Info("backplane: redis is back")
				return
			}
		}
	}()
}

// Subscribe implements Backplane.
func (r *Redis) Subscribe(channel string, h Handler) <-chan struct{} {
	full := r.cfg.Prefix + channel
	ready := make(chan struct{})
	waited := ready
	if r.closed.Load() || r.down.Load() {
		close(ready) // takes effect when Redis is back
		waited = nil
	}
	r.mu.Lock()
	r.handlers[full] = h
	r.opLocked(subOp{channel: full, sub: true, ready: waited})
	r.mu.Unlock()
	return ready
}

// Unsubscribe implements Backplane.
func (r *Redis) Unsubscribe(channel string) {
	full := r.cfg.Prefix + channel
	r.mu.Lock()
	delete(r.handlers, full)
	r.opLocked(subOp{channel: full})
	r.mu.Unlock()
}

// opLocked queues a subscription change; it never blocks (callers run on
// actors). The queue holds at most one change per call, applied in order.
func (r *Redis) opLocked(o subOp) {
	if r.ctx.Err() != nil {
		if o.ready != nil {
			close(o.ready)
		}
		return
	}
	r.ops = append(r.ops, o)
	select {
	case r.opSignal <- struct{}{}:
	default:
	}
}

// subscribeLoop applies subscription changes in order, a run of the same
// kind in one command.
func (r *Redis) subscribeLoop() {
	defer r.wg.Done()
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
		case <-r.opSignal:
		}
		for {
			r.mu.Lock()
			if len(r.ops) == 0 {
				r.mu.Unlock()
				break
			}
			n := 1
			for n < len(r.ops) && n < 1024 && r.ops[n].sub == r.ops[0].sub {
				n++
			}
			run := append([]subOp(nil), r.ops[:n]...)
			r.ops = append(r.ops[:0], r.ops[n:]...)
			r.mu.Unlock()
			r.apply(run)
		}
	}
}

func (r *Redis) apply(ops []subOp) {
	channels := make([]string, len(ops))
	for i, o := range ops {
		channels[i] = o.channel
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.OpTimeout)
	defer cancel()
	if !ops[0].sub {
		if err := r.ps.Unsubscribe(ctx, channels...); err != nil && r.ctx.Err() == nil {
			r.errors.Add(1)
			r.log.Warn("backplane: redis unsubscribe failed; redone on reconnect", "err", err)
		}
		return
	}
	r.mu.Lock()
	for _, o := range ops {
		// One slot per SUBSCRIBE, nil when nobody waits: Redis confirms
		// each, in order, and each confirmation is matched to its own.
		r.waiters[o.channel] = append(r.waiters[o.channel], o.ready)
	}
	r.mu.Unlock()
	// go-redis records the channels even when the write fails, and
	// subscribes to them again when it reconnects.
	if err := r.ps.Subscribe(ctx, channels...); err != nil {
		if r.ctx.Err() == nil {
			r.errors.Add(1)
			r.log.Warn("backplane: redis subscribe failed; redone on reconnect", "err", err)
		}
		r.releaseWaiters(channels)
	}
}

// releaseWaiters lets subscribers waiting for channels go on: their
// subscription takes effect when Redis is back.
func (r *Redis) releaseWaiters(channels []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range channels {
		closeAll(r.waiters[ch])
		delete(r.waiters, ch)
	}
}

// receive reads the subscription connection: confirmations release
// waiting subscribers (one per confirmation, in order), messages go to
// their channel's handler.
func (r *Redis) receive() {
	defer r.wg.Done()
	backoff := 50 * time.Millisecond
	failed := false
	for {
		// A deadline, with ping (below) keeping a live connection busy: a
		// connection that answers nothing for 3 x OpTimeout is dropped
		// (go-redis then reconnects and subscribes again), so a half-open
		// socket cannot leave the node deaf to the others.
		ctx, cancel := context.WithTimeout(r.ctx, 3*r.cfg.OpTimeout)
		m, err := r.ps.Receive(ctx)
		cancel()
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			// go-redis reconnects (and subscribes again) on the next call.
			r.log.Debug("backplane: redis subscription read failed", "err", err)
			if !failed {
				r.errors.Add(1)
				r.log.Warn("backplane: lost the redis subscription connection; reconnecting", "err", err)
			}
			failed = true
			r.probeSent.Store(0) // its PONG will not come
			r.releaseAllWaiters()
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		if failed {
			failed = false
			r.reconnects.Add(1)
			r.log.Info("backplane: redis subscription connection back")
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.confirmed(m.Channel)
			}
		case *redis.Pong:
			r.probed(time.Now())
		case *redis.Message:
			r.received.Add(1)
			r.mu.Lock()
			h := r.handlers[m.Channel]
			r.mu.Unlock()
			if h != nil {
				h(m.Channel[len(r.cfg.Prefix):], []byte(m.Payload))
			}
		}
	}
}

// ping sends a PING on the subscription connection every OpTimeout; its
// PONG is what receive reads when nothing else comes.
func (r *Redis) ping() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.OpTimeout)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.OpTimeout)
		r.probe(time.Now())
		_ = r.ps.Ping(ctx) // a failure shows in receive
		cancel()
	}
}

func (r *Redis) confirmed(channel string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := r.waiters[channel]
	if len(ws) == 0 {
		return
	}
	if ws[0] != nil {
		close(ws[0])
	}
	if len(ws) == 1 {
		delete(r.waiters, channel)
	} else {
		r.waiters[channel] = ws[1:]
	}
}

func (r *Redis) releaseAllWaiters() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch, ws := range r.waiters {
		closeAll(ws)
		delete(r.waiters, ch)
	}
}

func closeAll(ws []chan struct{}) {
	for _, w := range ws {
		if w != nil {
			close(w)
		}
	}
}

func (r *Redis) presenceKey(set, node string) string { return r.cfg.Prefix + set + ":" + node }

// PutPresence implements Backplane: the node's report is a hash that
// expires after ttl (on Redis' clock), and the set lists the nodes that
// have reported; a node whose hash is gone is taken off it.
func (r *Redis) PutPresence(ctx context.Context, set, node string, counts map[string]int64, ttl time.Duration) error {
	if r.down.Load() {
		return ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	err := putPresence(ctx, r.client, r.presenceKey(set, node), r.cfg.Prefix+set, node, counts, ttl)
	if err != nil {
		r.errors.Add(1)
	}
	return err
}

// Presence implements Backplane.
func (r *Redis) Presence(ctx context.Context, set, name string) (map[string]int64, error) {
	if r.down.Load() {
		return nil, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	return readPresence(ctx, r.client, r.cfg.Prefix+set, func(n string) string { return r.presenceKey(set, n) }, name)
}

// DropPresence implements Backplane.
func (r *Redis) DropPresence(ctx context.Context, set, node string) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	return dropPresence(ctx, r.client, r.presenceKey(set, node), r.cfg.Prefix+set, node)
}

// Stats implements StatsReporter.
func (r *Redis) Stats() Stats {
	return r.snapshot(!r.down.Load(), len(r.queue))
}

// Close implements Backplane: queued publishes fail with ErrClosed.
func (r *Redis) Close() error {
	r.queueMu.Lock()
	first := r.closed.CompareAndSwap(false, true)
	r.queueMu.Unlock()
	if !first {
		return ErrClosed
	}
	r.mu.Lock()
	r.cancel() // under mu: no subscription change is queued after
	r.mu.Unlock()
	err := r.ps.Close()
	r.wg.Wait()
	r.releaseAllWaiters()
	if cerr := r.client.Close(); err == nil {
		err = cerr
	}
	return err
}
