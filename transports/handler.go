package transports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub"
)

// DefaultLongPollTimeout is ASP.NET Core's LongPolling.PollTimeout, the
// default of Config.LongPollTimeout.
const DefaultLongPollTimeout = 90 * time.Second

// Config configures a Handler. The zero value works: every zero field
// takes the default its comment names. The hub's own settings that its
// transports apply (DisconnectTimeout, MaxTransportMessageSize,
// AllowStatefulReconnects) are hub.Config's.
type Config struct {
	// Authenticator checks bearer tokens. nil means every request is
	// anonymous (tokens are ignored).
	Authenticator Authenticator
	// RequireAuthentication refuses anonymous requests, as [Authorize] on a
	// hub does in ASP.NET Core: negotiate and every transport request
	// without a user get 401 with "WWW-Authenticate: Bearer". It needs an
	// Authenticator. Default false.
	RequireAuthentication bool
	// Transports is the set of transports served; 0 means all of them. A
	// request for another gets 404 and negotiate does not list it.
	Transports TransportType
	// LongPollTimeout: a poll with nothing to carry is answered 200 with an
	// empty body after this long (ASP.NET's LongPolling.PollTimeout). 0
	// means DefaultLongPollTimeout; keep it under the clients' 100 s
	// request timeout.
	LongPollTimeout time.Duration
	// AllowedOrigins are the browser origins that may use the hub besides
	// the server's own: "https://app.example.com", "https://*.example.com"
	// (its subdomains), "*" (any origin but the opaque "null"; list "null"
	// to allow it). A request that carries an Origin header not allowed gets
	// 403: the WebSocket upgrade, negotiate and every request of the HTTP
	// transports. Requests without Origin (clients other than browsers) are
	// not affected. Allowed cross-origin requests get the CORS headers, with
	// credentials, and preflights are answered with 204 (see cors.go). nil
	// means the server's own origin only.
	AllowedOrigins []string
	// AllowedHeaders are request headers that pages of allowed origins may
	// send besides those the SignalR clients send (Authorization,
	// Content-Type, X-Requested-With, X-SignalR-User-Agent): the names of
	// the headers a browser client adds with its headers option. nil means
	// none.
	AllowedHeaders []string
	// KeepRequests keeps, for the life of each connection, the HTTP
	// request that opened it (headers, URL, cookies; no body), for hub code
	// to read with hub.Context.Request, as ASP.NET Core's GetHttpContext.
	// It costs the request's headers per connection. Default false.
	KeepRequests bool
	// Limiter, when set, bounds the connections of this Handler together
	// with those of every other Handler that shares it: in total and per
	// client address (see LimiterConfig). nil: no such limits.
	Limiter *Limiter
	// MaxPendingConnections bounds the connections negotiated that no
	// transport has taken up yet (each holds its token, about 250 bytes,
	// for up to the hub's DisconnectTimeout). Over it, negotiate gets 503.
	// 0 means DefaultMaxPendingConnections; negative, no limit.
	MaxPendingConnections int
	// Logger; nil discards.
	Logger *slog.Logger
}

