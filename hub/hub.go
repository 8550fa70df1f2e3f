package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/protocol"
)

// Config configures a Hub. The zero value works: every zero field takes
// the default its comment names (the Default constants; ASP.NET Core's
// where it has one), and New reports a field it cannot take.
type Config struct {
	// KeepAliveInterval: the server pings a connection it has not sent
	// anything to for this long. 0 means DefaultKeepAliveInterval.
	KeepAliveInterval time.Duration
	// ClientTimeoutInterval: a connection that sent nothing for this long
	// is closed (counted from its first Ping, as in ASP.NET Core, unless
	// ClientTimeoutStrict). 0 means DefaultClientTimeoutInterval.
	ClientTimeoutInterval time.Duration
	// ClientTimeoutStrict arms the client timeout at the handshake instead
	// of at the client's first Ping: a client that completes the handshake
	// and then sends nothing, not even pings, is closed after
	// ClientTimeoutInterval. ASP.NET Core (and so the default, false)
	// never times out a client that has not pinged. Long polling has no
	// client timeout either way (its clients do not ping; DisconnectTimeout
	// ends a client that stops polling).
	ClientTimeoutStrict bool
	// HandshakeTimeout: a connection must complete the handshake within it.
	// 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaximumReceiveMessageSize bounds one hub message from a client, in
	// bytes, the handshake included, as ASP.NET Core's option of that
	// name: a larger message closes the connection with "Connection closed
	// with an error." (a larger handshake: "Handshake was canceled."). 0
	// means DefaultMaximumReceiveMessageSize; a negative value means no
	// limit (cmd/server's -max-message-size 0 sets -1). Whatever it is,
	// MaxTransportMessageSize bounds what a client sends at once.
	MaximumReceiveMessageSize int
	// MaxTransportMessageSize bounds one transport message from a client:
	// a WebSocket message (its frames joined) or the body of one POST of
	// Server-Sent Events or long polling, either of which may carry several
	// hub messages (clients batch). A larger WebSocket message closes the
	// connection with status 1009, a larger POST body gets 413 and closes
	// it. 0 means 4 × MaximumReceiveMessageSize, at least
	// DefaultMaxTransportMessageSize; 64 MiB when hub messages have no
	// limit. ASP.NET Core bounds neither: its transports stop reading past
	// ApplicationMaxBufferSize (64 KB) instead.
	MaxTransportMessageSize int
	// EnableDetailedErrors sends every error's text to clients, not only
	// those of *Error. Default false.
	EnableDetailedErrors bool
	// MaxBufferedBytes is how much may wait to be sent to one connection;
	// past it the connection is closed as a slow consumer (ASP.NET Core's
	// TransportMaxBufferSize bounds the same bytes, but makes the sender
	// wait). 0 means DefaultMaxBufferedBytes.
	MaxBufferedBytes int
	// Protocols the hub speaks, chosen by name in each client's handshake.
	// nil means JSON and MessagePack. Broadcasts are encoded up front in the
	// first one, lazily in the others.
	Protocols []protocol.Protocol
	// AllowStatefulReconnects lets clients that ask for it in negotiate
	// (useStatefulReconnect=true) and shake hands with version 2 keep their
	// connection over an unclean WebSocket drop, as ASP.NET Core 8 does.
	// Default false.
	AllowStatefulReconnects bool
	// StatefulReconnectBufferSize bounds, in bytes, what the server keeps
	// for one stateful connection of what it sent and the client has not
	// acknowledged; past it the connection is closed as a slow consumer.
	// 0 means DefaultStatefulReconnectBufferSize.
	StatefulReconnectBufferSize int
	// DisconnectTimeout is how long a connection that no transport request
	// holds is kept, as ASP.NET Core's ConnectionOptions.DisconnectTimeout:
	// a negotiated connection that no transport has taken up yet, a long
	// polling connection between two polls, and a stateful connection
	// whose WebSocket dropped, waiting for its client to reattach (after
	// it, OnDisconnected runs). 0 means DefaultDisconnectTimeout.
	DisconnectTimeout time.Duration
	// MaxInboundBytes and MaxInboundMessages bound, per connection, what its
	// client sent and the hub has not handled yet (memory, each message
	// counting its bytes plus 256 B for its decoded form, and messages):
	// once either is reached the server stops reading that client (a
	// WebSocket is left unread, so TCP pushes back; a POST of Server-Sent
	// Events or long polling waits before its body is read further) until
	// the hub has handled half of it. A client whose hub methods keep up
	// never reaches it. ASP.NET Core's counterpart is
	// ApplicationMaxBufferSize. 0 means DefaultMaxInboundBytes and
	// DefaultMaxInboundMessages; a negative value means no limit (in
	// effect: 64 GiB and 1,048,576 messages, the most the engine counts).
	MaxInboundBytes    int
	MaxInboundMessages int
	// MaxGroupsPerConnection bounds the groups (Groups.Add) one connection
	// is a member of at a time: past it, Groups.Add returns
	// ErrTooManyGroups and the connection stays as it was. The implicit
	// groups of all connections and of a user do not count. 0 means
	// DefaultMaxGroupsPerConnection; a negative value means no limit.
	MaxGroupsPerConnection int
	// Backplane connects the nodes (processes) that serve this hub, so that
	// a send from any node reaches the clients of every node (see package
	// backplane). nil means a single node: nothing is sent anywhere else.
	// The hub does not close it: several hubs may share one.
	Backplane backplane.Backplane
	// Name is the hub's name on the backplane's channels; every node of
	// the hub uses the same. "" means the Go type of the hub value (as
	// "main.ChatHub"), as ASP.NET Core uses the hub's type name.
	Name string
	// NodeID names this node on the backplane. "" means a random id.
	NodeID string
	// AckTimeout bounds waiting for the backplane: for the node that holds
	// a connection to acknowledge a group change, and for a subscription
	// to take effect. 0 means DefaultAckTimeout.
	AckTimeout time.Duration
	// NodeExpiry: a node that stops without saying so (a crash) still
	// counts in Groups.Count and Hub.ConnectionCount for at most this long.
	// Each node reports its counts every NodeExpiry/3. 0 means
	// DefaultNodeExpiry.
	NodeExpiry time.Duration
	// MaxBackplaneMessageSize bounds one message sent across the
	// backplane (every protocol's encoding together); a larger send fails
	// with ErrMessageTooLarge. 0 means DefaultMaxBackplaneMessageSize.
	MaxBackplaneMessageSize int
	// MaxUserGroups bounds the user group memberships (Groups.AddUser) the
	// hub keeps, ended ones remembered for a while included; past it
	// AddUser fails with ErrTooManyUserGroups. 0 means
	// DefaultMaxUserGroups.
	MaxUserGroups int
	// Runtime is what the hub runs on; several hubs may share one. nil
	// means the hub starts its own and closes it in Shutdown.
	Runtime *Runtime
	// Logger; nil discards.
	Logger *slog.Logger
}

