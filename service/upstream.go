package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/protocol"
)

// Defaults of UpstreamConfig: a zero field takes the one its comment names.
const (
	// DefaultUpstreamTimeout bounds one request.
	DefaultUpstreamTimeout = 30 * time.Second
	// DefaultUpstreamConcurrency bounds the requests in flight per hub.
	DefaultUpstreamConcurrency = 32
	// DefaultUpstreamMaxPending bounds the invocations waiting per hub.
	DefaultUpstreamMaxPending = 4096
	// DefaultUpstreamMaxPendingPerConnection bounds them per connection.
	DefaultUpstreamMaxPendingPerConnection = 32
	// DefaultUpstreamMaxResponseBytes bounds an answer's body: 1 MiB.
	DefaultUpstreamMaxResponseBytes = 1 << 20
	// DefaultUpstreamEventAttempts is how many times a connection event is
	// tried in all.
	DefaultUpstreamEventAttempts = 5
	// DefaultUpstreamRetryBackoff is the wait before the first retry.
	DefaultUpstreamRetryBackoff = 500 * time.Millisecond
)

// UpstreamConfig configures an Upstream. URLTemplate and Hub are
// required; the other fields' zero values work.
type UpstreamConfig struct {
	// URLTemplate is where requests go; {hub}, {category} and {event} are
	// replaced, percent-encoded (http://backend/api/{hub}/{category}/{event}).
	URLTemplate string
	// Hub is the hub's name: {hub} and X-ASRS-Hub.
	Hub string
	// Key signs the requests (X-ASRS-Signature); nil sends no signature.
	Key *AccessKey
	// Client makes the requests; nil means one of the Upstream's own, with
	// Concurrency connections per host and no redirects followed.
	Client *http.Client
	// Timeout bounds one request. 0 means DefaultUpstreamTimeout.
	Timeout time.Duration
	// Concurrency bounds the requests in flight at once. 0 means
	// DefaultUpstreamConcurrency.
	Concurrency int
	// MaxPending bounds the invocations waiting for their request, for the
	// whole hub; past it an invocation fails at once. 0 means
	// DefaultUpstreamMaxPending.
	MaxPending int
	// MaxPendingPerConnection is MaxPending for one connection. 0 means
	// DefaultUpstreamMaxPendingPerConnection.
	MaxPendingPerConnection int
	// MaxResponseBytes bounds an answer's body; a larger one fails the
	// invocation. 0 means DefaultUpstreamMaxResponseBytes.
	MaxResponseBytes int64
	// EventAttempts is how many times a connection event is tried in all
	// (5xx, 429, timeouts and network errors are retried, after 0.5 s,
	// then twice as long each time). 0 means DefaultUpstreamEventAttempts.
	EventAttempts int
	// RetryBackoff is the wait before the first retry. 0 means
	// DefaultUpstreamRetryBackoff.
	RetryBackoff time.Duration
	// DetailedErrors adds why an invocation failed to the client's generic
	// text (the hub's EnableDetailedErrors).
	DetailedErrors bool
	// Logger; nil discards.
	Logger *slog.Logger
}

// Upstream is a hub whose logic lives behind HTTP, as Azure SignalR
// Service's upstream (serverless) endpoints: it implements hub.Dynamic,
// hub.Connector and hub.Disconnector, and POSTs each connection's
// connected event, invocations and disconnected event to the URL template,
// in Azure's format (docs/service-api.md). Make the hub with
// hub.NewDynamic(upstream, cfg).
//
// One connection's requests go one at a time, in order; those of
// different connections run in parallel, at most Concurrency at once. No
// request runs in a connection's turn: a slow backend only delays the
// requests that wait for it, and the waiting is bounded (MaxPending,
// MaxPendingPerConnection).
//
// Goroutines: Concurrency workers, started by NewUpstream and stopped by
// Close, and a timer per connection event waiting to be retried.
type Upstream struct {
	cfg     UpstreamConfig
	client  *http.Client
	own     bool // client is the Upstream's: Close closes its idle connections
	log     *slog.Logger
	ctx     context.Context // cancelled by Close when it gives up waiting
	cancel  context.CancelFunc
	workers sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	conns   map[string]*connQueue // guarded by mu: connections with requests to make
	ready   []*connQueue          // guarded by mu: connections whose next request can go
	pending int                   // guarded by mu: invocations waiting, all connections
	refused int64                 // guarded by mu
	timers  map[*time.Timer]bool  // guarded by mu: retries waiting
	closing bool                  // guarded by mu
}

