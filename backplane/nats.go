package backplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig configures a NATS backplane. The zero value of every field
// but URL works.
type NATSConfig struct {
	// URL of the NATS server: nats://[user:password@]host:port, or several
	// such URLs separated by commas (servers of one cluster). The server
	// needs JetStream (nats-server -js) for presence. Required.
	URL string
	// Prefix is the first token of every subject and the start of the
	// presence buckets' names, so several deployments can share one
	// server: letters, digits, '-' and '_', at most 32. Default
	// "actorhub".
	Prefix string
	// DialTimeout bounds connecting, also at start. 0 means 2 s.
	DialTimeout time.Duration
	// OpTimeout bounds one round trip (a subscription's confirmation, a
	// presence operation), and is the period of the client's pings that
	// find a dead connection. 0 means 2 s.
	OpTimeout time.Duration
	// QueueSize is how many publishes may wait to be written; past it
	// Publish fails. 0 means 65,536.
	QueueSize int
	// AckWait is how long a publish that asks how many nodes received it
	// (Publish with done) waits for their acknowledgements. 0 means 1 s.
	AckWait time.Duration
	// Options are more nats.go options (credentials, TLS, a name),
	// applied after the backplane's own.
	Options []nats.Option
	// Logger; nil discards.
	Logger *slog.Logger
}