// Hub is a running hub: the methods of a Go value that SignalR clients call,
// the connections, groups and users of that hub, and the hub context that
// sends to them from anywhere in the program.
type Hub struct {
	impl      any
	methods   map[string]*method
	connector Connector
	discon    Disconnector
	authz     Authorizer
	engine    *actors.Engine
	scale     *scaleout // nil without a backplane
	cmds      *commands // hub-wide commands; nil without a backplane
	users     *userGroups
	dyn       Dynamic // set for a hub of NewDynamic
	rt        *Runtime
	ownRT     bool
	detailed  bool
	log       *slog.Logger
	closed    atomic.Bool
	streams   sync.Map       // *actors.Conn -> *connStreams, while it has had streams
	running   sync.WaitGroup // goroutines of active streams
}

// Connector is implemented by hubs that want to know when a client has
// connected. An error ends the connection, and the client does not
// reconnect.
type Connector interface {
	OnConnected(ctx *Context) error
}

// Disconnector is implemented by hubs that want to know when a client has
// gone. err is nil for a clean close.
type Disconnector interface {
	OnDisconnected(ctx *Context, err error)
}

// Authorizer is implemented by hubs whose methods need an authenticated
// user or a policy, as [Authorize] on a method does in ASP.NET Core.
// Authorize runs before each invocation, after its arguments are decoded;
// method is the Go name of the method (not the client's spelling, which may
// differ in letter case). A non-nil error refuses the call: the method does
// not run, and the client's invocation fails with "Failed to invoke 'X'
// because user is unauthorized". The connection stays usable. The error
// itself stays on the server (it is logged at debug level); ErrUnauthorized
// will do.
//
// Authorize is a hook, not a hub method: clients cannot call it.
type Authorizer interface {
	Authorize(ctx *Context, method string) error
}

