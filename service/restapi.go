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
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
)

// APIVersion is the version of Azure SignalR Service's data-plane REST API
// that the API serves; later dated versions are accepted too (the calls
// served behave the same in them).
const APIVersion = "2022-06-01"

// Limits of the REST API.
const (
	// DefaultMaxBodyBytes bounds a request body: 1 MiB, as Azure's.
	DefaultMaxBodyBytes = 1 << 20
	// maxIDBytes bounds a connection id, user id, group name and reason.
	maxIDBytes = 1024
	// maxExcluded bounds the excluded connection ids of one call.
	maxExcluded = 1024
)

// Config configures an API. Key is required; the other fields' zero
// values work.
type Config struct {
	// Key checks the requests' bearer tokens.
	Key *AccessKey
	// MaxBodyBytes bounds a request body; a larger one gets 413. 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger; nil discards.
	Logger *slog.Logger
}

// API serves Azure SignalR Service's data-plane REST API (version
// 2022-06-01) for the hubs added to it: sends, groups, user groups,
// closes and existence checks, on every node of each hub (see
// docs/service-api.md). Mount it at /api/.
type API struct {
	key     *AccessKey
	maxBody int64
	log     *slog.Logger

	mu   sync.RWMutex
	hubs map[string]*hub.Hub // lower-case name -> hub; guarded by mu
}