// connQueue is one connection's requests, in order. It exists while the
// connection has requests to make: an idle connection costs nothing here.
type connQueue struct {
	id, user    string
	query       string         // X-ASRS-Client-Query, or ""
	claims      map[string]any // the connection's, read-only
	jobs        []*job         // guarded by Upstream.mu
	invocations int            // guarded by Upstream.mu
	busy        bool           // guarded by Upstream.mu: queued in ready, running, or waiting to retry
}

type jobKind uint8

const (
	jobConnected jobKind = iota
	jobInvocation
	jobDisconnected
)

// job is one request.
type job struct {
	kind        jobKind
	event       string
	body        []byte
	contentType string
	proto       protocol.Protocol // invocations: the caller's
	reply       *hub.Reply        // blocking invocations
	attempt     int
}

// Categories and connection events of the upstream protocol.
const (
	categoryConnections = "connections"
	categoryMessages    = "messages"
	eventConnected      = "connected"
	eventDisconnected   = "disconnected"
)

// The content types of the bodies.
const (
	contentJSON    = "application/json"
	contentMsgPack = "application/x-msgpack"
)

// Upstream request headers.
const (
	headerHub          = "X-ASRS-Hub"
	headerCategory     = "X-ASRS-Category"
	headerEvent        = "X-ASRS-Event"
	headerConnectionID = "X-ASRS-Connection-Id"
	headerUserID       = "X-ASRS-User-Id"
	headerUserClaims   = "X-ASRS-User-Claims"
	headerSignature    = "X-ASRS-Signature"
	headerClientQuery  = "X-ASRS-Client-Query"
)

var (
	_ hub.Dynamic      = (*Upstream)(nil)
	_ hub.Connector    = (*Upstream)(nil)
	_ hub.Disconnector = (*Upstream)(nil)
)

// NewUpstream makes an Upstream and starts its workers.
func NewUpstream(cfg UpstreamConfig) (*Upstream, error) {
	if cfg.Hub == "" {
		return nil, errors.New("service: UpstreamConfig.Hub is required")
	}
	if _, err := expandTemplate(cfg.URLTemplate, cfg.Hub, categoryMessages, "Method"); err != nil {
		return nil, err
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Concurrency, DefaultUpstreamConcurrency)
	def(&cfg.MaxPending, DefaultUpstreamMaxPending)
	def(&cfg.MaxPendingPerConnection, DefaultUpstreamMaxPendingPerConnection)
	def(&cfg.EventAttempts, DefaultUpstreamEventAttempts)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultUpstreamTimeout
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultUpstreamRetryBackoff
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultUpstreamMaxResponseBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, own := cfg.Client, cfg.Client == nil
	if own {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxConnsPerHost = cfg.Concurrency
		tr.MaxIdleConnsPerHost = cfg.Concurrency
		client = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &Upstream{
		cfg: cfg, client: client, own: own, log: log.With("hub", cfg.Hub), ctx: ctx, cancel: cancel,
		conns: make(map[string]*connQueue), timers: make(map[*time.Timer]bool),
	}
	u.cond = sync.NewCond(&u.mu)
	for range cfg.Concurrency {
		u.workers.Go(u.work)
	}
	return u, nil
}

// expandTemplate replaces the placeholders of a URL template.
func expandTemplate(tmpl, hubName, category, event string) (string, error) {
	s := strings.NewReplacer("{hub}", escapeData(hubName), "{category}", escapeData(category), "{event}", escapeData(event)).Replace(tmpl)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("service: upstream URL template %q does not make an http(s) URL", tmpl)
	}
	return s, nil
}