// New makes a hub of impl's exported methods. A method may take a *Context
// first, then any parameters that the protocol can decode; it may return
// nothing, a result, an error, or a result and an error. Clients call it by
// name, in any letter case.
func New(impl any, cfg Config) (*Hub, error) {
	if impl == nil {
		return nil, fmt.Errorf("hub: New needs a hub value")
	}
	methods, err := methodsOf(impl)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.withDefaults(impl); err != nil {
		return nil, err
	}
	log := cfg.Logger
	h := &Hub{impl: impl, methods: methods, rt: cfg.Runtime, detailed: cfg.EnableDetailedErrors, log: log}
	h.connector, _ = impl.(Connector)
	h.discon, _ = impl.(Disconnector)
	h.authz, _ = impl.(Authorizer)
	if h.rt == nil {
		if h.rt, err = NewRuntime(RuntimeConfig{Logger: log}); err != nil {
			return nil, err
		}
		h.ownRT = true
	}
	var onGroup func(string, bool)
	var beforeConnected func(*actors.Conn, func())
	if cfg.Backplane != nil {
		h.scale = newScaleout(cfg.Backplane, &cfg, log)
		onGroup = h.scale.groupActive
		beforeConnected = h.scale.beforeConnected
	}
	h.engine, err = actors.NewEngine(h.rt.sys, dispatcher{h}, actors.EngineConfig{
		Protocols:                   cfg.Protocols,
		KeepAliveInterval:           cfg.KeepAliveInterval,
		ClientTimeoutInterval:       cfg.ClientTimeoutInterval,
		ClientTimeoutStrict:         cfg.ClientTimeoutStrict,
		HandshakeTimeout:            cfg.HandshakeTimeout,
		MaximumReceiveMessageSize:   cfg.MaximumReceiveMessageSize,
		MaxTransportMessageSize:     cfg.MaxTransportMessageSize,
		MaxBufferedBytes:            cfg.MaxBufferedBytes,
		AllowStatefulReconnects:     cfg.AllowStatefulReconnects,
		StatefulReconnectBufferSize: cfg.StatefulReconnectBufferSize,
		DisconnectTimeout:           cfg.DisconnectTimeout,
		MaxGroupsPerConnection:      cfg.MaxGroupsPerConnection,
		MaxInboundBytes:             cfg.MaxInboundBytes,
		MaxInboundMessages:          cfg.MaxInboundMessages,
		OnGroupActive:               onGroup,
		BeforeConnected:             beforeConnected,
		Logger:                      log,
	})
	if err != nil {
		if h.ownRT {
			h.rt.Close()
		}
		return nil, err
	}
	h.users = newUserGroups(h, cfg.MaxUserGroups)
	if h.scale != nil {
		h.scale.start(h.engine)
		h.startCommands()
		h.users.syncFromPeers(context.Background())
	}
	return h, nil
}

// Clients sends to the hub's clients from anywhere (the hub context). Safe
// from any goroutine.
func (h *Hub) Clients() Clients { return Clients{clients{h: h}} }

// Groups manages group membership from anywhere. Safe from any goroutine.
func (h *Hub) Groups() Groups { return Groups{h: h} }

// NodeID is this node's name on the backplane ("" without one).
func (h *Hub) NodeID() string {
	if h.scale == nil {
		return ""
	}
	return h.scale.node
}

// Protocols are the names of the hub protocols the hub speaks ("json",
// "messagepack"), as clients choose them in their handshake.
func (h *Hub) Protocols() []string {
	var names []string
	for _, p := range h.engine.Config().Protocols {
		names = append(names, p.Name())
	}
	return names
}

// ConnectionCount is the number of connected clients of the hub on every
// node: this node's exactly, the others' as of their last report (see
// Config.NodeExpiry). With the backplane unreachable it returns this
// node's count and an error.
func (h *Hub) ConnectionCount(ctx context.Context) (int, error) {
	return h.count(ctx, actors.KeyAll)
}

func (h *Hub) count(ctx context.Context, key string) (int, error) {
	if h.scale != nil {
		return h.scale.count(ctx, key)
	}
	counts, err := h.engine.MemberCounts(ctx, key)
	return int(counts[key]), err
}

// Stats is a snapshot of a hub's counters on this node.
type Stats struct {
	// Connections is the number of connections past their handshake.
	Connections int64
	// Open is every connection the hub holds, handshake or not.
	Open int
	// MessagesIn and MessagesOut count hub messages (pings included).
	MessagesIn, MessagesOut uint64
	// BytesIn and BytesOut count transport payload bytes.
	BytesIn, BytesOut uint64
	// Groups is the number of groups this node holds an actor for: every
	// group with members here, and the implicit groups of all connections
	// and of each user. A group that empties is released.
	Groups int64
	// ReadPauses counts the times a connection's reading was paused because
	// what it sent and the hub had not handled yet reached
	// Config.MaxInboundBytes or MaxInboundMessages.
	ReadPauses uint64
	// Closes counts ended connections by reason: client, transport, server,
	// protocol, timeout, slow_consumer, shutdown, handshake.
	Closes map[string]uint64
	// Transports splits Connections by transport (ConnInfo.Transport, as
	// package transports names them: WebSockets, ServerSentEvents,
	// LongPolling). Every transport that has had a connection is listed,
	// and "other" (a transport that gave no name) when it has connections.
	Transports map[string]int64
	// Protocols splits Connections by hub protocol ("json",
	// "messagepack"); every protocol the hub speaks is listed.
	Protocols map[string]int64
	// LastSend is when a write to a connection last returned (zero:
	// never). After a broadcast, with nothing else sent, it is when this
	// node wrote the last of its connections.
	LastSend time.Time
	// LastRemote is when a message from another node (through the
	// backplane) last arrived to be delivered here (zero: never).
	LastRemote time.Time
}

