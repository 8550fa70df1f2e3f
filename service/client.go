package service

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// ClientPath is where clients sent by a negotiate redirect connect, as in
// Azure SignalR Service: <base>/client/?hub=<hub>.
const ClientPath = "/client/"

// ClientAuthenticator checks the tokens of clients sent by a negotiate
// redirect: signed with the access key, aud the client URL of the hub the
// request names (see docs/service-api.md), exp required; a request without
// one is refused. The user id is the asrs.s.uid claim (else nameid; a
// token may name no user: the client is then anonymous); the other claims,
// system ones left out, are the connection's claims. It has the methods of
// transports.ClaimsAuthenticator; a transports.Handler serving a hub at
// ClientPath uses it (without RequireAuthentication, which would refuse
// anonymous clients).
type ClientAuthenticator struct{ key *AccessKey }

// ClientAuthenticator returns the authenticator of client tokens.
func (k *AccessKey) ClientAuthenticator() ClientAuthenticator { return ClientAuthenticator{k} }

// errNoHub: a client request that names no hub.
var errNoHub = errors.New("service: the request names no hub")

// Authenticate returns the user id of token ("" when it names none).
func (a ClientAuthenticator) Authenticate(r *http.Request, token string) (string, error) {
	user, _, err := a.AuthenticateClaims(r, token)
	return user, err
}

// AuthenticateClaims returns the user id and the claims of token.
func (a ClientAuthenticator) AuthenticateClaims(r *http.Request, token string) (string, map[string]any, error) {
	hub := hubParam(r.URL.Query())
	if hub == "" {
		return "", nil, errNoHub
	}
	claims, err := a.key.verify(token, func(aud string) bool {
		u, err := url.Parse(aud)
		return err == nil && sameURL(aud, r, ClientPath) && strings.EqualFold(hubParam(u.Query()), hub)
	})
	if err != nil {
		return "", nil, err
	}
	user, own := userOf(claims)
	return user, own, nil
}

// hubParam is the hub query parameter, its name in any letter case.
func hubParam(q url.Values) string {
	if v := q.Get("hub"); v != "" {
		return v
	}
	for k, v := range q {
		if strings.EqualFold(k, "hub") && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// ClientRouter serves ClientPath: it hands each request to the handler of
// the hub its hub query parameter names (without case), or answers 404.
// The handlers are the hubs' transports.Handlers made for ClientPath, with
// the ClientAuthenticator.
type ClientRouter struct {
	mu   sync.RWMutex
	hubs map[string]http.Handler // lower-case hub name -> handler; guarded by mu
}

// NewClientRouter makes an empty ClientRouter.
func NewClientRouter() *ClientRouter {
	return &ClientRouter{hubs: make(map[string]http.Handler)}
}

// Add serves hub's clients with h.
func (cr *ClientRouter) Add(hub string, h http.Handler) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.hubs[strings.ToLower(hub)] = h
}

// Mount registers the router on mux at ClientPath.
func (cr *ClientRouter) Mount(mux *http.ServeMux) {
	mux.Handle(ClientPath, cr)
	mux.Handle(strings.TrimSuffix(ClientPath, "/"), cr)
}

// ServeHTTP routes a client request.
func (cr *ClientRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/client", "/client/", "/client/negotiate":
	default:
		http.NotFound(w, r)
		return
	}
	cr.mu.RLock()
	h := cr.hubs[strings.ToLower(hubParam(r.URL.Query()))]
	cr.mu.RUnlock()
	if h == nil {
		http.Error(w, "No such hub", http.StatusNotFound)
		return
	}
	h.ServeHTTP(w, r)
}
