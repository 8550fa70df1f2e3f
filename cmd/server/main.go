// Command server runs actorhub: the demo chat hub at /hubs/chat (with JWT
// bearer authentication when -jwt-secret or -jwt-public-key is given), and
// with -conformance the conformance hub at /hubs/conformance. Every flag can also
// be set from the environment as ACTORHUB_<NAME> (for -client-timeout,
// ACTORHUB_CLIENT_TIMEOUT); a flag on the command line wins.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/service"
	"github.com/actorhub/actorhub/transports"
)

type options struct {
	addr              string
	tcpKeepAlive      time.Duration
	conformance       bool
	keepAlive         time.Duration
	clientTimeout     time.Duration
	handshakeTimeout  time.Duration
	maxMessageSize    int
	statefulReconnect bool
	disconnectTimeout time.Duration
	transports        transports.TransportType
	allowedOrigins    []string
	longPollTimeout   time.Duration
	detailedErrors    bool
	maxBuffered       int
	maxGroups         int
	maxInboundBytes   int
	maxInboundMsgs    int
	strictTimeout     bool
	metricsAddr       string
	pprof             bool
	logLevel          string
	shutdownTimeout   time.Duration
	memoryLimit       byteSize
	gcPercent         int
	gcPercentGiven    bool // -gc-percent or ACTORHUB_GC_PERCENT was given
	jwtSecret         string
	jwtPublicKey      string
	jwtIssuer         string
	jwtAudience       string
	jwtUserClaim      string
	requireAuth       bool
	backplaneURL      string
	backplanePrefix   string
	redisURL          string
	redisPrefix       string
	nodeID            string
	nodeExpiry        time.Duration
	accessKey         string
	upstreams         upstreamHubs
	opsToken          string
	dashboard         bool

	httpIdleTimeout     time.Duration
	httpHeaderTimeout   time.Duration
	httpReadTimeout     time.Duration
	maxHeaderBytes      int
	maxConnections      int
	maxConnectionsPerIP int
	connectRatePerIP    float64
	connectBurstPerIP   int
	maxPending          int

	// For tests: started hears the listeners' addresses once they accept
	// (metricsAddr "" without -metrics-addr); closing quit shuts the server
	// down as a signal does.
	started func(addr, metricsAddr string)
	quit    <-chan struct{}
	// logOutput receives the log (nil: stderr).
	logOutput io.Writer
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(usageOutput)
	fs.Usage = func() { usage(fs) }
	fs.StringVar(&o.addr, "addr", ":5000", "listen address (127.0.0.1:0 picks a free port)")
	fs.DurationVar(&o.tcpKeepAlive, "tcp-keepalive", 0, "TCP keep-alive probe period of accepted connections (0: Go's default, 15 s; negative: off, SignalR's own pings and -client-timeout remain). Hundreds of thousands of connections on one host make many probes per second")
	fs.BoolVar(&o.conformance, "conformance", false, "mount the conformance hub at /hubs/conformance")
	fs.DurationVar(&o.keepAlive, "keepalive", hub.DefaultKeepAliveInterval, "KeepAliveInterval: ping a client after this long without sending")
	fs.DurationVar(&o.clientTimeout, "client-timeout", hub.DefaultClientTimeoutInterval, "ClientTimeoutInterval: close a client silent for this long")
	fs.BoolVar(&o.strictTimeout, "client-timeout-strict", false, "arm -client-timeout at the handshake, not at the client's first ping (ASP.NET Core's behaviour, the default, never times out a client that does not ping)")
	fs.DurationVar(&o.handshakeTimeout, "handshake-timeout", hub.DefaultHandshakeTimeout, "HandshakeTimeout")
	fs.IntVar(&o.maxMessageSize, "max-message-size", hub.DefaultMaximumReceiveMessageSize, "MaximumReceiveMessageSize: bytes of one hub message from a client (0 or negative: no limit)")
	fs.BoolVar(&o.statefulReconnect, "stateful-reconnect", false, "AllowStatefulReconnects")
	fs.DurationVar(&o.disconnectTimeout, "disconnect-timeout", hub.DefaultDisconnectTimeout, "DisconnectTimeout: how long a connection that no transport request holds is kept (a negotiated connection waiting for its transport, a long polling connection between polls, a dropped stateful connection waiting for its client)")
	served := fs.String("transports", "websockets,sse,longpolling", "transports served, comma-separated: websockets, sse, longpolling")
	origins := fs.String("allowed-origins", "", "browser origins allowed besides the server's own, comma-separated: https://app.example.com, https://*.example.com (subdomains), * (any); other origins get 403 (requests without Origin, from clients other than browsers, are not affected)")
	fs.DurationVar(&o.longPollTimeout, "longpoll-timeout", transports.DefaultLongPollTimeout, "LongPolling.PollTimeout: a poll with nothing to carry returns empty after this long")
	fs.BoolVar(&o.detailedErrors, "detailed-errors", false, "EnableDetailedErrors: send every error's text to clients")
	fs.IntVar(&o.maxBuffered, "max-buffered", hub.DefaultMaxBufferedBytes, "bytes that may wait for one slow client before it is closed")
	fs.IntVar(&o.maxInboundBytes, "max-inbound-bytes", hub.DefaultMaxInboundBytes, "memory one client's messages may hold while the hub has not handled them (bytes + 256 B each); past it the server stops reading that client until the hub catches up (ASP.NET Core's ApplicationMaxBufferSize; negative: no limit)")
	fs.IntVar(&o.maxInboundMsgs, "max-inbound-messages", hub.DefaultMaxInboundMessages, "messages one client may have sent that the hub has not handled yet; past it the server stops reading that client until the hub catches up (negative: no limit)")
	fs.IntVar(&o.maxGroups, "max-groups-per-connection", hub.DefaultMaxGroupsPerConnection, "groups one connection may be a member of at a time; past it Groups.Add fails (negative: no limit)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve the operator pages (/metrics, pprof, /dashboard) on this address instead of -addr, to anyone who reaches it")
	fs.BoolVar(&o.pprof, "pprof", false, "serve /debug/pprof/ beside /metrics")
	fs.StringVar(&o.opsToken, "ops-token", "", "bearer token (16+ characters) that opens the operator pages (/metrics, pprof, /dashboard) to clients other than loopback when they share -addr; better from ACTORHUB_OPS_TOKEN")
	fs.BoolVar(&o.dashboard, "dashboard", true, "serve the live dashboard at /dashboard (an operator page, beside /metrics)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long shutdown waits for clients to go")
	fs.Var(&o.memoryLimit, "memory-limit", "the Go runtime's soft memory limit (GOMEMLIMIT), a `size` such as 512MiB or 2GiB: past it the GC runs more often and returns memory to the system sooner; off: Go's default (GOMEMLIMIT from the environment, or none)")
	fs.IntVar(&o.gcPercent, "gc-percent", defaultGCPercent, "the Go runtime's GC percent (GOGC): the heap may grow this many percent past what is live before the next collection, and the process keeps about that much more memory than its live heap. Lower keeps less memory per connection for more GC work; when neither this flag nor ACTORHUB_GC_PERCENT is given, a GOGC in the environment wins")
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 secret (32+ bytes) of the chat hub's JWTs; better from ACTORHUB_JWT_SECRET")
	fs.StringVar(&o.jwtPublicKey, "jwt-public-key", "", "path to a PEM RSA public key (or certificate) of the chat hub's RS256 JWTs")
	fs.StringVar(&o.jwtIssuer, "jwt-issuer", "", "the chat hub's JWTs must have this iss")
	fs.StringVar(&o.jwtAudience, "jwt-audience", "", "the chat hub's JWTs must have this aud")
	fs.StringVar(&o.jwtUserClaim, "jwt-user-claim", "sub", "the JWT claim that holds the user id")
	fs.BoolVar(&o.requireAuth, "require-auth", false, "refuse anonymous requests to the chat hub with 401 (needs a JWT key)")
	fs.StringVar(&o.backplaneURL, "backplane", "", "scale out on this backplane, chosen by the URL's scheme: redis://host:port/db, redis-cluster://host:port,host:port (Redis Cluster, sharded pub/sub), postgres://user:password@host:port/db (or postgresql://), nats://host:port; every node of a deployment uses the same; none means a single node")
	fs.StringVar(&o.backplanePrefix, "backplane-prefix", "", "keeps deployments that share one backplane server apart: Redis channel and key prefix, PostgreSQL table prefix (default actorhub), NATS subject and bucket prefix (default actorhub)")
	fs.StringVar(&o.redisURL, "redis", "", "the same as -backplane with a redis:// URL (kept for existing deployments)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "", "the same as -backplane-prefix (kept for existing deployments)")
	fs.StringVar(&o.nodeID, "node-id", "", "this node's name on the backplane (default: host name, process id and a random suffix)")
	fs.DurationVar(&o.nodeExpiry, "node-expiry", hub.DefaultNodeExpiry, "a node that dies stops counting in other nodes' group and connection counts after this long")
	fs.DurationVar(&o.httpIdleTimeout, "http-idle-timeout", defaultHTTPIdleTimeout, "close a keep-alive HTTP connection that sends no request for this long (Kestrel's KeepAliveTimeout); 0: never")
	fs.DurationVar(&o.httpHeaderTimeout, "http-header-timeout", defaultHTTPHeaderTimeout, "time a client has to send a request's line and headers; 0: no limit")
	fs.DurationVar(&o.httpReadTimeout, "http-read-timeout", defaultHTTPReadTimeout, "time a client has to send a whole request, body included (not SSE streams, long polls or WebSockets, which are read without it once they start); 0: no limit")
	fs.IntVar(&o.maxHeaderBytes, "max-header-bytes", defaultMaxHeaderBytes, "bytes of a request's line and headers (Kestrel's 8 KiB line plus 32 KiB of headers); more gets 431")
	fs.IntVar(&o.maxConnections, "max-connections", 0, "SignalR connections held at once, every hub together, negotiated or open; more get 503 at negotiate and at a WebSocket upgrade without negotiate (0: no limit but the file limit)")
	fs.IntVar(&o.maxConnectionsPerIP, "max-connections-per-ip", 0, "connections held at once from one client address (the TCP peer's, never X-Forwarded-For; IPv6 by /64); more get 429 (0: no limit; leave it off behind a proxy, where every client has the proxy's address)")
	fs.Float64Var(&o.connectRatePerIP, "connect-rate-per-ip", 0, "new connections per second one client address may open, sustained; more get 429 with Retry-After (0: no limit)")
	fs.IntVar(&o.connectBurstPerIP, "connect-burst-per-ip", 0, "connections one client address may open at once before -connect-rate-per-ip paces it (0: the rate rounded up)")
	fs.IntVar(&o.maxPending, "max-pending-connections", transports.DefaultMaxPendingConnections, "negotiated connections no transport has taken up yet, per hub; more negotiates get 503 (0: no limit)")
	fs.StringVar(&o.accessKey, "access-key", "", "serve the Azure SignalR-compatible REST API at /api/ and redirected clients at /client/, with this access key (comma-separated keys rotate); better from ACTORHUB_ACCESS_KEY")
	fs.Var(&o.upstreams, "upstream-hub", "NAME=URLTEMPLATE: mount a hub at /hubs/NAME with no Go code whose clients' events and invocations are POSTed to URLTEMPLATE ({hub}, {category}, {event}); repeatable")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := fromEnv(fs); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.gcPercentGiven = o.gcPercentGiven || f.Name == "gc-percent" })
	if _, ok := os.LookupEnv("ACTORHUB_GC_PERCENT"); ok {
		o.gcPercentGiven = true
	}
	if o.gcPercent <= 0 {
		return nil, fmt.Errorf("-gc-percent %d: must be positive", o.gcPercent)
	}
	t, err := transports.ParseTransports(*served)
	if err != nil {
		return nil, fmt.Errorf("-transports: %w", err)
	}
	o.transports = t
	for _, v := range strings.Split(*origins, ",") {
		if v = strings.TrimSpace(v); v != "" {
			o.allowedOrigins = append(o.allowedOrigins, v)
		}
	}
	if err := o.resolveBackplane(); err != nil {
		return nil, err
	}
	return o, nil
}

