package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/protocol"
)

// ErrMessageTooLarge: a send whose message, as it would cross the
// backplane, is larger than Config.MaxBackplaneMessageSize. Nothing was
// sent, locally either.
var ErrMessageTooLarge = errors.New("hub: message too large for the backplane")

// ErrNoAck: no node acknowledged a group change for a connection that is not
// on this node within Config.AckTimeout; the connection may not exist.
var ErrNoAck = errors.New("hub: no node acknowledged the group change")

// forwardedResultWait bounds how long a node keeps waiting for a client's
// answer to a client result that another node asked for.
const forwardedResultWait = 10 * time.Minute

// scaleout is a hub's side of the backplane: which channels this node
// subscribes to, what it publishes, and what it does with what arrives.
// Channels are laid out as package backplane describes. A node subscribes
// to a group or user channel while the engine reports the key active (it
// has a member here) and to a connection's channel while the connection is
// connected.
type scaleout struct {
	bp         backplane.Backplane
	engine     atomic.Pointer[actors.Engine] // set once the engine exists
	protocols  []protocol.Protocol
	node       string
	prefix     string // hub name + ":"
	ackTimeout time.Duration
	expiry     time.Duration
	maxSize    int
	log        *slog.Logger
	lastWarn   atomic.Int64 // unix nanos of the last publish failure logged

	mu      sync.Mutex
	ready   map[string]<-chan struct{}        // subscribed channel -> closed once in effect; guarded by mu
	acks    map[int64]chan struct{}           // group commands waiting; guarded by mu
	results map[string]chan *backplane.Result // client results waiting; guarded by mu
	// connSubs stops the unsubscribe waiting for each connection's end
	// (see beforeConnected), by channel; guarded by mu.
	connSubs map[string]func() bool
	seq      atomic.Int64

	stop    chan struct{} // closed by stopReports: reportPresence returns
	done    chan struct{} // closed by reportPresence as it returns
	changed chan struct{} // one slot: membersChanged asks for an early report

	// Goroutines that wait on the backplane or the engine for a connection
	// (its subscriptions, a forwarded client result) or for another node (a
	// group change): started by spawn, stopped by ctx, which close cancels
	// before it waits for them.
	ctx     context.Context
	cancel  context.CancelFunc
	tasks   sync.WaitGroup // Add only under mu, while !closed
	closing bool           // guarded by mu: close has begun; spawn starts nothing
}