// escapeData percent-encodes all but the unreserved characters of RFC 3986,
// as .NET's Uri.EscapeDataString does.
func escapeData(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// OnConnected queues the connection's connected event; the connection does
// not wait for it.
func (u *Upstream) OnConnected(ctx *hub.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.enqueueLocked(u.queueLocked(ctx), &job{kind: jobConnected, event: eventConnected, body: []byte(`{"type":10}`), contentType: contentJSON})
	return nil
}

// queueLocked is the connection's queue, made when it has none.
func (u *Upstream) queueLocked(ctx *hub.Context) *connQueue {
	cq := u.conns[ctx.ConnectionID]
	if cq == nil {
		cq = &connQueue{id: ctx.ConnectionID, user: ctx.UserID, claims: ctx.Claims, query: clientQuery(ctx.Request())}
		u.conns[cq.id] = cq
	}
	return cq
}

// OnDisconnected queues the connection's disconnected event, after its
// other requests.
func (u *Upstream) OnDisconnected(ctx *hub.Context, err error) {
	body := []byte(`{"type":11}`)
	if err != nil {
		body, _ = json.Marshal(struct {
			Type  int    `json:"type"`
			Error string `json:"error"`
		}{11, err.Error()})
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.enqueueLocked(u.queueLocked(ctx), &job{kind: jobDisconnected, event: eventDisconnected, body: body, contentType: contentJSON})
}

// errBusy: an invocation that found the queues full.
var errBusy = errors.New("the upstream has too many invocations waiting")

// Invoke queues the invocation for the connection's next turn upstream; a
// blocking one is answered when the backend answers.
func (u *Upstream) Invoke(ctx *hub.Context, inv *hub.Invocation) (any, error) {
	body, err := inv.Message()
	if err != nil {
		return nil, err
	}
	ct := contentJSON
	if inv.Protocol.TransferFormat() == protocol.Binary {
		ct = contentMsgPack
	}
	j := &job{kind: jobInvocation, event: inv.Target, body: body, contentType: ct, proto: inv.Protocol}
	if ctx.InvocationID != "" {
		j.reply = inv.Defer()
	}
	u.mu.Lock()
	cq := u.conns[ctx.ConnectionID]
	if u.closing || u.pending >= u.cfg.MaxPending || cq != nil && cq.invocations >= u.cfg.MaxPendingPerConnection {
		u.refused++
		u.mu.Unlock()
		u.log.Debug("upstream: invocation refused, queue full", "conn", ctx.ConnectionID, "target", inv.Target)
		if j.reply != nil {
			j.reply.Done(nil, u.detail(errBusy))
		}
		return nil, nil
	}
	cq = u.queueLocked(ctx)
	u.pending++
	cq.invocations++
	u.enqueueLocked(cq, j)
	u.mu.Unlock()
	return nil, nil
}

// enqueueLocked adds a request to a connection's queue.
func (u *Upstream) enqueueLocked(cq *connQueue, j *job) {
	cq.jobs = append(cq.jobs, j)
	if !cq.busy {
		cq.busy = true
		u.ready = append(u.ready, cq)
		u.cond.Signal()
	}
}

// work runs requests until Close.
func (u *Upstream) work() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for {
		for len(u.ready) == 0 && !(u.closing && u.idleLocked()) && u.ctx.Err() == nil {
			u.cond.Wait()
		}
		if u.ctx.Err() != nil || len(u.ready) == 0 {
			u.cond.Broadcast() // the others may be done too
			return
		}
		cq := u.ready[0]
		u.ready[0] = nil
		u.ready = u.ready[1:]
		j := cq.jobs[0]
		u.mu.Unlock()
		retry := u.run(cq, j)
		u.mu.Lock()
		if retry > 0 {
			u.retryLocked(cq, retry)
			continue
		}
		cq.jobs[0] = nil
		cq.jobs = cq.jobs[1:]
		if j.kind == jobInvocation {
			u.pending--
			cq.invocations--
		}
		if len(cq.jobs) > 0 {
			u.ready = append(u.ready, cq)
		} else {
			cq.busy = false
			delete(u.conns, cq.id)
		}
		if u.closing {
			u.cond.Broadcast()
		}
	}
}

// idleLocked: nothing queued, running or waiting to retry.
func (u *Upstream) idleLocked() bool { return len(u.conns) == 0 }

// retryLocked puts a connection back once its retry is due.
func (u *Upstream) retryLocked(cq *connQueue, after time.Duration) {
	var t *time.Timer
	t = time.AfterFunc(after, func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if !u.timers[t] {
			return // Close stopped it
		}
		delete(u.timers, t)
		u.ready = append(u.ready, cq)
		u.cond.Signal()
	})
	u.timers[t] = true
}

