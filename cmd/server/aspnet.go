package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/golang-jwt/jwt/v5"
)

// The server contract of ASP.NET Core's TypeScript client functional tests
// (dotnet/aspnetcore, src/SignalR/clients/ts/FunctionalTests), mounted with
// -conformance under aspnetBase, so that the upstream suite runs unchanged
// with SERVER_URL=";http://HOST:PORT/aspnet" (see conformance/ASPNET.md).
// It lives beside the conformance hub and does not touch its routes.

// aspnetBase is where the suite's routes live.
const aspnetBase = "/aspnet"

// aspnetSuite holds the suite's process-wide state.
type aspnetSuite struct {
	redirects atomic.Int64 // /redirect answers so far
	jwtKey    []byte       // this process's JWT secret
	test      *hub.Hub     // TestHub, for /clientresult
}

func newASPNETSuite() *aspnetSuite {
	key := make([]byte, 32) // a fresh secret per process, as upstream's SHA-256 of a random GUID
	_, _ = rand.Read(key)
	return &aspnetSuite{jwtKey: key}
}

// authenticator is AuthorizedHub's: JWT bearer tokens signed with this
// process's key, the user in "nameid" (the NameIdentifier claim), issuer
// and audience not checked, ASP.NET's 5 minutes of clock skew.
func (s *aspnetSuite) authenticator() (transports.Authenticator, error) {
	return transports.NewJWTAuthenticator(transports.JWTConfig{Secret: s.jwtKey, UserClaim: "nameid", Leeway: 5 * time.Minute})
}

// routes mounts the suite's plain HTTP endpoints on mux.
func (s *aspnetSuite) routes(mux *http.ServeMux) {
	mux.HandleFunc(aspnetBase+"/generatejwttoken", s.generateJWT)
	mux.HandleFunc(aspnetBase+"/clientresult/{id}", s.clientResult)
	mux.HandleFunc(aspnetBase+"/redirect", s.redirect)
	mux.HandleFunc(aspnetBase+"/redirect/", s.redirect)
}

// middleware is what upstream's test server runs before routing: every
// negotiate answer sets the cookies the cookie tests look for (over HTTPS,
// or behind a proxy that terminates it, as cross-site cookies).
func (s *aspnetSuite) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(strings.ToLower(r.URL.Path), aspnetBase+"/") && strings.Contains(r.URL.Path, "/negotiate") {
			attrs := ""
			if r.TLS != nil || strings.EqualFold(firstForwarded(r.Header.Get("X-Forwarded-Proto")), "https") {
				attrs = "; SameSite=None; Secure; Partitioned"
			}
			hd := w.Header()
			hd.Add("Set-Cookie", "testCookie=testValue; Path=/"+attrs)
			hd.Add("Set-Cookie", "testCookie2=testValue2; Path=/"+attrs)
			hd.Add("Set-Cookie", "expiredCookie=doesntmatter; Expires="+time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)+"; Path=/"+attrs)
		}
		next.ServeHTTP(w, r)
	})
}

// firstForwarded is the client-facing value of a forwarding header.
func firstForwarded(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// generateJWT answers GET /generateJwtToken with a token for "testuser"
// that expires in 5 seconds.
func (s *aspnetSuite) generateJWT(w http.ResponseWriter, r *http.Request) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"nameid": "testuser",
		"iss":    "SignalRTestServer",
		"aud":    "SignalRTests",
		"exp":    time.Now().Add(5 * time.Second).Unix(),
	}).SignedString(s.jwtKey)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(tok))
}

// clientResult answers GET /clientresult/{id}: it invokes Result() on that
// connection and answers its integer, or the client's error text.
func (s *aspnetSuite) clientResult(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	v, err := hub.InvokeClient[int](ctx, s.test.Clients().Client(r.PathValue("id")), "Result")
	text := strconv.Itoa(v)
	if err != nil {
		text = err.Error()
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(text))
}