// newScaleout connects a hub to bp; cfg has its defaults filled in.
func newScaleout(bp backplane.Backplane, cfg *Config, log *slog.Logger) *scaleout {
	node := cfg.NodeID
	s := &scaleout{
		bp: bp, protocols: cfg.Protocols, node: node, prefix: cfg.Name + ":",
		ackTimeout: cfg.AckTimeout, expiry: cfg.NodeExpiry, maxSize: cfg.MaxBackplaneMessageSize,
		log:      log.With("node", node),
		ready:    make(map[string]<-chan struct{}),
		acks:     make(map[int64]chan struct{}),
		results:  make(map[string]chan *backplane.Result),
		connSubs: make(map[string]func() bool),
		stop:     make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// spawn runs fn on a goroutine that close waits for; once close has begun
// it starts nothing and reports false.
func (s *scaleout) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.tasks.Add(1)
	// Owner: the scaleout (tasks). fn returns when s.ctx ends at the
	// latest; close waits.
	go func() {
		defer s.tasks.Done()
		fn()
	}()
	return true
}

// Channel names, without the backplane's own prefix.
func (s *scaleout) allChannel() string               { return s.prefix + "all" }
func (s *scaleout) groupChannel(g string) string     { return s.prefix + "group:" + g }
func (s *scaleout) connChannel(id string) string     { return s.prefix + "connection:" + id }
func (s *scaleout) userChannel(u string) string      { return s.prefix + "user:" + u }
func (s *scaleout) groupsChannel() string            { return s.prefix + "internal:groups" }
func (s *scaleout) ackChannel(node string) string    { return s.prefix + "internal:ack:" + node }
func (s *scaleout) returnChannel(node string) string { return s.prefix + "internal:return:" + node }
func (s *scaleout) presenceSet() string              { return s.prefix + "nodes" }

// keyChannel is the channel of an engine group key.
func (s *scaleout) keyChannel(key string) string {
	switch {
	case key == actors.KeyAll:
		return s.allChannel()
	case strings.HasPrefix(key, "g:"):
		return s.groupChannel(key[2:])
	case strings.HasPrefix(key, "u:"):
		return s.userChannel(key[2:])
	}
	return ""
}

// start subscribes to the node's own channels once the engine exists, and
// starts the presence reports.
func (s *scaleout) start(e *actors.Engine) {
	s.engine.Store(e)
	waits := []<-chan struct{}{
		s.bp.Subscribe(s.groupsChannel(), s.onGroupCommand),
		s.bp.Subscribe(s.ackChannel(s.node), s.onAck),
		s.bp.Subscribe(s.returnChannel(s.node), s.onResult),
	}
	for _, w := range waits {
		s.await(context.Background(), w)
	}
	s.awaitKey(context.Background(), actors.KeyAll)
	// Owner: the scaleout. Returns when stopReports closes s.stop, and
	// stopReports waits for s.done.
	go s.reportPresence()
}

// stopReports stops the presence reports, before the engine shuts down.
func (s *scaleout) stopReports() {
	close(s.stop)
	<-s.done
}

// close leaves the backplane once the engine has shut down: it stops the
// goroutines spawn started and waits for them (no ack or result goes out
// after it), then unsubscribes from every channel it still subscribes to
// (all, and groups and users whose last member left as the engine stopped)
// and its own. Its presence went first (dropPresence).
func (s *scaleout) close() {
	s.mu.Lock()
	s.closing = true
	subs := s.connSubs
	s.connSubs = nil
	s.mu.Unlock()
	var channels []string
	for ch, stop := range subs {
		if stop() { // its connection has not ended (Shutdown ran out of time)
			s.tasks.Done()
			channels = append(channels, ch)
		}
	}
	s.cancel()
	s.tasks.Wait()
	s.mu.Lock()
	channels = append(channels, s.allChannel(), s.groupsChannel(), s.ackChannel(s.node), s.returnChannel(s.node))
	for ch := range s.ready {
		channels = append(channels, ch)
	}
	clear(s.ready)
	s.mu.Unlock()
	for _, ch := range slices.Compact(slices.Sorted(slices.Values(channels))) {
		s.bp.Unsubscribe(ch)
	}
}

// dropPresence takes this node out of the counts at once, as it shuts down.
func (s *scaleout) dropPresence() {
	ctx, cancel := context.WithTimeout(context.Background(), s.ackTimeout)
	defer cancel()
	if err := s.bp.DropPresence(ctx, s.presenceSet(), s.node); err != nil {
		s.log.Warn("hub: could not drop this node's presence; it expires", "err", err)
	}
}

// groupActive is the engine's OnGroupActive: it runs on the hub actor, in
// order for each key, and does not wait for the backplane.
func (s *scaleout) groupActive(key string, active bool) {
	ch := s.keyChannel(key)
	if ch == "" {
		return
	}
	if !active {
		s.mu.Lock()
		delete(s.ready, ch)
		s.mu.Unlock()
		s.bp.Unsubscribe(ch)
		return
	}
	ready := s.bp.Subscribe(ch, func(_ string, msg []byte) { s.onKeyMessage(key, msg) })
	s.mu.Lock()
	s.ready[ch] = ready
	s.mu.Unlock()
}

// awaitKey waits until the subscription of a key's channel is in effect.
func (s *scaleout) awaitKey(ctx context.Context, key string) {
	ch := s.keyChannel(key)
	s.mu.Lock()
	ready := s.ready[ch]
	s.mu.Unlock()
	if ready != nil {
		s.await(ctx, ready)
	}
}

// await waits for ready, for ctx or for AckTimeout, whichever comes first;
// running out is logged: cross-node delivery starts when the backplane
// confirms.
func (s *scaleout) await(ctx context.Context, ready <-chan struct{}) {
	if s.wait(ctx, ready) == errAckTimeout {
		s.log.Warn("hub: backplane subscription not confirmed in time")
	}
}

// errAckTimeout: AckTimeout passed first.
var errAckTimeout = errors.New("hub: backplane did not answer in time")

// wait waits for done, ctx or AckTimeout, handing its pool worker to other
// turns meanwhile (it runs once the engine exists).
func (s *scaleout) wait(ctx context.Context, done <-chan struct{}) (err error) {
	select {
	case <-done:
		return nil
	default:
	}
	s.engine.Load().Blocking(func() {
		t := time.NewTimer(s.ackTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
			err = errAckTimeout
		}
	})
	return err
}

// beforeConnected is the engine's BeforeConnected: it subscribes to the
// connection's channel and opens once that and its user's channel are in
// effect (or AckTimeout has passed), so that a send from another node made
// after the client saw its handshake answered reaches it. Nothing blocks
// meanwhile.
func (s *scaleout) beforeConnected(c *actors.Conn, open func()) {
	ch := s.connChannel(c.ID)
	readies := []<-chan struct{}{s.bp.Subscribe(ch, func(_ string, msg []byte) { s.onConnMessage(c.ID, msg) })}
	// However the connection ends (connected or not), its channel goes.
	// context.AfterFunc unsubscribes on a goroutine of its own, which tasks
	// counts; close stops those that have not started.
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.bp.Unsubscribe(ch)
		open() // the hub is shutting down: the connection is ending
		return
	}
	s.tasks.Add(1)
	s.connSubs[ch] = context.AfterFunc(c.Context(), func() {
		defer s.tasks.Done()
		s.mu.Lock()
		delete(s.connSubs, ch)
		s.mu.Unlock()
		s.bp.Unsubscribe(ch)
		s.membersChanged() // its groups, its user and the hub lost one
	})
	s.mu.Unlock()
	s.membersChanged()
	if c.UserID != "" {
		s.mu.Lock()
		if r := s.ready[s.userChannel(c.UserID)]; r != nil {
			readies = append(readies, r)
		}
		s.mu.Unlock()
	}
	pending := readies[:0]
	for _, r := range readies {
		select {
		case <-r:
		default:
			pending = append(pending, r)
		}
	}
	if len(pending) == 0 {
		open()
		return
	}
	waiting := s.spawn(func() {
		t := time.NewTimer(s.ackTimeout)
		defer t.Stop()
		for _, r := range pending {
			select {
			case <-r:
			case <-s.ctx.Done(): // the hub is shutting down: the connection is ending
				open()
				return
			case <-t.C:
				s.log.Warn("hub: backplane subscription of a new connection not confirmed in time", "conn", c.ID)
				open()
				return
			}
		}
		open()
	})
	if !waiting {
		open()
	}
}

