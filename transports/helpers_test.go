package transports_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// testHub is the hub the integration tests call.
type testHub struct{}

func (testHub) Echo(s string) string           { return s }
func (testHub) Add(a, b int) int               { return a + b }
func (testHub) Fail() error                    { return errors.New("transports_test: Fail always fails") }
func (testHub) Boom()                          { panic("transports_test: Boom") }
func (testHub) WhoAmI(ctx *hub.Context) string { return ctx.UserID }
func (testHub) Drop(ctx *hub.Context)          { ctx.Drop() }

func (testHub) Claim(ctx *hub.Context, name string) any { return ctx.Claims[name] }

func (testHub) JoinGroup(ctx *hub.Context, group string) error {
	return ctx.Groups.Add(ctx, ctx.ConnectionID, group)
}

func (testHub) SendToGroup(ctx *hub.Context, group, msg string) error {
	return ctx.Clients.Group(group).Send("groupMessage", msg)
}

func (testHub) SendToAll(ctx *hub.Context, msg string) error {
	return ctx.Clients.All().Send("broadcast", msg)
}

// JoinGroups joins n groups named prefix0, prefix1, ...
func (testHub) JoinGroups(ctx *hub.Context, prefix string, n int) error {
	for i := range n {
		if err := ctx.Groups.Add(ctx, ctx.ConnectionID, prefix+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// testTokens accepts "test:<user>" as user <user>; no token is anonymous;
// anything else is refused.
var testTokens = transports.AuthenticatorFunc(func(_ *http.Request, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	user, ok := strings.CutPrefix(token, "test:")
	if !ok || user == "" {
		return "", transports.ErrUnauthorized
	}
	return user, nil
})

// startServer serves a testHub on a loopback httptest server at /hub and
// returns the hub's URL (http://127.0.0.1:port/hub) and the hub. Cleanup
// closes the server, shuts the hub and the handler down and checks that
// every goroutine started since the call has ended. Clients a test opens
// after the call are closed (by their own cleanups) before that.
func startServer(t testing.TB, hubCfg hub.Config, cfg transports.Config) (string, *hub.Hub) {
	t.Helper()
	return startServerWith(t, testHub{}, hubCfg, cfg)
}

// startServerWith is startServer with another hub value.
func startServerWith(t testing.TB, impl any, hubCfg hub.Config, cfg transports.Config) (string, *hub.Hub) {
	t.Helper()
	hubURL, h, _ := startHandler(t, impl, hubCfg, cfg)
	return hubURL, h
}

// startHandler is startServerWith that also returns the Handler.
func startHandler(t testing.TB, impl any, hubCfg hub.Config, cfg transports.Config) (string, *hub.Hub, *transports.Handler) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	h, err := hub.New(impl, hubCfg)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	hd, err := transports.NewHandler(h, cfg)
	if err != nil {
		_ = h.Shutdown(context.Background())
		t.Fatalf("NewHandler: %v", err)
	}
	mux := http.NewServeMux()
	hd.Mount(mux, "/hub")
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, done := shutDown.Load(h); !done {
			if err := h.Shutdown(ctx); err != nil {
				t.Errorf("Hub.Shutdown: %v", err)
			}
		}
		if err := hd.Close(); err != nil {
			t.Errorf("Handler.Close: %v", err)
		}
		waitGoroutines(t, baseline)
	})
	return srv.URL + "/hub", h, hd
}

// shutDown holds the hubs that a test shut down itself (with shutdownHub):
// startServer's cleanup must not shut them down again, since a second
// Hub.Shutdown panics (see TestShutdownTwice).
var shutDown sync.Map // *hub.Hub -> struct{}

// shutdownHub shuts h down within 10 s.
func shutdownHub(t testing.TB, h *hub.Hub) error {
	t.Helper()
	shutDown.Store(h, struct{}{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Shutdown(ctx)
}

// waitGoroutines waits until no more than n goroutines run, and fails the
// test with a dump of them if that does not happen within 20 s: a worker the
// runtime's pool added while hub code blocked retires only after 10 s
// without work (the pool's IdleTimeout), and 10 s more is the margin.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	if !testutil.Poll(20*time.Second, func() bool { return runtime.NumGoroutine() <= n }) {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Errorf("%d goroutines left, %d at the start:\n%s", runtime.NumGoroutine(), n, buf.String())
	}
}