// resolveBackplane folds -redis and -redis-prefix into -backplane and
// -backplane-prefix.
func (o *options) resolveBackplane() error {
	if o.redisURL != "" {
		if o.backplaneURL != "" {
			return errors.New("-redis and -backplane both given (or ACTORHUB_REDIS and ACTORHUB_BACKPLANE): -redis is the old name of -backplane with a redis:// URL; give one")
		}
		o.backplaneURL = o.redisURL
	}
	if o.redisPrefix != "" {
		if o.backplanePrefix != "" && o.backplanePrefix != o.redisPrefix {
			return errors.New("-redis-prefix and -backplane-prefix differ: -redis-prefix is the old name of -backplane-prefix; give one")
		}
		o.backplanePrefix = o.redisPrefix
	}
	return nil
}

// hubMessageLimit is -max-message-size as hub.Config takes it: the flag's
// 0 means no limit (the conformance contract's), which the Config spells
// -1 (its 0 means the default, 32 KiB).
func (o *options) hubMessageLimit() int {
	if o.maxMessageSize == 0 {
		return -1
	}
	return o.maxMessageSize
}

// jwtConfig is the chat hub's JWT configuration, or nil when no key is given.
func (o *options) jwtConfig() (*transports.JWTConfig, error) {
	if o.jwtSecret == "" && o.jwtPublicKey == "" {
		switch {
		case o.jwtIssuer != "":
			return nil, errors.New("-jwt-issuer needs -jwt-secret or -jwt-public-key")
		case o.jwtAudience != "":
			return nil, errors.New("-jwt-audience needs -jwt-secret or -jwt-public-key")
		case o.jwtUserClaim != "sub":
			return nil, errors.New("-jwt-user-claim needs -jwt-secret or -jwt-public-key")
		case o.requireAuth:
			return nil, errors.New("-require-auth needs -jwt-secret or -jwt-public-key")
		}
		return nil, nil
	}
	cfg := &transports.JWTConfig{Issuer: o.jwtIssuer, Audience: o.jwtAudience, UserClaim: o.jwtUserClaim}
	if o.jwtSecret != "" {
		cfg.Secret = []byte(o.jwtSecret)
	}
	if o.jwtPublicKey != "" {
		b, err := os.ReadFile(o.jwtPublicKey)
		if err != nil {
			return nil, fmt.Errorf("-jwt-public-key: %w", err)
		}
		cfg.PublicKeys = [][]byte{b}
	}
	return cfg, nil
}

