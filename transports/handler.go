package transports

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/netpoll"
)

// Config configures a Handler. The zero value works.
type Config struct {
	// Authenticator checks bearer tokens. nil means every request is
	// anonymous (tokens are ignored).
	Authenticator Authenticator
	// RequireAuthentication refuses anonymous requests, as [Authorize] on a
	// hub does in ASP.NET Core: negotiate and every transport request
	// without a user get 401 with "WWW-Authenticate: Bearer". It needs an
	// Authenticator. Default false.
	RequireAuthentication bool
	// DisconnectTimeout: a negotiated connection that no transport takes up
	// within it is forgotten. 0 means 15 s.
	DisconnectTimeout time.Duration
	// Poller runs the WebSocket connections; several handlers may share one.
	// nil means the handler starts its own and stops it on Close.
	Poller *netpoll.Poller
	// Logger; nil discards.
	Logger *slog.Logger
}

// Handler is the HTTP side of one hub: negotiate, the WebSocket transport,
// and the registry of connection tokens. Mount it at the hub's path and at
// path + "/negotiate" (Mount does both).
type Handler struct {
	hub       *hub.Hub
	engine    *actors.Engine
	auth      Authenticator
	claims    ClaimsAuthenticator // auth, when it gives claims
	required  bool                // RequireAuthentication
	poller    *netpoll.Poller
	ownPoller bool
	log       *slog.Logger
	timeout   time.Duration
	available []transportInfo
	epoch     time.Time
	conns     tokens

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewHandler serves hub h over HTTP.
func NewHandler(h *hub.Hub, cfg Config) (*Handler, error) {
	if h == nil {
		return nil, errors.New("transports: NewHandler needs a hub")
	}
	if cfg.RequireAuthentication && cfg.Authenticator == nil {
		return nil, errors.New("transports: Config.RequireAuthentication needs an Authenticator")
	}
	if cfg.DisconnectTimeout <= 0 {
		cfg.DisconnectTimeout = 15 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hd := &Handler{
		hub: h, engine: h.Engine(), auth: cfg.Authenticator, required: cfg.RequireAuthentication, poller: cfg.Poller, log: log,
		timeout: cfg.DisconnectTimeout, epoch: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	hd.claims, _ = cfg.Authenticator.(ClaimsAuthenticator)
	hd.conns.m = make(map[string]*entry)
	hd.conns.unclaimed = make(map[string]*entry)
	hd.conns.kept = make(map[string]*entry)
	if hd.poller == nil {
		max := hd.engine.Config().MaxMessageSize
		wsMax := 1 << 20
		if max == 0 {
			wsMax = 64 << 20
		} else if 4*max > wsMax {
			wsMax = 4 * max
		}
		p, err := netpoll.New(netpoll.Config{Logger: log, MaxMessageSize: wsMax})
		if err != nil {
			return nil, err
		}
		hd.poller, hd.ownPoller = p, true
	}
	// Only what is served, in the order clients should try it (ASP.NET's:
	// WebSockets, ServerSentEvents, LongPolling). A client that cannot use
	// any of these fails at once with a clear error instead of trying
	// transports that would answer 404.
	hd.available = []transportInfo{
		{Transport: "WebSockets", TransferFormats: []string{"Text", "Binary"}},
	}
	go hd.janitor()
	return hd, nil
}

// Mount registers the handler on mux at path and path + "/negotiate".
func (h *Handler) Mount(mux *http.ServeMux, path string) {
	path = strings.TrimSuffix(path, "/")
	mux.Handle(path, h)
	mux.Handle(path+"/negotiate", h)
}

// ServeHTTP routes a request of the SignalR HTTP protocol.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/negotiate") {
		h.negotiate(w, r)
		return
	}
	switch {
	case r.Method == http.MethodGet && isWebSocket(r):
		h.serveWebSocket(w, r)
	case r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodDelete:
		h.serveHTTPTransport(w, r)
	default:
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

// serveHTTPTransport answers requests for Server-Sent Events and long
// polling, which this server does not offer yet (negotiate does not list
// them): the id is checked as for every transport, then the request is
// refused.
func (h *Handler) serveHTTPTransport(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := h.authenticate(w, r); !ok {
		return
	}
	token := queryValue(r, "id")
	if token == "" {
		http.Error(w, "Connection ID required", http.StatusBadRequest)
		return
	}
	e := h.conns.get(token)
	if e == nil {
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	}
	if e.transport == "WebSockets" {
		if r.Method == http.MethodPost {
			http.Error(w, "POST requests are not allowed for WebSocket connections.", http.StatusMethodNotAllowed)
		} else {
			http.Error(w, "Cannot change transports mid-connection", http.StatusBadRequest)
		}
		return
	}
	http.Error(w, "Transport not available", http.StatusNotFound)
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
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return "", nil, false
	}
	return user, claims, true
}

func (h *Handler) now() time.Duration { return time.Since(h.epoch) }

// janitor forgets negotiated connections that no transport took up.
func (h *Handler) janitor() {
	defer close(h.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.conns.expire(h.now() - h.timeout)
		}
	}
}

// Close stops the handler's janitor and, when it made its own, the poller
// (which closes the WebSocket connections it still holds). Shut the hub
// down first to close connections gracefully.
func (h *Handler) Close() error {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
	if h.ownPoller {
		return h.poller.Close()
	}
	return nil
}

// entry is one connection token: negotiated, then taken by a transport.
type entry struct {
	id        string
	user      string
	created   time.Duration
	transport string       // "" until a transport takes it
	stateful  bool         // stateful reconnect negotiated
	conn      *actors.Conn // set once a WebSocket made the connection; guarded by tokens.mu
}

// tokens maps connection tokens to their connection. Tokens no transport
// has taken yet are also kept apart, so that the janitor's scan costs what
// is waiting, not every live connection.
type tokens struct {
	mu        sync.Mutex
	m         map[string]*entry // guarded by mu
	unclaimed map[string]*entry // guarded by mu: negotiated, not yet taken
	kept      map[string]*entry // guarded by mu: stateful, transport dropped
}

func (t *tokens) add(token string, e *entry) {
	t.mu.Lock()
	t.m[token] = e
	if e.transport == "" {
		t.unclaimed[token] = e
	}
	t.mu.Unlock()
}

func (t *tokens) get(token string) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[token]
}