// Handler is the HTTP side of one hub: negotiate, the WebSocket transport,
// and the registry of connection tokens. Mount it at the hub's path and at
// path + "/negotiate" (Mount does both).
type Handler struct {
	srv         served
	auth        Authenticator
	claims      ClaimsAuthenticator // auth, when it gives claims
	required    bool                // RequireAuthentication
	log         *slog.Logger
	timeout     time.Duration // the hub's DisconnectTimeout
	pollWait    time.Duration // Config.LongPollTimeout
	postMax     int           // bytes one POST body may carry: the hub's MaxTransportMessageSize
	stateful    bool          // stateful reconnect may be negotiated
	enabled     TransportType
	available   []transportInfo
	epoch       time.Time
	conns       tokens
	socketEnded hub.SocketEnded // onSocketEnded, made once
	origins     *originPolicy
	keepReq     bool // Config.KeepRequests

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// served is what a Handler needs of what it serves: a *hub.Hub or a
// *hub.Endpoint (raw connections). Nothing
// in it is specific to the hub protocol, so that a server of raw
// connections can be served the same way.
type served interface {
	// TransportOptions are the settings the transports apply.
	TransportOptions() hub.TransportOptions
	// Connect makes a connection for an HTTP transport (SSE, long polling).
	Connect(info hub.ConnInfo, t hub.Transport) (hub.Conn, error)
	// ConnectWebSocket makes a connection for an upgraded WebSocket.
	ConnectWebSocket(info hub.ConnInfo, token string, ended hub.SocketEnded) (hub.WebSocket, error)
}

var (
	_ served = (*hub.Hub)(nil)
	_ served = (*hub.Endpoint)(nil)
)

// NewHandler serves hub h over HTTP.
func NewHandler(h *hub.Hub, cfg Config) (*Handler, error) {
	if h == nil {
		return nil, errors.New("transports: NewHandler needs a hub")
	}
	return newHandler(h, cfg)
}

// NewConnectionHandler serves the raw connections of endpoint e over HTTP,
// as ASP.NET Core's MapConnectionHandler: negotiate, WebSockets (with or
// without negotiate), Server-Sent Events and long polling, each as for a
// hub, with no handshake and no hub framing (see hub.Endpoint).
func NewConnectionHandler(e *hub.Endpoint, cfg Config) (*Handler, error) {
	if e == nil {
		return nil, errors.New("transports: NewConnectionHandler needs an endpoint")
	}
	return newHandler(e, cfg)
}

func newHandler(h served, cfg Config) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	origins, err := newOriginPolicy(cfg.AllowedOrigins, cfg.AllowedHeaders)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	opts := h.TransportOptions()
	hd := &Handler{
		origins: origins, keepReq: cfg.KeepRequests,
		srv: h, auth: cfg.Authenticator, required: cfg.RequireAuthentication, log: log,
		timeout: opts.DisconnectTimeout, pollWait: cfg.LongPollTimeout, postMax: opts.MaxTransportMessageSize,
		stateful: opts.AllowStatefulReconnects, enabled: cfg.Transports,
		epoch: time.Now(), stop: make(chan struct{}), done: make(chan struct{}),
	}
	hd.socketEnded = hd.onSocketEnded
	hd.claims, _ = cfg.Authenticator.(ClaimsAuthenticator)
	hd.conns.lim, hd.conns.maxPending = cfg.Limiter, cfg.MaxPendingConnections
	hd.conns.m = make(map[string]*entry)
	hd.conns.unclaimed = make(map[string]*entry)
	hd.conns.polling = make(map[string]*longPoll)
	hd.conns.kept = make(map[string]*entry)
	hd.conns.ended = make(map[string]*endedConn)
	// Only what is served, in the order clients should try it (ASP.NET's:
	// WebSockets, ServerSentEvents, LongPolling). A client that cannot use
	// any of these fails at once with a clear error instead of trying
	// transports that would answer 404.
	for _, t := range []transportInfo{
		{Transport: wsName, TransferFormats: []string{"Text", "Binary"}, bit: WebSockets},
		{Transport: sseName, TransferFormats: []string{"Text"}, bit: ServerSentEvents},
		{Transport: lpName, TransferFormats: []string{"Text", "Binary"}, bit: LongPolling},
	} {
		if cfg.Transports&t.bit != 0 {
			hd.available = append(hd.available, t)
		}
	}
	// Owner: the Handler. Close closes stop and waits for done.
	go hd.janitor()
	return hd, nil
}

