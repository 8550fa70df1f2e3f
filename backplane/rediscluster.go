package backplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisClusterConfig configures a Redis Cluster backplane. The zero value
// of every field but Addrs works.
type RedisClusterConfig struct {
	// Addrs are host:port of some of the cluster's nodes (any role); the
	// rest are found from them. Required.
	Addrs []string
	// Username and Password authenticate to every node; default none.
	Username, Password string
	// Prefix goes in front of every channel and key, so several
	// applications can share one cluster. Default none.
	Prefix string
	// DialTimeout bounds connecting to a node, also at start. 0 means 2 s.
	DialTimeout time.Duration
	// OpTimeout bounds one round trip (a batch of publishes, a presence
	// update, a subscription change). 0 means 2 s.
	OpTimeout time.Duration
	// QueueSize is how many publishes may wait to be written; past it
	// Publish fails. 0 means 65,536.
	QueueSize int
	// Logger; nil discards.
	Logger *slog.Logger
}

// RedisCluster is a Backplane on a Redis Cluster (Redis 7 or later) with
// sharded publish/subscribe: every channel, the hub-wide ones included,
// is a sharded channel (SPUBLISH / SSUBSCRIBE), so a message travels only
// to the master that owns its channel's hash slot and to the nodes
// subscribed there, and never over the cluster bus to every master as a
// plain PUBLISH does. Presence is a hash per node (keys hashed over the
// slots, so the reports spread over the masters) and a set of the
// reporting nodes.
//
// Publishes go through one goroutine that writes them in pipelined
// batches, split by master (one round trip per master per batch, the
// masters in parallel); the messages of one channel keep their order.
// Subscriptions use one connection per master that holds a subscribed
// channel. When a master fails, its connection is lost: the node reads
// the cluster's slot map again until it names the replica that took over
// and subscribes there again. Messages published on the failed master's
// channels between its failure and the new subscription are lost (Redis
// publish/subscribe is at most once); the other masters' channels carry
// on. A publish to a channel of the failed master fails (done is called
// with the error) until the cluster has promoted its replica; when no
// master answers at all, the backplane is marked unavailable as the Redis
// one is.
type RedisCluster struct {
	cfg    RedisClusterConfig
	log    *slog.Logger
	client *redis.ClusterClient

	queue    chan publish
	queueMu  sync.RWMutex  // held (read) while a publish is queued, (write) by Close: none is queued after
	opSignal chan struct{} // capacity 1: subscription work is pending
	down     atomic.Bool

	mu       sync.Mutex
	handlers map[string]clusterHandler // full channel name -> handler; guarded by mu
	ops      []subOp                   // subscription changes not yet applied, in order; guarded by mu
	lost     []*shard                  // subscription connections whose reader stopped; guarded by mu
	rehome   map[string]struct{}       // channels the server unsubscribed or refused (slot moved); guarded by mu
	probing  bool                      // guarded by mu

	dispatchMu sync.Mutex // handlers run one at a time, whichever master's connection delivers

	groups []masterGroup // publishLoop's, reused from batch to batch

	counters

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

var (
	_ Backplane     = (*RedisCluster)(nil)
	_ StatsReporter = (*RedisCluster)(nil)
)

type clusterHandler struct {
	channel string // without the prefix, as the handler receives it
	h       Handler
}

// ParseRedisClusterURL reads redis-cluster://[user:password@]host:port[,host:port...]
// into a config (the other fields zero).
func ParseRedisClusterURL(rawURL string) (RedisClusterConfig, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return RedisClusterConfig{}, fmt.Errorf("backplane: redis cluster URL %s: %w", redact(rawURL), err)
	}
	if u.Scheme != "redis-cluster" {
		return RedisClusterConfig{}, fmt.Errorf("backplane: redis cluster URL %s: scheme is not redis-cluster", redact(rawURL))
	}
	var cfg RedisClusterConfig
	for a := range strings.SplitSeq(u.Host, ",") {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return RedisClusterConfig{}, fmt.Errorf("backplane: redis cluster URL %s: %q: %w", redact(rawURL), a, err)
		}
		cfg.Addrs = append(cfg.Addrs, a)
	}
	if len(cfg.Addrs) == 0 {
		return RedisClusterConfig{}, fmt.Errorf("backplane: redis cluster URL %s names no node", redact(rawURL))
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		if cfg.Password == "" { // redis-cluster://secret@host: a password alone
			cfg.Password, cfg.Username = cfg.Username, ""
		}
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return RedisClusterConfig{}, fmt.Errorf("backplane: redis cluster URL %s: a cluster has database 0 only", redact(rawURL))
	}
	return cfg, nil
}