// Stats is a snapshot of the hub's counters.
func (h *Hub) Stats() Stats { return Stats(h.engine.Stats()) }

// Shutdown drains the hub, bounded by ctx: it stops taking connections (and
// client messages not yet handled), lets every send made before the call
// reach its recipients on this node, then sends every client
// Close{allowReconnect: true} after what it was sent, and waits for the
// connections to end; what is left when ctx ends is cut. Then it stops the
// hub's actors. A second call returns ErrClosed.
func (h *Hub) Shutdown(ctx context.Context) error {
	if !h.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if h.scale != nil {
		h.scale.stopReports()
		h.scale.dropPresence()
	}
	err := h.engine.Shutdown(ctx)
	if werr := h.waitStreams(ctx); err == nil {
		err = werr
	}
	h.users.close()
	if h.cmds != nil {
		h.cmds.close()
	}
	if h.scale != nil {
		h.scale.close()
	}
	if h.ownRT {
		h.rt.Close()
	}
	return err
}

// dispatcher runs hub code for the engine's connection actors.
type dispatcher struct{ h *Hub }

func (d dispatcher) OnConnected(c *actors.Conn) error {
	if err := d.h.joinUserGroups(context.Background(), c.ID, c.UserID); err != nil {
		d.h.log.Warn("hub: a new connection could not join its user's groups", "conn", c.ID, "user", c.UserID, "err", err)
	}
	if d.h.connector == nil {
		return nil
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = panicError{r}
			}
		}()
		err = d.h.connector.OnConnected(d.h.newContext(c))
	}()
	if err != nil {
		return connectError{err: err, text: errorMessage("Connection closed with an error.", err, d.h.detailed)}
	}
	return nil
}

// connectError is an OnConnected failure with the text the client reads in
// its Close message.
type connectError struct {
	err  error
	text string
}

func (e connectError) Error() string      { return e.err.Error() }
func (e connectError) Unwrap() error      { return e.err }
func (e connectError) ClientText() string { return e.text }

func (d dispatcher) OnDisconnected(c *actors.Conn, err error) {
	// The connection's context is cancelled by now: its streams are ending.
	d.h.streams.Delete(c)
	if d.h.discon == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			d.h.log.Error("OnDisconnected panicked", "conn", c.ID, "panic", r)
		}
	}()
	hc := d.h.newContext(c)
	hc.Context = context.Background() // what it does still has to be done
	d.h.discon.OnDisconnected(hc, err)
}

func (d dispatcher) Invoke(c *actors.Conn, inv *protocol.Invocation) *protocol.Completion {
	defer c.ReleaseUploads(inv.StreamIDs...) // its upload streams end with it
	h := d.h
	if h.dyn != nil {
		return d.invokeDynamic(c, inv)
	}
	fail := func(text string) *protocol.Completion {
		return &protocol.Completion{InvocationID: inv.InvocationID, Error: text}
	}
	m, ok := h.methods[strings.ToLower(inv.Target)]
	if !ok {
		return fail(bindFailedText(inv.Target) + " HubException: Method does not exist.")
	}
	hc := h.newContext(c)
	hc.InvocationID = inv.InvocationID
	if m.stream != notStream {
		// ASP.NET checks authorization before the invocation mode.
		if !h.authorized(hc, m, inv.Target) {
			return fail(unauthorizedText(inv.Target))
		}
		return fail("The client attempted to invoke the streaming '" + inv.Target + "' method with a non-streaming invocation.")
	}
	args, err := m.bindArgs(c.Protocol(), hc, inv.Arguments, inv.StreamIDs, true)
	if err != nil {
		return fail(d.bindFailure(c, m, inv.Target, err))
	}
	if !h.authorized(hc, m, inv.Target) {
		return fail(unauthorizedText(inv.Target))
	}
	result, err := m.call(args)
	if err != nil {
		if _, isPanic := err.(panicError); isPanic {
			h.log.Error("hub method panicked", "method", m.name, "conn", c.ID, "panic", err)
		}
		return fail(errorMessage(unexpectedText(inv.Target), err, h.detailed))
	}
	return &protocol.Completion{InvocationID: inv.InvocationID, HasResult: true, Result: result}
}