// withDefaults returns c with every zero field set to its default, or an
// error naming a field that cannot be taken.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.RequireAuthentication && c.Authenticator == nil:
		return c, errors.New("transports: Config.RequireAuthentication needs an Authenticator")
	case c.Transports&^AllTransports != 0:
		return c, fmt.Errorf("transports: Config.Transports has unknown bits %#x", uint(c.Transports&^AllTransports))
	case c.LongPollTimeout < 0:
		return c, fmt.Errorf("transports: Config.LongPollTimeout is negative (%v)", c.LongPollTimeout)
	}
	switch {
	case c.MaxPendingConnections == 0:
		c.MaxPendingConnections = DefaultMaxPendingConnections
	case c.MaxPendingConnections < 0:
		c.MaxPendingConnections = 0 // no limit
	}
	if c.Transports == 0 {
		c.Transports = AllTransports
	}
	if c.LongPollTimeout == 0 {
		c.LongPollTimeout = DefaultLongPollTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Mount registers the handler on mux at path and path + "/negotiate".
func (h *Handler) Mount(mux *http.ServeMux, path string) {
	path = strings.TrimSuffix(path, "/")
	mux.Handle(path, h)
	mux.Handle(path+"/negotiate", h)
}

// ServeHTTP routes a request of the SignalR HTTP protocol.
//
// The requests that stay open serve under an http.Server's ReadTimeout and
// WriteTimeout too: net/http lifts the read deadline once a request's body
// is read and every deadline of a hijacked (upgraded) connection, and SSE
// streams and long polls set a write deadline of sendTimeout before each
// write. A POST body is read at a least rate (see bodyReader).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.origins.admit(w, r) {
		return
	}
	if strings.HasSuffix(r.URL.Path, "/negotiate") {
		h.negotiate(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		var t TransportType
		switch {
		case isWebSocket(r):
			t = WebSockets
		case isEventStream(r):
			t = ServerSentEvents
		default:
			t = LongPolling
		}
		if h.enabled&t == 0 {
			if _, _, ok := h.authenticate(w, r); ok {
				plainText(w, http.StatusNotFound, t.String()+" transport not supported by this end point type")
			}
			return
		}
		switch t {
		case WebSockets:
			h.serveWebSocket(w, r)
		case ServerSentEvents:
			h.serveSSE(w, r)
		default:
			h.serveLongPoll(w, r)
		}
	case http.MethodPost:
		h.servePost(w, r)
	case http.MethodDelete:
		h.serveDelete(w, r)
	default:
		plainText(w, http.StatusMethodNotAllowed, "")
	}
}

// claimError answers a refused claim of a connection token with ASP.NET
// Core's texts.
func claimError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusNotFound:
		plainText(w, status, "No Connection with that ID")
	case http.StatusBadRequest:
		plainText(w, status, "Cannot change transports mid-connection")
	default: // 403 (another user's token), 409 (in use)
		plainText(w, status, "")
	}
}

// ownedEntry authenticates the request (a POST or DELETE) and finds the
// connection its ?id= names, which must belong to the request's user.
// Otherwise it answers (401, 400, 404 or 403, or what afterEnd answers for
// a connection that ended moments ago) and reports false.
func (h *Handler) ownedEntry(w http.ResponseWriter, r *http.Request) (entry, bool) {
	user, _, ok := h.authenticate(w, r)
	if !ok {
		return entry{}, false
	}
	token, ok := requestToken(w, r)
	if !ok {
		return entry{}, false
	}
	e, ok := h.conns.lookup(token)
	switch {
	case !ok:
		h.afterEnd(w, r, token, user) // it may have ended moments ago
		return entry{}, false
	case e.user != user:
		claimError(w, http.StatusForbidden)
		return entry{}, false
	}
	return e, true
}

// requestToken reads the id query parameter; without one it answers 400.
func requestToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	token := queryValue(r, "id")
	if token == "" {
		plainText(w, http.StatusBadRequest, "Connection ID required")
		return "", false
	}
	return token, true
}

// authenticate resolves the request's user and claims; on failure, or for
// an anonymous request when authentication is required, it answers 401.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (user string, claims map[string]any, ok bool) {
	if h.auth == nil {
		return "", nil, true
	}
	var err error
	if h.claims != nil {
		user, claims, err = h.claims.AuthenticateClaims(r, bearerToken(r))
	} else {
		user, err = h.auth.Authenticate(r, bearerToken(r))
	}
	if err == nil && user == "" && h.required {
		err = ErrUnauthorized
	}
	if err != nil {
		h.log.Debug("request not authenticated", "path", r.URL.Path, "err", err)
		// As ASP.NET Core's JWT bearer challenge: no body, so the
		// JavaScript client reports "Unauthorized: Status code '401'".
		w.Header().Set("WWW-Authenticate", "Bearer")
		plainText(w, http.StatusUnauthorized, "")
		return "", nil, false
	}
	return user, claims, true
}

