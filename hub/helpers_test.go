package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// newHub makes a hub of impl and shuts it down when the test ends.
func newHub(t testing.TB, impl any, cfg hub.Config) *hub.Hub {
	t.Helper()
	h, err := hub.New(impl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return h
}

// shutdown shuts h down, failing the test if that takes over 5 s.
func shutdown(t testing.TB, h *hub.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// client is one in-memory connection to a hub.
type client struct {
	t    testing.TB
	conn hub.Conn
	tr   *testutil.Transport
	ids  atomic.Int64
}

// open makes a connection and feeds it the JSON handshake; it does not wait
// for the answer.
func open(t testing.TB, h *hub.Hub, id, user string) *client {
	t.Helper()
	return openInfo(t, h, hub.ConnInfo{ID: id, UserID: user})
}

// openInfo is open for a connection described by info.
func openInfo(t testing.TB, h *hub.Hub, info hub.ConnInfo) *client {
	t.Helper()
	tr := testutil.NewTransport()
	c, err := h.Connect(info, tr)
	if err != nil {
		t.Fatal(err)
	}
	tr.Bind(c.Closed)
	c.Feed([]byte(`{"protocol":"json","version":1}` + "\x1e"))
	return &client{t: t, conn: c, tr: tr}
}

// dial opens a connection and waits until the handshake is answered and
// OnConnected has run.
func dial(t testing.TB, h *hub.Hub, id, user string) *client {
	t.Helper()
	return dialInfo(t, h, hub.ConnInfo{ID: id, UserID: user})
}

// dialInfo is dial for a connection described by info.
func dialInfo(t testing.TB, h *hub.Hub, info hub.ConnInfo) *client {
	t.Helper()
	cl := openInfo(t, h, info)
	testutil.Eventually(t, info.ID+" handshake", func() bool { return cl.conn.Connected() && len(cl.tr.Messages()) > 0 })
	if got := cl.tr.Messages()[0]; got != "{}" {
		t.Fatalf("%s: handshake answer %q, want {}", info.ID, got)
	}
	return cl
}

// feed sends raw hub messages, each given without its separator, in one
// transport message.
func (c *client) feed(msgs ...string) {
	var b []byte
	for _, m := range msgs {
		b = append(append(b, m...), 0x1e)
	}
	c.conn.Feed(b)
}

// invocation builds a blocking Invocation message with a fresh id.
func (c *client) invocation(target string, args ...any) (id, msg string) {
	if args == nil {
		args = []any{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		c.t.Fatal(err)
	}
	id = strconv.FormatInt(c.ids.Add(1), 10)
	return id, fmt.Sprintf(`{"type":1,"invocationId":%q,"target":%q,"arguments":%s}`, id, target, a)
}

// invoke calls target and returns the Completion the client gets.
func (c *client) invoke(target string, args ...any) completion {
	c.t.Helper()
	id, msg := c.invocation(target, args...)
	c.feed(msg)
	return c.waitCompletion(id)
}

// waitCompletion waits for the Completion of invocation id.
func (c *client) waitCompletion(id string) completion {
	c.t.Helper()
	var got completion
	testutil.Eventually(c.t, "completion "+id, func() bool {
		var ok bool
		got, ok = c.completion(id)
		return ok
	})
	return got
}

// completion finds the Completion of invocation id among what was received.
func (c *client) completion(id string) (completion, bool) {
	for _, m := range c.tr.Messages() {
		if msg := decode(c.t, m); msg.Type == 3 && msg.InvocationID == id {
			return completion{Raw: m, Error: msg.Error, Result: string(msg.Result)}, true
		}
	}
	return completion{}, false
}

// received returns the messages received so far after the handshake answer.
func (c *client) received() []string {
	msgs := c.tr.Messages()
	if len(msgs) > 0 && msgs[0] == "{}" {
		msgs = msgs[1:]
	}
	return msgs
}

// completion is a Completion as received: Result is the raw JSON of the
// result ("" when absent).
type completion struct {
	Raw    string
	Error  string
	Result string
}

// wire is any hub message as JSON.
type wire struct {
	Type           int               `json:"type"`
	InvocationID   string            `json:"invocationId"`
	Target         string            `json:"target"`
	Arguments      []json.RawMessage `json:"arguments"`
	Result         json.RawMessage   `json:"result"`
	Error          string            `json:"error"`
	AllowReconnect bool              `json:"allowReconnect"`
}

func decode(t testing.TB, m string) wire {
	var w wire
	if m == "{}" {
		return w
	}
	if err := json.Unmarshal([]byte(m), &w); err != nil {
		t.Fatalf("bad message %q: %v", m, err)
	}
	return w
}

// invocations returns, in order, the Invocations of target the client got,
// as the JSON of their arguments.
func (c *client) invocations(target string) []string {
	var out []string
	for _, m := range c.received() {
		if w := decode(c.t, m); w.Type == 1 && w.Target == target {
			args := make([]string, len(w.Arguments))
			for i, a := range w.Arguments {
				args[i] = string(a)
			}
			out = append(out, strings.Join(args, ","))
		}
	}
	return out
}
