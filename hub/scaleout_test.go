package hub_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// newClusterFixture is the fixture on three nodes of one hub, on an
// in-process backplane: c1 and c4 on the first node, c2 on the second, c3
// on the third.
func newClusterFixture(t *testing.T) *fixture {
	return newFixtureOn(t, newCluster(t, router{}, 3)...)
}

// newCluster starts n nodes of a hub of impl on one in-process backplane.
func newCluster(t *testing.T, impl any, n int) []*hub.Hub {
	t.Helper()
	broker := backplane.NewMemory()
	var hubs []*hub.Hub
	for i := range n {
		node := broker.Node()
		t.Cleanup(func() { node.Close() })
		hubs = append(hubs, newHub(t, impl, hub.Config{
			Backplane: node, NodeID: "n" + string(rune('1'+i)),
			AckTimeout: 300 * time.Millisecond, NodeExpiry: 600 * time.Millisecond,
		}))
	}
	return hubs
}

// hubs is the fixture's nodes.
func (f *fixture) hubs() []*hub.Hub {
	var out []*hub.Hub
	for _, h := range f.at {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// asker asks other clients for results, and sends what it is told.
type asker struct{}

func (asker) Ask(ctx *hub.Context, id string) string {
	answer, err := hub.InvokeClient[string](ctx, ctx.Clients.Client(id), "Question", "q?")
	if err != nil {
		return "error: " + err.Error()
	}
	return answer
}

func (asker) Shout(ctx *hub.Context, text string) string {
	return fmt.Sprint(ctx.Clients.All().Send("Shout", text))
}

// question waits for the client result invocation c gets and returns its id.
func question(t *testing.T, c *client) string {
	t.Helper()
	var id string
	testutil.Eventually(t, "the question", func() bool {
		for _, m := range c.received() {
			if w := decode(t, m); w.Type == 1 && w.Target == "Question" && w.InvocationID != "" {
				id = w.InvocationID
				return true
			}
		}
		return false
	})
	return id
}

// A hub method asks a client of another node for a result: the invocation
// goes to the node that holds the connection, and the answer comes back.
func TestClusterClientResults(t *testing.T) {
	hubs := newCluster(t, asker{}, 2)
	a := dial(t, hubs[0], "a", "")

	b := dial(t, hubs[1], "b", "")
	id, msg := a.invocation("Ask", "b")
	a.feed(msg)
	b.feed(fmt.Sprintf(`{"type":3,"invocationId":%q,"result":"forty-two"}`, question(t, b)))
	if got := a.waitCompletion(id); got.Result != `"forty-two"` {
		t.Fatalf("answer: got %+v", got)
	}

	b2 := dial(t, hubs[1], "b2", "")
	id, msg = a.invocation("Ask", "b2")
	a.feed(msg)
	b2.feed(fmt.Sprintf(`{"type":3,"invocationId":%q,"error":"no idea"}`, question(t, b2)))
	if got := a.waitCompletion(id); got.Result != `"error: no idea"` {
		t.Fatalf("client error: got %+v", got)
	}

	b3 := dial(t, hubs[1], "b3", "")
	id, msg = a.invocation("Ask", "b3")
	a.feed(msg)
	question(t, b3)
	b3.feed(`{"type":7}`)
	if got := a.waitCompletion(id); got.Result != `"error: Connection 'b3' disconnected."` {
		t.Fatalf("client gone: got %+v", got)
	}

	if got := a.invoke("Ask", "nobody"); got.Result != `"error: Connection 'nobody' does not exist."` {
		t.Fatalf("no such client: got %+v", got)
	}
}

// Counts cover every node; a node that stops reporting (it crashed) stops
// counting after NodeExpiry.
func TestClusterCounts(t *testing.T) {
	broker := backplane.NewMemory()
	var hubs []*hub.Hub
	var nodes []*backplane.MemoryNode
	for i := range 3 {
		node := broker.Node()
		t.Cleanup(func() { node.Close() })
		nodes = append(nodes, node)
		hubs = append(hubs, newHub(t, asker{}, hub.Config{Backplane: node, NodeID: fmt.Sprint("n", i), NodeExpiry: 300 * time.Millisecond}))
	}
	ctx := context.Background()
	for i, h := range hubs {
		for j := range i + 1 {
			id := fmt.Sprintf("c%d-%d", i, j)
			dial(t, h, id, "")
			if err := hubs[0].Groups().Add(ctx, id, "room"); err != nil {
				t.Fatal(err)
			}
		}
	}
	counts := func(h *hub.Hub) (conns, room int) {
		conns, err := h.ConnectionCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		room, err = h.Groups().Count(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		return conns, room
	}
	testutil.Eventually(t, "6 connections, all in room", func() bool { c, r := counts(hubs[0]); return c == 6 && r == 6 })
	if n, _ := hubs[0].Groups().Count(ctx, "nowhere"); n != 0 {
		t.Fatalf("empty group: %d", n)
	}

	// The third node crashes: it stops reporting, its report expires.
	nodes[2].Close()
	if c, _ := counts(hubs[0]); c != 6 {
		t.Fatalf("right after the crash: %d, want the last report (6)", c)
	}
	testutil.Eventually(t, "the crashed node forgotten", func() bool { c, r := counts(hubs[1]); return c == 3 && r == 3 })

	// A node that shuts down is forgotten at once.
	shut, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := hubs[1].Shutdown(shut); err != nil {
		t.Fatal(err)
	}
	if c, r := counts(hubs[0]); c != 1 || r != 1 {
		t.Fatalf("after a shutdown: %d connections, %d in room; want 1, 1", c, r)
	}
}

// A change of members reaches the other nodes' counts within about a
// second (presenceGap), long before the next periodic report (NodeExpiry/3,
// 20 s here): a chat room's count is right when the next member joins.
func TestClusterCountsFollowChanges(t *testing.T) {
	broker := backplane.NewMemory()
	var hubs []*hub.Hub
	for i := range 2 {
		node := broker.Node()
		t.Cleanup(func() { node.Close() })
		hubs = append(hubs, newHub(t, asker{}, hub.Config{Backplane: node, NodeID: fmt.Sprint("n", i), NodeExpiry: time.Minute}))
	}
	ctx := context.Background()
	count := func(h *hub.Hub) int {
		n, err := h.Groups().Count(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const within = 5 * time.Second // far below the 20 s between periodic reports
	for i, id := range []string{"a", "b", "c"} {
		dial(t, hubs[0], id, "")
		if err := hubs[0].Groups().Add(ctx, id, "room"); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyWithin(t, within, fmt.Sprintf("the other node to count %d in room", i+1), func() bool { return count(hubs[1]) == i+1 })
	}
	if err := hubs[0].Groups().Remove(ctx, "b", "room"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyWithin(t, within, "the other node to count 2 after a leave", func() bool { return count(hubs[1]) == 2 })
	conns := func() int {
		n, err := hubs[1].ConnectionCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	testutil.EventuallyWithin(t, within, "3 connections counted on the other node", func() bool { return conns() == 3 })
}

// While the backplane is down, local clients still get what is sent, and a
// send fails at once with ErrUnavailable instead of waiting; once it is
// back, sends cross again.
func TestClusterBackplaneDown(t *testing.T) {
	broker := backplane.NewMemory()
	var hubs []*hub.Hub
	for i := range 2 {
		node := broker.Node()
		t.Cleanup(func() { node.Close() })
		hubs = append(hubs, newHub(t, asker{}, hub.Config{Backplane: node, NodeID: fmt.Sprint("n", i)}))
	}
	a1, a2 := dial(t, hubs[0], "a1", ""), dial(t, hubs[0], "a2", "")
	b := dial(t, hubs[1], "b", "")

	broker.SetDown(true)
	start := time.Now()
	got := a1.invoke("Shout", "down")
	if !strings.Contains(got.Result, "backplane: unavailable") || time.Since(start) > time.Second {
		t.Fatalf("send while down: %+v after %v", got, time.Since(start))
	}
	testutil.Eventually(t, "local delivery", func() bool { return len(a2.invocations("Shout")) == 1 })

	broker.SetDown(false)
	if got := a1.invoke("Shout", "up"); got.Result != `"<nil>"` {
		t.Fatalf("send once back: %+v", got)
	}
	testutil.Eventually(t, "cross-node delivery once back", func() bool { return slices.Equal(b.invocations("Shout"), []string{`"up"`}) })
}

// A message too large for the backplane is refused before anyone gets it.
func TestClusterMessageTooLarge(t *testing.T) {
	broker := backplane.NewMemory()
	node := broker.Node()
	t.Cleanup(func() { node.Close() })
	h := newHub(t, asker{}, hub.Config{Backplane: node, MaxBackplaneMessageSize: 1000})
	a1, a2 := dial(t, h, "a1", ""), dial(t, h, "a2", "")
	err := h.Clients().All().Send("Shout", strings.Repeat("x", 2000))
	if !errors.Is(err, hub.ErrMessageTooLarge) {
		t.Fatalf("got %v", err)
	}
	if got := a1.invoke("Shout", strings.Repeat("y", 2000)); !strings.Contains(got.Result, "too large") {
		t.Fatalf("from a method: %+v", got)
	}
	if err := h.Clients().All().Send("Shout", "small"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the small one", func() bool { return len(a2.invocations("Shout")) == 1 })
	if got := a2.invocations("Shout"); !slices.Equal(got, []string{`"small"`}) {
		t.Fatalf("a2 got %q", got)
	}
}

// Garbage on every channel of a node is dropped; the node carries on.
func TestClusterGarbage(t *testing.T) {
	broker := backplane.NewMemory()
	node := broker.Node()
	t.Cleanup(func() { node.Close() })
	h := newHub(t, asker{}, hub.Config{Backplane: node, NodeID: "n1", Name: "app"})
	a := dial(t, h, "a", "u")
	if err := h.Groups().Add(context.Background(), "a", "g"); err != nil {
		t.Fatal(err)
	}
	other := broker.Node()
	t.Cleanup(func() { other.Close() })
	garbage := [][]byte{nil, {0xc1}, {0x93, 0x01}, []byte("not msgpack at all"), {0xdd, 0xff, 0xff, 0xff, 0xff}, {0x96, 0x90, 0x81, 0xa4, 'j', 's', 'o', 'n', 0xc4, 0x05, 'x'}}
	for _, ch := range []string{"all", "group:g", "user:u", "connection:a", "internal:groups", "internal:ack:n1", "internal:return:n1"} {
		for _, g := range garbage {
			if err := other.Publish("app:"+ch, g, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A well-formed message without this node's protocol reaches no one.
	msg := backplane.AppendInvocation(nil, &backplane.Invocation{Payloads: map[string][]byte{"xml": []byte("<x/>")}, Origin: "n2"})
	if err := other.Publish("app:all", msg, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Clients().All().Send("Shout", "still here"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "delivery after garbage", func() bool { return len(a.invocations("Shout")) == 1 })
	if got := a.invoke("Shout", "and methods"); got.Result != `"<nil>"` {
		t.Fatalf("%+v", got)
	}
}

// countingNode counts what a node publishes, by channel, and keeps the
// last message.
type countingNode struct {
	*backplane.MemoryNode
	mu    sync.Mutex
	count map[string]int
	last  []byte
}

func (c *countingNode) Publish(channel string, msg []byte, done func(int, error)) error {
	c.mu.Lock()
	c.count[channel]++
	c.last = msg
	c.mu.Unlock()
	return c.MemoryNode.Publish(channel, msg, done)
}

func (c *countingNode) take() (map[string]int, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.count
	c.count = map[string]int{}
	return out, c.last
}

// A send crosses the backplane once per channel, whatever the number of
// recipients or nodes, with every protocol's encoding in that one message,
// and each node delivers it to its own members.
func TestClusterOnePublishPerSend(t *testing.T) {
	broker := backplane.NewMemory()
	origin := &countingNode{MemoryNode: broker.Node(), count: map[string]int{}}
	t.Cleanup(func() { origin.Close() })
	h := newHub(t, asker{}, hub.Config{Backplane: origin, Name: "app"})
	var others []*hub.Hub
	for range 2 {
		node := broker.Node()
		t.Cleanup(func() { node.Close() })
		others = append(others, newHub(t, asker{}, hub.Config{Backplane: node, Name: "app"}))
	}
	ctx := context.Background()
	var clients []*client
	for i := range 30 {
		id := fmt.Sprint("c", i)
		clients = append(clients, dial(t, others[i%2], id, "u"))
		if err := h.Groups().Add(ctx, id, "g"); err != nil {
			t.Fatal(err)
		}
	}
	origin.take()
	for i, send := range []struct {
		proxy hub.Proxy
		want  map[string]int
	}{
		{h.Clients().All(), map[string]int{"app:all": 1}},
		{h.Clients().Group("g"), map[string]int{"app:group:g": 1}},
		{h.Clients().Groups("g", "h"), map[string]int{"app:group:g": 1, "app:group:h": 1}},
		{h.Clients().User("u"), map[string]int{"app:user:u": 1}},
	} {
		if err := send.proxy.Send("Msg", i); err != nil {
			t.Fatal(err)
		}
		got, last := origin.take()
		if !maps.Equal(got, send.want) {
			t.Errorf("published %v, want %v", got, send.want)
		}
		inv, err := backplane.ReadInvocation(last)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := inv.Payloads["json"]; !ok || len(inv.Payloads) != 2 {
			t.Errorf("payloads for %v, want json and messagepack", slices.Collect(maps.Keys(inv.Payloads)))
		}
		for _, c := range clients {
			testutil.Eventually(t, "delivery", func() bool { return len(c.invocations("Msg")) == i+1 })
		}
	}
}

// A connection's channel is subscribed while it lives, however it ends.
func TestClusterConnectionChannelLifetime(t *testing.T) {
	broker := backplane.NewMemory()
	node, probe := broker.Node(), broker.Node()
	t.Cleanup(func() { node.Close(); probe.Close() })
	h := newHub(t, asker{}, hub.Config{Backplane: node, Name: "app", HandshakeTimeout: 200 * time.Millisecond})
	receivers := func(id string) int {
		n := make(chan int, 1)
		if err := probe.Publish("app:connection:"+id, []byte("x"), func(r int, _ error) { n <- r }); err != nil {
			t.Fatal(err)
		}
		return <-n
	}
	a := dial(t, h, "a", "")
	if n := receivers("a"); n != 1 {
		t.Fatalf("connected: %d subscribers", n)
	}
	a.feed(`{"type":7}`)
	testutil.Eventually(t, "a's channel gone after Close", func() bool { return receivers("a") == 0 })

	// No handshake: the connection never connects, and ends on the timeout.
	tr := testutil.NewTransport()
	c, err := h.Connect(hub.ConnInfo{ID: "mute"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	tr.Bind(c.Closed)
	testutil.Eventually(t, "the mute connection gone", func() bool { return !hub.Holds(h, "mute") })
	if n := receivers("mute"); n != 0 {
		t.Fatalf("never connected: %d subscribers", n)
	}
}

// After Shutdown the node subscribes to nothing: not all, nor the groups and
// users it had members of, nor its own channels.
func TestClusterShutdownLeavesNoSubscriptions(t *testing.T) {
	broker := backplane.NewMemory()
	node, probe := broker.Node(), broker.Node()
	t.Cleanup(func() { node.Close(); probe.Close() })
	h, err := hub.New(router{}, hub.Config{Backplane: node, Name: "app", NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	dial(t, h, "a", "u")
	if err := h.Groups().Add(context.Background(), "a", "g"); err != nil {
		t.Fatal(err)
	}
	shutdown(t, h)
	for _, ch := range []string{"app:all", "app:group:g", "app:user:u", "app:connection:a", "app:internal:groups", "app:internal:ack:n1", "app:internal:return:n1"} {
		testutil.Eventually(t, ch+" unsubscribed", func() bool {
			n := make(chan int, 1)
			if err := probe.Publish(ch, []byte("x"), func(r int, _ error) { n <- r }); err != nil {
				t.Fatal(err)
			}
			return <-n == 0
		})
	}
}

// stallingNode is a memory node on which the subscription of one channel is
// never confirmed, and which reports what it is asked to publish.
type stallingNode struct {
	*backplane.MemoryNode
	stall     string
	published func(channel string)
}

func (n *stallingNode) Subscribe(channel string, h backplane.Handler) <-chan struct{} {
	ready := n.MemoryNode.Subscribe(channel, h)
	if channel != n.stall {
		return ready
	}
	return make(chan struct{}) // never confirmed
}

func (n *stallingNode) Publish(channel string, msg []byte, done func(int, error)) error {
	n.published(channel)
	return n.MemoryNode.Publish(channel, msg, done)
}

// scaleoutGoroutines lists the goroutines that a hub's scale-out starts for
// a connection or another node's request (not the presence reports).
func scaleoutGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/actorhub/actorhub/hub.(*scaleout)") && !strings.Contains(g, "reportPresence") {
			out = append(out, g)
		}
	}
	return out
}

// A group change that another node asked for and that is still waiting
// (here for the group's subscription) when the hub shuts down ends with
// Shutdown: no goroutine of the hub's scale-out outlives it, and nothing is
// published (no late ack) after it returns.
func TestClusterShutdownWaitsForGroupChanges(t *testing.T) {
	broker := backplane.NewMemory()
	var returned atomic.Bool
	var late atomic.Int32
	a := &stallingNode{MemoryNode: broker.Node(), stall: "app:group:g",
		published: func(string) {
			if returned.Load() {
				late.Add(1)
			}
		}}
	b := broker.Node()
	t.Cleanup(func() { a.Close(); b.Close() })
	ha, err := hub.New(router{}, hub.Config{Backplane: a, Name: "app", NodeID: "a", AckTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hb := newHub(t, router{}, hub.Config{Backplane: b, Name: "app", NodeID: "b", AckTimeout: 5 * time.Second})
	dial(t, ha, "c1", "")

	added := make(chan error, 1)
	go func() { added <- hb.Groups().Add(context.Background(), "c1", "g") }()
	testutil.Eventually(t, "node a to add c1 and wait for the group's subscription", func() bool {
		for _, g := range scaleoutGoroutines() {
			if strings.Contains(g, "hub.(*scaleout).awaitKey") {
				return true
			}
		}
		return false
	})
	shutdown(t, ha)
	returned.Store(true)
	if left := scaleoutGoroutines(); len(left) > 0 {
		t.Fatalf("%d scale-out goroutines outlive Shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	err = <-added
	t.Logf("the asking node's Add: %v", err)
	if n := late.Load(); n != 0 {
		t.Fatalf("%d publishes after Shutdown returned", n)
	}
}