// outbound is a send on its way to other nodes: the message encoded once
// per protocol, checked against the size limit before anything is sent.
type outbound struct {
	s        *scaleout
	payloads map[string][]byte
	exclude  []string
	size     int
}

// prepare encodes p for the other nodes. It fails when p cannot be encoded
// or is too large to cross the backplane.
func (s *scaleout) prepare(p *actors.Payload, exclude []string) (*outbound, error) {
	payloads, err := s.engine.Load().Encoded(p)
	if err != nil {
		return nil, err
	}
	size := 0
	for _, b := range payloads {
		size += len(b)
	}
	for _, id := range exclude {
		size += len(id)
	}
	if size > s.maxSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, size, s.maxSize)
	}
	return &outbound{s: s, payloads: payloads, exclude: exclude, size: size}, nil
}

// publish sends the message on channel; skip names groups whose members
// had it through another channel.
func (o *outbound) publish(channel string, skip []string) error {
	s := o.s
	msg := backplane.AppendInvocation(make([]byte, 0, o.size+64), &backplane.Invocation{
		Excluded: o.exclude, Payloads: o.payloads, Origin: s.node, SkipGroups: skip,
	})
	// No done: nothing here waits for the receivers, and asking for them
	// costs some engines a round of acknowledgements (NATS). A publish
	// that fails after the fact is the engine's to log and count.
	err := s.bp.Publish(channel, msg, nil)
	if err != nil {
		s.warnPublish(channel, err)
		return fmt.Errorf("hub: send to other nodes: %w", err)
	}
	return nil
}