// NewAPI makes an API.
func NewAPI(cfg Config) (*API, error) {
	if cfg.Key == nil {
		return nil, errors.New("service: Config.Key is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &API{key: cfg.Key, maxBody: cfg.MaxBodyBytes, log: log, hubs: make(map[string]*hub.Hub)}, nil
}

// HubName is the name of a hub mounted at path, as the REST API and the
// upstream know it: the path's last segment (/hubs/chat is chat).
func HubName(path string) string {
	path = strings.TrimSuffix(path, "/")
	return path[strings.LastIndexByte(path, '/')+1:]
}

// ValidHubName reports whether name can name a hub: a letter, then up to
// 127 letters, digits, '_', '-' or '.' (Azure allows letters, digits and
// '_').
func ValidHubName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i, r := range name {
		switch {
		case r < 128 && unicode.IsLetter(r):
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// AddHub serves h under name (compared without case).
func (a *API) AddHub(name string, h *hub.Hub) error {
	if !ValidHubName(name) {
		return fmt.Errorf("service: %q cannot name a hub", name)
	}
	key := strings.ToLower(name)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.hubs[key]; dup {
		return fmt.Errorf("service: hub %q added twice", name)
	}
	a.hubs[key] = h
	return nil
}

func (a *API) hub(name string) *hub.Hub {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.hubs[strings.ToLower(name)]
}

// Mount registers the API on mux at /api/.
func (a *API) Mount(mux *http.ServeMux) { mux.Handle("/api/", a) }

// A route is one call of the API: the methods it takes, and what it does
// with the request's hub and path parameters.
type route struct {
	methods []string
	serve   func(a *API, w http.ResponseWriter, r *http.Request, c *call)
}

// call is what a request names.
type call struct {
	hub       *hub.Hub
	hubName   string
	id        string // connection id
	user, grp string
	excluded  []string
	reason    string
	ttl       string
	hasTTL    bool
}

// ServeHTTP serves one REST call.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs, ok := segments(r)
	if !ok {
		a.fail(w, r, http.StatusBadRequest, "BadRequest", "The path is not valid.")
		return
	}
	if len(segs) == 2 && segs[1] == "health" {
		if r.Method != http.MethodHead && r.Method != http.MethodGet {
			a.notAllowed(w, r, "GET, HEAD")
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	rt, c := match(segs)
	if rt == nil {
		a.fail(w, r, http.StatusNotFound, "NotFound", "No such API.")
		return
	}
	allowed := false
	for _, m := range rt.methods {
		allowed = allowed || r.Method == m
	}
	if !allowed {
		a.notAllowed(w, r, strings.Join(rt.methods, ", "))
		return
	}
	if _, err := a.key.verify(bearer(r), func(aud string) bool { return sameURL(aud, r, r.URL.Path) }); err != nil {
		a.log.Debug("REST call refused", "path", r.URL.Path, "err", err)
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	if !supportedVersion(q.Get("api-version")) {
		a.fail(w, r, http.StatusBadRequest, "UnsupportedApiVersion", "api-version "+APIVersion+" (or a later one) is required.")
		return
	}
	if q.Get("application") != "" {
		a.fail(w, r, http.StatusBadRequest, "BadRequest", "application is not supported.")
		return
	}
	if c.hub = a.hub(c.hubName); c.hub == nil {
		a.fail(w, r, http.StatusNotFound, "HubNotFound", "No such hub.")
		return
	}
	if msg := c.validate(q); msg != "" {
		a.fail(w, r, http.StatusBadRequest, "BadRequest", msg)
		return
	}
	rt.serve(a, w, r, c)
}

// segments splits the path after /api into percent-decoded segments.
func segments(r *http.Request) ([]string, bool) {
	p := strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	raw := strings.Split(p, "/")
	if len(raw) == 0 || raw[0] != "api" {
		return nil, false
	}
	out := make([]string, len(raw))
	for i, s := range raw {
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// match finds the route of a path: api, hubs, {hub}, then the rest.
func match(segs []string) (*route, *call) {
	if len(segs) < 4 || segs[1] != "hubs" {
		return nil, nil
	}
	c := &call{hubName: segs[2]}
	rest := segs[3:]
	switch {
	case len(rest) == 1 && rest[0] == ":send":
		return &routeSendAll, c
	case len(rest) == 1 && rest[0] == ":closeConnections":
		return &routeCloseAll, c
	case rest[0] == "connections" && len(rest) >= 2:
		c.id = rest[1]
		switch {
		case len(rest) == 2:
			return &routeConnection, c
		case len(rest) == 3 && rest[2] == ":send":
			return &routeSendConnection, c
		case len(rest) == 3 && rest[2] == "groups":
			return &routeConnectionGroups, c
		}
	case rest[0] == "groups" && len(rest) >= 2:
		c.grp = rest[1]
		switch {
		case len(rest) == 2:
			return &routeGroup, c
		case len(rest) == 3 && rest[2] == ":send":
			return &routeSendGroup, c
		case len(rest) == 3 && rest[2] == ":closeConnections":
			return &routeCloseGroup, c
		case len(rest) == 4 && rest[2] == "connections":
			c.id = rest[3]
			return &routeGroupConnection, c
		}
	case rest[0] == "users" && len(rest) >= 2:
		c.user = rest[1]
		switch {
		case len(rest) == 2:
			return &routeUser, c
		case len(rest) == 3 && rest[2] == ":send":
			return &routeSendUser, c
		case len(rest) == 3 && rest[2] == ":closeConnections":
			return &routeCloseUser, c
		case len(rest) == 3 && rest[2] == "groups":
			return &routeUserGroups, c
		case len(rest) == 4 && rest[2] == "groups":
			c.grp = rest[3]
			return &routeUserGroup, c
		}
	}
	return nil, nil
}

// supportedVersion reports whether v is 2022-06-01 or a later dated
// version (with or without a -preview suffix).
func supportedVersion(v string) bool {
	d, _, _ := strings.Cut(v, "-preview")
	t, err := time.Parse("2006-01-02", d)
	return err == nil && !t.Before(time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC))
}

// validate checks the call's ids and query parameters; it returns what is
// wrong, or "".
func (c *call) validate(q url.Values) string {
	if c.id != "" && !validID(c.id) {
		return "The connection id is not valid."
	}
	if c.user != "" && !validID(c.user) {
		return "The user id is not valid."
	}
	if c.grp != "" && !validGroup(c.grp) {
		return "The group name must have 1 to 1024 characters, none of them white space."
	}
	c.excluded = q["excluded"]
	if len(c.excluded) > maxExcluded {
		return fmt.Sprintf("At most %d connection ids may be excluded.", maxExcluded)
	}
	for _, id := range c.excluded {
		if !validID(id) {
			return "An excluded connection id is not valid."
		}
	}
	c.reason = q.Get("reason")
	if len(c.reason) > maxIDBytes || !utf8.ValidString(c.reason) {
		return "The reason must be valid UTF-8 of at most 1024 bytes."
	}
	if _, c.hasTTL = q["ttl"]; c.hasTTL {
		c.ttl = q.Get("ttl")
		if n, err := strconv.ParseInt(c.ttl, 10, 64); err != nil || n < 0 {
			return "ttl must be a whole number of seconds, 0 or more."
		}
	}
	return ""
}

// validID: 1 to 1024 bytes of UTF-8 without control characters.
func validID(s string) bool {
	if s == "" || len(s) > maxIDBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// validGroup: 1 to 1024 characters, none of them white space (Azure's).
func validGroup(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > maxIDBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// bearer is the request's bearer token.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// errorDetail is Azure's error body.
type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if status >= 500 {
		a.log.Warn("REST call failed", "method", r.Method, "path", r.URL.Path, "status", status, "msg", msg)
	} else {
		a.log.Debug("REST call refused", "method", r.Method, "path", r.URL.Path, "status", status, "msg", msg)
	}
	b, _ := json.Marshal(errorDetail{Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (a *API) notAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	a.fail(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "Use "+allow+".")
}

// failHub answers a hub error: the backplane unreachable gives 503, a
// message too large for it 413, the rest 500.
func (a *API) failHub(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, backplane.ErrUnavailable), errors.Is(err, backplane.ErrClosed):
		a.fail(w, r, http.StatusServiceUnavailable, "ServiceUnavailable", "The other nodes cannot be reached.")
	case errors.Is(err, hub.ErrMessageTooLarge):
		a.fail(w, r, http.StatusRequestEntityTooLarge, "MessageTooLarge", "The message is too large.")
	case errors.Is(err, hub.ErrTooManyUserGroups):
		a.fail(w, r, http.StatusBadRequest, "TooManyUserGroups", "The hub holds as many user group memberships as it may.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		a.fail(w, r, http.StatusServiceUnavailable, "Timeout", "The call did not complete in time.")
	default:
		a.log.Error("REST call failed", "method", r.Method, "path", r.URL.Path, "err", err)
		a.fail(w, r, http.StatusInternalServerError, "InternalServerError", "The call failed.")
	}
}

// everywhereDone maps the error of a change made on every node: nodes that
// did not answer (ErrNoAck) have gone, or apply it when it reaches them,
// so the call succeeded; it reports whether the caller should answer.
func (a *API) everywhereDone(w http.ResponseWriter, r *http.Request, err error) bool {
	if errors.Is(err, hub.ErrNoAck) {
		a.log.Warn("REST call: some nodes did not answer", "method", r.Method, "path", r.URL.Path, "err", err)
		return true
	}
	if err != nil {
		a.failHub(w, r, err)
		return false
	}
	return true
}

// payload is a send's body.
type payload struct {
	Target    *string           `json:"target"`
	Arguments []json.RawMessage `json:"arguments"`
}

// readPayload reads and checks a send's body; on failure it answers.
func (a *API) readPayload(w http.ResponseWriter, r *http.Request) (string, []any, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		a.fail(w, r, http.StatusRequestEntityTooLarge, "PayloadTooLarge", fmt.Sprintf("The body is larger than %d bytes.", a.maxBody))
		return "", nil, false
	case err != nil:
		a.fail(w, r, http.StatusBadRequest, "BadRequest", "The body could not be read.")
		return "", nil, false
	}
	var p payload
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		a.fail(w, r, http.StatusBadRequest, "InvalidPayload", "The body is not a JSON object with target and arguments: "+jsonProblem(err))
		return "", nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		a.fail(w, r, http.StatusBadRequest, "InvalidPayload", "The body has more than one JSON value.")
		return "", nil, false
	}
	if p.Target == nil || *p.Target == "" || !validID(*p.Target) {
		a.fail(w, r, http.StatusBadRequest, "InvalidPayload", "target is required: the name of the method the clients run.")
		return "", nil, false
	}
	args := make([]any, len(p.Arguments))
	for i, raw := range p.Arguments {
		if raw == nil {
			raw = json.RawMessage("null")
		}
		args[i] = raw
	}
	return *p.Target, args, true
}

// jsonProblem says what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d.", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s has the wrong type.", typ.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "it is empty or cut short."
	}
	return "it does not decode."
}

func (a *API) send(w http.ResponseWriter, r *http.Request, p hub.Proxy) {
	target, args, ok := a.readPayload(w, r)
	if !ok {
		return
	}
	if err := p.Send(target, args...); err != nil {
		a.failHub(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (a *API) exists(w http.ResponseWriter, r *http.Request, found bool, err error) {
	if err != nil && !errors.Is(err, hub.ErrNoAck) {
		a.failHub(w, r, err)
		return
	}
	if !found {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (a *API) close(w http.ResponseWriter, r *http.Request, p hub.Proxy, status int, reason string) {
	if a.everywhereDone(w, r, p.Close(r.Context(), reason)) {
		w.WriteHeader(status)
	}
}

// The routes.
var (
	routeSendAll = route{[]string{http.MethodPost}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		a.send(w, r, c.hub.Clients().AllExcept(c.excluded...))
	}}
	routeCloseAll = route{[]string{http.MethodPost}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		a.close(w, r, c.hub.Clients().AllExcept(c.excluded...), http.StatusNoContent, c.reason)
	}}
	routeConnection = route{[]string{http.MethodHead, http.MethodDelete}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		p := c.hub.Clients().Client(c.id)
		if r.Method == http.MethodHead {
			found, err := p.Exists(r.Context())
			a.exists(w, r, found, err)
			return
		}
		a.close(w, r, p, http.StatusOK, c.reason)
	}}
	routeSendConnection = route{[]string{http.MethodPost}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		a.send(w, r, c.hub.Clients().Client(c.id))
	}}
	routeConnectionGroups = route{[]string{http.MethodDelete}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		if a.everywhereDone(w, r, c.hub.Groups().RemoveFromAll(r.Context(), c.id)) {
			w.WriteHeader(http.StatusOK)
		}
	}}
	routeGroup = route{[]string{http.MethodHead}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		found, err := c.hub.Clients().Group(c.grp).Exists(r.Context())
		a.exists(w, r, found, err)
	}}
	routeSendGroup = route{[]string{http.MethodPost}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		a.send(w, r, c.hub.Clients().GroupExcept(c.grp, c.excluded...))
	}}
	routeCloseGroup = route{[]string{http.MethodPost}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		a.close(w, r, c.hub.Clients().GroupExcept(c.grp, c.excluded...), http.StatusNoContent, c.reason)
	}}
	routeGroupConnection = route{[]string{http.MethodPut, http.MethodDelete}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		found, err := c.hub.Clients().Client(c.id).Exists(r.Context())
		if err != nil && !errors.Is(err, hub.ErrNoAck) {
			a.failHub(w, r, err)
			return
		}
		if !found {
			a.fail(w, r, http.StatusNotFound, "ConnectionNotFound", "No such connection.")
			return
		}
		if r.Method == http.MethodPut {
			err = c.hub.Groups().Add(r.Context(), c.id, c.grp)
		} else {
			err = c.hub.Groups().Remove(r.Context(), c.id, c.grp)
		}
		if errors.Is(err, hub.ErrNoAck) { // it went meanwhile
			a.fail(w, r, http.StatusNotFound, "ConnectionNotFound", "No such connection.")
			return
		}
		if err != nil {
			a.failHub(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}}
	routeUser = route{[]string{http.MethodHead}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		found, err := c.hub.Clients().User(c.user).Exists(r.Context())
		a.exists(w, r, found, err)
	}}
	routeSendUser = route{[]string{http.MethodPost}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		a.send(w, r, c.hub.Clients().User(c.user))
	}}
	routeCloseUser = route{[]string{http.MethodPost}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		a.close(w, r, c.hub.Clients().User(c.user).Except(c.excluded...), http.StatusNoContent, c.reason)
	}}
	routeUserGroups = route{[]string{http.MethodDelete}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		if a.everywhereDone(w, r, c.hub.Groups().RemoveUserFromAll(r.Context(), c.user)) {
			w.WriteHeader(http.StatusNoContent)
		}
	}}
	routeUserGroup = route{[]string{http.MethodHead, http.MethodPut, http.MethodDelete}, func(a *API, w http.ResponseWriter, r *http.Request, c *call) {
		g := c.hub.Groups()
		switch r.Method {
		case http.MethodHead:
			found, err := g.HasUser(r.Context(), c.user, c.grp)
			a.exists(w, r, found, err)
		case http.MethodPut:
			var err error
			ttl, _ := strconv.ParseInt(c.ttl, 10, 64)
			switch {
			case !c.hasTTL || ttl >= int64(hub.UserGroupMaxTTL/time.Second):
				err = g.AddUser(r.Context(), c.user, c.grp, 0)
			case ttl == 0:
				err = g.AddUserConnections(r.Context(), c.user, c.grp)
			default:
				err = g.AddUser(r.Context(), c.user, c.grp, time.Duration(ttl)*time.Second)
			}
			if a.everywhereDone(w, r, err) {
				w.WriteHeader(http.StatusOK)
			}
		case http.MethodDelete:
			if a.everywhereDone(w, r, g.RemoveUser(r.Context(), c.user, c.grp)) {
				w.WriteHeader(http.StatusNoContent)
			}
		}
	}}
)
