package hub_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/protocol"
	"github.com/vmihailenco/msgpack/v5"
)

// anyTarget answers every target; "later" and "hold" defer their answer.
type anyTarget struct {
	mu      sync.Mutex
	held    []*hub.Reply // guarded by mu
	seen    []string     // target:message, guarded by mu
	connect []string     // guarded by mu
}

func (d *anyTarget) OnConnected(ctx *hub.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.connect = append(d.connect, ctx.ConnectionID)
	return nil
}

func (d *anyTarget) Invoke(ctx *hub.Context, inv *hub.Invocation) (any, error) {
	msg, err := inv.Message()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.seen = append(d.seen, inv.Target+":"+string(msg))
	d.mu.Unlock()
	switch inv.Target {
	case "echo":
		var s string
		if err := inv.Bind(0, &s); err != nil {
			return nil, err
		}
		return s + "!", nil
	case "fail":
		return nil, errors.New("secret detail")
	case "refuse":
		return nil, hub.Errorf("not today")
	case "boom":
		panic("boom")
	case "raw":
		return json.RawMessage(`{"a":[1,2]}`), nil
	case "hold":
		r := inv.Defer()
		d.mu.Lock()
		d.held = append(d.held, r)
		d.mu.Unlock()
		return "ignored", nil
	case "void":
		return nil, nil
	}
	return inv.Target, nil
}

func (d *anyTarget) release(result any, err error) int {
	d.mu.Lock()
	held := d.held
	d.held = nil
	d.mu.Unlock()
	for _, r := range held {
		r.Done(result, err)
		r.Done("twice", nil) // only the first counts
	}
	return len(held)
}

func TestDynamic(t *testing.T) {
	d := &anyTarget{}
	h, err := hub.NewDynamic(d, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	c := dial(t, h, "c", "")
	for _, tc := range []struct {
		target string
		args   []any
		result string
		error  string
	}{
		{target: "echo", args: []any{"hi"}, result: `"hi!"`},
		{target: "AnyThing", result: `"AnyThing"`},
		{target: "raw", result: `{"a":[1,2]}`},
		{target: "void", result: `null`},
		{target: "fail", error: "An unexpected error occurred invoking 'fail' on the server."},
		{target: "refuse", error: "An unexpected error occurred invoking 'refuse' on the server. HubException: not today"},
		{target: "boom", error: "An unexpected error occurred invoking 'boom' on the server."},
		{target: "echo", args: []any{42}, error: "An unexpected error occurred invoking 'echo' on the server."},
	} {
		if got := c.invoke(tc.target, tc.args...); got.Result != tc.result || got.Error != tc.error {
			t.Errorf("%s%v: got %+v", tc.target, tc.args, got)
		}
	}
	d.mu.Lock()
	if first := d.seen[0]; first != `echo:{"type":1,"invocationId":"1","target":"echo","arguments":["hi"]}` {
		t.Errorf("Message: %s", first)
	}
	if len(d.connect) != 1 || d.connect[0] != "c" {
		t.Errorf("OnConnected: %v", d.connect)
	}
	d.mu.Unlock()

	// Deferred answers, after the invocations that followed them.
	id1, m1 := c.invocation("hold")
	id2, m2 := c.invocation("echo", "next")
	c.feed(m1, m2)
	if got := c.waitCompletion(id2); got.Result != `"next!"` {
		t.Fatalf("after a deferred one: %+v", got)
	}
	if _, ok := c.completion(id1); ok {
		t.Fatal("a deferred invocation completed before its reply")
	}
	testutil.Eventually(t, "the held invocation", func() bool { return d.release("later", nil) == 1 })
	if got := c.waitCompletion(id1); got.Result != `"later"` {
		t.Fatalf("deferred: %+v", got)
	}
	id3, m3 := c.invocation("hold")
	c.feed(m3)
	testutil.Eventually(t, "the held invocation", func() bool { return d.release(nil, hub.Errorf("no")) == 1 })
	if got := c.waitCompletion(id3); got.Error != "An unexpected error occurred invoking 'hold' on the server. HubException: no" {
		t.Fatalf("deferred error: %+v", got)
	}
	id4, m4 := c.invocation("hold")
	c.feed(m4)
	testutil.Eventually(t, "the held invocation", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, r := range d.held {
			r.Fail("exactly this")
			r.Done("not this", nil)
		}
		n := len(d.held)
		d.held = nil
		return n == 1
	})
	if got := c.waitCompletion(id4); got.Error != "exactly this" {
		t.Fatalf("Fail: %+v", got)
	}

	// Streams are refused.
	c.feed(`{"type":4,"invocationId":"s1","target":"echo","arguments":[]}`)
	if got := c.waitCompletion("s1"); got.Error != "The client attempted to invoke the non-streaming 'echo' method with a streaming invocation." {
		t.Fatalf("stream invocation: %+v", got)
	}
	c.feed(`{"type":1,"invocationId":"u1","target":"echo","arguments":[],"streamIds":["x"]}`)
	if got := c.waitCompletion("u1"); got.Error != "An unexpected error occurred invoking 'echo' on the server. HubException: Client sent 1 stream(s), Hub method expects 0." {
		t.Fatalf("upload: %+v", got)
	}
}

// Message is the invocation in the caller's protocol, unframed.
func TestDynamicMessagePack(t *testing.T) {
	d := &anyTarget{}
	h, err := hub.NewDynamic(d, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	tr := testutil.NewTransport()
	conn, err := h.Connect(hub.ConnInfo{ID: "m"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	tr.Bind(conn.Closed)
	conn.Feed([]byte(`{"protocol":"messagepack","version":1}` + "\x1e"))
	testutil.Eventually(t, "handshake", conn.Connected)
	frame, err := protocol.MessagePack.AppendMessage(nil, &protocol.Invocation{InvocationID: "7", Target: "echo", Arguments: []any{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Feed(frame)
	testutil.Eventually(t, "the invocation", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.seen) == 1 })
	d.mu.Lock()
	body := []byte(d.seen[0][len("echo:"):])
	d.mu.Unlock()
	var arr []any
	if err := msgpack.Unmarshal(body, &arr); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(arr); got != "[1 map[] 7 echo [x]]" {
		t.Fatalf("MessagePack message: %s", got)
	}
	unframed, err := hub.Unframe(protocol.MessagePack, frame)
	if err != nil || string(unframed) != string(body) {
		t.Fatalf("Unframe: %x, %v", unframed, err)
	}
	if _, err := hub.Unframe(protocol.MessagePack, frame[:len(frame)-1]); err == nil {
		t.Fatal("Unframe of a short frame")
	}
	if _, err := hub.Unframe(protocol.JSON, []byte(`{}`)); err == nil {
		t.Fatal("Unframe of JSON without its separator")
	}
}