// warnPublish logs a failed publish, at most once a second.
func (s *scaleout) warnPublish(channel string, err error) {
	now := time.Now().UnixNano()
	last := s.lastWarn.Load()
	if now-last < int64(time.Second) || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	s.log.Error("hub: send to other nodes failed; local clients got it", "channel", channel, "err", err)
}

// onKeyMessage delivers a message of a group, user or all channel to this
// node's members of key.
func (s *scaleout) onKeyMessage(key string, msg []byte) {
	e := s.engine.Load()
	inv := s.readInvocation(msg)
	if e == nil || inv == nil || inv.Origin == s.node {
		return // the origin delivered to its own members
	}
	var skip []string
	for _, g := range inv.SkipGroups {
		skip = append(skip, actors.GroupKey(g))
	}
	e.SendKey(key, e.FromEncoded(inv.Payloads, inv.Excluded, skip))
}

// onConnMessage delivers a message of a connection's channel, or forwards a
// client result to it.
func (s *scaleout) onConnMessage(id string, msg []byte) {
	e := s.engine.Load()
	inv := s.readInvocation(msg)
	if e == nil || inv == nil {
		return
	}
	p := e.FromEncoded(inv.Payloads, inv.Excluded, nil)
	if inv.InvocationID == "" {
		if inv.Origin != s.node {
			e.SendConn(id, p)
		}
		return
	}
	s.forward(e, id, inv, p)
}

func (s *scaleout) readInvocation(msg []byte) *backplane.Invocation {
	inv, err := backplane.ReadInvocation(msg)
	if err != nil {
		s.log.Warn("hub: dropped a malformed backplane message", "err", err)
		return nil
	}
	return inv
}

// forward writes another node's client result invocation to a connection
// here and sends the client's answer back to the node that asked.
func (s *scaleout) forward(e *actors.Engine, id string, inv *backplane.Invocation, p *actors.Payload) {
	if inv.ReturnChannel == "" || !strings.HasPrefix(inv.InvocationID, "r") {
		s.log.Warn("hub: dropped a client result without a return channel or with a foreign id", "conn", id)
		return
	}
	back := func(r *backplane.Result) {
		r.InvocationID = inv.InvocationID
		_ = s.bp.Publish(inv.ReturnChannel, backplane.AppendResult(nil, r), nil)
	}
	c, ok := e.Conn(id)
	if !ok {
		back(&backplane.Result{Disconnected: true})
		return
	}
	answers, err := c.Forward(inv.InvocationID, p)
	if err != nil {
		back(&backplane.Result{Disconnected: true})
		return
	}
	waiting := s.spawn(func() {
		t := time.NewTimer(forwardedResultWait)
		defer t.Stop()
		select {
		case done := <-answers:
			b, err := c.Protocol().AppendMessage(nil, done)
			if err != nil {
				done = &protocol.Completion{InvocationID: done.InvocationID, Error: "Invalid client result."}
				b, _ = c.Protocol().AppendMessage(nil, done)
			}
			back(&backplane.Result{Protocol: c.Protocol().Name(), Completion: b})
		case <-c.Context().Done():
			c.ForgetResult(inv.InvocationID)
			back(&backplane.Result{Disconnected: true})
		case <-s.ctx.Done(): // the hub is shutting down: the connection is ending
			c.ForgetResult(inv.InvocationID)
			back(&backplane.Result{Disconnected: true})
		case <-t.C:
			c.ForgetResult(inv.InvocationID)
		}
	})
	if !waiting {
		c.ForgetResult(inv.InvocationID)
		back(&backplane.Result{Disconnected: true})
	}
}

