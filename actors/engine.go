package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorhub/actorhub/protocol"
	"github.com/asynkron/protoactor-go/actor"
)

// Invoker is the hub code a connection actor runs. Every call runs in that
// connection's turn, so calls for one connection never overlap.
type Invoker interface {
	// OnConnected runs after the handshake. An error ends the connection
	// with a Close message that forbids reconnecting; its error text is
	// "Connection closed with an error." unless the error is a clientTexter.
	OnConnected(c *Conn) error
	// Invoke runs a hub method and returns the Completion to send (the
	// connection sends nothing when the invocation has no id).
	Invoke(c *Conn, inv *protocol.Invocation) *protocol.Completion
	// StreamInvoke starts a streaming hub method; a non-nil Completion is
	// sent at once (an error, typically).
	StreamInvoke(c *Conn, inv *protocol.StreamInvocation) *protocol.Completion
	// Other gets the client's CancelInvocation, StreamItem, Completion, Ack
	// and Sequence messages.
	Other(c *Conn, m protocol.Message)
	// OnDisconnected runs once when a connected connection ends; err is nil
	// for a clean close.
	OnDisconnected(c *Conn, err error)
}

// EngineConfig configures an Engine. The settings that hub.Config carries
// have their defaults there: hub fills them and the engine only checks
// them (NewEngine refuses a zero or negative one, naming it). The engine's
// own settings (the unexported ones, Logger) take the defaults named.
type EngineConfig struct {
	// Protocols the hub speaks, 1 to 4.
	Protocols []protocol.Protocol
	// KeepAliveInterval: a Ping goes out after this long without sending.
	KeepAliveInterval time.Duration
	// ClientTimeoutInterval: a client silent this long is disconnected
	// (once it has pinged, or from the handshake with
	// ClientTimeoutStrict).
	ClientTimeoutInterval time.Duration
	// ClientTimeoutStrict arms the client timeout when the handshake is
	// answered instead of at the client's first Ping.
	ClientTimeoutStrict bool
	// HandshakeTimeout: the handshake must arrive within it.
	HandshakeTimeout time.Duration
	// MaximumReceiveMessageSize bounds one hub message from a client, the
	// handshake included, in bytes; negative means no limit.
	MaximumReceiveMessageSize int
	// MaxTransportMessageSize bounds one WebSocket message from a client
	// (which may carry several hub messages), in bytes.
	MaxTransportMessageSize int
	// MaxBufferedBytes is a connection's outgoing budget; past it the
	// client is closed as a slow consumer. It bounds what the transport
	// has not sent, and (times mailboxBudget) the payloads waiting in the
	// connection's mailbox, which an actor held up by hub code does not
	// take.
	MaxBufferedBytes int
	// partitionSize: a group with more members spreads them over child
	// actors. 0 = 1024.
	partitionSize int
	// partitions is how many child actors a large group uses. 0 = 4 ×
	// GOMAXPROCS.
	partitions int
	// AllowStatefulReconnects lets connections that negotiated it
	// (ConnInfo.StatefulReconnect) and shook hands with version >= 2 survive
	// an unclean transport drop (see stateful.go). Default false.
	AllowStatefulReconnects bool
	// StatefulReconnectBufferSize bounds, in bytes, what a stateful
	// connection keeps of what it sent and the client has not acknowledged;
	// past it the connection is closed as a slow consumer.
	StatefulReconnectBufferSize int
	// DisconnectTimeout: how long a dropped stateful connection waits for
	// its client to reattach before it ends.
	DisconnectTimeout time.Duration
	// MaxInboundBytes and MaxInboundMessages bound what a connection's
	// client sent and its actor has not handled yet (see conn_in.go): past
	// either, the connection's transport stops reading until the actor has
	// handled half of it. A message counts against MaxInboundBytes as its
	// bytes plus what its decoded form holds (inCost). MaxInboundMessages is at most 1<<20,
	// MaxInboundBytes at most 1<<36.
	MaxInboundBytes    int
	MaxInboundMessages int
	// MaxGroupsPerConnection bounds the named groups (GroupKey) one
	// connection is a member of; a join past it fails with
	// ErrTooManyGroups. Negative means no limit.
	MaxGroupsPerConnection int
	// BeforeConnected, when set, runs once a connection's handshake is
	// accepted and its joins of all and of its user are in effect, before
	// the handshake is answered and OnConnected runs; those wait until it
	// calls open (from any goroutine, at most once), while the
	// connection's messages wait in its stash. Nothing holds a worker
	// meanwhile: the hub uses it to wait for the backplane to confirm the
	// connection's subscriptions.
	BeforeConnected func(c *Conn, open func())
	// OnGroupActive, when set, is told when a group key gets its first
	// member on this engine (active) and when it has none left (not
	// active), in that order for each key; KeyAll is active from
	// the start. It runs on the hub actor, which owns membership: it must
	// not block. The hub uses it to subscribe to a group's backplane
	// channel only while the node has members.
	OnGroupActive func(key string, active bool)
	// Raw, when set, makes every connection of the engine a raw one (see
	// raw.go): no handshake, no hub protocol, its bytes to Raw. Protocols
	// may then be empty, and the Invoker is not used.
	Raw RawApp
	// Logger; nil discards.
	Logger *slog.Logger
}