// redirect answers any request under /redirect with a negotiate redirect
// to <baseUrl>/testHub, counting the redirects in its query.
func (s *aspnetSuite) redirect(w http.ResponseWriter, r *http.Request) {
	n := s.redirects.Add(1)
	body, _ := json.Marshal(map[string]string{"url": r.URL.Query().Get("baseUrl") + "/testHub?numRedirects=" + strconv.FormatInt(n, 10)})
	_, _ = w.Write(body)
}

// testHub is upstream's TestHub, mounted at /testhub and
// /testhub-nowebsockets.
type testHub struct {
	hub *hub.Hub // set once the hub exists
}

// customObject and complexObject keep .NET's property names on the wire
// (PascalCase), in JSON and MessagePack alike.
type customObject struct {
	Name  string `json:"Name"`
	Value int    `json:"Value"`
}

type complexObject struct {
	String    string    `json:"String"`
	IntArray  []int     `json:"IntArray"`
	ByteArray []byte    `json:"ByteArray"` // base64 in JSON, bin in MessagePack
	Guid      string    `json:"Guid"`
	DateTime  time.Time `json:"DateTime"` // ISO 8601 in JSON, timestamp extension -1 in MessagePack
}

func (*testHub) Echo(message string) string { return message }

func (*testHub) GetCallerConnectionId(ctx *hub.Context) string { return ctx.ConnectionID }

// GetNumRedirects reads numRedirects from the query of the connection's
// request (the redirect put it in the URL the client connects to).
func (*testHub) GetNumRedirects(ctx *hub.Context) (int, error) {
	if r := ctx.Request(); r != nil {
		return strconv.Atoi(r.URL.Query().Get("numRedirects"))
	}
	return 0, errors.New("aspnet: no request kept")
}

func (*testHub) ThrowException(message string) error {
	return &hub.TypedError{Type: "InvalidOperationException", Message: message}
}

// InvokeWithString sends Message(message) to the caller; it reaches the
// client before this invocation's completion.
func (*testHub) InvokeWithString(ctx *hub.Context, message string) error {
	return ctx.Clients.Caller().Send("Message", message)
}

func (*testHub) SendCustomObject(ctx *hub.Context, obj customObject) error {
	return ctx.Clients.Caller().Send("CustomObject", obj)
}

func (*testHub) Stream() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, s := range []string{"a", "b", "c"} {
			if !yield(s) {
				return
			}
		}
	}
}

// InfiniteStream never yields; once the client cancels it, the caller gets
// StreamCanceled().
func (h *testHub) InfiniteStream(ctx *hub.Context) iter.Seq[string] {
	id := ctx.ConnectionID
	return func(func(string) bool) {
		<-ctx.Done()
		_ = h.hub.Clients().Client(id).Send("StreamCanceled")
	}
}

