package transports

import (
	"errors"
	"net/http"
	"strings"
)

// Authenticator turns a request's bearer token into a user id.
type Authenticator interface {
	// Authenticate returns the user id for token, taken from the
	// Authorization header or the access_token query string ("" when the
	// request has none). An empty id means anonymous; an error refuses the
	// request with 401.
	Authenticate(r *http.Request, token string) (userID string, err error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request, token string) (string, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request, token string) (string, error) {
	return f(r, token)
}

// ClaimsAuthenticator is an Authenticator that also returns the claims of
// the token (a JWT's payload). The handler prefers it to Authenticate, and
// the claims reach hub code as hub.Context.Claims; nobody modifies the map
// afterwards.
type ClaimsAuthenticator interface {
	Authenticator
	AuthenticateClaims(r *http.Request, token string) (userID string, claims map[string]any, err error)
}

// ErrUnauthorized is what an Authenticator returns for a bad token.
var ErrUnauthorized = errors.New("transports: unauthorized")

// bearerToken finds the access token: the Authorization header first, then
// the access_token query string (browsers cannot set headers on WebSockets
// and EventSource).
func bearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
	}
	return queryValue(r, "access_token")
}

// queryValue reads a query parameter, matching its name case-insensitively
// as ASP.NET Core does.
func queryValue(r *http.Request, name string) string {
	q := r.URL.Query()
	if v, ok := q[name]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// hasQuery reports whether the query has the parameter, in any letter case.
func hasQuery(r *http.Request, name string) bool {
	for k := range r.URL.Query() {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