// bindFailure is the client's text for arguments or streams that did not
// fit the method.
func (d dispatcher) bindFailure(c *actors.Conn, m *method, target string, err error) string {
	var he *Error
	if errors.As(err, &he) { // the count of upload streams
		return errorMessage(unexpectedText(target), err, d.h.detailed)
	}
	d.h.log.Debug("binding failed", "method", m.name, "conn", c.ID, "err", err)
	text := bindFailedText(target)
	if d.h.detailed {
		text += " InvalidDataException: " + err.Error()
	}
	return text
}

// StreamInvoke starts a streaming method: the method runs in the turn and
// returns its stream, whose items a goroutine of their own sends.
func (d dispatcher) StreamInvoke(c *actors.Conn, inv *protocol.StreamInvocation) *protocol.Completion {
	h := d.h
	started := false
	defer func() {
		if !started {
			c.ReleaseUploads(inv.StreamIDs...)
		}
	}()
	fail := func(text string) *protocol.Completion {
		return &protocol.Completion{InvocationID: inv.InvocationID, Error: text}
	}
	if h.dyn != nil {
		return fail("The client attempted to invoke the non-streaming '" + inv.Target + "' method with a streaming invocation.")
	}
	m, ok := h.methods[strings.ToLower(inv.Target)]
	if !ok {
		return fail(bindFailedText(inv.Target) + " HubException: Method does not exist.")
	}
	// ASP.NET checks authorization before the invocation mode.
	if !h.authorized(h.newContext(c), m, inv.Target) {
		return fail(unauthorizedText(inv.Target))
	}
	if m.stream == notStream {
		return fail("The client attempted to invoke the non-streaming '" + inv.Target + "' method with a streaming invocation.")
	}
	st := h.streamsOf(c, true)
	if st.inUse(inv.InvocationID) {
		return fail("Invocation ID '" + inv.InvocationID + "' is already in use.")
	}
	ctx, cancel := context.WithCancel(c.Context())
	hc := h.newContext(c)
	hc.Context = ctx
	hc.InvocationID = inv.InvocationID
	args, err := m.bindArgs(c.Protocol(), hc, inv.Arguments, inv.StreamIDs, false)
	if err != nil {
		cancel()
		return fail(d.bindFailure(c, m, inv.Target, err))
	}
	src, err := m.callStream(args)
	if err == nil && src.IsNil() {
		err = errors.New("hub: the streaming method returned a nil stream")
	}
	if err != nil {
		cancel()
		if _, isPanic := err.(panicError); isPanic {
			h.log.Error("hub method panicked", "method", m.name, "conn", c.ID, "panic", err)
		}
		// No stream yet: the invocation failed, as ASP.NET words it.
		return fail(errorMessage(unexpectedText(inv.Target), err, h.detailed))
	}
	st.add(inv.InvocationID, cancel)
	started = true
	h.running.Add(1)
	// Owner: the Hub (running). It returns when the stream ends or its
	// context does (a CancelInvocation, or the connection's end, which
	// Shutdown brings about); Shutdown waits for running.
	go h.runStream(c, st, m.stream, inv, ctx, cancel, src)
	return nil
}

// authorized asks the hub's Authorizer, if any, whether the caller may run
// m. A panic in Authorize refuses the call.
func (h *Hub) authorized(hc *Context, m *method, target string) (ok bool) {
	if h.authz == nil {
		return true
	}
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("Authorize panicked", "method", m.name, "conn", hc.ConnectionID, "panic", r)
			ok = false
		}
	}()
	if err := h.authz.Authorize(hc, m.name); err != nil {
		h.log.Debug("invocation not authorized", "method", target, "conn", hc.ConnectionID, "user", hc.UserID, "err", err)
		return false
	}
	return true
}

func (d dispatcher) Other(c *actors.Conn, m protocol.Message) {
	// Upload items and client results for known ids never come here (the
	// connection routes them as it reads); whatever does is for an unknown
	// id and ignored, as ASP.NET does.
	if m, ok := m.(*protocol.CancelInvocation); ok {
		if st := d.h.streamsOf(c, false); st != nil {
			st.cancel(m.InvocationID)
		}
	}
}

var _ actors.Invoker = dispatcher{}