// StreamingConcat joins the strings the client uploads; an upload the
// client fails fails the call with the client's text.
func (*testHub) StreamingConcat(stream *hub.Stream[string]) (string, error) {
	var b strings.Builder
	for s := range stream.All() {
		b.WriteString(s)
	}
	if err := stream.Err(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (*testHub) EmptyStream() iter.Seq[int] { return func(func(int) bool) {} }

// StreamThrowException fails before it has a stream.
func (*testHub) StreamThrowException(message string) (iter.Seq[int], error) {
	return nil, &hub.TypedError{Type: "InvalidOperationException", Message: message}
}

func (*testHub) GetActiveTransportName(ctx *hub.Context) string { return ctx.Transport() }

func (*testHub) EchoComplexObject(obj complexObject) complexObject { return obj }

func (*testHub) SendComplexObject() complexObject {
	return complexObject{
		String:    "hello world",
		IntArray:  []int{1, 2, 3},
		ByteArray: []byte{1, 2, 3},
		Guid:      "00010203-0405-0607-0706-050403020100",
		DateTime:  time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func (h *testHub) GetContentTypeHeader(ctx *hub.Context) any { return h.GetHeader(ctx, "Content-Type") }

// GetHeader is a header of the request that carries the connection, or
// null.
func (*testHub) GetHeader(ctx *hub.Context, headerName string) any {
	if r := ctx.Request(); r != nil {
		if v := r.Header.Values(headerName); len(v) > 0 {
			return strings.Join(v, ",")
		}
	}
	return nil
}

// GetCookie is a cookie of the request that carries the connection, or
// null.
func (*testHub) GetCookie(ctx *hub.Context, cookieName string) any {
	if r := ctx.Request(); r != nil {
		if c, err := r.Cookie(cookieName); err == nil {
			return c.Value
		}
	}
	return nil
}

// authorizedHub is upstream's HubWithAuthorization, at /authorizedhub.
type authorizedHub struct{}

func (authorizedHub) Echo(message string) string { return message }

// uncreatableHub is upstream's UncreatableHub, at /uncreatable: its
// connections fail as ASP.NET's fail to activate the hub.
type uncreatableHub struct{}

func (uncreatableHub) OnConnected(*hub.Context) error {
	return &hub.TypedError{Type: "InvalidOperationException", Message: "Unable to resolve service for type 'System.Object' while attempting to activate 'FunctionalTests.UncreatableHub'."}
}

// echoConnection is upstream's EchoConnectionHandler: every byte received
// goes back to the same connection, in text WebSocket messages as
// ASP.NET's default transfer format.
type echoConnection struct{}

func (echoConnection) OnConnected(hub.RawConn) error { return nil }

func (echoConnection) OnReceive(c hub.RawConn, data []byte) { _ = c.Write(data) }

func (echoConnection) OnDisconnected(hub.RawConn, error) {}

// mountASPNETSuite mounts the suite's hubs and endpoints under aspnetBase
// and returns the suite's middleware, for the router to put in front.
func mountASPNETSuite(mux *http.ServeMux, cfg hub.Config, mt mounter) (func(http.Handler) http.Handler, error) {
	newHub, serve := mt.newHub, mt.serve
	s := newASPNETSuite()
	cfg.EnableDetailedErrors = true // as upstream's test server
	th := &testHub{}
	m, err := newHub("aspnet.testhub", th, cfg)
	if err != nil {
		return nil, err
	}
	th.hub, s.test = m.hub, m.hub
	if err := serve(m, aspnetBase+"/testhub", transports.Config{KeepRequests: true}); err != nil {
		return nil, err
	}
	// The same hub, without WebSockets: its clients fall back.
	if err := serve(m, aspnetBase+"/testhub-nowebsockets", transports.Config{KeepRequests: true,
		Transports: transports.ServerSentEvents | transports.LongPolling}); err != nil {
		return nil, err
	}
	auth, err := s.authenticator()
	if err != nil {
		return nil, err
	}
	if m, err = newHub("aspnet.authorizedhub", authorizedHub{}, cfg); err != nil {
		return nil, err
	}
	if err := serve(m, aspnetBase+"/authorizedhub", transports.Config{Authenticator: auth, RequireAuthentication: true}); err != nil {
		return nil, err
	}
	if m, err = newHub("aspnet.uncreatable", uncreatableHub{}, cfg); err != nil {
		return nil, err
	}
	if err := serve(m, aspnetBase+"/uncreatable", transports.Config{}); err != nil {
		return nil, err
	}
	// The raw echo connection, with the hubs' buffer budget.
	if m, err = mt.newEndpoint("aspnet.echo", echoConnection{}, hub.EndpointConfig{MaxBufferedBytes: cfg.MaxBufferedBytes}); err != nil {
		return nil, err
	}
	if err := serve(m, aspnetBase+"/echo", transports.Config{}); err != nil {
		return nil, err
	}
	s.routes(mux)
	return s.middleware, nil
}