// NATS is a Backplane on core NATS publish/subscribe, with presence in
// JetStream key-value buckets.
//
// Each channel is a subject of its own (Prefix + "." + the channel name,
// escaped into one token), so the server delivers a message only to the
// nodes that subscribe to its channel: a group's messages never reach a
// node without members. Delivery is at most once, as with Redis: what is
// published while a node is disconnected does not reach it. The client
// reconnects by itself, with backoff, and subscribes again to every
// channel it had.
//
// A message larger than the server's max_payload (1 MB by default) is
// sent in parts and put together by the receivers. A publish with done
// carries a reply subject: every node that receives it acknowledges, and
// the server answers at once when no node subscribes; done gets the
// number of acknowledgements within AckWait.
//
// Every subscription delivers into one queue of 4,096 messages, read by
// one goroutine that runs the handlers in order; a node whose handlers
// fall that far behind loses messages (counted in Stats.Lost).
type NATS struct {
	cfg   NATSConfig
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	addr  string
	id    string // random: this node's part ids and probe subject
	inbox string // acknowledgements arrive on inbox.<seq>

	queue   chan publish
	queueMu sync.RWMutex // held (read) while a publish is queued, (write) by Close: none is queued after
	msgs    chan *nats.Msg

	mu       sync.Mutex
	handlers map[string]Handler            // guarded by mu
	subs     map[string]*nats.Subscription // channel -> its subscription; guarded by mu
	channels map[*nats.Subscription]string // the other way; guarded by mu
	dirty    map[string][]chan struct{}    // channels whose subscription may differ from handlers -> subscribers waiting; guarded by mu
	dropped  uint64                        // messages dropped by subscriptions since ended; guarded by mu
	buckets  map[string]natsBucket         // presence set -> its bucket; guarded by mu
	signal   chan struct{}                 // capacity 1: dirty is not empty
	probeSub *nats.Subscription

	acksMu sync.Mutex
	acks   map[uint64]*pendingAck // guarded by acksMu
	ackSeq uint64                 // guarded by acksMu
	ackSub *nats.Subscription

	parts assembly // owned by the delivery goroutine
	counters
	warned every

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

var (
	_ Backplane     = (*NATS)(nil)
	_ StatsReporter = (*NATS)(nil)
)

type natsBucket struct {
	kv  jetstream.KeyValue
	ttl time.Duration
}

type pendingAck struct {
	done     func(int, error)
	n        int
	deadline time.Time
}

var natsPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

const (
	natsQueue      = 4096 // messages waiting for the handlers
	natsPartHeader = "Actorhub-Part"
	natsPartRoom   = 1024 // bytes of a part left for the subject, reply and headers
)

// NewNATS connects to the server and checks that it answers within
// DialTimeout and has JetStream; either missing is an error naming the
// server.
func NewNATS(cfg NATSConfig) (*NATS, error) {
	if cfg.URL == "" {
		return nil, errors.New("backplane: NATSConfig.URL is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "actorhub"
	}
	if !natsPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("backplane: NATSConfig.Prefix %q: want letters, digits, '-' and '_', at most 32", cfg.Prefix)
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
	if cfg.AckWait <= 0 {
		cfg.AckWait = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, u := range strings.Split(cfg.URL, ",") {
		if scheme, _, ok := strings.Cut(strings.TrimSpace(u), "://"); !ok || scheme != "nats" && scheme != "tls" {
			return nil, fmt.Errorf("backplane: NATSConfig.URL %q: want nats://host:port", redact(u))
		}
	}
	var b [8]byte
	rand.Read(b[:])
	n := &NATS{
		cfg: cfg, id: hex.EncodeToString(b[:]), addr: natsHosts(cfg.URL),
		queue:    make(chan publish, cfg.QueueSize),
		msgs:     make(chan *nats.Msg, natsQueue),
		handlers: make(map[string]Handler),
		subs:     make(map[string]*nats.Subscription),
		channels: make(map[*nats.Subscription]string),
		dirty:    make(map[string][]chan struct{}),
		buckets:  make(map[string]natsBucket),
		signal:   make(chan struct{}, 1),
		acks:     make(map[uint64]*pendingAck),
		parts:    assembly{partial: make(map[string]*partial)},
	}
	n.log = cfg.Logger.With("backplane", "nats", "server", n.addr)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ping := max(cfg.OpTimeout, 500*time.Millisecond)
	opts := append([]nats.Option{
		nats.Name("actorhub backplane"),
		nats.Timeout(cfg.DialTimeout),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			bo := newBackoff(50*time.Millisecond, 2*time.Second)
			for range min(attempts, 8) - 1 {
				bo.wait()
			}
			return bo.wait()
		}),
		nats.PingInterval(ping),
		nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(1 << 20), // what was queued as the connection broke
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if n.ctx.Err() == nil {
				n.errors.Add(1)
				n.log.Warn("backplane: lost the nats connection; cross-node sends fail until it is back", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			n.reconnects.Add(1)
			n.probeSent.Store(0) // a probe out when the connection broke is lost
			n.log.Info("backplane: nats connection back; subscriptions renewed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			n.errors.Add(1)
			if n.warned.allow(10 * time.Second) {
				n.log.Warn("backplane: nats reports an error", "err", err)
			}
		}),
	}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("backplane: nats at %s unreachable: %w", n.addr, err)
	}
	n.nc = nc
	fail := func(what string, err error) (*NATS, error) {
		n.cancel()
		nc.Close()
		return nil, fmt.Errorf("backplane: nats at %s %s: %w", n.addr, what, err)
	}
	if n.js, err = jetstream.New(nc); err != nil {
		return fail("unusable", err)
	}
	ctx, cancel := context.WithTimeout(n.ctx, cfg.OpTimeout)
	defer cancel()
	if _, err := n.js.AccountInfo(ctx); err != nil {
		return fail("has no JetStream, which presence needs (start nats-server with -js)", err)
	}
	n.inbox = nats.NewInbox()
	if n.ackSub, err = nc.Subscribe(n.inbox+".*", n.onAck); err != nil {
		return fail("unusable", err)
	}
	if n.probeSub, err = nc.ChanSubscribe(n.probeSubject(), n.msgs); err != nil {
		return fail("unusable", err)
	}
	if err := nc.FlushTimeout(cfg.OpTimeout); err != nil {
		return fail("unresponsive", err)
	}
	// Owner: the NATS (wg). Close cancels ctx, which every one of them
	// returns on, and waits.
	n.wg.Add(4)
	go n.publishLoop()
	go n.deliverLoop()
	go n.subscribeLoop()
	go n.tick()
	return n, nil
}

func natsHosts(urls string) string {
	var hosts []string
	for _, u := range strings.Split(urls, ",") {
		hosts = append(hosts, hostsOf(strings.TrimSpace(u)))
	}
	return strings.Join(hosts, ",")
}

// subject is a channel's subject.
func (n *NATS) subject(channel string) string {
	return n.cfg.Prefix + "." + subjectToken(channel)
}

// probeSubject has one token more than any channel's subject.
func (n *NATS) probeSubject() string { return n.cfg.Prefix + "._probe." + n.id }

// Publish implements Backplane.
func (n *NATS) Publish(channel string, msg []byte, done func(int, error)) error {
	n.queueMu.RLock()
	defer n.queueMu.RUnlock()
	if n.closed.Load() {
		return ErrClosed
	}
	if !n.nc.IsConnected() {
		n.publishErrors.Add(1)
		return ErrUnavailable
	}
	select {
	case n.queue <- publish{channel: channel, msg: msg, done: done}:
		return nil
	default:
		n.publishErrors.Add(1)
		return fmt.Errorf("%w: %d publishes waiting", ErrUnavailable, cap(n.queue))
	}
}

// publishLoop hands what is queued to the client, in order. The client
// writes from its buffer on its own goroutine.
func (n *NATS) publishLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			failQueued(n.queue, ErrClosed)
			return
		case m := <-n.queue:
			n.send(m)
		}
	}
}