// wsURL turns the hub's http URL into its ws URL with the query added.
func wsURL(hubURL, query string) string {
	u := "ws" + strings.TrimPrefix(hubURL, "http")
	if query != "" {
		u += "?" + query
	}
	return u
}

// post sends an empty POST and returns the status and body.
func post(t testing.TB, u string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	return do(t, http.MethodPost, u, header)
}

func do(t testing.TB, method, u string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp.StatusCode, resp.Header, body
}

// negotiateReply is what negotiate answers, as the clients read it.
type negotiateReply struct {
	ConnectionID     string `json:"connectionId"`
	ConnectionToken  string `json:"connectionToken"`
	NegotiateVersion int    `json:"negotiateVersion"`
	Error            string `json:"error"`
}

// negotiate POSTs to the hub's negotiate endpoint with the query and header
// and decodes a 200 reply.
func negotiate(t testing.TB, hubURL, query string, header http.Header) negotiateReply {
	t.Helper()
	u := hubURL + "/negotiate"
	if query != "" {
		u += "?" + query
	}
	status, _, body := post(t, u, header)
	if status != http.StatusOK {
		t.Fatalf("negotiate: status %d: %s", status, body)
	}
	var r negotiateReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("negotiate: %v: %s", err, body)
	}
	return r
}

// wsClient is the test's raw side of a SignalR WebSocket connection.
type wsClient struct {
	t       testing.TB
	conn    net.Conn
	r       io.Reader // what the dialer buffered, then conn
	pending []byte    // text received and not yet split into records
}

// tryDial opens a WebSocket to the hub with the query and header; the
// connection is closed at the end of the test.
func tryDial(t testing.TB, hubURL, query string, header http.Header) (*wsClient, error) {
	t.Helper()
	d := ws.Dialer{Timeout: 10 * time.Second}
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	conn, br, _, err := d.Dial(context.Background(), wsURL(hubURL, query))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	return c, nil
}

// dial is tryDial that fails the test on error.
func dial(t testing.TB, hubURL, query string, header http.Header) *wsClient {
	t.Helper()
	c, err := tryDial(t, hubURL, query, header)
	if err != nil {
		t.Fatalf("dial %s?%s: %v", hubURL, query, err)
	}
	return c
}

// connect dials with skipNegotiation and completes the JSON handshake.
func connect(t testing.TB, hubURL string) *wsClient {
	t.Helper()
	c := dial(t, hubURL, "", nil)
	c.handshake()
	return c
}

// dialStatus returns the HTTP status of a refused WebSocket upgrade, or 101.
func dialStatus(t testing.TB, hubURL, query string, header http.Header) int {
	t.Helper()
	_, err := tryDial(t, hubURL, query, header)
	var se ws.StatusError
	switch {
	case err == nil:
		return http.StatusSwitchingProtocols
	case errors.As(err, &se):
		return int(se)
	}
	t.Fatalf("dial: %v", err)
	return 0
}

const handshakeRequest = `{"protocol":"json","version":1}`

// handshake sends the JSON handshake and expects {}.
func (c *wsClient) handshake() {
	c.t.Helper()
	c.send(handshakeRequest)
	c.expect(`{}`)
}

// send writes records, each followed by 0x1E, in one masked text frame.
func (c *wsClient) send(records ...string) {
	c.t.Helper()
	if err := c.trySend(records...); err != nil {
		c.t.Fatalf("client write: %v", err)
	}
}

func (c *wsClient) trySend(records ...string) error {
	var b []byte
	for _, r := range records {
		b = append(b, r...)
		b = append(b, 0x1e)
	}
	return wsutil.WriteClientText(c.conn, b)
}

// sendRaw writes bytes as they are.
func (c *wsClient) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("client write: %v", err)
	}
}

// closeFrameError is what next returns when a close frame arrives.
type closeFrameError struct {
	code   ws.StatusCode
	reason string
}

func (e *closeFrameError) Error() string {
	return fmt.Sprintf("close frame %d %q", e.code, e.reason)
}