// withDefaults checks the settings hub fills and fills the engine's own.
func (c EngineConfig) withDefaults() (EngineConfig, error) {
	if (len(c.Protocols) == 0 && c.Raw == nil) || len(c.Protocols) > maxProtocols {
		return c, fmt.Errorf("actors: EngineConfig.Protocols has %d protocols, want 1 to %d", len(c.Protocols), maxProtocols)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"KeepAliveInterval", c.KeepAliveInterval},
		{"ClientTimeoutInterval", c.ClientTimeoutInterval},
		{"HandshakeTimeout", c.HandshakeTimeout},
		{"DisconnectTimeout", c.DisconnectTimeout},
	} {
		if d.v <= 0 {
			return c, fmt.Errorf("actors: EngineConfig.%s is %v, want > 0", d.name, d.v)
		}
	}
	for _, d := range []struct {
		name string
		v    int
	}{
		{"MaxTransportMessageSize", c.MaxTransportMessageSize},
		{"MaxBufferedBytes", c.MaxBufferedBytes},
		{"StatefulReconnectBufferSize", c.StatefulReconnectBufferSize},
		{"MaxInboundBytes", c.MaxInboundBytes},
		{"MaxInboundMessages", c.MaxInboundMessages},
	} {
		if d.v <= 0 {
			return c, fmt.Errorf("actors: EngineConfig.%s is %d, want > 0", d.name, d.v)
		}
	}
	if c.MaxInboundMessages > maxInboundMessages || c.MaxInboundBytes > maxInboundBytes {
		return c, fmt.Errorf("actors: EngineConfig.MaxInboundMessages (%d) or MaxInboundBytes (%d) over %d and %d", c.MaxInboundMessages, c.MaxInboundBytes, maxInboundMessages, maxInboundBytes)
	}
	if c.MaximumReceiveMessageSize == 0 {
		return c, errors.New("actors: EngineConfig.MaximumReceiveMessageSize is 0, want > 0 or negative for no limit")
	}
	if c.MaxGroupsPerConnection == 0 {
		return c, errors.New("actors: EngineConfig.MaxGroupsPerConnection is 0, want > 0 or negative for no limit")
	}
	if c.partitionSize <= 0 {
		c.partitionSize = 1024
	}
	if c.partitions <= 0 {
		c.partitions = 4 * numCPU()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// mailboxBudget: a connection's mailbox holds at most this many times its
// outgoing budget of payloads. Room for a burst that its actor, not held
// up, takes at once (more than a socket's buffers); a bound for one that
// hub code holds up.
const mailboxBudget = 4

// The largest inbound budget: four times it (see conn_in.go) must fit in
// inbound.queued's 24 bits of messages and 40 bits of bytes.
const (
	maxInboundMessages = 1 << 20
	maxInboundBytes    = 1 << 36
)

// Engine is one hub's actors: its connections, its groups and users, the hub
// actor that owns group membership, and the heartbeat that drives keep-alives
// and timeouts for every connection from one timer.
type Engine struct {
	cfg        EngineConfig
	maxMessage int    // cfg.MaximumReceiveMessageSize as the codecs take it: 0 = no limit
	inMsgs     uint64 // cfg.MaxInboundMessages
	inBytes    uint64 // cfg.MaxInboundBytes
	sys        *System
	invoker    Invoker
	log        *slog.Logger
	epoch      time.Time
	pings      []pingFrames

	hubPID *actor.PID
	// groupProps spawn group actors, from the hub actor only: it sets
	// spawningGroup (which it owns) to the actor to start.
	groupProps    *actor.Props
	spawningGroup *groupActor
	maxPayload    int32        // the bound of a connection's mailbox (batchingMailbox.maxPayload)
	clock         atomic.Int64 // now(), advanced by the heartbeat each tick
	groups        sync.Map     // group key -> *groupRef; written only by the hub actor
	conns         registry
	seq           atomic.Uint64

	closing  atomic.Bool
	stopBeat chan struct{}
	beatDone chan struct{}
	stats    stats
}

// NewEngine starts the actors of one hub on sys.
func NewEngine(sys *System, invoker Invoker, cfg EngineConfig) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg, sys: sys, invoker: invoker, log: cfg.Logger, epoch: time.Now(),
		maxMessage: max(cfg.MaximumReceiveMessageSize, 0),
		inMsgs:     uint64(cfg.MaxInboundMessages), inBytes: uint64(cfg.MaxInboundBytes),
		stopBeat: make(chan struct{}), beatDone: make(chan struct{}),
	}
	for _, p := range cfg.Protocols {
		e.pings = append(e.pings, newPingFrames(p))
	}
	e.conns.init()
	e.clock.Store(int64(time.Since(e.epoch)))
	e.maxPayload = int32(min(mailboxBudget*cfg.MaxBufferedBytes, math.MaxInt32))
	e.groupProps = sys.coreProps(func() actor.Actor { return e.spawningGroup })
	e.hubPID = sys.actors.Root.Spawn(sys.coreProps(func() actor.Actor { return newHubActor(e) }))
	done := make(chan struct{})
	e.send(e.hubPID, &ensureGroup{key: keyAll, done: done})
	<-done
	// Owner: the Engine. Shutdown closes stopBeat and waits for beatDone.
	go e.heartbeat()
	return e, nil
}

