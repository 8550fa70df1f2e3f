package transports_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// statefulHub logs lifecycle events and what clients record.
type statefulHub struct {
	events testutil.Events
}

func (h *statefulHub) OnConnected(ctx *hub.Context) error {
	h.events.Add("connected")
	return nil
}

func (h *statefulHub) OnDisconnected(ctx *hub.Context, err error) {
	if err != nil {
		h.events.Add("disconnected-error")
		return
	}
	h.events.Add("disconnected")
}

// Record appends v to the connection's log item.
func (h *statefulHub) Record(ctx *hub.Context, v int) {
	l, _ := ctx.Items()["log"].([]int)
	ctx.Items()["log"] = append(l, v)
}

// Log returns the connection's log item.
func (h *statefulHub) Log(ctx *hub.Context) []int {
	l, _ := ctx.Items()["log"].([]int)
	return l
}

// Burst sends the caller n invocations "n" with 1..n.
func (h *statefulHub) Burst(ctx *hub.Context, n int) error {
	for i := 1; i <= n; i++ {
		if err := ctx.Clients.Caller().Send("n", i); err != nil {
			return err
		}
	}
	return nil
}

func (h *statefulHub) JoinGroup(ctx *hub.Context, group string) error {
	return ctx.Groups.Add(ctx, ctx.ConnectionID, group)
}

func (h *statefulHub) SendToGroup(ctx *hub.Context, group string, v int) error {
	return ctx.Clients.Group(group).Send("n", v)
}

func (h *statefulHub) Drop(ctx *hub.Context) { ctx.Drop() }

func (h *statefulHub) Id(ctx *hub.Context) string { return ctx.ConnectionID }

func startStateful(t *testing.T, allow bool, timeout time.Duration) (string, *statefulHub) {
	t.Helper()
	impl := &statefulHub{}
	hubURL, _ := startServerWith(t, impl, hub.Config{AllowStatefulReconnects: allow, DisconnectTimeout: timeout},
		transports.Config{})
	return hubURL, impl
}

// statefulConnect negotiates with useStatefulReconnect=true and shakes
// hands with version; it returns the client and the connection token.
func statefulConnect(t *testing.T, hubURL string, version int) (*wsClient, string) {
	t.Helper()
	n := negotiate(t, hubURL, "negotiateVersion=1&useStatefulReconnect=true", nil)
	c := dial(t, hubURL, "id="+n.ConnectionToken, nil)
	c.send(fmt.Sprintf(`{"protocol":"json","version":%d}`, version))
	c.expect(`{}`)
	return c, n.ConnectionToken
}

// record is one decoded JSON hub message.
type record struct {
	Type         int    `json:"type"`
	Target       string `json:"target"`
	Arguments    []any  `json:"arguments"`
	InvocationID string `json:"invocationId"`
	Result       any    `json:"result"`
	SequenceID   int64  `json:"sequenceId"`
}

// nextRecord reads the next record that is not a Ping (nor an Ack unless
// acks is set).
func (c *wsClient) nextRecord(acks bool) record {
	c.t.Helper()
	for {
		var r record
		if err := json.Unmarshal([]byte(c.read()), &r); err != nil {
			c.t.Fatalf("decode: %v", err)
		}
		if r.Type == 6 || (r.Type == 8 && !acks) {
			continue
		}
		return r
	}
}

// expectNumbers reads invocations "n" with want, in order.
func (c *wsClient) expectNumbers(want ...int) {
	c.t.Helper()
	for _, w := range want {
		r := c.nextRecord(false)
		if r.Type != 1 || r.Target != "n" || len(r.Arguments) != 1 || r.Arguments[0] != float64(w) {
			c.t.Fatalf("got %+v, want n(%d)", r, w)
		}
	}
}

// drop cuts the client's TCP connection without a close frame.
func (c *wsClient) drop() { _ = c.conn.Close() }