func (n *NATS) send(m publish) {
	fail := func(err error) {
		n.publishErrors.Add(1)
		if m.done != nil {
			m.done(0, err)
		}
	}
	if !n.nc.IsConnected() {
		fail(ErrUnavailable)
		return
	}
	subject := n.subject(m.channel)
	var reply string
	var seq uint64
	if m.done != nil {
		n.acksMu.Lock()
		if len(n.acks) >= n.cfg.QueueSize {
			n.acksMu.Unlock()
			fail(fmt.Errorf("%w: %d publishes waiting for acknowledgements", ErrUnavailable, n.cfg.QueueSize))
			return
		}
		n.ackSeq++
		seq = n.ackSeq
		n.acks[seq] = &pendingAck{done: m.done, deadline: time.Now().Add(n.cfg.AckWait)}
		n.acksMu.Unlock()
		reply = n.inbox + "." + strconv.FormatUint(seq, 10)
	}
	err := n.write(subject, reply, m.msg)
	if err != nil {
		if reply != "" {
			n.acksMu.Lock()
			delete(n.acks, seq)
			n.acksMu.Unlock()
		}
		n.errors.Add(1)
		if n.warned.allow(10 * time.Second) {
			n.log.Error("backplane: publish to nats failed", "err", err)
		}
		fail(fmt.Errorf("%w: %v", ErrUnavailable, err))
		return
	}
	n.published.Add(1)
}

// write publishes msg, in parts when it is larger than the server takes
// at once; only the last part carries the reply subject.
func (n *NATS) write(subject, reply string, msg []byte) error {
	room := int(n.nc.MaxPayload()) - natsPartRoom - len(subject) - len(reply)
	if len(msg) <= room {
		return n.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Data: msg})
	}
	n.acksMu.Lock()
	n.ackSeq++
	id := n.id + "-" + strconv.FormatUint(n.ackSeq, 10)
	n.acksMu.Unlock()
	count := (len(msg) + room - 1) / room
	for i := range count {
		part := &nats.Msg{Subject: subject, Data: msg[i*room : min((i+1)*room, len(msg))], Header: nats.Header{}}
		part.Header.Set(natsPartHeader, formatPart(id, i, count))
		if i == count-1 {
			part.Reply = reply
		}
		if err := n.nc.PublishMsg(part); err != nil {
			return err
		}
	}
	return nil
}

// onAck counts an acknowledgement, or learns from the server that no
// node subscribes.
func (n *NATS) onAck(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	seq, err := strconv.ParseUint(m.Subject[i+1:], 10, 64)
	if err != nil {
		return
	}
	n.acksMu.Lock()
	p := n.acks[seq]
	if p == nil {
		n.acksMu.Unlock()
		return
	}
	if m.Header.Get("Status") == "503" { // no responders: nobody subscribes
		delete(n.acks, seq)
		n.acksMu.Unlock()
		p.done(0, nil)
		return
	}
	p.n++
	n.acksMu.Unlock()
}

// expireAcks ends the waits past AckWait: done gets the acknowledgements
// counted, or an error when none came (the message, or every answer, was
// lost on the way).
func (n *NATS) expireAcks(now time.Time) {
	var due []*pendingAck
	n.acksMu.Lock()
	for seq, p := range n.acks {
		if now.After(p.deadline) {
			due = append(due, p)
			delete(n.acks, seq)
		}
	}
	n.acksMu.Unlock()
	for _, p := range due {
		if p.n > 0 {
			p.done(p.n, nil)
		} else {
			p.done(0, fmt.Errorf("%w: no acknowledgement within %v", ErrUnavailable, n.cfg.AckWait))
		}
	}
}

// deliverLoop runs the handlers, in the order the messages arrived.
func (n *NATS) deliverLoop() {
	defer n.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case m := <-n.msgs:
			n.deliver(m)
		case now := <-t.C:
			if lost := n.parts.expire(now); lost > 0 {
				n.lost.Add(uint64(lost))
			}
		}
	}
}