// claim marks the token's connection as taken by transport for user. It
// returns the entry, or the HTTP status to answer when it cannot be taken;
// a refused claim leaves the token to its owner.
//
// A stateful connection whose WebSocket dropped is claimed again by a new
// WebSocket: reattach is then set, and the caller hands the socket to
// the connection with Conn.Reattach.
func (t *tokens) claim(token, transport, user string) (e *entry, reattach bool, status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[token]
	switch {
	case !ok:
		return nil, false, http.StatusNotFound
	case e.user != user:
		return nil, false, http.StatusForbidden
	case e.transport == transport && e.conn != nil && e.conn.Waiting():
		delete(t.kept, token)
		return e, true, 0
	case e.transport == transport && e.conn != nil && !e.conn.Connected() && e.conn.Stateful():
		// Ended while its token was kept: gone for good.
		t.removeLocked(token)
		return nil, false, http.StatusNotFound
	case e.transport == transport:
		return nil, false, http.StatusConflict
	case e.transport != "":
		return nil, false, http.StatusBadRequest
	}
	e.transport = transport
	delete(t.unclaimed, token)
	return e, false, 0
}

// bind records the connection a token's transport made.
func (t *tokens) bind(token string, c *actors.Conn) {
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

func (t *tokens) removeLocked(token string) {
	delete(t.m, token)
	delete(t.unclaimed, token)
	delete(t.kept, token)
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

// expire forgets entries negotiated before cutoff that no transport took.
func (t *tokens) expire(cutoff time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.unclaimed {
		if e.created < cutoff {
			delete(t.unclaimed, k)
			delete(t.m, k)
		}
	}
	for k, e := range t.kept {
		if e.conn == nil || !e.conn.Waiting() && !e.conn.Connected() {
			t.removeLocked(k)
		}
	}
}