// Config is the configuration in effect, defaults filled in.
func (e *Engine) Config() EngineConfig { return e.cfg }

// now is the engine's coarse clock in nanoseconds, advanced each heartbeat
// tick: cheap enough to read on every write, for the keep-alive (a ping
// that goes out up to a tick early does no harm).
func (e *Engine) now() int64 { return e.clock.Load() }

// preciseNow is the exact time on the engine's clock, for what must not
// fire early: the client and handshake timeouts.
func (e *Engine) preciseNow() int64 { return int64(time.Since(e.epoch)) }

func (e *Engine) send(pid *actor.PID, msg any) { e.sys.send(pid, msg) }

// NewConn makes a connection for a transport and starts its actor. The
// transport then feeds it with Conn.Feed and reports its end with Conn.Closed.
func (e *Engine) NewConn(info ConnInfo, t Transport) (*Conn, error) {
	if e.closing.Load() {
		return nil, errShutdown
	}
	// The connection's actor is its mailbox, in c (connactor.go).
	c := &Conn{ID: info.ID, UserID: info.UserID, engine: e, seq: e.seq.Add(1), tslot: uint8(e.stats.transportSlot(info.Transport))}
	if info.Claims != nil || info.Request != nil || (c.tslot == 0 && info.Transport != "") {
		c.extra = &connExtra{claims: info.Claims, request: info.Request, transport: info.Transport}
	}
	c.opts = info.opts(e.cfg.AllowStatefulReconnects)
	c.out.transport = t
	if e.cfg.Raw != nil {
		// No handshake: connected from the start; its first message
		// (rawStart, sent below) runs Connected.
		if c.extra == nil {
			c.extra = &connExtra{}
		}
		c.extra.raw = &rawConn{}
		c.opts |= optNoKeepAlive
		c.state.Store(stateConnected)
	}
	now := e.preciseNow()
	c.life.created = now
	c.life.lastRecv.Store(now)
	c.life.lastSend.Store(now)
	c.mbox.initConn(connActor{c}, e.sys.pool, e.maxPayload)
	if c.isRaw() {
		// First in its mailbox, before Shutdown can find it in conns and
		// close it: Connected always runs before Disconnected.
		c.post(&rawStart{})
	}
	e.conns.put(c)
	return c, nil
}