// NewRedisCluster connects to the cluster and checks that it answers
// within DialTimeout; an unreachable cluster is an error naming its
// nodes ("redis-cluster at host:port,... unreachable", the engine's name
// as the other engines give theirs), not a wait.
func NewRedisCluster(cfg RedisClusterConfig) (*RedisCluster, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("backplane: RedisClusterConfig.Addrs is required")
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
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                    cfg.Addrs,
		Username:                 cfg.Username,
		Password:                 cfg.Password,
		DialTimeout:              cfg.DialTimeout,
		ReadTimeout:              cfg.OpTimeout,
		WriteTimeout:             cfg.OpTimeout,
		MaxRedirects:             3, // a slot moved (failover, resharding): follow MOVED / ASK
		MaxRetries:               -1,
		DialerRetries:            1,
		DialerRetryTimeout:       10 * time.Millisecond,
		PoolSize:                 4,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout+cfg.OpTimeout)
	defer cancel()
	if _, err := clusterSlots(ctx, client); err != nil {
		client.Close()
		return nil, fmt.Errorf("backplane: redis-cluster at %s unreachable: %w", strings.Join(cfg.Addrs, ","), err)
	}
	r := &RedisCluster{
		cfg: cfg, log: cfg.Logger, client: client,
		queue:    make(chan publish, cfg.QueueSize),
		opSignal: make(chan struct{}, 1),
		handlers: make(map[string]clusterHandler),
		rehome:   make(map[string]struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(2)
	// Owner of these, of the subscription connections' readers and of the
	// probe markDown starts: the RedisCluster (wg). Close cancels ctx,
	// which every one of them returns on, and waits.
	go r.publishLoop()
	go r.subscribeLoop()
	return r, nil
}

// Publish implements Backplane.
func (r *RedisCluster) Publish(channel string, msg []byte, done func(int, error)) error {
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
func (r *RedisCluster) publishLoop() {
	defer r.wg.Done()
	batch := make([]publish, 0, 256)
	cmds := make([]*redis.IntCmd, 0, 256)
	for {
		select {
		case <-r.ctx.Done():
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
		cmds = r.publishBatch(batch, cmds[:0])
		clear(batch)
		clear(cmds)
	}
}

func (r *RedisCluster) publishBatch(batch []publish, cmds []*redis.IntCmd) []*redis.IntCmd {
	if r.down.Load() {
		r.publishErrors.Add(uint64(len(batch)))
		for _, p := range batch {
			if p.done != nil {
				p.done(0, ErrUnavailable)
			}
		}
		return cmds
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.OpTimeout)
	defer cancel()
	cmds = r.publishByMaster(ctx, batch, cmds)
	failed := 0
	var firstErr error
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if failed > 0 && r.ctx.Err() == nil {
		// A master failed, or a slot moved: read the slot map again (in
		// the background, at most every 200 ms) so that publishes follow
		// the replica that takes over.
		r.client.ReloadState(ctx)
		r.errors.Add(1)
		r.log.Error("backplane: publish to redis cluster failed", "err", firstErr, "failed", failed, "messages", len(batch))
		if failed == len(batch) && !r.anyMasterAnswers() {
			r.log.Error("backplane: no redis cluster master answers; cross-node sends fail until one is back")
			r.markDown()
		}
	}
	r.publishErrors.Add(uint64(failed))
	r.published.Add(uint64(len(batch) - failed))
	for i, p := range batch {
		if p.done == nil {
			continue
		}
		if err := cmds[i].Err(); err != nil {
			p.done(0, fmt.Errorf("%w: %v", ErrUnavailable, err))
		} else {
			p.done(int(cmds[i].Val()), nil)
		}
	}
	return cmds
}

// masterGroup is the publishes of one batch that go to one master, by
// their place in the batch.
type masterGroup struct {
	client *redis.Client
	at     []int
}

// publishByMaster writes the batch as one pipeline per master, on that
// master's own client (chosen by each channel's slot from the slot map
// go-redis keeps), the first master's on this goroutine and any other in
// one goroutine each that it waits for. One master per batch is the
// common case (one message at a time): it then costs no goroutine, where
// go-redis' cluster pipeline maps, retries and starts one goroutine per
// master for every batch. A publish refused with MOVED or ASK (its slot
// moved; Redis did not run it) goes again through the cluster client,
// which follows the redirection; a publish whose master is not known goes
// through it too. cmds[i] is batch[i]'s command.
func (r *RedisCluster) publishByMaster(ctx context.Context, batch []publish, cmds []*redis.IntCmd) []*redis.IntCmd {
	groups := r.groups[:0]
	var again []int // by the cluster client
	for i, p := range batch {
		cmds = append(cmds, redis.NewIntCmd(ctx, "spublish", p.channel, p.msg))
		c, err := r.client.MasterForKey(ctx, p.channel)
		if err != nil {
			again = append(again, i)
			continue
		}
		g := -1
		for k := range groups {
			if groups[k].client == c {
				g = k
				break
			}
		}
		if g < 0 {
			if len(groups) < cap(groups) {
				groups = groups[:len(groups)+1]
				groups[len(groups)-1].client, groups[len(groups)-1].at = c, groups[len(groups)-1].at[:0]
			} else {
				groups = append(groups, masterGroup{client: c})
			}
			g = len(groups) - 1
		}
		groups[g].at = append(groups[g].at, i)
	}
	var wg sync.WaitGroup
	for k := 1; k < len(groups); k++ {
		wg.Add(1)
		go func(g *masterGroup) { // owner: this call, which waits
			defer wg.Done()
			pipelineTo(ctx, g, cmds)
		}(&groups[k])
	}
	if len(groups) > 0 {
		pipelineTo(ctx, &groups[0], cmds)
	}
	wg.Wait()
	for _, g := range groups {
		for _, i := range g.at {
			if err := cmds[i].Err(); err != nil {
				if _, moved := redis.IsMovedError(err); moved {
					again = append(again, i)
				} else if _, ask := redis.IsAskError(err); ask {
					again = append(again, i)
				}
			}
		}
	}
	for k := range groups {
		groups[k].client = nil
	}
	r.groups = groups
	if len(again) > 0 {
		pipe := r.client.Pipeline()
		for _, i := range again {
			cmds[i] = pipe.SPublish(ctx, batch[i].channel, batch[i].msg)
		}
		_, _ = pipe.Exec(ctx) // each command has its own error
	}
	return cmds
}

// pipelineTo runs g's commands on its master in one pipeline.
func pipelineTo(ctx context.Context, g *masterGroup, cmds []*redis.IntCmd) {
	pipe := g.client.Pipeline()
	for _, i := range g.at {
		_ = pipe.Process(ctx, cmds[i])
	}
	_, _ = pipe.Exec(ctx) // each command has its own error
}

// anyMasterAnswers pings every master the client knows of.
func (r *RedisCluster) anyMasterAnswers() bool {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.OpTimeout)
	defer cancel()
	var ok atomic.Bool
	_ = r.client.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		if c.Ping(ctx).Err() == nil {
			ok.Store(true)
		}
		return nil
	})
	return ok.Load()
}