func (h *Handler) now() time.Duration { return time.Since(h.epoch) }

// keep is what a new connection keeps of the request that opens it
// (Config.KeepRequests): a copy with no body and no context of its own.
func (h *Handler) keep(r *http.Request) *http.Request {
	if !h.keepReq {
		return nil
	}
	c := r.Clone(context.Background())
	c.Body, c.GetBody = http.NoBody, nil
	return c
}

// janitor forgets negotiated connections that no transport took up, and
// closes long polling connections that nobody polls. On Close it ends the
// long polling connections left.
func (h *Handler) janitor() {
	defer close(h.done)
	t := time.NewTicker(h.scanEvery())
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			for _, lp := range h.conns.pollers() {
				lp.end(errHandlerClosed, false)
			}
			h.conns.expire(math.MaxInt64) // tokens no transport took
			return
		case <-t.C:
			cutoff := h.now() - h.timeout
			h.conns.expire(cutoff)
			for _, lp := range h.conns.pollers() {
				lp.expire(cutoff)
			}
		}
	}
}

// scanEvery is the janitor's period: 1 s as ASP.NET's, less for a short
// DisconnectTimeout.
func (h *Handler) scanEvery() time.Duration {
	return max(10*time.Millisecond, min(time.Second, h.timeout/4))
}

// Close stops the handler's janitor and ends its long polling and
// Server-Sent Events connections. WebSockets belong to the hub's runtime:
// Hub.Shutdown ends them. Shut the hub down first to close every
// connection gracefully.
func (h *Handler) Close() error {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
	return nil
}

// Transport names, as negotiate lists them.
const (
	wsName  = "WebSockets"
	sseName = "ServerSentEvents"
	lpName  = "LongPolling"
)

// entry is one connection token: negotiated, then taken by a transport.
type entry struct {
	id        string
	token     string // the key in tokens.m (set by open): one string per token, shared by whoever keeps it
	user      string
	created   time.Duration
	http      *httpConn     // set with transport for SSE and long polling; guarded by tokens.mu
	conn      hub.Conn      // set once a stateful WebSocket made the connection; guarded by tokens.mu
	slot      *ipSlot       // its client address's record in tokens.lim, or nil
	transport TransportType // 0 until a transport takes it; guarded by tokens.mu
	stateful  bool          // stateful reconnect negotiated
}

// httpConn is what the requests of an SSE or long polling connection share:
// POSTs feed conn, one at a time.
type httpConn struct {
	mu     sync.Mutex
	conn   hub.Conn   // guarded by mu: set once the transport made the connection
	postMu sync.Mutex // serialises POSTs, as ASP.NET does
	lp     *longPoll  // long polling only
}

// tokens maps connection tokens to their connection. Tokens no transport
// has taken yet are also kept apart, so that the janitor's scan costs what
// is waiting, not every live connection.
type tokens struct {
	lim        *Limiter // Config.Limiter, or nil: a place per entry of m
	maxPending int      // Config.MaxPendingConnections; 0: no limit

	mu        sync.Mutex
	m         map[string]*entry     // guarded by mu
	unclaimed map[string]*entry     // guarded by mu: negotiated, not yet taken
	polling   map[string]*longPoll  // guarded by mu: long polling connections
	kept      map[string]*entry     // guarded by mu: stateful, WebSocket dropped
	ended     map[string]*endedConn // guarded by mu: SSE and long polling connections that ended moments ago (ended.go)
}

// open registers the token of a new connection from addr, within the
// limits: the pending tokens' (for a negotiated one, e.transport 0) and
// the Limiter's. A refused connection leaves nothing behind.
func (t *tokens) open(token string, e *entry, addr netip.Addr) refusal {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.transport == 0 && t.maxPending > 0 && len(t.unclaimed) >= t.maxPending {
		r := refuse(reasonPending)
		t.lim.count(r)
		return r
	}
	slot, r := t.lim.acquire(addr)
	if r.refused {
		t.lim.count(r)
		return r
	}
	e.slot, e.token = slot, token
	t.m[token] = e
	if e.transport == 0 {
		t.unclaimed[token] = e
	}
	return refusal{}
}