func (n *NATS) deliver(m *nats.Msg) {
	if m.Sub == n.probeSub {
		n.probed(time.Now())
		return
	}
	data := m.Data
	if h := m.Header.Get(natsPartHeader); h != "" {
		whole, complete, lost := n.parts.add(h, m.Subject, m.Data, time.Now())
		if lost > 0 {
			n.lost.Add(uint64(lost))
			if n.warned.allow(10 * time.Second) {
				n.log.Warn("backplane: a large message arrived incomplete and was dropped", "subject", m.Subject)
			}
		}
		if !complete {
			return
		}
		data = whole
	}
	n.received.Add(1)
	n.mu.Lock()
	channel, ok := n.channels[m.Sub]
	h := n.handlers[channel]
	n.mu.Unlock()
	if ok && h != nil {
		h(channel, data)
	}
	if m.Reply != "" {
		// Received: the server counted this node as a subscriber, as
		// Redis counts one whose UNSUBSCRIBE is still on its way.
		_ = n.nc.Publish(m.Reply, nil)
	}
}

// Subscribe implements Backplane: the subscription is in effect once the
// server has confirmed it (a PING answered after the SUB).
func (n *NATS) Subscribe(channel string, h Handler) <-chan struct{} {
	ready := make(chan struct{})
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		close(ready)
		return ready
	}
	n.handlers[channel] = h
	if !n.nc.IsConnected() {
		close(ready) // the client subscribes when it is back
		n.dirty[channel] = n.dirty[channel]
	} else {
		n.dirty[channel] = append(n.dirty[channel], ready)
	}
	n.wakeLocked()
	return ready
}

// Unsubscribe implements Backplane.
func (n *NATS) Unsubscribe(channel string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.handlers, channel)
	if !n.closed.Load() {
		n.dirty[channel] = n.dirty[channel]
		n.wakeLocked()
	}
}

func (n *NATS) wakeLocked() {
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

// subscribeLoop makes the client's subscriptions match the handlers,
// then waits for the server to confirm them.
func (n *NATS) subscribeLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			n.mu.Lock()
			for _, ws := range n.dirty {
				closeAll(ws)
			}
			clear(n.dirty)
			n.mu.Unlock()
			return
		case <-n.signal:
		}
		n.mu.Lock()
		taken := n.dirty
		n.dirty = make(map[string][]chan struct{})
		waiting := false
		for ch, ws := range taken {
			_, want := n.handlers[ch]
			sub := n.subs[ch]
			switch {
			case want && sub == nil:
				s, err := n.nc.ChanSubscribe(n.subject(ch), n.msgs)
				if err != nil {
					n.errors.Add(1)
					n.log.Error("backplane: nats subscribe failed", "channel", ch, "err", err)
					break
				}
				n.subs[ch], n.channels[s] = s, ch
			case !want && sub != nil:
				if d, err := sub.Dropped(); err == nil {
					n.dropped += uint64(d)
				}
				_ = sub.Unsubscribe()
				delete(n.subs, ch)
				delete(n.channels, sub)
			}
			waiting = waiting || len(ws) > 0
		}
		n.mu.Unlock()
		if waiting {
			if err := n.nc.FlushTimeout(n.cfg.OpTimeout); err != nil && n.ctx.Err() == nil {
				n.log.Debug("backplane: nats did not confirm subscriptions in time; they take effect when it does", "err", err)
			}
		}
		for _, ws := range taken {
			closeAll(ws)
		}
	}
}

// tick expires acknowledgement waits, and sends a probe through the
// server every second to measure the lag.
func (n *NATS) tick() {
	defer n.wg.Done()
	t := time.NewTicker(min(n.cfg.AckWait/4, 250*time.Millisecond))
	defer t.Stop()
	var lastProbe time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-t.C:
			n.expireAcks(now)
			if now.Sub(lastProbe) >= time.Second && n.nc.IsConnected() && n.probe(now) {
				lastProbe = now
				if err := n.nc.Publish(n.probeSubject(), nil); err != nil {
					n.probeSent.Store(0)
				}
			}
		}
	}
}

// Presence: a JetStream key-value bucket per set (memory storage), whose
// max age is the reports' ttl, one key per node, the counts as JSON.

func (n *NATS) bucketName(set string) string { return n.cfg.Prefix + "_" + bucketToken(set) }

