package hub_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// sequential records how many calls of one connection run at once and in
// which order they ran.
type sequential struct {
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	release  chan struct{}
}

func (s *sequential) Step(ctx *hub.Context, n int) int {
	cur := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if cur <= m || s.maxSeen.CompareAndSwap(m, cur) {
			break
		}
	}
	time.Sleep(50 * time.Microsecond) // widen the window an overlap would need
	order, _ := ctx.Items()["order"].([]int)
	ctx.Items()["order"] = append(order, n)
	return n
}

func (s *sequential) Order(ctx *hub.Context) []int { return ctx.Items()["order"].([]int) }

func (s *sequential) Wait() string { <-s.release; return "released" }

func (s *sequential) Echo(v string) string { return v }

func TestInvocationsRunOneAtATimeInOrder(t *testing.T) {
	s := &sequential{}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	const n = 60
	var want []int
	var ids []string
	for i := 0; i < n; {
		// Several invocations per transport message, and several messages
		// fed before any has run.
		var batch []string
		for range i%3 + 1 {
			if i == n {
				break
			}
			id, msg := c.invocation("Step", i)
			batch = append(batch, msg)
			ids = append(ids, id)
			want = append(want, i)
			i++
		}
		c.feed(batch...)
	}
	c.waitCompletion(ids[n-1])
	var got []string
	for _, m := range c.received() {
		got = append(got, decode(t, m).InvocationID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("completions in order %v, want %v", got, ids)
	}
	for i, id := range ids {
		if r, _ := c.completion(id); r.Result != strconv.Itoa(i) {
			t.Fatalf("completion %s: %+v", id, r)
		}
	}
	if m := s.maxSeen.Load(); m != 1 {
		t.Fatalf("%d calls of one connection ran at once", m)
	}
	if got := c.invoke("Order").Result; got != strings.ReplaceAll(fmt.Sprint(want), " ", ",") {
		t.Fatalf("ran in order %s, want %v", got, want)
	}
}

// A method that blocks holds up its own connection only.
func TestBlockingMethodHoldsOnlyItsConnection(t *testing.T) {
	s := &sequential{release: make(chan struct{})}
	h := newHub(t, s, hub.Config{})
	a := dial(t, h, "a", "")
	b := dial(t, h, "b", "")
	waitID, wait := a.invocation("Wait")
	echoID, echo := a.invocation("Echo", "queued")
	a.feed(wait)
	a.feed(echo)
	if got := b.invoke("Echo", "free").Result; got != `"free"` {
		t.Fatalf("b: got %s", got)
	}
	if got := a.received(); len(got) != 0 {
		t.Fatalf("a got %q while its first call was blocked", got)
	}
	close(s.release)
	a.waitCompletion(echoID)
	got := a.received()
	want := []string{
		`{"type":3,"invocationId":"` + waitID + `","result":"released"}`,
		`{"type":3,"invocationId":"` + echoID + `","result":"queued"}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("a got %q, want %q", got, want)
	}
}

// counter keeps a count per connection in Items.
type counter struct{}

func (counter) OnConnected(ctx *hub.Context) error {
	ctx.Items()["n"] = 100
	return nil
}

func (counter) Incr(ctx *hub.Context) int {
	n := ctx.Items()["n"].(int) + 1
	ctx.Items()["n"] = n
	return n
}

func TestItemsPerConnection(t *testing.T) {
	h := newHub(t, counter{}, hub.Config{})
	a := dial(t, h, "a", "")
	b := dial(t, h, "b", "")
	for i, want := range []string{"101", "102", "103"} {
		if got := a.invoke("Incr").Result; got != want {
			t.Fatalf("a call %d: got %s, want %s", i, got, want)
		}
	}
	if got := b.invoke("Incr").Result; got != "101" {
		t.Fatalf("b: got %s, want 101 (Items are per connection)", got)
	}
	if got := a.invoke("Incr").Result; got != "104" {
		t.Fatalf("a again: got %s, want 104", got)
	}
}

// lifecycle records OnConnected and OnDisconnected.
type lifecycle struct {
	events  testutil.Events
	refuse  func() error // OnConnected's error for connection "refused"
	aborted atomic.Bool
}

func (l *lifecycle) OnConnected(ctx *hub.Context) error {
	l.events.Add("connected " + ctx.ConnectionID)
	if ctx.ConnectionID == "refused" {
		return l.refuse()
	}
	return nil
}

func (l *lifecycle) OnDisconnected(ctx *hub.Context, err error) {
	l.events.Add(fmt.Sprintf("disconnected %s %v", ctx.ConnectionID, err))
}

func (l *lifecycle) Abort(ctx *hub.Context) { ctx.Abort() }

func (l *lifecycle) CloseWithError(ctx *hub.Context) { ctx.CloseWithError(errors.New("bad state")) }

func (l *lifecycle) Echo(s string) string { return s }

func TestOnConnectedErrorCloses(t *testing.T) {
	l := &lifecycle{refuse: func() error { return errors.New("not today") }}
	h := newHub(t, l, hub.Config{})
	c := open(t, h, "refused", "")
	testutil.Eventually(t, "transport closed", c.tr.Closed)
	testutil.Eventually(t, "Close message", func() bool { return len(c.tr.Messages()) > 0 })
	msgs := c.tr.Messages()
	if last := msgs[len(msgs)-1]; last != `{"type":7,"error":"Connection closed with an error."}` {
		t.Fatalf("last message %q: want a Close with an error and no allowReconnect", last)
	}
	// A panic in OnConnected is an error like any other.
	l.refuse = func() error { panic("boom") }
	h2 := newHub(t, l, hub.Config{})
	c2 := open(t, h2, "refused", "")
	testutil.Eventually(t, "transport closed", c2.tr.Closed)
	msgs = c2.tr.Messages()
	if len(msgs) == 0 || msgs[len(msgs)-1] != `{"type":7,"error":"Connection closed with an error."}` {
		t.Fatalf("after a panic: got %q", msgs)
	}
}

// ASP.NET answers the handshake before OnConnectedAsync runs, so a client
// whose OnConnected fails gets "{}" and then the Close. Without the "{}",
// the JS client fails start() with "Expected a handshake response from the
// server." instead of reporting the Close.
func TestOnConnectedErrorAfterHandshakeAnswer(t *testing.T) {
	l := &lifecycle{refuse: func() error { return errors.New("not today") }}
	h := newHub(t, l, hub.Config{})
	c := open(t, h, "refused", "")
	testutil.Eventually(t, "transport closed", c.tr.Closed)
	got := c.tr.Messages()
	want := []string{`{}`, `{"type":7,"error":"Connection closed with an error."}`}
	if !slices.Equal(got, want) {
		t.Fatalf("OnConnected error: client got %q, want %q", got, want)
	}
}

// ASP.NET builds the Close error with ErrorMessageHelper, as for
// Completions: a HubException's message is shown.
func TestOnConnectedHubErrorText(t *testing.T) {
	l := &lifecycle{refuse: func() error { return hub.Errorf("banned") }}
	h := newHub(t, l, hub.Config{})
	c := open(t, h, "refused", "")
	testutil.Eventually(t, "transport closed", c.tr.Closed)
	msgs := c.tr.Messages()
	want := `{"type":7,"error":"Connection closed with an error. HubException: banned"}`
	if len(msgs) == 0 || msgs[len(msgs)-1] != want {
		t.Fatalf("OnConnected returning *hub.Error: client got %q, want last %q", msgs, want)
	}
}

// ASP.NET does not run OnDisconnectedAsync when OnConnectedAsync threw
// (HubConnectionHandler.RunHubAsync returns after SendCloseAsync).
func TestOnConnectedErrorSkipsOnDisconnected(t *testing.T) {
	l := &lifecycle{refuse: func() error { return errors.New("not today") }}
	h := newHub(t, l, hub.Config{})
	c := open(t, h, "refused", "")
	testutil.Eventually(t, "transport closed", c.tr.Closed)
	// The engine forgets the connection after OnDisconnected would have run.
	testutil.Eventually(t, "refused forgotten", func() bool { return !hub.Holds(h, "refused") })
	if got := l.events.All(); slices.Contains(got, "disconnected refused not today") {
		t.Fatalf("OnDisconnected ran for a connection whose OnConnected failed: events %q", got)
	}
}

func TestOnDisconnectedCleanClose(t *testing.T) {
	l := &lifecycle{}
	h := newHub(t, l, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(`{"type":7}`)
	testutil.Eventually(t, "OnDisconnected", l.events.Saw("disconnected c1 <nil>"))
	testutil.Eventually(t, "transport closed", c.tr.Closed)
	if got := l.events.All(); !slices.Equal(got, []string{"connected c1", "disconnected c1 <nil>"}) {
		t.Fatalf("events %q", got)
	}
}

func TestOnDisconnectedClientCloseWithError(t *testing.T) {
	l := &lifecycle{}
	h := newHub(t, l, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(`{"type":7,"error":"client gave up"}`)
	testutil.Eventually(t, "OnDisconnected", func() bool {
		got := l.events.All()
		return len(got) == 2 && strings.HasPrefix(got[1], "disconnected c1 ") && strings.Contains(got[1], "client gave up")
	})
}

func TestOnDisconnectedTransportError(t *testing.T) {
	l := &lifecycle{}
	h := newHub(t, l, hub.Config{})
	c := dial(t, h, "c1", "")
	c.tr.Drop()
	c.conn.Closed(errors.New("connection reset by peer"))
	testutil.Eventually(t, "OnDisconnected", l.events.Saw("disconnected c1 connection reset by peer"))
	testutil.Eventually(t, "connection forgotten", func() bool { return !hub.Holds(h, "c1") })
}

func TestAbortSendsCloseWithoutReconnect(t *testing.T) {
	l := &lifecycle{}
	h := newHub(t, l, hub.Config{})
	c := dial(t, h, "c1", "")
	_, abort := c.invocation("Abort")
	c.feed(abort)
	testutil.Eventually(t, "transport closed", c.tr.Closed)
	msgs := c.received()
	if len(msgs) == 0 || msgs[len(msgs)-1] != `{"type":7}` {
		t.Fatalf("received %q, want a last Close with no allowReconnect", msgs)
	}
	testutil.Eventually(t, "OnDisconnected", func() bool {
		got := l.events.All()
		return len(got) == 2 && strings.HasPrefix(got[1], "disconnected c1 ") && !strings.HasSuffix(got[1], "<nil>")
	})
}

func TestCloseWithErrorAllowsReconnect(t *testing.T) {
	l := &lifecycle{}
	h := newHub(t, l, hub.Config{})
	c := dial(t, h, "c1", "")
	_, msg := c.invocation("CloseWithError")
	c.feed(msg)
	testutil.Eventually(t, "transport closed", c.tr.Closed)
	msgs := c.received()
	if len(msgs) == 0 || msgs[len(msgs)-1] != `{"type":7,"error":"Connection closed with an error.","allowReconnect":true}` {
		t.Fatalf("received %q", msgs)
	}
	testutil.Eventually(t, "OnDisconnected", l.events.Saw("disconnected c1 bad state"))
}

func TestShutdownSendsCloseAllowReconnect(t *testing.T) {
	l := &lifecycle{}
	h, err := hub.New(l, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := dial(t, h, "a", "")
	b := dial(t, h, "b", "")
	shutdown(t, h)
	for _, c := range []*client{a, b} {
		if got := c.received(); !slices.Equal(got, []string{`{"type":7,"allowReconnect":true}`}) {
			t.Errorf("%s received %q", c.conn.ID(), got)
		}
		if !c.tr.Closed() {
			t.Errorf("%s: transport still open", c.conn.ID())
		}
	}
	if got := l.events.All(); len(got) != 4 {
		t.Errorf("events %q, want two connects and two disconnects", got)
	}
	if _, err := h.Connect(hub.ConnInfo{ID: "late"}, testutil.NewTransport()); err == nil {
		t.Error("a connection was accepted after Shutdown")
	}
}

// No goroutine of a hub outlives its Shutdown when the hub runs its own
// actor runtime.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	h, err := hub.New(&lifecycle{}, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := dial(t, h, "a", "")
	dial(t, h, "b", "u")
	a.invoke("Echo", "x")
	if err := h.Groups().Add(context.Background(), "a", "g"); err != nil {
		t.Fatal(err)
	}
	shutdown(t, h)
	if !testutil.Poll(testutil.Wait, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Shutdown:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

// connInfo answers with what a Context knows of the caller's transport.
type connInfo struct{}

func (connInfo) Transport(ctx *hub.Context) string { return ctx.Transport() }

func (connInfo) Header(ctx *hub.Context, name string) any {
	if r := ctx.Request(); r != nil {
		if v, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
			return v[0]
		}
	}
	return nil
}

func TestContextTransportAndRequest(t *testing.T) {
	h := newHub(t, connInfo{}, hub.Config{})
	r := httptest.NewRequest(http.MethodGet, "/hub?id=x", nil)
	r.Header.Set("X-Header", "VALUE")
	c := dialInfo(t, h, hub.ConnInfo{ID: "c1", Transport: "ServerSentEvents", Request: r})
	if got := c.invoke("Transport").Result; got != `"ServerSentEvents"` {
		t.Fatalf("Transport: %s", got)
	}
	if got := c.invoke("Header", "x-header").Result; got != `"VALUE"` {
		t.Fatalf("Header: %s", got)
	}
	bare := dial(t, h, "c2", "")
	if got := bare.invoke("Header", "x-header").Result; got != `null` {
		t.Fatalf("Header without a kept request: %s", got)
	}
	if got := bare.invoke("Transport").Result; got != `""` {
		t.Fatalf("Transport of a connection made without one: %s", got)
	}
}