// chatAuth is the chat hub's Authenticator: JWTs when configured, else none.
func (o *options) chatAuth() (transports.Authenticator, error) {
	cfg, err := o.jwtConfig()
	if err != nil || cfg == nil {
		return nil, err
	}
	return transports.NewJWTAuthenticator(*cfg)
}

// listen opens the listener on -addr with -tcp-keepalive.
func (o *options) listen() (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: o.tcpKeepAlive}
	return lc.Listen(context.Background(), "tcp", o.addr)
}

// backplaneKind names a backplane's engine, for logs, metrics and the
// dashboard; "" for none.
func backplaneKind(bp backplane.Backplane) string {
	switch bp.(type) {
	case nil:
		return ""
	case *backplane.Redis:
		return "redis"
	case *backplane.Postgres:
		return "postgres"
	case *backplane.NATS:
		return "nats"
	case *backplane.MemoryNode:
		return "memory"
	}
	return fmt.Sprintf("%T", bp)
}

// defaultNodeID names a node uniquely enough: host, process and a random
// suffix (several nodes may run on one host).
func defaultNodeID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

// usageOutput is where -h and flag errors are printed.
var usageOutput io.Writer = os.Stderr

// usage prints what -h shows: what the server is, how flags and the
// environment combine, then every flag.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `actorhub server: a SignalR-compatible real-time server (the demo chat hub at /hubs/chat).

