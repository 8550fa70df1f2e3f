package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/service"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

const testKey = "test-access-key-0123456789-abcdefghijklmnop"

// chat is the hub of the service tests: a method that does the same as a
// REST send, and one that says who calls.
type chat struct{}

func (chat) Broadcast(ctx *hub.Context, text string) error {
	return ctx.Clients.All().Send("Msg", text)
}

func (chat) WhoAmI(ctx *hub.Context) map[string]any {
	return map[string]any{"user": ctx.UserID, "claims": ctx.Claims}
}

// node is one server of the tests: the chat hub at /hubs/chat (anonymous,
// test:<user> tokens), the REST API at /api/ and the client endpoint at
// /client/.
type node struct {
	url string
	hub *hub.Hub
	api *service.API
	key *service.AccessKey
}

// testTokens accepts "test:<user>" tokens on /hubs/chat.
var testTokens = transports.AuthenticatorFunc(func(_ *http.Request, token string) (string, error) {
	user, _ := strings.CutPrefix(token, "test:")
	return user, nil
})

// startNode starts a node; bp joins it to others (nil: alone).
func startNode(t testing.TB, bp backplane.Backplane, name string) *node {
	t.Helper()
	key, err := service.NewAccessKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(chat{}, hub.Config{Backplane: bp, NodeID: name, Name: "chat", AckTimeout: 2 * time.Second, NodeExpiry: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	own, err := transports.NewHandler(h, transports.Config{Authenticator: testTokens})
	if err != nil {
		t.Fatal(err)
	}
	own.Mount(mux, "/hubs/chat")
	viaClient, err := transports.NewHandler(h, transports.Config{Authenticator: key.ClientAuthenticator()})
	if err != nil {
		t.Fatal(err)
	}
	router := service.NewClientRouter()
	router.Add("chat", viaClient)
	router.Mount(mux)
	api, err := service.NewAPI(service.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.AddHub("chat", h); err != nil {
		t.Fatal(err)
	}
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		_ = own.Close()
		_ = viaClient.Close()
	})
	return &node{url: srv.URL, hub: h, api: api, key: key}
}

// rest makes a REST call with a good token for its URL and returns the
// status and body.
func (n *node) rest(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	u := n.url + path
	aud, _, _ := strings.Cut(u, "?")
	token, err := n.key.Token(aud, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	return call(t, method, u, body, "Bearer "+token)
}

// call makes an HTTP call with an Authorization header ("" for none).
func call(t testing.TB, method, u, body, auth string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expect checks a REST call's status.
func (n *node) expect(t testing.TB, status int, method, path, body string) {
	t.Helper()
	if got, b := n.rest(t, method, path, body); got != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, b)
	}
}

// api is a REST path of the chat hub with the API version.
func api(path string, query ...string) string {
	q := "?api-version=2022-06-01"
	for _, s := range query {
		q += "&" + s
	}
	return "/api/hubs/chat" + path + q
}

// client is a SignalR client over WebSockets with the JSON protocol: a
// goroutine reads what the server sends until the connection ends.
type client struct {
	t    testing.TB
	id   string
	conn net.Conn
	done chan struct{}

	mu     sync.Mutex
	msgs   []map[string]json.RawMessage // guarded by mu
	closed bool                         // guarded by mu: the connection ended
}

// connect negotiates at hubURL (with its query) and opens the WebSocket,
// with a bearer token when given, and shakes hands.
func connect(t testing.TB, hubURL, token string) *client {
	t.Helper()
	c, status := tryConnect(t, hubURL, token)
	if c == nil {
		t.Fatalf("connect %s: status %d", hubURL, status)
	}
	return c
}

// tryConnect is connect that returns the status of a refused negotiate.
func tryConnect(t testing.TB, hubURL, token string) (*client, int) {
	t.Helper()
	base, query, _ := strings.Cut(hubURL, "?")
	if query != "" {
		query += "&"
	}
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	status, body := call(t, http.MethodPost, strings.TrimSuffix(base, "/")+"/negotiate?"+query+"negotiateVersion=1", "", auth)
	if status != http.StatusOK {
		return nil, status
	}
	var neg struct {
		ConnectionID    string `json:"connectionId"`
		ConnectionToken string `json:"connectionToken"`
	}
	if err := json.Unmarshal([]byte(body), &neg); err != nil {
		t.Fatal(err)
	}
	d := ws.Dialer{Timeout: 10 * time.Second}
	if token != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Authorization": {auth}})
	}
	conn, br, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"?"+query+"id="+neg.ConnectionToken)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, id: neg.ConnectionID, conn: conn, done: make(chan struct{})}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	go c.read(r)
	t.Cleanup(func() {
		conn.Close()
		<-c.done
	})
	if err := wsutil.WriteClientText(conn, []byte(`{"protocol":"json","version":1}`+"\x1e")); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyWithin(t, 10*time.Second, "the handshake answer", func() bool { return len(c.all()) > 0 })
	return c, http.StatusOK
}

func (c *client) read(r io.Reader) {
	defer close(c.done)
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
	}()
	for {
		data, op, err := wsutil.ReadServerData(struct {
			io.Reader
			io.Writer
		}{r, c.conn})
		if err != nil || op == ws.OpClose {
			return
		}
		for _, rec := range bytes.Split(data, []byte{0x1e}) {
			if len(rec) == 0 {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(rec, &m); err != nil {
				continue
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}
}

func (c *client) all() []map[string]json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), c.msgs...)
}

func (c *client) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// got returns the arguments (as JSON) of each Invocation of target received.
func (c *client) got(target string) []string {
	var out []string
	for _, m := range c.all() {
		if string(m["type"]) == "1" && string(m["target"]) == fmt.Sprintf("%q", target) {
			out = append(out, string(m["arguments"]))
		}
	}
	return out
}

// has reports whether c received target with these arguments (JSON).
func (c *client) has(target, args string) bool {
	for _, a := range c.got(target) {
		if a == args {
			return true
		}
	}
	return false
}

// waitGot waits until c received target with args.
func (c *client) waitGot(target, args string) {
	c.t.Helper()
	testutil.EventuallyWithin(c.t, 10*time.Second, c.id+" to get "+target+args, func() bool { return c.has(target, args) })
}

// closeMessage returns the Close message received, if any.
func (c *client) closeMessage() (map[string]json.RawMessage, bool) {
	for _, m := range c.all() {
		if string(m["type"]) == "7" {
			return m, true
		}
	}
	return nil, false
}

// invoke sends an invocation and waits for its Completion.
func (c *client) invoke(id, target string, args ...any) map[string]json.RawMessage {
	c.t.Helper()
	c.sendInvocation(id, target, args...)
	return c.completion(id)
}

func (c *client) sendInvocation(id, target string, args ...any) {
	c.t.Helper()
	if args == nil {
		args = []any{}
	}
	a, _ := json.Marshal(args)
	msg := fmt.Sprintf(`{"type":1,"target":%q,"arguments":%s`, target, a)
	if id != "" {
		msg += fmt.Sprintf(`,"invocationId":%q`, id)
	}
	if err := wsutil.WriteClientText(c.conn, []byte(msg+"}\x1e")); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) completion(id string) map[string]json.RawMessage {
	c.t.Helper()
	var done map[string]json.RawMessage
	testutil.EventuallyWithin(c.t, 10*time.Second, "completion "+id, func() bool {
		for _, m := range c.all() {
			if string(m["type"]) == "3" && string(m["invocationId"]) == fmt.Sprintf("%q", id) {
				done = m
				return true
			}
		}
		return false
	})
	return done
}
