package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinKeySize is the shortest access key accepted, in bytes (256 bits, as
// RFC 7518 asks of an HS256 key; Azure's keys are 44 base64 characters).
const MinKeySize = 32

// AccessKey is the secret shared between actorhub and the applications that
// drive it: it signs and checks the bearer tokens of the REST API and of
// clients sent by a negotiate redirect, and signs upstream requests.
// Several keys may be in use at once, to rotate them: tokens signed with
// any are accepted, the first signs what this side signs.
type AccessKey struct {
	keys   [][]byte
	parser *jwt.Parser
}

// NewAccessKey makes an AccessKey of one or more keys, each at least
// MinKeySize bytes.
func NewAccessKey(keys ...string) (*AccessKey, error) {
	if len(keys) == 0 {
		return nil, errors.New("service: NewAccessKey needs a key")
	}
	k := &AccessKey{parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())}
	for i, s := range keys {
		if len(s) < MinKeySize {
			return nil, fmt.Errorf("service: access key %d has %d bytes; it needs at least %d", i+1, len(s), MinKeySize)
		}
		k.keys = append(k.keys, []byte(s))
	}
	return k, nil
}

// ParseAccessKeys makes an AccessKey of a comma-separated list of keys (as
// the -access-key flag takes them).
func ParseAccessKeys(list string) (*AccessKey, error) {
	var keys []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			keys = append(keys, s)
		}
	}
	return NewAccessKey(keys...)
}

// Token mints an HS256 JWT with the first key: aud is audience, exp is ttl
// from now (ttl <= 0 means one hour), iat and nbf now, plus claims.
func (k *AccessKey) Token(audience string, ttl time.Duration, claims map[string]any) (string, error) {
	if ttl <= 0 {
		ttl = time.Hour
	}
	now := time.Now()
	mc := jwt.MapClaims{}
	for name, v := range claims {
		mc[name] = v
	}
	mc["aud"] = audience
	mc["iat"] = now.Unix()
	mc["nbf"] = now.Unix()
	mc["exp"] = now.Add(ttl).Unix()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString(k.keys[0])
}

// Signature is the X-ASRS-Signature of an upstream request for a
// connection: "sha256=<hex>" per key, comma-separated, the hex of the
// HMAC-SHA256 of the connection id keyed with the key, in upper case as
// Microsoft's emulator writes it.
func (k *AccessKey) Signature(connectionID string) string {
	var b strings.Builder
	for i, key := range k.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(connectionID))
		b.WriteString("sha256=")
		b.WriteString(strings.ToUpper(hex.EncodeToString(m.Sum(nil))))
	}
	return b.String()
}

// errBadToken is every refusal of a token; the reason stays in logs.
var errBadToken = errors.New("service: bad token")

// verify checks token's signature (any key), exp (required) and nbf, and
// that aud matches; it returns the claims.
func (k *AccessKey) verify(token string, audOK func(aud string) bool) (jwt.MapClaims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: none", errBadToken)
	}
	var lastErr error
	for _, key := range k.keys {
		claims := jwt.MapClaims{}
		_, err := k.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil })
		if err != nil {
			lastErr = err
			if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				continue // maybe another key
			}
			break
		}
		auds, err := claims.GetAudience()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadToken, err)
		}
		for _, aud := range auds {
			if audOK(aud) {
				return claims, nil
			}
		}
		return nil, fmt.Errorf("%w: audience %q is not this URL", errBadToken, auds)
	}
	return nil, fmt.Errorf("%w: %v", errBadToken, lastErr)
}

// sameURL reports whether aud names the request's URL, as Azure SignalR
// Service compares them: the scheme does not count (TLS may end in front of
// us), hosts are compared without case, aud may leave out the port, and the
// paths must be equal once percent-decoded (a trailing slash aside). The
// query of aud is not compared here.
func sameURL(aud string, r *http.Request, path string) bool {
	u, err := url.Parse(aud)
	if err != nil || u.Host == "" {
		return false
	}
	host, port := splitHost(r.Host)
	if !strings.EqualFold(u.Hostname(), host) {
		return false
	}
	if p := u.Port(); p != "" && p != port {
		return false
	}
	return strings.TrimSuffix(u.Path, "/") == strings.TrimSuffix(path, "/")
}

// splitHost splits a Host header into host and port ("" when absent).
func splitHost(hostport string) (string, string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]"), ""
	}
	return host, port
}

// Client tokens: the claims of a client's identity.

const (
	// ClaimUserID is the claim Microsoft's SDKs put the user id in.
	ClaimUserID = "asrs.s.uid"
	// claimNameID is the user id claim the REST API reference documents.
	claimNameID = "nameid"
	// claimNameIdentifier is .NET's ClaimTypes.NameIdentifier.
	claimNameIdentifier = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
	// userPrefix goes in front of an application's own claim whose name a
	// token uses for itself (aud, exp, iat, nbf).
	userPrefix = "asrs.u."
	// systemPrefix marks the service's own claims.
	systemPrefix = "asrs.s."
)

// systemClaims are the token's own claims, not the user's.
var systemClaims = map[string]bool{"aud": true, "exp": true, "iat": true, "nbf": true}

// userOf returns the user id and the user's claims of a client token: the
// system claims left out, the "asrs.u." prefix removed.
func userOf(claims jwt.MapClaims) (string, map[string]any) {
	user := ""
	for _, name := range []string{ClaimUserID, claimNameID, claimNameIdentifier} {
		switch v := claims[name].(type) {
		case string:
			user = v
		case float64:
			user = strconv.FormatFloat(v, 'f', -1, 64)
		}
		if user != "" {
			break
		}
	}
	out := make(map[string]any, len(claims))
	for name, v := range claims {
		switch {
		case systemClaims[name], strings.HasPrefix(name, systemPrefix):
		case strings.HasPrefix(name, userPrefix):
			out[name[len(userPrefix):]] = v
		default:
			out[name] = v
		}
	}
	return user, out
}

// ClientURL is the URL clients of hub connect to on the actorhub at
// endpoint (its base URL, as "https://rt.example.com"), Azure's form:
// <endpoint>/client/?hub=<hub>.
func ClientURL(endpoint, hub string) string {
	return strings.TrimSuffix(endpoint, "/") + "/client/?hub=" + url.QueryEscape(hub)
}

// NegotiateResponse is what an application server's negotiate answers to
// send its client to actorhub: the client negotiates again at URL, with
// AccessToken as its bearer token.
type NegotiateResponse struct {
	URL         string `json:"url"`
	AccessToken string `json:"accessToken"`
}

// Negotiate makes the negotiate redirect for a client of hub on the
// actorhub at endpoint: the client URL and a token signed with the key,
// naming user ("" for anonymous) and carrying claims, valid for ttl
// (<= 0: one hour). Claims named aud, exp, iat or nbf are sent prefixed, as
// Microsoft's SDKs do, and reach the hub under their own name.
func (k *AccessKey) Negotiate(endpoint, hub, user string, claims map[string]any, ttl time.Duration) (NegotiateResponse, error) {
	u := ClientURL(endpoint, hub)
	all := make(map[string]any, len(claims)+1)
	for name, v := range claims {
		if systemClaims[name] {
			name = userPrefix + name
		}
		all[name] = v
	}
	if user != "" {
		all[ClaimUserID] = user
	}
	token, err := k.Token(u, ttl, all)
	if err != nil {
		return NegotiateResponse{}, err
	}
	return NegotiateResponse{URL: u, AccessToken: token}, nil
}