// lookup returns a copy of the token's entry.
func (t *tokens) lookup(token string) (entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[token]
	if !ok {
		return entry{}, false
	}
	return *e, true
}

// claim marks the token's connection as taken by transport for user, with
// hc (nil for WebSockets). It returns a copy of the entry, or the HTTP
// status to answer when it cannot be taken: 404, 403 (another user's
// token), 409 (the transport has it already; the entry is returned too) or
// 400 (another transport has it). A refused claim leaves the token to its
// owner.
//
// A stateful connection whose WebSocket dropped is claimed again by a new
// WebSocket: reattach is then set, and the caller hands the socket to the
// connection with Conn.ReattachWebSocket.
func (t *tokens) claim(token string, transport TransportType, user string, hc *httpConn) (entry, bool, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[token]
	switch {
	case !ok:
		return entry{}, false, http.StatusNotFound
	case e.user != user:
		return entry{}, false, http.StatusForbidden
	case e.transport == transport && e.conn != (hub.Conn{}) && e.conn.Waiting():
		delete(t.kept, token)
		return *e, true, 0
	case e.transport == transport && e.conn != (hub.Conn{}) && !e.conn.Connected() && e.conn.Stateful():
		// Ended while its token was kept: gone for good.
		t.removeLocked(token)
		return entry{}, false, http.StatusNotFound
	case e.transport == transport:
		return *e, false, http.StatusConflict
	case e.transport != 0:
		return entry{}, false, http.StatusBadRequest
	}
	e.transport, e.http = transport, hc
	delete(t.unclaimed, token)
	if hc != nil && hc.lp != nil {
		t.polling[token] = hc.lp
	}
	return *e, false, 0
}

// bind records the connection a stateful WebSocket made.
func (t *tokens) bind(token string, c hub.Conn) {
	t.mu.Lock()
	if e, ok := t.m[token]; ok {
		e.conn = c
	}
	t.mu.Unlock()
}

func (t *tokens) remove(token string) {
	t.mu.Lock()
	t.removeLocked(token)
	t.mu.Unlock()
}

// removeLocked forgets the token; the first removal of a registered one
// gives its place back to the Limiter.
func (t *tokens) removeLocked(token string) {
	if e, ok := t.m[token]; ok {
		t.lim.release(e.slot)
	}
	delete(t.m, token)
	delete(t.unclaimed, token)
	delete(t.polling, token)
	delete(t.kept, token)
	delete(t.ended, token)
}

// keep holds on to the token of a stateful connection whose WebSocket
// dropped, for its client to reattach; the janitor forgets it once the
// connection has ended.
func (t *tokens) keep(token string) {
	t.mu.Lock()
	if e, ok := t.m[token]; ok {
		t.kept[token] = e
	}
	t.mu.Unlock()
}

// pollers returns the long polling connections.
func (t *tokens) pollers() []*longPoll {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*longPoll, 0, len(t.polling))
	for _, lp := range t.polling {
		out = append(out, lp)
	}
	return out
}

// expire forgets entries negotiated before cutoff that no transport took.
func (t *tokens) expire(cutoff time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.unclaimed {
		if e.created < cutoff {
			t.removeLocked(k)
		}
	}
	for k, e := range t.kept {
		if e.conn == (hub.Conn{}) || !e.conn.Waiting() && !e.conn.Connected() {
			t.removeLocked(k)
		}
	}
	t.expireEndedLocked(cutoff)
}

// connection returns the connection, or the zero Conn when hc is nil or the
// transport has not made it yet.
func (hc *httpConn) connection() hub.Conn {
	if hc == nil {
		return hub.Conn{}
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return hc.conn
}

// setConnection records the connection the transport made.
func (hc *httpConn) setConnection(c hub.Conn) {
	hc.mu.Lock()
	hc.conn = c
	hc.mu.Unlock()
}
