package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/protocol"
)

// echoInvoker answers every invocation with its first argument and logs
// lifecycle events.
type echoInvoker struct {
	events testutil.Events
	block  chan struct{} // when set, "Block" waits on it
}

func (i *echoInvoker) OnConnected(c *Conn) error { i.events.Add("connected:" + c.ID); return nil }
func (i *echoInvoker) OnDisconnected(c *Conn, err error) {
	i.events.Add(fmt.Sprintf("disconnected:%s:%v", c.ID, err != nil))
}
func (i *echoInvoker) Invoke(c *Conn, inv *protocol.Invocation) *protocol.Completion {
	if inv.Target == "Block" {
		<-i.block
	}
	var r any
	if len(inv.Arguments) > 0 {
		r = inv.Arguments[0]
	}
	return &protocol.Completion{InvocationID: inv.InvocationID, HasResult: true, Result: r}
}
func (i *echoInvoker) StreamInvoke(c *Conn, inv *protocol.StreamInvocation) *protocol.Completion {
	return &protocol.Completion{InvocationID: inv.InvocationID, Error: "no streams"}
}
func (i *echoInvoker) Other(*Conn, protocol.Message) {}

// newTestSystem starts a System that the test closes.
func newTestSystem(t testing.TB) *System {
	t.Helper()
	sys, err := NewSystem(SystemConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return sys
}

// testConfig fills the zero fields that hub would fill (hub.Config owns
// their defaults) with values for tests: long timeouts, ample budgets.
func testConfig(cfg EngineConfig) EngineConfig {
	if cfg.Protocols == nil {
		cfg.Protocols = []protocol.Protocol{protocol.JSON}
	}
	for _, d := range []*time.Duration{&cfg.KeepAliveInterval, &cfg.ClientTimeoutInterval, &cfg.HandshakeTimeout, &cfg.DisconnectTimeout} {
		if *d == 0 {
			*d = time.Minute
		}
	}
	if cfg.MaxGroupsPerConnection == 0 {
		cfg.MaxGroupsPerConnection = -1
	}
	if cfg.MaxInboundMessages == 0 {
		cfg.MaxInboundMessages = 1 << 16
	}
	for _, n := range []*int{&cfg.MaximumReceiveMessageSize, &cfg.MaxTransportMessageSize, &cfg.MaxBufferedBytes, &cfg.StatefulReconnectBufferSize, &cfg.MaxInboundBytes} {
		if *n == 0 {
			*n = 1 << 20
		}
	}
	return cfg
}

// TestEngineConfigChecked: NewEngine refuses a setting that hub should
// have filled, naming it.
func TestEngineConfigChecked(t *testing.T) {
	sys := newTestSystem(t)
	defer sys.Close()
	for _, tc := range []struct {
		name string
		edit func(*EngineConfig)
	}{
		{"Protocols", func(c *EngineConfig) { c.Protocols = []protocol.Protocol{} }},
		{"KeepAliveInterval", func(c *EngineConfig) { c.KeepAliveInterval = 0 }},
		{"DisconnectTimeout", func(c *EngineConfig) { c.DisconnectTimeout = -time.Second }},
		{"MaximumReceiveMessageSize", func(c *EngineConfig) { c.MaximumReceiveMessageSize = 0 }},
		{"MaxTransportMessageSize", func(c *EngineConfig) { c.MaxTransportMessageSize = -1 }},
		{"MaxBufferedBytes", func(c *EngineConfig) { c.MaxBufferedBytes = 0 }},
	} {
		cfg := testConfig(EngineConfig{})
		tc.edit(&cfg)
		if e, err := NewEngine(sys, &echoInvoker{}, cfg); err == nil || !strings.Contains(err.Error(), "EngineConfig."+tc.name) {
			if e != nil {
				_ = e.Shutdown(context.Background())
			}
			t.Errorf("%s: error %v, want one naming it", tc.name, err)
		}
	}
	cfg := testConfig(EngineConfig{MaximumReceiveMessageSize: -1})
	e, err := NewEngine(sys, &echoInvoker{}, cfg)
	if err != nil {
		t.Fatalf("no hub message limit: %v", err)
	}
	_ = e.Shutdown(context.Background())
}

func newTestEngine(t testing.TB, cfg EngineConfig) (*Engine, *echoInvoker) {
	t.Helper()
	sys := newTestSystem(t)
	inv := &echoInvoker{}
	e, err := NewEngine(sys, inv, testConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		sys.Close()
	})
	return e, inv
}