Usage: server [flags]

Every flag can also be set in the environment as ACTORHUB_<FLAG>, upper case with
dashes as underscores (-client-timeout 10s is ACTORHUB_CLIENT_TIMEOUT=10s); a flag
on the command line wins over the environment.

Flags:
`)
	fs.PrintDefaults()
}

// fromEnv sets every flag not given on the command line from ACTORHUB_<NAME>.
func fromEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := "ACTORHUB_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// mounted is a hub, or an endpoint of raw connections, and the handlers
// that serve it.
type mounted struct {
	name     string
	hub      *hub.Hub
	endpoint *hub.Endpoint // instead of hub
	handlers []*transports.Handler
	paths    []mountedPath     // where each handler is, and how it serves
	upstream *service.Upstream // an -upstream-hub's
}

func (m *mounted) shutdown(ctx context.Context) error {
	if m.endpoint != nil {
		return m.endpoint.Shutdown(ctx)
	}
	return m.hub.Shutdown(ctx)
}

// mounter makes hubs and endpoints and mounts their handlers.
type mounter struct {
	newHub      func(name string, impl any, cfg hub.Config) (*mounted, error)
	newEndpoint func(name string, app hub.ConnectionHandler, cfg hub.EndpointConfig) (*mounted, error)
	// serve mounts a handler of m at path; tc gets the flags' settings
	// where it leaves them zero.
	serve func(m *mounted, path string, tc transports.Config) error
}

func run(o *options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logOut := o.logOutput
	if logOut == nil {
		logOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	if o.memoryLimit > 0 {
		log.Info("memory limit", "bytes", o.applyMemoryLimit())
	}
	if pct, set := o.applyGCPercent(); set {
		log.Info("gc percent", "percent", pct)
	}
	limiter, err := transports.NewLimiter(o.limiterConfig())
	if err != nil {
		return err
	}

	chatAuth, err := o.chatAuth()
	if err != nil {
		return err
	}

	var bp backplane.Backplane
	if o.backplaneURL != "" {
		b, err := backplane.Open(o.backplaneURL, backplane.Options{Prefix: o.backplanePrefix, Logger: log})
		if err != nil {
			return err
		}
		defer b.Close() // after the hubs have shut down
		bp = b
		if o.nodeID == "" {
			o.nodeID = defaultNodeID()
		}
	}

	// One runtime for every hub: their connections share its workers and
	// its epoll instance.
	rt, err := hub.NewRuntime(hub.RuntimeConfig{Logger: log})
	if err != nil {
		return err
	}
	defer rt.Close()
	hubCfg := hub.Config{
		AllowStatefulReconnects:   o.statefulReconnect,
		DisconnectTimeout:         o.disconnectTimeout,
		KeepAliveInterval:         o.keepAlive,
		ClientTimeoutInterval:     o.clientTimeout,
		HandshakeTimeout:          o.handshakeTimeout,
		MaximumReceiveMessageSize: o.hubMessageLimit(),
		EnableDetailedErrors:      o.detailedErrors,
		MaxBufferedBytes:          o.maxBuffered,
		MaxGroupsPerConnection:    o.maxGroups,
		MaxInboundBytes:           o.maxInboundBytes,
		MaxInboundMessages:        o.maxInboundMsgs,
		ClientTimeoutStrict:       o.strictTimeout,
		Backplane:                 bp,
		NodeID:                    o.nodeID,
		NodeExpiry:                o.nodeExpiry,
		Runtime:                   rt,
		Logger:                    log,
	}
	mux := http.NewServeMux()
	svc, err := newServiceSetup(o, log)
	if err != nil {
		return err
	}
	var hubs []*mounted
	newHub := func(name string, impl any, cfg hub.Config) (*mounted, error) {
		cfg.Name = name // the same on every node
		var h *hub.Hub
		up, _ := impl.(*service.Upstream)
		if up != nil {
			h, err = hub.NewDynamic(up, cfg)
		} else {
			h, err = hub.New(impl, cfg)
		}
		if err != nil {
			return nil, err
		}
		m := &mounted{name: name, hub: h, upstream: up}
		hubs = append(hubs, m)
		return m, nil
	}
	newEndpoint := func(name string, app hub.ConnectionHandler, cfg hub.EndpointConfig) (*mounted, error) {
		cfg.Runtime, cfg.Logger = rt, log
		if cfg.DisconnectTimeout == 0 {
			cfg.DisconnectTimeout = o.disconnectTimeout
		}
		e, err := hub.NewEndpoint(app, cfg)
		if err != nil {
			return nil, err
		}
		m := &mounted{name: name, endpoint: e}
		hubs = append(hubs, m)
		return m, nil
	}
	serve := func(m *mounted, path string, tc transports.Config) error {
		tc.Logger, tc.LongPollTimeout, tc.AllowedOrigins = log, o.longPollTimeout, o.allowedOrigins
		tc.Limiter, tc.MaxPendingConnections = limiter, o.pendingLimit()
		if tc.Transports == 0 {
			tc.Transports = o.transports
		}
		var hd *transports.Handler
		var err error
		if m.endpoint != nil {
			hd, err = transports.NewConnectionHandler(m.endpoint, tc)
		} else {
			hd, err = transports.NewHandler(m.hub, tc)
		}
		if err != nil {
			return err
		}
		hd.Mount(mux, path)
		m.handlers = append(m.handlers, hd)
		m.paths = append(m.paths, mountedPath{path, tc})
		return nil
	}
	mount := func(name string, impl any, auth transports.Authenticator, requireAuth bool) (*hub.Hub, error) {
		m, err := newHub(name, impl, hubCfg)
		if err != nil {
			return nil, err
		}
		// An upstream hub sends its clients' query to the backend
		// (X-ASRS-Client-Query): it keeps their requests.
		keep := m.upstream != nil
		if err := serve(m, "/hubs/"+name, transports.Config{Authenticator: auth, RequireAuthentication: requireAuth, KeepRequests: keep}); err != nil {
			return nil, err
		}
		if svc != nil {
			// The same hub at /client/?hub=<name>, for clients that a
			// negotiate redirect sends with an access key token.
			tc := transports.Config{
				Authenticator: svc.key.ClientAuthenticator(), Logger: log, LongPollTimeout: o.longPollTimeout,
				AllowedOrigins: o.allowedOrigins, Transports: o.transports, KeepRequests: keep,
				Limiter: limiter, MaxPendingConnections: o.pendingLimit(),
			}
			hd, err := transports.NewHandler(m.hub, tc)
			if err != nil {
				return nil, err
			}
			m.handlers = append(m.handlers, hd)
			m.paths = append(m.paths, mountedPath{"/client/?hub=" + name, tc})
			if err := svc.add(name, m.hub, hd); err != nil {
				return nil, err
			}
		}
		return m.hub, nil
	}
	if _, err := mount("chat", chat{}, chatAuth, o.requireAuth); err != nil {
		return err
	}
	var around func(http.Handler) http.Handler
	if o.conformance {
		// The conformance hubs keep their test tokens whatever the JWT flags.
		if _, err := mount("conformance", &conformance{}, testTokens, false); err != nil {
			return err
		}
		c := &cluster{conformance: &conformance{}, node: o.nodeID}
		if c.hub, err = mount("cluster", c, testTokens, false); err != nil {
			return err
		}
		if around, err = mountASPNETSuite(mux, hubCfg, mounter{newHub, newEndpoint, serve}); err != nil {
			return err
		}
	}
	for _, u := range o.upstreams {
		up, err := newUpstream(o, u, svc, log)
		if err != nil {
			return err
		}
		if _, err := mount(u.name, up, chatAuth, o.requireAuth); err != nil {
			return err
		}
	}
	if svc != nil {
		svc.mount(mux)
		log.Info("serving the REST API at /api/ and redirected clients at /client/")
	}

	pages, err := newSite()
	if err != nil {
		return err
	}
	pages.mountPages(mux)
	ready := &readiness{}
	if c, ok := bp.(backplaneChecker); ok {
		ready.backplane = c.Ready
	}
	ready.mountHealth(mux)

	// The operator pages: on their own listener with -metrics-addr, else on
	// -addr for loopback clients and -ops-token holders only.
	access, err := newOpsAccess(o.opsToken, o.metricsAddr != "")
	if err != nil {
		return err
	}
	ops := http.NewServeMux()
	metrics := newMetrics()
	for _, m := range hubs {
		if m.hub != nil {
			metrics.add(m.name, m.hub)
		}
	}
	metrics.reg.MustRegister(newLimiterCollector(limiter))
	ops.Handle("/metrics", metrics.handler())
	if o.pprof {
		ops.HandleFunc("/debug/pprof/", pprof.Index)
		ops.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		ops.HandleFunc("/debug/pprof/profile", pprof.Profile)
		ops.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		ops.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if o.dashboard {
		dash := newDashboard(ready, o.nodeID, backplaneKind(bp))
		for _, m := range hubs {
			if m.hub != nil { // raw endpoints have no hub stats
				dash.add(m.name, m.hub)
			}
		}
		tcfg := transports.Config{Logger: log, Transports: o.transports, LongPollTimeout: o.longPollTimeout}
		h, hd, err := mountDashboard(ops, pages, dash, hubCfg, tcfg)
		if err != nil {
			return err
		}
		// Not under the connection limits: an operator must see a full server.
		hubs = append(hubs, &mounted{name: "dashboard", hub: h, handlers: []*transports.Handler{hd},
			paths: []mountedPath{{dashboardHubPath, tcfg}}})
		metrics.add("dashboard", h)
		dash.add("dashboard", h)
		dash.start()
		defer dash.close()
	}
	if r, ok := bp.(backplane.StatsReporter); ok {
		metrics.addBackplane(backplaneKind(bp), r)
	}
	metricsMux := mux
	if o.metricsAddr != "" {
		metricsMux = http.NewServeMux()
		ready.mountHealth(metricsMux)
		metricsMux.Handle("GET /static/", pages.static())
	}
	for _, p := range opsPaths {
		metricsMux.Handle(p, access.guard(ops))
	}

	ln, err := o.listen()
	if err != nil {
		return err
	}
	var mln net.Listener
	var metricsAddr string
	if o.metricsAddr != "" {
		if mln, err = net.Listen("tcp", o.metricsAddr); err != nil {
			ln.Close()
			return err
		}
	}
	// Owner of the Serve goroutines: this function. Each ends when its
	// server shuts down, and is waited for below (one errc value each).
	srv := o.httpServer(router{mux, around})
	errc := make(chan error, 2)
	serving := 1
	go func() { errc <- srv.Serve(ln) }()
	var msrv *http.Server
	if mln != nil {
		msrv = o.httpServer(metricsMux)
		serving++
		go func() { errc <- msrv.Serve(mln) }()
		metricsAddr = mln.Addr().String()
	}
	logStartup(log, o, hubs, limiter, backplaneKind(bp), ln.Addr().String(), metricsAddr)
	fmt.Fprintf(logOut, "listening on %s\n", ln.Addr())
	if o.started != nil {
		o.started(ln.Addr().String(), metricsAddr)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var serveErr error
	select {
	case s := <-sig:
		signal.Stop(sig) // a second signal ends the process at once
		log.Info("shutting down", "signal", s.String())
	case <-o.quit:
		signal.Stop(sig)
		log.Info("shutting down")
	case serveErr = <-errc: // a listener failed: shut down all the same
		serving--
		log.Error("serving failed; shutting down", "err", serveErr)
	}
	ready.draining.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	// The HTTP server stops accepting at once, then waits for its requests,
	// among them the SSE streams and polls that the hubs end meanwhile
	// (WebSockets are not the HTTP server's). The hubs drain side by side,
	// each on the whole timeout.
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Shutdown(ctx) })
	if msrv != nil {
		wg.Go(func() { _ = msrv.Shutdown(ctx) })
	}
	for _, m := range hubs {
		wg.Go(func() {
			if err := m.shutdown(ctx); err != nil {
				log.Warn("hub shutdown", "hub", m.name, "err", err)
			}
			for _, hd := range m.handlers {
				_ = hd.Close()
			}
			if m.upstream != nil {
				closeUpstream(ctx, m.upstream, m.name, log)
			}
		})
	}
	wg.Wait()
	for range serving {
		<-errc // Serve returns ErrServerClosed once Shutdown began
	}
	return serveErr
}