// markDown makes publishes fail at once and starts the probe that finds
// out when a master is back.
func (r *RedisCluster) markDown() {
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
			r.client.ReloadState(ctx)
			cancel()
			if r.anyMasterAnswers() {
				r.mu.Lock()
				r.probing = false
				r.mu.Unlock()
				r.down.Store(false)
				r.log.Info("backplane: redis cluster is back")
				return
			}
		}
	}()
}

// Subscribe implements Backplane.
func (r *RedisCluster) Subscribe(channel string, h Handler) <-chan struct{} {
	full := r.cfg.Prefix + channel
	ready := make(chan struct{})
	waited := ready
	if r.closed.Load() || r.down.Load() {
		close(ready) // takes effect when the cluster is back
		waited = nil
	}
	r.mu.Lock()
	r.handlers[full] = clusterHandler{channel: channel, h: h}
	r.opLocked(subOp{channel: full, sub: true, ready: waited})
	r.mu.Unlock()
	return ready
}

// Unsubscribe implements Backplane.
func (r *RedisCluster) Unsubscribe(channel string) {
	full := r.cfg.Prefix + channel
	r.mu.Lock()
	delete(r.handlers, full)
	r.opLocked(subOp{channel: full})
	r.mu.Unlock()
}

// opLocked queues a subscription change; it never blocks (callers run on
// actors). The queue holds at most one change per call, applied in order.
func (r *RedisCluster) opLocked(o subOp) {
	if r.ctx.Err() != nil {
		if o.ready != nil {
			close(o.ready)
		}
		return
	}
	r.ops = append(r.ops, o)
	r.signal()
}