// chooseProtocol checks a handshake request; msg is the ASP.NET error text
// when it is refused.
func (e *Engine) chooseProtocol(req protocol.HandshakeRequest, textOnly bool) (protocol.Protocol, int, string) {
	for i, p := range e.cfg.Protocols {
		if p.Name() != req.Protocol {
			continue
		}
		if req.Version > p.Version() {
			return nil, 0, fmt.Sprintf("The server does not support version %d of the '%s' protocol.", req.Version, req.Protocol)
		}
		if textOnly && p.TransferFormat() == protocol.Binary {
			return nil, 0, fmt.Sprintf("Cannot use the '%s' protocol on the current transport. The transport does not support 'Binary' transfer format.", req.Protocol)
		}
		return p, i, ""
	}
	return nil, 0, fmt.Sprintf("The protocol '%s' is not supported.", req.Protocol)
}

// Conn finds a live connection by id.
func (e *Engine) Conn(id string) (*Conn, bool) { return e.conns.get(id) }

// forget drops a finished connection from the registry.
func (e *Engine) forget(c *Conn) { e.conns.remove(c) }

// Keys of the engine's groups: all connections, a user's connections, a named group.
const keyAll = "\x00all"

// UserKey is the group key of a user's connections.
func UserKey(user string) string { return "u:" + user }

// GroupKey is the group key of a named group.
func GroupKey(name string) string { return groupPrefix + name }

const groupPrefix = "g:"

// isGroupKey reports whether key is a named group's (GroupKey).
func isGroupKey(key string) bool { return strings.HasPrefix(key, groupPrefix) }

// SendAll delivers p to every connected connection.
func (e *Engine) SendAll(p *Payload) { e.SendKey(keyAll, p) }

// SendKey delivers p to the members of a group key. A group nobody belongs
// to has no actor, and the payload goes nowhere. A sender on this node
// waits while the group is far behind (see groupqueue.go).
func (e *Engine) SendKey(key string, p *Payload) {
	if v, ok := e.groups.Load(key); ok {
		g := v.(*groupRef)
		g.accept(e, p)
		e.send(g.pid, p)
	}
}

// SendKeys delivers p to the members of several groups; a connection in more
// than one of them gets it once.
func (e *Engine) SendKeys(keys []string, p *Payload) {
	if len(keys) > 1 {
		p.seen = new(sync.Map)
	}
	for _, k := range keys {
		e.SendKey(k, p)
	}
}

// SendConn delivers p to one connection; it reports whether it was found.
func (e *Engine) SendConn(id string, p *Payload) bool {
	c, ok := e.conns.get(id)
	if ok {
		c.post(p)
	}
	return ok
}

// AddToGroup makes connection id a member of the group key; it returns once
// the membership is in effect (or ctx ends).
func (e *Engine) AddToGroup(ctx context.Context, id, key string) error {
	c, ok := e.conns.get(id)
	if !ok {
		return ErrNotFound
	}
	done, _, err := e.join(c, key, false)
	if done == nil {
		return err
	}
	return e.wait(ctx, done)
}

// RemoveFromGroup ends connection id's membership of the group key; it
// returns once that is in effect (or ctx ends). Unknown ids are ignored.
func (e *Engine) RemoveFromGroup(ctx context.Context, id, key string) error {
	c, ok := e.conns.get(id)
	if !ok {
		return nil
	}
	done := e.leave(c, key)
	if done == nil {
		return nil
	}
	return e.wait(ctx, done)
}

// membershipTimeout bounds how long AddToGroup and RemoveFromGroup wait for
// the change to take effect; it only runs out when the server is
// overloaded.
const membershipTimeout = 30 * time.Second

// errMembershipTimeout: a membership change took longer than membershipTimeout.
var errMembershipTimeout = fmt.Errorf("actors: group membership change not in effect after %v", membershipTimeout)

func (e *Engine) wait(ctx context.Context, done <-chan struct{}) (err error) {
	select {
	case <-done:
		return nil
	default:
	}
	e.sys.pool.Blocking(func() {
		t := time.NewTimer(membershipTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
			err = errMembershipTimeout
		}
	})
	return err
}

// ErrTooManyGroups: the connection is a member of
// EngineConfig.MaxGroupsPerConnection named groups already.
var ErrTooManyGroups = errors.New("actors: connection is a member of too many groups")