// invoke asks a client on another node for a result: the invocation goes
// on the connection's channel with this node's return channel, and the
// answer comes back there.
func (s *scaleout) invoke(ctx context.Context, id, method string, args []any) (*protocol.Completion, protocol.Protocol, error) {
	if args == nil {
		args = []any{}
	}
	invID := "r" + strconv.FormatInt(s.seq.Add(1), 10) + "." + s.node
	p := actors.NewPayload(&protocol.Invocation{InvocationID: invID, Target: method, Arguments: args})
	out, err := s.prepare(p, nil)
	if err != nil {
		return nil, nil, err
	}
	answer := make(chan *backplane.Result, 1)
	s.mu.Lock()
	s.results[invID] = answer
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.results, invID)
		s.mu.Unlock()
	}()
	msg := backplane.AppendInvocation(nil, &backplane.Invocation{
		Payloads: out.payloads, InvocationID: invID, ReturnChannel: s.returnChannel(s.node), Origin: s.node,
	})
	receivers := make(chan int, 1)
	err = s.bp.Publish(s.connChannel(id), msg, func(n int, err error) {
		if err != nil {
			n = -1
		}
		receivers <- n
	})
	if err != nil {
		return nil, nil, fmt.Errorf("hub: client result through the backplane: %w", err)
	}
	var r *backplane.Result
	var werr error
	s.engine.Load().Blocking(func() {
		for {
			select {
			case n := <-receivers:
				if n == 0 {
					werr = disconnectedError{id: id, unknown: true}
					return
				}
				if n < 0 {
					werr = fmt.Errorf("hub: client result through the backplane: %w", backplane.ErrUnavailable)
					return
				}
				receivers = nil
				continue
			case r = <-answer:
			case <-ctx.Done():
				werr = ctx.Err()
			}
			return
		}
	})
	if werr != nil {
		return nil, nil, werr
	}
	if r.Disconnected {
		return nil, nil, disconnectedError{id: id}
	}
	proto := s.protocol(r.Protocol)
	if proto == nil {
		return nil, nil, fmt.Errorf("hub: client result in unknown protocol %q", r.Protocol)
	}
	m, _, err := proto.ReadMessage(r.Completion, 0)
	done, ok := m.(*protocol.Completion)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("hub: malformed client result from another node: %v", err)
	}
	return done, proto, nil
}