func (r *RedisCluster) signal() {
	select {
	case r.opSignal <- struct{}{}:
	default:
	}
}

func (r *RedisCluster) presenceKey(set, node string) string { return r.cfg.Prefix + set + ":" + node }

// PutPresence implements Backplane: as Redis' (a hash per node that
// expires after ttl, and a set of the reporting nodes); the nodes' hashes
// hash to different slots, so they spread over the masters.
func (r *RedisCluster) PutPresence(ctx context.Context, set, node string, counts map[string]int64, ttl time.Duration) error {
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
func (r *RedisCluster) Presence(ctx context.Context, set, name string) (map[string]int64, error) {
	if r.down.Load() {
		return nil, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	return readPresence(ctx, r.client, r.cfg.Prefix+set, func(n string) string { return r.presenceKey(set, n) }, name)
}

// DropPresence implements Backplane.
func (r *RedisCluster) DropPresence(ctx context.Context, set, node string) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	return dropPresence(ctx, r.client, r.presenceKey(set, node), r.cfg.Prefix+set, node)
}

// Ready reports whether the cluster can be used now: nil when a node
// answers that the cluster's state is ok (every slot served), within
// ctx; ErrUnavailable (wrapped) while no master answers, or while the
// cluster reports a failed state (a master down and not yet replaced);
// ErrClosed after Close. It costs one round trip.
func (r *RedisCluster) Ready(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if r.down.Load() {
		return ErrUnavailable
	}
	info, err := r.client.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fmt.Errorf("%w: cluster state is not ok", ErrUnavailable)
	}
	return nil
}

// Stats implements StatsReporter.
func (r *RedisCluster) Stats() Stats {
	return r.snapshot(!r.down.Load(), len(r.queue))
}

// Close implements Backplane: queued publishes fail with ErrClosed.
func (r *RedisCluster) Close() error {
	r.queueMu.Lock()
	first := r.closed.CompareAndSwap(false, true)
	r.queueMu.Unlock()
	if !first {
		return ErrClosed
	}
	r.mu.Lock()
	r.cancel() // under mu: no subscription change is queued after
	r.mu.Unlock()
	r.wg.Wait()
	return r.client.Close()
}