// join adds c to a group. It returns nil when nothing was to be done, else a
// channel closed once the membership is in effect. With notify the
// connection's actor gets *memberAdded instead, and join returns nil.
func (e *Engine) join(c *Conn, key string, notify bool) (done chan struct{}, joined bool, err error) {
	c.groups.mu.Lock()
	defer c.groups.mu.Unlock()
	if c.groups.left || c.groups.has(key) {
		return nil, false, nil
	}
	if v, ok := e.groups.Load(key); ok {
		// The key the group was made with: one string for all its
		// members, not one per join.
		key = v.(*groupRef).key
	}
	named := isGroupKey(key)
	if named && e.cfg.MaxGroupsPerConnection > 0 && int(c.groups.named) >= e.cfg.MaxGroupsPerConnection {
		return nil, false, ErrTooManyGroups
	}
	c.groups.add(key)
	if named {
		c.groups.named++
	}
	if !notify {
		done = make(chan struct{})
	}
	// Sent under groups.mu: the joins and leaves of one connection stay in order.
	e.send(e.hubPID, &joinGroup{key: key, conn: c, done: done, notify: notify})
	return done, true, nil
}

func (e *Engine) leave(c *Conn, key string) <-chan struct{} {
	c.groups.mu.Lock()
	defer c.groups.mu.Unlock()
	if !c.groups.remove(key) {
		return nil
	}
	if isGroupKey(key) {
		c.groups.named--
	}
	done := make(chan struct{})
	e.send(e.hubPID, &leaveGroup{key: key, conn: c, done: done})
	return done
}

// leaveAll takes c out of every group for good.
func (e *Engine) leaveAll(c *Conn) {
	c.groups.mu.Lock()
	defer c.groups.mu.Unlock()
	c.groups.left = true
	c.groups.each(func(key string) {
		e.send(e.hubPID, &leaveGroup{key: key, conn: c})
	})
	c.groups.clear()
	c.groups.named = 0
}

// Shutdown drains the engine, bounded by ctx: it stops taking connections
// (and handshakes, and client messages not yet handled), lets every group
// fan out what it was given before the call, then sends every connection
// Close{allowReconnect: true} behind what its mailbox holds, so each
// client gets everything sent to it before its Close, and waits until the
// connections are gone. What is left when ctx ends is cut. Then it stops
// the engine's actors and heartbeat. A second call returns errShutdown.
func (e *Engine) Shutdown(ctx context.Context) error {
	if !e.closing.CompareAndSwap(false, true) {
		return errShutdown
	}
	err := e.drainGroups(ctx)
	e.conns.each(func(c *Conn) {
		c.Close("", true, errShutdown)
	})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for e.conns.len() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-tick.C:
		}
	}
	if err != nil { // what is left is cut
		e.conns.each(func(c *Conn) { c.Drop() })
	}
	close(e.stopBeat)
	<-e.beatDone
	e.sys.actors.Root.StopFuture(e.hubPID).Wait()
	e.stopGroups()
	return err
}

// drainGroups waits until every group has fanned out what it was given
// before the call (into its members' mailboxes), or ctx ends. A group that
// stops meanwhile (it emptied) has nobody to give anything to.
func (e *Engine) drainGroups(ctx context.Context) error {
	type drain struct {
		g    *groupRef
		done chan struct{}
	}
	var drains []drain
	e.groups.Range(func(_, v any) bool {
		d := drain{v.(*groupRef), make(chan struct{})}
		e.send(d.g.pid, &drainGroup{done: d.done})
		drains = append(drains, d)
		return true
	})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, d := range drains {
		for waiting := true; waiting; {
			select {
			case <-d.done:
				waiting = false
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
				waiting = !d.g.isStopped()
			}
		}
	}
	return nil
}

// stopGroups stops the group actors left once the hub actor, which made
// them, has stopped.
func (e *Engine) stopGroups() {
	var stopping []*actor.Future
	e.groups.Range(func(key, v any) bool {
		g := v.(*groupRef)
		g.wake(true)
		stopping = append(stopping, e.sys.actors.Root.StopFuture(g.pid))
		e.groups.Delete(key)
		return true
	})
	for _, f := range stopping {
		_ = f.Wait()
	}
}

// MemberCounts is the number of members of every group key that has any
// (GroupKey, UserKey, and KeyAll for all connections), as the hub actor has
// them once what was asked before the call is in effect. With keys, only
// those are counted.
func (e *Engine) MemberCounts(ctx context.Context, keys ...string) (map[string]int64, error) {
	reply := make(chan map[string]int64, 1)
	e.send(e.hubPID, &countAll{keys: keys, reply: reply})
	select {
	case m := <-reply:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.stopBeat: // shut down: the hub actor is stopping
		return nil, errShutdown
	}
}

// KeyAll is the group key of every connection.
const KeyAll = keyAll

// connections is the number of connections the engine holds (any state).
func (e *Engine) connections() int { return e.conns.len() }