func (s *scaleout) protocol(name string) protocol.Protocol {
	for _, p := range s.protocols {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

func (s *scaleout) onResult(_ string, msg []byte) {
	r, err := backplane.ReadResult(msg)
	if err != nil {
		s.log.Warn("hub: dropped a malformed client result", "err", err)
		return
	}
	r.Completion = append([]byte(nil), r.Completion...) // msg is only ours until we return
	s.mu.Lock()
	ch := s.results[r.InvocationID]
	delete(s.results, r.InvocationID)
	s.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// groupCommand asks the node that holds connection id to add it to a group
// or remove it, and waits for its acknowledgement.
func (s *scaleout) groupCommand(ctx context.Context, action backplane.GroupAction, id, group string) error {
	cmdID := s.seq.Add(1)
	acked := make(chan struct{})
	s.mu.Lock()
	s.acks[cmdID] = acked
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.acks, cmdID)
		s.mu.Unlock()
	}()
	msg := backplane.AppendGroupCommand(nil, &backplane.GroupCommand{
		ID: cmdID, Origin: s.node, Action: action, Group: group, ConnectionID: id,
	})
	if err := s.bp.Publish(s.groupsChannel(), msg, nil); err != nil {
		return fmt.Errorf("hub: group change through the backplane: %w", err)
	}
	err := s.wait(ctx, acked)
	if err == errAckTimeout {
		return fmt.Errorf("%w: connection %q, group %q, within %v", ErrNoAck, id, group, s.ackTimeout)
	}
	return err
}

// onGroupCommand applies a group change for a connection of this node and
// acknowledges it; other nodes' connections are not its business.
func (s *scaleout) onGroupCommand(_ string, msg []byte) {
	e := s.engine.Load()
	cmd, err := backplane.ReadGroupCommand(msg)
	if err != nil {
		s.log.Warn("hub: dropped a malformed group command", "err", err)
		return
	}
	if e == nil {
		return
	}
	if _, ok := e.Conn(cmd.ConnectionID); !ok {
		return
	}
	s.spawn(func() { // the change waits for the actors and the backplane
		ctx, cancel := context.WithTimeout(s.ctx, groupTimeout)
		defer cancel()
		var err error
		if cmd.Action == backplane.GroupAdd {
			err = s.addLocal(ctx, e, cmd.ConnectionID, cmd.Group)
		} else {
			err = s.removeLocal(ctx, e, cmd.ConnectionID, cmd.Group)
		}
		if err != nil && s.ctx.Err() != nil {
			return // cut short by Shutdown: no ack; the asking node's wait runs out
		}
		if err != nil && !errors.Is(err, actors.ErrNotFound) {
			s.log.Warn("hub: group change for another node failed", "conn", cmd.ConnectionID, "group", cmd.Group, "err", err)
			return
		}
		_ = s.bp.Publish(s.ackChannel(cmd.Origin), backplane.AppendAck(nil, cmd.ID), nil)
	})
}

// addLocal adds a connection of this node to a group and waits until the
// group's channel is subscribed: a send to the group from any node reaches
// it once addLocal returns.
func (s *scaleout) addLocal(ctx context.Context, e *actors.Engine, id, group string) error {
	key := actors.GroupKey(group)
	if err := e.AddToGroup(ctx, id, key); err != nil {
		return err
	}
	s.membersChanged()
	s.awaitKey(ctx, key)
	return nil
}

// removeLocal takes a connection of this node out of a group.
func (s *scaleout) removeLocal(ctx context.Context, e *actors.Engine, id, group string) error {
	err := e.RemoveFromGroup(ctx, id, actors.GroupKey(group))
	if err == nil {
		s.membersChanged()
	}
	return err
}

func (s *scaleout) onAck(_ string, msg []byte) {
	id, err := backplane.ReadAck(msg)
	if err != nil {
		s.log.Warn("hub: dropped a malformed ack", "err", err)
		return
	}
	s.mu.Lock()
	ch := s.acks[id]
	delete(s.acks, id)
	s.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// Presence: every node reports its member counts (connections, and the
// members of each group and user) every NodeExpiry/3, and soon after its
// members change (a connection comes or goes, joins or leaves a group),
// at most once per presenceGap; a node that stops reporting is forgotten
// after NodeExpiry.

// presenceGap is the least time between two reports of one node: what a
// count on another node may lag behind a change (as long again while the
// report travels), and what bounds the reports of a node whose members
// change all the time. Each report writes every count of the node.
const presenceGap = time.Second

// membersChanged asks for a report before the next tick.
func (s *scaleout) membersChanged() {
	select {
	case s.changed <- struct{}{}:
	default: // one is asked for already
	}
}

const presenceAll = "all"

func presenceName(key string) string {
	if key == actors.KeyAll {
		return presenceAll
	}
	return key
}

func (s *scaleout) reportPresence() {
	defer close(s.done)
	every := s.expiry / 3
	gap := min(presenceGap, every)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		s.putPresence()
		last := time.Now()
		t.Reset(every)
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.changed:
			// Changes that come meanwhile go into the same report.
			t.Reset(time.Until(last.Add(gap)))
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			select {
			case <-s.changed:
			default:
			}
		}
		select {
		case <-s.stop: // a tick ready too is no reason to go on
			return
		default:
		}
	}
}

func (s *scaleout) putPresence() {
	ctx, cancel := context.WithTimeout(context.Background(), s.expiry/3)
	defer cancel()
	counts, err := s.engine.Load().MemberCounts(ctx)
	if err != nil {
		return
	}
	named := make(map[string]int64, len(counts))
	for k, n := range counts {
		named[presenceName(k)] = n
	}
	if err := s.bp.PutPresence(ctx, s.presenceSet(), s.node, named, s.expiry); err != nil {
		s.log.Debug("hub: presence report failed", "err", err)
	}
}

// count is the number of members of key on every live node: this node's
// exactly, the others' as of their last report.
func (s *scaleout) count(ctx context.Context, key string) (int, error) {
	local, err := s.engine.Load().MemberCounts(ctx, key)
	if err != nil {
		return 0, err
	}
	total := local[key]
	others, err := s.bp.Presence(ctx, s.presenceSet(), presenceName(key))
	if err != nil {
		return int(total), fmt.Errorf("hub: counts of other nodes: %w", err)
	}
	for node, n := range others {
		if node != s.node {
			total += n
		}
	}
	return int(total), nil
}