// run makes one request; it returns how long to wait before trying it
// again, or 0 when it is done (answered, failed for good, or given up).
func (u *Upstream) run(cq *connQueue, j *job) time.Duration {
	category := categoryConnections
	if j.kind == jobInvocation {
		category = categoryMessages
	}
	status, body, err := u.post(cq, category, j)
	if j.kind != jobInvocation {
		j.attempt++
		if err == nil && status/100 == 2 {
			return 0
		}
		retriable := err != nil || status >= 500 || status == http.StatusTooManyRequests
		if retriable && j.attempt < u.cfg.EventAttempts && u.ctx.Err() == nil {
			return u.cfg.RetryBackoff << (j.attempt - 1)
		}
		u.log.Warn("upstream: connection event not delivered", "conn", cq.id, "event", j.event, "status", status, "attempts", j.attempt, "err", err)
		return 0
	}
	if j.reply == nil {
		if err != nil || status/100 != 2 {
			u.log.Debug("upstream: non-blocking invocation failed", "conn", cq.id, "target", j.event, "status", status, "err", err)
		}
		return 0
	}
	switch {
	case err != nil:
		u.log.Debug("upstream: invocation failed", "conn", cq.id, "target", j.event, "err", err)
		j.reply.Done(nil, u.detail(err))
	case status/100 != 2:
		j.reply.Done(nil, u.detail(fmt.Errorf("the upstream answered %d", status)))
	default:
		u.answer(j, body)
	}
	return 0
}

// errTooLarge: an answer over MaxResponseBytes.
var errTooLarge = errors.New("the upstream's answer is too large")

// post sends one request and reads the answer's body.
func (u *Upstream) post(cq *connQueue, category string, j *job) (int, []byte, error) {
	target, err := expandTemplate(u.cfg.URLTemplate, u.cfg.Hub, category, j.event)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(u.ctx, u.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(j.body))
	if err != nil {
		return 0, nil, err
	}
	h := req.Header
	h.Set("Content-Type", j.contentType)
	h.Set(headerHub, u.cfg.Hub)
	h.Set(headerCategory, category)
	h.Set(headerEvent, j.event)
	h.Set(headerConnectionID, cq.id)
	if cq.user != "" {
		h.Set(headerUserID, cq.user)
	}
	if len(cq.claims) > 0 {
		h.Set(headerUserClaims, claimsHeader(cq.claims))
	}
	if cq.query != "" {
		h.Set(headerClientQuery, cq.query)
	}
	if u.cfg.Key != nil {
		h.Set(headerSignature, u.cfg.Key.Signature(cq.id))
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, u.cfg.MaxResponseBytes+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(body)) > u.cfg.MaxResponseBytes {
		return 0, nil, errTooLarge
	}
	if j.kind == jobInvocation && resp.StatusCode/100 == 2 {
		if ct := resp.Header.Get("Content-Type"); len(bytes.TrimSpace(body)) > 0 && !acceptable(ct) {
			return 0, nil, fmt.Errorf("the upstream answered with content type %q", ct)
		}
	}
	return resp.StatusCode, body, nil
}

// acceptable: the content types an invocation's answer may have.
func acceptable(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	switch strings.TrimSpace(strings.ToLower(mt)) {
	case contentJSON, contentMsgPack, "application/octet-stream", "text/plain":
		return true
	}
	return false
}

// answer turns a 2xx answer's body into the invocation's Completion: none
// (a null result), a Completion message in the caller's protocol (framed or
// not), or a JSON value that is the result.
func (u *Upstream) answer(j *job, body []byte) {
	if len(bytes.TrimSpace(body)) == 0 {
		j.reply.Done(nil, nil)
		return
	}
	if c := readCompletion(j.proto, body); c != nil {
		switch {
		case c.Error != "":
			j.reply.Fail(c.Error)
		case c.HasResult:
			j.reply.Done(ownResult(c.Result), nil)
		default:
			j.reply.Done(nil, nil)
		}
		return
	}
	if trimmed := bytes.TrimSpace(body); json.Valid(trimmed) {
		j.reply.Done(json.RawMessage(trimmed), nil)
		return
	}
	j.reply.Done(nil, u.detail(errors.New("the upstream's answer is neither a Completion message nor JSON")))
}