func connect(t testing.TB, e *Engine, id, user string, record bool) (*Conn, *testutil.Transport) {
	t.Helper()
	tr := testutil.NewTransport()
	tr.Discard = !record
	c, err := e.NewConn(ConnInfo{ID: id, UserID: user}, tr)
	if err != nil {
		t.Fatal(err)
	}
	tr.Bind(c.Closed)
	c.Feed([]byte(`{"protocol":"json","version":1}` + "\x1e"))
	testutil.Eventually(t, "the handshake", func() bool { return c.Connected() })
	return c, tr
}

func hasMsg(tr *testutil.Transport, sub string) func() bool {
	return func() bool {
		for _, m := range tr.Messages() {
			if strings.Contains(m, sub) {
				return true
			}
		}
		return false
	}
}

func count(tr *testutil.Transport, sub string) int {
	n := 0
	for _, m := range tr.Messages() {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

func TestHandshakeAndInvoke(t *testing.T) {
	e, inv := newTestEngine(t, EngineConfig{})
	c, tr := connect(t, e, "c1", "", true)
	testutil.Eventually(t, "{}", hasMsg(tr, "{}"))
	c.Feed([]byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":["hi"]}` + "\x1e" +
		`{"type":1,"target":"Echo","arguments":["quiet"]}` + "\x1e" +
		`{"type":1,"invocationId":"2","target":"Echo","arguments":[42]}` + "\x1e"))
	testutil.Eventually(t, `"invocationId":"2"`, hasMsg(tr, `"invocationId":"2"`))
	got := tr.Messages()
	want := []string{`{}`, `{"type":3,"invocationId":"1","result":"hi"}`, `{"type":3,"invocationId":"2","result":42}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if inv.events.All()[0] != "connected:c1" {
		t.Fatalf("events %v", inv.events.All())
	}
}

func TestHandshakeErrors(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{})
	for _, tc := range []struct{ in, want string }{
		{`{"protocol":"foo","version":1}`, `The protocol 'foo' is not supported.`},
		{`{"protocol":"json","version":99}`, `The server does not support version 99 of the 'json' protocol.`},
		{`{"protocol":`, `An unexpected error occurred during connection handshake.`},
	} {
		tr := testutil.NewTransport()
		c, _ := e.NewConn(ConnInfo{ID: "h" + tc.want[:5]}, tr)
		tr.Bind(c.Closed)
		c.Feed([]byte(tc.in + "\x1e"))
		testutil.Eventually(t, "the transport closed gracefully", func() bool { return tr.ClosedGracefully() })
		if m := tr.Messages(); len(m) != 1 || !strings.Contains(m[0], tc.want) {
			t.Fatalf("%s: got %q", tc.in, m)
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{HandshakeTimeout: 100 * time.Millisecond})
	tr := testutil.NewTransport()
	c, _ := e.NewConn(ConnInfo{ID: "slow"}, tr)
	tr.Bind(c.Closed)
	testutil.Eventually(t, "the transport closed gracefully", func() bool { return tr.ClosedGracefully() })
	if m := tr.Messages(); len(m) != 1 || m[0] != `{"error":"Handshake was canceled."}` {
		t.Fatalf("got %q", m)
	}
}

func TestKeepAliveAndClientTimeout(t *testing.T) {
	e, inv := newTestEngine(t, EngineConfig{KeepAliveInterval: 100 * time.Millisecond, ClientTimeoutInterval: 400 * time.Millisecond})
	c, tr := connect(t, e, "k", "", true)
	testutil.Eventually(t, "two pings", func() bool { return count(tr, `{"type":6}`) >= 2 })
	c.Feed([]byte(`{"type":6}` + "\x1e")) // the client pings once, then goes silent
	testutil.Eventually(t, "the transport closed gracefully", func() bool { return tr.ClosedGracefully() })
	if !hasMsg(tr, `{"type":7,"allowReconnect":true}`)() {
		t.Fatalf("no Close with allowReconnect: %q", tr.Messages())
	}
	testutil.Eventually(t, "connected and disconnected", func() bool { return inv.events.Len() == 2 })
	if inv.events.All()[1] != "disconnected:k:true" {
		t.Fatalf("events %v", inv.events.All())
	}
}

func TestProtocolErrorClosesOnlyOffender(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{MaximumReceiveMessageSize: 64})
	bad, btr := connect(t, e, "bad", "", true)
	good, gtr := connect(t, e, "good", "", true)
	bad.Feed([]byte(`{"type":1,"target":"Echo","arguments":["` + strings.Repeat("x", 100) + `"]}` + "\x1e"))
	testutil.Eventually(t, "the transport closed gracefully", func() bool { return btr.ClosedGracefully() })
	if !hasMsg(btr, `{"type":7,"error":"Connection closed with an error.","allowReconnect":true}`)() {
		t.Fatalf("got %q", btr.Messages())
	}
	good.Feed([]byte(`{"type":1,"invocationId":"9","target":"Echo","arguments":[1]}` + "\x1e"))
	testutil.Eventually(t, `"invocationId":"9"`, hasMsg(gtr, `"invocationId":"9"`))
	if gtr.Closed() {
		t.Fatal("good connection closed")
	}
}

func TestGroupsAndExclusion(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{partitionSize: 3, partitions: 2})
	ctx := context.Background()
	var trs []*testutil.Transport
	for i := range 8 {
		_, tr := connect(t, e, fmt.Sprint("m", i), "", true)
		trs = append(trs, tr)
		if err := e.AddToGroup(ctx, fmt.Sprint("m", i), GroupKey("g")); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := e.AddToGroup(ctx, fmt.Sprint("m", i), GroupKey("h")); err != nil {
				t.Fatal(err)
			}
		}
	}
	send := func(keys []string, target string, exclude ...string) {
		e.SendKeys(keys, NewPayload(&protocol.Invocation{Target: target, Arguments: []any{}}, exclude...))
	}
	send([]string{GroupKey("g")}, "ToG", "m1")
	send([]string{GroupKey("g"), GroupKey("h")}, "ToGH")
	send([]string{GroupKey("h")}, "ToH")
	send([]string{GroupKey("nobody")}, "ToNobody")
	for i, tr := range trs {
		testutil.Eventually(t, "ToGH", hasMsg(tr, "ToGH"))
		if n := count(tr, `"ToGH"`); n != 1 {
			t.Fatalf("m%d got ToGH %d times", i, n)
		}
	}
	testutil.Eventually(t, "ToH", hasMsg(trs[6], "ToH"))
	// ToG may still be on its way through g's shards when ToGH came
	// through h: no order holds between groups.
	for i, tr := range trs {
		if i != 1 {
			testutil.Eventually(t, "ToG", hasMsg(tr, "ToG"))
		}
		if i%2 == 0 {
			testutil.Eventually(t, "ToH", hasMsg(tr, "ToH"))
		}
	}
	for i, tr := range trs {
		if got, want := count(tr, `"ToG"`), map[bool]int{true: 0, false: 1}[i == 1]; got != want {
			t.Fatalf("m%d got ToG %d times, want %d", i, got, want)
		}
		if got, want := count(tr, `"ToH"`), map[bool]int{true: 1, false: 0}[i%2 == 0]; got != want {
			t.Fatalf("m%d got ToH %d times, want %d", i, got, want)
		}
	}
	if err := e.RemoveFromGroup(ctx, "m0", GroupKey("g")); err != nil {
		t.Fatal(err)
	}
	send([]string{GroupKey("g")}, "AfterLeave")
	testutil.Eventually(t, "AfterLeave", hasMsg(trs[7], "AfterLeave"))
	if count(trs[0], "AfterLeave") != 0 {
		t.Fatal("m0 got a message after leaving")
	}
}

func TestEmptyGroupIsStoppedAndRecreated(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{})
	ctx := context.Background()
	_, tr := connect(t, e, "x", "", true)
	for round := range 3 {
		if err := e.AddToGroup(ctx, "x", GroupKey("g")); err != nil {
			t.Fatal(err)
		}
		target := fmt.Sprint("Round", round)
		e.SendKey(GroupKey("g"), NewPayload(&protocol.Invocation{Target: target, Arguments: []any{}}))
		testutil.Eventually(t, target, hasMsg(tr, target))
		if err := e.RemoveFromGroup(ctx, "x", GroupKey("g")); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "the empty group gone", func() bool { _, ok := e.groups.Load(GroupKey("g")); return !ok })
	}
}

func TestUsersAndAll(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{})
	_, a1 := connect(t, e, "a1", "alice", true)
	_, a2 := connect(t, e, "a2", "alice", true)
	_, b := connect(t, e, "b", "bob", true)
	e.SendKey(UserKey("alice"), NewPayload(&protocol.Invocation{Target: "ToAlice", Arguments: []any{}}))
	e.SendAll(NewPayload(&protocol.Invocation{Target: "ToAll", Arguments: []any{}}, "a2"))
	testutil.Eventually(t, "ToAlice", hasMsg(a1, "ToAlice"))
	testutil.Eventually(t, "ToAlice", hasMsg(a2, "ToAlice"))
	testutil.Eventually(t, "ToAll", hasMsg(b, "ToAll"))
	testutil.Eventually(t, "ToAll", hasMsg(a1, "ToAll"))
	if count(b, "ToAlice") != 0 || count(a2, "ToAll") != 0 {
		t.Fatal("message reached an excluded connection")
	}
}

func TestSlowConsumerClosed(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{MaxBufferedBytes: 1000})
	c, tr := connect(t, e, "slow", "", true)
	_, other := connect(t, e, "fast", "", true)
	tr.SetBuffered(5000) // the socket is not draining
	e.SendAll(NewPayload(&protocol.Invocation{Target: "Hi", Arguments: []any{}}))
	testutil.Eventually(t, "the transport closed gracefully", func() bool { return tr.ClosedGracefully() })
	testutil.Eventually(t, "Hi", hasMsg(other, "Hi"))
	if !hasMsg(tr, `"type":7`)() {
		t.Fatal("slow consumer got no Close message")
	}
	testutil.Eventually(t, "the connection forgotten", func() bool { _, ok := e.Conn(c.ID); return !ok })
}

func TestShutdownSendsReconnectableClose(t *testing.T) {
	sys := newTestSystem(t)
	defer sys.Close()
	e, err := NewEngine(sys, &echoInvoker{}, testConfig(EngineConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	_, tr := connect(t, e, "s", "", true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !hasMsg(tr, `{"type":7,"allowReconnect":true}`)() {
		t.Fatalf("got %q", tr.Messages())
	}
	if _, err := e.NewConn(ConnInfo{ID: "late"}, testutil.NewTransport()); !errors.Is(err, errShutdown) {
		t.Fatalf("NewConn after shutdown: %v", err)
	}
}

func TestBlockedInvocationDoesNotStarveOthers(t *testing.T) {
	e, inv := newTestEngine(t, EngineConfig{})
	inv.block = make(chan struct{})
	defer close(inv.block)
	var blocked []*Conn
	for i := range 2 * numCPU() * 2 { // more than the pool's minimum workers
		c, _ := connect(t, e, fmt.Sprint("b", i), "", false)
		blocked = append(blocked, c)
	}
	for _, c := range blocked {
		c.Feed([]byte(`{"type":1,"invocationId":"1","target":"Block","arguments":[]}` + "\x1e"))
	}
	c, tr := connect(t, e, "free", "", true)
	c.Feed([]byte(`{"type":1,"invocationId":"7","target":"Echo","arguments":["ok"]}` + "\x1e"))
	testutil.Eventually(t, `"invocationId":"7"`, hasMsg(tr, `"invocationId":"7"`))
}

func TestCoalescedWrites(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{})
	c, tr := connect(t, e, "co", "", true)
	testutil.Eventually(t, "the handshake written", func() bool { return tr.Writes() == 1 }) // the handshake
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, `{"type":1,"invocationId":"%d","target":"Echo","arguments":[%d]}`+"\x1e", i, i)
	}
	c.Feed([]byte(b.String()))
	testutil.Eventually(t, `"invocationId":"99"`, hasMsg(tr, `"invocationId":"99"`))
	// One write per turn: a turn runs at most turnQuantum of them.
	if w, want := tr.Writes()-1, int64(100+turnQuantum-1)/turnQuantum; w != want {
		t.Fatalf("100 completions took %d writes after the handshake, want %d (one per quantum of %d)", w, want, turnQuantum)
	}
	var last int
	for _, m := range tr.Messages()[1:] {
		var v struct{ Result int }
		_ = json.Unmarshal([]byte(m), &v)
		if v.Result < last {
			t.Fatal("completions out of order")
		}
		last = v.Result
	}
}

// members asks the group key's actor how many members it has (0 when the
// group has no actor).
func members(t *testing.T, e *Engine, key string) int {
	t.Helper()
	g, ok := e.groups.Load(key)
	if !ok {
		return 0
	}
	reply := make(chan int, 1)
	e.send(g.(*groupRef).pid, &countMembers{reply: reply})
	select {
	case n := <-reply:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("group did not answer")
		return 0
	}
}

// A connection that ends while its handshake is being answered leaves no
// membership behind.
func TestHandshakeWindowLeavesNoMember(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{})
	for i := range 100 {
		tr := testutil.NewTransport()
		tr.Discard = true
		c, err := e.NewConn(ConnInfo{ID: fmt.Sprint("w", i), UserID: "u"}, tr)
		if err != nil {
			t.Fatal(err)
		}
		tr.Bind(c.Closed)
		c.Feed([]byte(`{"protocol":"json","version":1}` + "\x1e"))
		c.Closed(nil)
	}
	testutil.Eventually(t, "no connection left", func() bool { return e.connections() == 0 })
	testutil.Eventually(t, "no member left", func() bool { return members(t, e, keyAll) == 0 && members(t, e, UserKey("u")) == 0 })
}

// A valid handshake followed by garbage in the same message: the handshake
// is answered, then the Close, as ASP.NET does.
func TestHandshakeThenGarbage(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{})
	tr := testutil.NewTransport()
	c, _ := e.NewConn(ConnInfo{ID: "g"}, tr)
	tr.Bind(c.Closed)
	c.Feed([]byte(`{"protocol":"json","version":1}` + "\x1e" + `{"type":1,"target":` + "\x1e"))
	testutil.Eventually(t, "the transport closed gracefully", func() bool { return tr.ClosedGracefully() })
	want := []string{`{}`, `{"type":7,"error":"Connection closed with an error.","allowReconnect":true}`}
	if got := tr.Messages(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	testutil.Eventually(t, "no connection or member left", func() bool { return e.connections() == 0 && members(t, e, keyAll) == 0 })
}