// next returns the next SignalR record (without its 0x1E) within timeout.
// A close frame is answered with one and returned as *closeFrameError.
func (c *wsClient) next(timeout time.Duration) (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		if i := bytes.IndexByte(c.pending, 0x1e); i >= 0 {
			rec := string(c.pending[:i])
			c.pending = c.pending[i+1:]
			return rec, nil
		}
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return "", err
		}
		if h.Masked {
			return "", errors.New("server frame is masked")
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return "", err
		}
		switch h.OpCode {
		case ws.OpText, ws.OpContinuation:
			c.pending = append(c.pending, p...)
		case ws.OpClose:
			ce := &closeFrameError{code: ws.StatusNoStatusRcvd}
			if len(p) >= 2 {
				ce.code = ws.StatusCode(binary.BigEndian.Uint16(p))
				ce.reason = string(p[2:])
			}
			_ = wsutil.WriteClientMessage(c.conn, ws.OpClose, ws.NewCloseFrameBody(ce.code, ""))
			return "", ce
		case ws.OpPing:
			_ = wsutil.WriteClientMessage(c.conn, ws.OpPong, p)
		case ws.OpPong:
		default:
			return "", fmt.Errorf("unexpected frame %v from the server", h.OpCode)
		}
	}
}

// read returns the next record within 10 s.
func (c *wsClient) read() string {
	c.t.Helper()
	rec, err := c.next(10 * time.Second)
	if err != nil {
		c.t.Fatalf("client read: %v", err)
	}
	return rec
}

// readMessage returns the next record that is not a Ping.
func (c *wsClient) readMessage() string {
	c.t.Helper()
	for {
		if rec := c.read(); !jsonEqual(rec, `{"type":6}`) {
			return rec
		}
	}
}

// expect reads the next non-Ping record and checks that it is JSON equal to want.
func (c *wsClient) expect(want string) {
	c.t.Helper()
	if got := c.readMessage(); !jsonEqual(got, want) {
		c.t.Fatalf("got %s, want %s", got, want)
	}
}

// expectCloseFrame reads up to a close frame and returns its code; records
// met on the way must be Pings.
func (c *wsClient) expectCloseFrame() ws.StatusCode {
	c.t.Helper()
	for {
		rec, err := c.next(10 * time.Second)
		var ce *closeFrameError
		switch {
		case errors.As(err, &ce):
			return ce.code
		case err != nil:
			c.t.Fatalf("waiting for a close frame: %v", err)
		case !jsonEqual(rec, `{"type":6}`):
			c.t.Fatalf("waiting for a close frame: got %s", rec)
		}
	}
}

// expectEOF checks that the server ends the TCP connection.
func (c *wsClient) expectEOF() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("the server did not close the connection")
	}
}

// invoke calls a hub method with an invocation id and returns the
// Completion, decoded.
func (c *wsClient) invoke(id, target string, args ...any) completion {
	c.t.Helper()
	c.send(invocation(id, target, args...))
	return c.completion(id)
}

// completion reads the next non-Ping record, which must be the Completion
// of id.
func (c *wsClient) completion(id string) completion {
	c.t.Helper()
	rec := c.readMessage()
	var m completion
	if err := json.Unmarshal([]byte(rec), &m); err != nil || m.Type != 3 || m.InvocationID != id {
		c.t.Fatalf("got %s, want the Completion of invocation %q", rec, id)
	}
	return m
}

// echo checks that the connection still serves invocations.
func (c *wsClient) echo(id string) {
	c.t.Helper()
	msg := "ping " + id
	if m := c.invoke(id, "Echo", msg); m.Error != "" || m.Result != msg {
		c.t.Fatalf("Echo: %+v", m)
	}
}

type completion struct {
	Type         int    `json:"type"`
	InvocationID string `json:"invocationId"`
	Result       any    `json:"result"`
	Error        string `json:"error"`
}

// invocation encodes an Invocation record; an empty id makes it non-blocking.
func invocation(id, target string, args ...any) string {
	if args == nil {
		args = []any{}
	}
	m := map[string]any{"type": 1, "target": target, "arguments": args}
	if id != "" {
		m["invocationId"] = id
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// clientFrame compiles a masked client frame.
func clientFrame(op ws.OpCode, p []byte) []byte {
	b, err := ws.CompileFrame(ws.MaskFrame(ws.NewFrame(op, true, p)))
	if err != nil {
		panic(err)
	}
	return b
}

// hostOf returns host:port of a URL.
func hostOf(t testing.TB, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return pu.Host
}