// ownResult copies a decoded result out of the body it aliases.
func ownResult(v any) any {
	switch r := v.(type) {
	case json.RawMessage:
		return json.RawMessage(slices.Clone(r))
	}
	return v // msgpack.RawMessage: the body is not reused
}

// readCompletion reads body as one Completion message of p, framed or not;
// it returns nil when it is not one.
func readCompletion(p protocol.Protocol, body []byte) *protocol.Completion {
	try := func(b []byte) *protocol.Completion {
		m, rest, err := p.ReadMessage(b, 0)
		if err != nil || len(bytes.TrimSpace(rest)) > 0 {
			return nil
		}
		c, _ := m.(*protocol.Completion)
		return c
	}
	if p.TransferFormat() == protocol.Text {
		b := bytes.TrimRight(body, " \t\r\n")
		if len(b) > 0 && b[len(b)-1] == protocol.RecordSeparator {
			return try(b)
		}
		return try(append(b, protocol.RecordSeparator))
	}
	if c := try(body); c != nil {
		return c
	}
	framed := binaryLength(nil, len(body))
	return try(append(framed, body...))
}

// binaryLength appends MessagePack framing's VarInt length prefix.
func binaryLength(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// detail is err as the client sees it: the generic text, with the reason
// only when DetailedErrors is set.
func (u *Upstream) detail(err error) error {
	if u.cfg.DetailedErrors {
		return upstreamError{err}
	}
	return errHidden
}

// errHidden gives the client only the generic text.
var errHidden = errors.New("upstream invocation failed")

// upstreamError names itself in detailed errors.
type upstreamError struct{ err error }

func (e upstreamError) Error() string { return e.err.Error() }
func (e upstreamError) Unwrap() error { return e.err }

// claimsHeader is X-ASRS-User-Claims: "type: value" items joined by ", ",
// in the order of the claim names; a list claim gives one item per value.
func claimsHeader(claims map[string]any) string {
	names := make([]string, 0, len(claims))
	for name := range claims {
		names = append(names, name)
	}
	slices.Sort(names)
	var items []string
	for _, name := range names {
		values, ok := claims[name].([]any)
		if !ok {
			values = []any{claims[name]}
		}
		for _, v := range values {
			var s string
			switch v := v.(type) {
			case string:
				s = v
			case float64:
				s = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				b, _ := json.Marshal(v)
				s = string(b)
			}
			items = append(items, name+": "+strings.NewReplacer("\r", " ", "\n", " ").Replace(s))
		}
	}
	return strings.Join(items, ", ")
}

// clientQuery is X-ASRS-Client-Query: the query of the request that opened
// the connection ("?k=v&..."), without its secrets (the connection token
// id, access_token); "" when the transport did not keep the request
// (transports.Config.KeepRequests) or there is nothing left.
func clientQuery(r *http.Request) string {
	if r == nil {
		return ""
	}
	q := r.URL.Query()
	for k := range q {
		if strings.EqualFold(k, "id") || strings.EqualFold(k, "access_token") {
			delete(q, k)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// UpstreamStats is a snapshot of an Upstream's queues.
type UpstreamStats struct {
	// Pending is the invocations waiting for (or in) their request.
	Pending int
	// Connections is the connections with requests to make or made.
	Connections int
	// Refused is the invocations refused because the queues were full.
	Refused int64
}

// Stats returns a snapshot of the queues.
func (u *Upstream) Stats() UpstreamStats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return UpstreamStats{Pending: u.pending, Connections: len(u.conns), Refused: u.refused}
}

// Close refuses new invocations and waits until every queued request has
// been made (the disconnected events of a hub that shut down first
// included), or ctx ends: then requests in flight are cancelled and those
// queued dropped. It stops the workers. Shut the hub down first.
func (u *Upstream) Close(ctx context.Context) error {
	u.mu.Lock()
	u.closing = true
	u.cond.Broadcast()
	u.mu.Unlock()
	done := make(chan struct{})
	// Owner: Close, which receives done on every path (after cancelling
	// the workers when ctx ends first).
	go func() {
		u.workers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		u.mu.Lock()
		u.cancel()
		for t := range u.timers {
			t.Stop()
		}
		clear(u.timers)
		u.cond.Broadcast()
		u.mu.Unlock()
		<-done
	}
	u.cancel()
	if u.own {
		u.client.CloseIdleConnections()
	}
	return err
}