func negotiateBody(t *testing.T, hubURL, query string) string {
	t.Helper()
	resp, err := http.Post(hubURL+"/negotiate?"+query, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestStatefulNegotiateEcho: useStatefulReconnect is echoed only when the
// client asks for it (any letter case of the key) and the hub allows it.
func TestStatefulNegotiateEcho(t *testing.T) {
	on, _ := startStateful(t, true, 0)
	off, _ := startStateful(t, false, 0)
	for _, tc := range []struct {
		url, query string
		want       bool
	}{
		{on, "negotiateVersion=1&useStatefulReconnect=true", true},
		{on, "negotiateVersion=1&USESTATEFULRECONNECT=True", true},
		{on, "negotiateVersion=1", false},
		{on, "negotiateVersion=1&useStatefulReconnect=false", false},
		{off, "negotiateVersion=1&useStatefulReconnect=true", false},
	} {
		body := negotiateBody(t, tc.url, tc.query)
		if got := strings.Contains(body, `"useStatefulReconnect":true`); got != tc.want {
			t.Errorf("%s: %s", tc.query, body)
		}
		if !tc.want && strings.Contains(body, "useStatefulReconnect") {
			t.Errorf("%s: the reply names useStatefulReconnect: %s", tc.query, body)
		}
	}
}

// TestStatefulVersion1Disables: a handshake with version 1 turns stateful
// reconnect off: a drop ends the connection and the token is gone.
func TestStatefulVersion1Disables(t *testing.T) {
	hubURL, h := startStateful(t, true, 5*time.Second)
	c, token := statefulConnect(t, hubURL, 1)
	c.send(invocation("1", "Record", 1))
	if r := c.nextRecord(true); r.Type != 3 {
		t.Fatalf("got %+v, want the Completion unnumbered", r)
	}
	c.drop()
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected", func() bool { return len(h.events.All()) == 2 })
	if st := dialStatus(t, hubURL, "id="+token, nil); st != http.StatusNotFound {
		t.Fatalf("reattach: %d, want 404", st)
	}
}

// TestStatefulNotNegotiated: version 2 without useStatefulReconnect in
// negotiate (here skipNegotiation) is a plain connection: a drop ends it.
func TestStatefulNotNegotiated(t *testing.T) {
	hubURL, h := startStateful(t, true, 5*time.Second)
	c := dial(t, hubURL, "", nil)
	c.send(`{"protocol":"json","version":2}`)
	c.expect(`{}`)
	c.drop()
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected", func() bool { return len(h.events.All()) == 2 })
}

// TestStatefulReattach: the server drops the socket; the client reattaches
// with the same token, no handshake; each side gets every message once, in
// order; Items and groups stay, and no OnDisconnected runs in between.
func TestStatefulReattach(t *testing.T) {
	hubURL, h := startStateful(t, true, 10*time.Second)
	c, token := statefulConnect(t, hubURL, 2)
	other := connect(t, hubURL)

	// Server to client: the Completion of JoinGroup (id 1), numbers 1..3
	// (ids 2..4) and the Burst Completion (id 5). The client acks 2.
	c.send(invocation("1", "JoinGroup", "g"))
	if r := c.nextRecord(false); r.Type != 3 || r.InvocationID != "1" {
		t.Fatalf("got %+v", r)
	}
	c.send(invocation("2", "Burst", 3))
	c.expectNumbers(1, 2)
	c.send(`{"type":8,"sequenceId":2}`)
	c.expectNumbers(3)
	if r := c.nextRecord(false); r.Type != 3 || r.InvocationID != "2" {
		t.Fatalf("got %+v", r)
	}
	// Client to server: ids 1, 2 were the invocations above; 3, 4 now,
	// and Drop is 5.
	c.send(invocation("", "Record", 3), invocation("", "Record", 4))
	// The server acks what it got, about once a second.
	for {
		r := c.nextRecord(true)
		if r.Type == 8 && r.SequenceID == 4 {
			break
		}
		if r.Type != 8 {
			t.Fatalf("got %+v, want Ack", r)
		}
	}

	c.send(invocation("", "Drop"))
	c.expectEOF()
	// While detached: a group send (id 6) waits in the replay buffer.
	other.send(invocation("1", "SendToGroup", "g", 6))
	other.completion("1")

	var c2 *wsClient
	testutil.EventuallyWithin(t, 5*time.Second, "reattach accepted", func() bool {
		var err error
		c2, err = tryDial(t, hubURL, "id="+token, nil)
		return err == nil
	})
	// The server's Sequence comes first: the first unacked id is 3, n(2).
	if r := c2.nextRecord(false); r.Type != 9 || r.SequenceID != 3 {
		t.Fatalf("got %+v, want Sequence{3}", r)
	}
	c2.expectNumbers(2, 3)
	if r := c2.nextRecord(false); r.Type != 3 || r.InvocationID != "2" {
		t.Fatalf("got %+v, want the Burst Completion again", r)
	}
	c2.expectNumbers(6)

	// The client replays from 3: 3, 4 and 5 (Drop) are duplicates, 6 is new.
	c2.send(`{"type":9,"sequenceId":3}`, invocation("", "Record", 3), invocation("", "Record", 4),
		invocation("", "Drop"), invocation("", "Record", 5))
	c2.send(invocation("9", "Log"))
	r := c2.nextRecord(false)
	if r.Type != 3 || fmt.Sprint(r.Result) != "[3 4 5]" {
		t.Fatalf("Log: %+v, want [3 4 5]", r)
	}
	if ev := h.events.All(); len(ev) != 2 { // both connected, nobody left
		t.Fatalf("events %v", ev)
	}
	// Clean close ends it for good.
	_ = wsutil.WriteClientMessage(c2.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected", func() bool { return len(h.events.All()) == 3 })
	if ev := h.events.All(); ev[2] != "disconnected" {
		t.Fatalf("events %v", ev)
	}
	if st := dialStatus(t, hubURL, "id="+token, nil); st != http.StatusNotFound {
		t.Fatalf("reattach after a clean close: %d, want 404", st)
	}
}

// TestStatefulBadSequence: a client Sequence past the next expected
// message closes the connection.
func TestStatefulBadSequence(t *testing.T) {
	hubURL, _ := startStateful(t, true, 10*time.Second)
	c, token := statefulConnect(t, hubURL, 2)
	c.drop()
	var c2 *wsClient
	testutil.EventuallyWithin(t, 5*time.Second, "reattach accepted", func() bool {
		var err error
		c2, err = tryDial(t, hubURL, "id="+token, nil)
		return err == nil
	})
	if r := c2.nextRecord(false); r.Type != 9 || r.SequenceID != 1 {
		t.Fatalf("got %+v, want Sequence{1}", r)
	}
	c2.send(`{"type":9,"sequenceId":5}`)
	if r := c2.nextRecord(false); r.Type != 7 {
		t.Fatalf("got %+v, want Close", r)
	}
}

// TestStatefulTimeout: without a reattach within DisconnectTimeout the
// connection ends with an error and the token gives 404.
func TestStatefulTimeout(t *testing.T) {
	hubURL, h := startStateful(t, true, 300*time.Millisecond)
	c, token := statefulConnect(t, hubURL, 2)
	c.drop()
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected", func() bool { return len(h.events.All()) == 2 })
	if ev := h.events.All(); ev[1] != "disconnected-error" {
		t.Fatalf("events %v", ev)
	}
	if st := dialStatus(t, hubURL, "id="+token, nil); st != http.StatusNotFound {
		t.Fatalf("reattach after the timeout: %d, want 404", st)
	}
}

// TestStatefulHubClose: a hub Close message ends a stateful connection for
// good, even if the socket then drops.
func TestStatefulHubClose(t *testing.T) {
	hubURL, h := startStateful(t, true, 10*time.Second)
	c, token := statefulConnect(t, hubURL, 2)
	c.send(`{"type":7}`)
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected", func() bool { return len(h.events.All()) == 2 })
	c.drop()
	if st := dialStatus(t, hubURL, "id="+token, nil); st != http.StatusNotFound {
		t.Fatalf("reattach after Close: %d, want 404", st)
	}
}

// TestStatefulBufferBound: what the client has not acknowledged is bounded
// by StatefulReconnectBufferSize: past it the connection ends (slow
// consumer), attached or not.
func TestStatefulBufferBound(t *testing.T) {
	impl := &statefulHub{}
	hubURL, _ := startServerWith(t, impl, hub.Config{AllowStatefulReconnects: true, StatefulReconnectBufferSize: 1000},
		transports.Config{})
	c, token := statefulConnect(t, hubURL, 2)
	c.send(invocation("1", "Burst", 200))
	c.read() // the Burst is running: dropping now loses nothing the server has not read
	c.drop()
	testutil.EventuallyWithin(t, 5*time.Second, "OnDisconnected", func() bool { return len(impl.events.All()) == 2 })
	if ev := impl.events.All(); ev[1] != "disconnected-error" {
		t.Fatalf("events %v", ev)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "token gone", func() bool {
		return dialStatus(t, hubURL, "id="+token, nil) == http.StatusNotFound
	})
}

// TestStatefulShutdownWhileDetached: Shutdown ends a connection that waits
// for its client to reattach, and returns.
func TestStatefulShutdownWhileDetached(t *testing.T) {
	impl := &statefulHub{}
	hubURL, h, hd := startHandler(t, impl, hub.Config{AllowStatefulReconnects: true, DisconnectTimeout: time.Minute},
		transports.Config{})
	c, token := statefulConnect(t, hubURL, 2)
	testutil.EventuallyWithin(t, 5*time.Second, "connected", func() bool { return h.Stats().Connections == 1 })
	c.send(invocation("1", "Id"))
	c.completion("1")
	c.drop()
	testutil.EventuallyWithin(t, 5*time.Second, "detached", func() bool { return transports.Waiting(hd, token) })
	if err := shutdownHub(t, h); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if ev := impl.events.All(); len(ev) != 2 || ev[1] != "disconnected-error" {
		t.Fatalf("events %v", ev)
	}
}