func (n *NATS) bucket(ctx context.Context, set string, ttl time.Duration) (jetstream.KeyValue, error) {
	n.mu.Lock()
	b, ok := n.buckets[set]
	n.mu.Unlock()
	if ok && (ttl == 0 || b.ttl == ttl) {
		return b.kv, nil
	}
	var kv jetstream.KeyValue
	var err error
	if ttl == 0 {
		kv, err = n.js.KeyValue(ctx, n.bucketName(set))
	} else {
		kv, err = n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: n.bucketName(set), TTL: ttl, History: 1, Storage: jetstream.MemoryStorage,
			Description: "actorhub presence: what each node of a hub reports, forgotten after the TTL",
		})
	}
	if err != nil {
		return nil, err
	}
	if ttl != 0 {
		n.mu.Lock()
		n.buckets[set] = natsBucket{kv, ttl}
		n.mu.Unlock()
	}
	return kv, nil
}

// forget drops a cached bucket (the server lost it: a restart).
func (n *NATS) forget(set string) {
	n.mu.Lock()
	delete(n.buckets, set)
	n.mu.Unlock()
}

// PutPresence implements Backplane.
func (n *NATS) PutPresence(ctx context.Context, set, node string, counts map[string]int64, ttl time.Duration) error {
	if !n.nc.IsConnected() {
		return ErrUnavailable
	}
	if counts == nil {
		counts = map[string]int64{}
	}
	value, err := json.Marshal(counts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		kv, err := n.bucket(ctx, set, ttl)
		if err == nil {
			_, err = kv.Put(ctx, keyToken(node), value)
		}
		if err == nil {
			return nil
		}
		n.forget(set)
		if attempt == 1 || ctx.Err() != nil {
			n.errors.Add(1)
			return err
		}
	}
}

// Presence implements Backplane.
func (n *NATS) Presence(ctx context.Context, set, name string) (map[string]int64, error) {
	if !n.nc.IsConnected() {
		return nil, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	out := make(map[string]int64)
	kv, err := n.bucket(ctx, set, 0)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return out, nil // nobody reported
	}
	if err != nil {
		n.errors.Add(1)
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		n.forget(set) // the server may have lost it (a restart): looked up again next time
		n.errors.Add(1)
		return nil, err
	}
	defer w.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("backplane: nats presence of %q: watch ended", set)
			}
			if e == nil { // every current value seen
				return out, nil
			}
			node, err := untoken(e.Key(), '=')
			if err != nil {
				continue
			}
			var counts map[string]int64
			if json.Unmarshal(e.Value(), &counts) != nil {
				continue
			}
			out[node] = counts[name]
		case <-ctx.Done():
			n.errors.Add(1)
			return nil, fmt.Errorf("backplane: nats presence of %q: %w", set, ctx.Err())
		}
	}
}

// DropPresence implements Backplane.
func (n *NATS) DropPresence(ctx context.Context, set, node string) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	kv, err := n.bucket(ctx, set, 0)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err == nil {
		err = kv.Delete(ctx, keyToken(node))
	}
	if err != nil {
		n.errors.Add(1)
	}
	return err
}

// Ready reports whether the server can be used now: nil when it answers
// a PING within ctx, ErrUnavailable (wrapped) while the client is
// disconnected or it does not answer, ErrClosed after Close. It costs one
// round trip; a readiness probe should not call it more than about once a
// second.
func (n *NATS) Ready(ctx context.Context) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if !n.nc.IsConnected() {
		return ErrUnavailable
	}
	if err := n.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Stats implements StatsReporter.
func (n *NATS) Stats() Stats {
	n.mu.Lock()
	dropped := n.dropped
	for _, s := range n.subs {
		if d, err := s.Dropped(); err == nil {
			dropped += uint64(d)
		}
	}
	n.mu.Unlock()
	s := n.snapshot(n.nc.IsConnected(), len(n.queue))
	s.Lost += dropped
	return s
}

// Close implements Backplane: queued publishes fail with ErrClosed; what
// was handed to the client is flushed (for at most OpTimeout).
func (n *NATS) Close() error {
	n.queueMu.Lock()
	first := n.closed.CompareAndSwap(false, true)
	n.queueMu.Unlock()
	if !first {
		return ErrClosed
	}
	n.mu.Lock()
	n.cancel() // under mu: no subscriber waits after
	n.mu.Unlock()
	n.wg.Wait()
	var err error
	if n.nc.IsConnected() {
		err = n.nc.FlushTimeout(n.cfg.OpTimeout)
	}
	n.nc.Close()
	n.acksMu.Lock()
	acks := n.acks
	n.acks = nil
	n.acksMu.Unlock()
	for _, p := range acks {
		if p.n > 0 {
			p.done(p.n, nil)
		} else {
			p.done(0, ErrClosed)
		}
	}
	return err
}
