package backplane_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/internal/testutil"
)

// The backplane contract: what the hub relies on, checked against every
// engine with its real server. An engine joins with one line in engines
// and a start function (in its own _test.go file) that starts its server
// and connects nodes to it.
var engines = []engine{
	{"memory", startMemory},
	{"redis", startRedis},
	{"redis-cluster", startRedisCluster},
	{"postgres", startPostgres},
	{"nats", startNATS},
}

// engine is a backplane under the contract.
type engine struct {
	name  string
	start func(t testing.TB) *server
}

// server is an engine's server as a test holds it; it stops when the test
// ends.
type server struct {
	// node connects a new node, closed when the test ends. Nodes of
	// different prefixes must not hear each other ("" is the engine's
	// default prefix).
	node func(t testing.TB, prefix string) backplane.Backplane
	// stop makes the server unavailable (stopped, or the broker down);
	// restart brings it back.
	stop, restart func()
	// deadURL names a server of this kind where none answers; "" for an
	// engine that has no URL.
	deadURL string
	// orderPerChannel: the messages one node publishes keep their order
	// on each channel, but not from one channel to another (Redis
	// Cluster: the channels live on different masters, each with its own
	// connection).
	orderPerChannel bool
}

// The cases, each run on a server of its own engine; servers of different
// engines run side by side.
var contract = []struct {
	name string
	run  func(t *testing.T, s *server)
}{
	{"PublishSubscribe", contractPublishSubscribe},
	{"ReceiversCountNodes", contractReceivers},
	{"OnlySubscribersReceive", contractOnlySubscribers},
	{"ManySubscriptions", contractManySubscriptions},
	{"ConcurrentPublishersKeepTheirOrder", contractConcurrentPublishers},
	{"LargeMessages", contractLargeMessages},
	{"AnyChannelName", contractChannelNames},
	{"HandlerMayPublish", contractHandlerMayPublish},
	{"SubscribeReplacesHandler", contractReplaceHandler},
	{"Presence", contractPresence},
	{"Closed", contractClosed},
	{"UnreachableAtStart", contractUnreachable},
}

func TestContract(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			s := e.start(t)
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) { c.run(t, s) })
			}
		})
	}
}

// The outage stops the server: a server of its own.
func TestContractOutage(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			contractOutage(t, e.start(t))
		})
	}
}

// inbox collects what a handler receives, as "channel=message".
type inbox struct{ events testutil.Events }

func (b *inbox) handle(channel string, msg []byte) { b.events.Add(channel + "=" + string(msg)) }

func (b *inbox) get() []string { return b.events.All() }

// publish publishes and waits for done: the number of receivers.
func publish(t *testing.T, b backplane.Backplane, channel, msg string) int {
	t.Helper()
	n, err := tryPublish(b, channel, msg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tryPublish(b backplane.Backplane, channel, msg string) (int, error) {
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	if err := b.Publish(channel, []byte(msg), func(n int, err error) { got <- result{n, err} }); err != nil {
		return 0, err
	}
	select {
	case r := <-got:
		return r.n, r.err
	case <-time.After(15 * time.Second):
		return 0, errors.New("done was not called within 15 s")
	}
}

func received(b backplane.Backplane) uint64 {
	return b.(backplane.StatsReporter).Stats().Received
}

// Subscriptions take effect when Subscribe's channel closes; messages of
// one publisher arrive in order; prefixes keep deployments apart; after
// Unsubscribe nothing more arrives.
func contractPublishSubscribe(t *testing.T, s *server) {
	a, b := s.node(t, "app1"), s.node(t, "app1")
	other := s.node(t, "app2")
	var got, otherGot inbox
	<-b.Subscribe("ch", got.handle)
	<-other.Subscribe("ch", otherGot.handle)
	if n := publish(t, a, "ch", "first"); n != 1 {
		t.Fatalf("receivers: %d, want 1", n)
	}
	const n = 2000
	for i := range n {
		if err := a.Publish("ch", []byte(strconv.Itoa(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyWithin(t, 10*time.Second, "every message", func() bool { return len(got.get()) == n+1 })
	for i, m := range got.get()[1:] {
		if m != "ch="+strconv.Itoa(i) {
			t.Fatalf("message %d: %q (out of order)", i, m)
		}
	}
	if len(otherGot.get()) != 0 {
		t.Fatalf("another prefix got %d messages, first %q", len(otherGot.get()), otherGot.get()[0])
	}
	b.Unsubscribe("ch")
	// While the unsubscription is on its way a publish may still reach b
	// (counted, or with NATS unacknowledged: an error); then none does.
	testutil.EventuallyWithin(t, 10*time.Second, "unsubscribed", func() bool {
		n, err := tryPublish(a, "ch", "after")
		return err == nil && n == 0
	})
	before := len(got.get())
	publish(t, a, "ch", "later")
	<-b.Subscribe("marker", got.handle)
	publish(t, a, "marker", "m")
	testutil.EventuallyWithin(t, 5*time.Second, "the marker", func() bool { return len(got.get()) > before })
	if g := got.get(); len(g) != before+1 || g[before] != "marker=m" {
		t.Fatalf("after Unsubscribe: %q", g[before:])
	}
}

// done counts the nodes subscribed, the publisher among them.
func contractReceivers(t *testing.T, s *server) {
	a, b, c := s.node(t, ""), s.node(t, ""), s.node(t, "")
	var got inbox
	<-a.Subscribe("r", got.handle)
	<-b.Subscribe("r", got.handle)
	if n := publish(t, a, "r", "x"); n != 2 {
		t.Fatalf("receivers with a and b subscribed: %d, want 2", n)
	}
	if n := publish(t, c, "r", "y"); n != 2 {
		t.Fatalf("receivers, published by a third node: %d, want 2", n)
	}
	if n := publish(t, c, "nobody", "z"); n != 0 {
		t.Fatalf("receivers of a channel nobody subscribes to: %d", n)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "4 deliveries", func() bool { return len(got.get()) == 4 })
}

// A message travels only to the nodes that subscribe to its channel (a
// group's messages never reach a node without members): b, subscribed to
// y only, receives nothing of x, not even to drop it.
func contractOnlySubscribers(t *testing.T, s *server) {
	a, b := s.node(t, ""), s.node(t, "")
	var got inbox
	<-b.Subscribe("y", got.handle)
	base := received(b)
	for i := range 50 {
		if err := a.Publish("x", []byte(strconv.Itoa(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, a, "y", "after the xs")
	testutil.EventuallyWithin(t, 5*time.Second, "y", func() bool { return len(got.get()) == 1 })
	if r := received(b) - base; r != 1 {
		t.Fatalf("b received %d messages, want 1 (y only)", r)
	}
}

// Many subscriptions at once (as connections arrive) all take effect.
func contractManySubscriptions(t *testing.T, s *server) {
	a, b := s.node(t, ""), s.node(t, "")
	var got inbox
	var readies []<-chan struct{}
	for i := range 3000 {
		readies = append(readies, b.Subscribe(fmt.Sprint("c", i), got.handle))
	}
	for _, r := range readies {
		<-r
	}
	for i := range 3000 {
		if err := a.Publish(fmt.Sprint("c", i), []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyWithin(t, 20*time.Second, "a message on each", func() bool { return len(got.get()) == 3000 })
	for i := range 3000 {
		b.Unsubscribe(fmt.Sprint("c", i))
	}
}

// Two nodes publish at once: a subscriber gets each one's messages in
// the order it published them.
func contractConcurrentPublishers(t *testing.T, s *server) {
	a, b, c := s.node(t, ""), s.node(t, ""), s.node(t, "")
	var got inbox
	<-c.Subscribe("ch", got.handle)
	const n = 1000
	var wg sync.WaitGroup
	for _, p := range []struct {
		name string
		b    backplane.Backplane
	}{{"a", a}, {"b", b}} {
		wg.Go(func() {
			for i := range n {
				if err := p.b.Publish("ch", []byte(p.name+strconv.Itoa(i)), nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	testutil.EventuallyWithin(t, 10*time.Second, "every message", func() bool { return len(got.get()) == 2*n })
	next := map[byte]int{}
	for _, m := range got.get() {
		m = strings.TrimPrefix(m, "ch=")
		if want := string(m[0]) + strconv.Itoa(next[m[0]]); m != want {
			t.Fatalf("got %q, want %q", m, want)
		}
		next[m[0]]++
	}
}

// Messages of any size the hub allows (1 MB by default, and more) cross,
// whole, in order with the small ones.
func contractLargeMessages(t *testing.T, s *server) {
	a, b := s.node(t, ""), s.node(t, "")
	got := make(chan []byte, 10)
	<-b.Subscribe("big", func(_ string, m []byte) { got <- bytes.Clone(m) })
	sizes := []int{1, 1<<20 + 1024, 10, 3 << 20, 2}
	var sent [][]byte
	for i, size := range sizes {
		m := make([]byte, size)
		for j := range m {
			m[j] = byte(i*7 + j*13)
		}
		sent = append(sent, m)
		if err := a.Publish("big", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range sizes {
		select {
		case m := <-got:
			if !bytes.Equal(m, sent[i]) {
				t.Fatalf("message %d: %d bytes, want %d, or different content", i, len(m), len(sent[i]))
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("message %d (%d bytes) did not arrive", i, sizes[i])
		}
	}
	if n := publish(t, a, "big", string(sent[1])); n != 1 {
		t.Fatalf("receivers of a large message: %d", n)
	}
	<-got
}

// A channel's name is any string (a group's name is what a hub method
// passes): each reaches its own subscribers only.
func contractChannelNames(t *testing.T, s *server) {
	a, b := s.node(t, ""), s.node(t, "")
	names := []string{"", "a.b", "a", "b", "*", ">", "a.*", "with space", "tab\there", "new\nline", "%41", "A", "é☃",
		"\x00", "$SYS", "_INBOX", strings.Repeat("long", 100), strings.Repeat("long", 100) + "!", "x:y:z", "g:\xff"}
	var got inbox
	for _, name := range names {
		<-b.Subscribe(name, got.handle)
	}
	for i, name := range names {
		if err := a.Publish(name, []byte(strconv.Itoa(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyWithin(t, 5*time.Second, "every channel", func() bool { return len(got.get()) >= len(names) })
	// The behaviour under test, not synchronisation: no message comes twice,
	// even a little later.
	time.Sleep(100 * time.Millisecond)
	g := got.get()
	if len(g) != len(names) {
		t.Fatalf("got %d messages, want %d: %q", len(g), len(names), g)
	}
	if s.orderPerChannel { // one message per channel: compare in publish order
		slices.SortFunc(g, func(a, b string) int {
			return cmp.Compare(atoiAfterEq(a), atoiAfterEq(b))
		})
	}
	for i, name := range names {
		if g[i] != name+"="+strconv.Itoa(i) {
			t.Fatalf("message %d: %q, want %q", i, g[i], name+"="+strconv.Itoa(i))
		}
	}
}

// atoiAfterEq is the number after the last "=" of "channel=number".
func atoiAfterEq(s string) int {
	n, _ := strconv.Atoi(s[strings.LastIndex(s, "=")+1:])
	return n
}

// A handler may publish, even while a flood keeps its node busy.
func contractHandlerMayPublish(t *testing.T, s *server) {
	a, b := s.node(t, ""), s.node(t, "")
	var back inbox
	<-b.Subscribe("return", back.handle)
	<-a.Subscribe("ch", func(string, []byte) { _ = a.Publish("return", []byte("r"), nil) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5000 {
			if b.Publish("ch", []byte("x"), nil) != nil {
				time.Sleep(time.Millisecond) // queue full: let it drain
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("publishing from a handler deadlocked the backplane")
	}
	testutil.EventuallyWithin(t, 10*time.Second, "answers from the handler", func() bool { return len(back.get()) > 0 })
}

// Subscribing again to a channel replaces its handler.
func contractReplaceHandler(t *testing.T, s *server) {
	a, b := s.node(t, ""), s.node(t, "")
	var first, second inbox
	<-b.Subscribe("h", first.handle)
	publish(t, a, "h", "1")
	testutil.EventuallyWithin(t, 5*time.Second, "1", func() bool { return len(first.get()) == 1 })
	<-b.Subscribe("h", second.handle)
	if n := publish(t, a, "h", "2"); n != 1 {
		t.Fatalf("receivers after subscribing twice: %d", n)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "2", func() bool { return len(second.get()) == 1 })
	time.Sleep(50 * time.Millisecond) // the behaviour under test: the replaced handler gets nothing, even later
	if len(first.get()) != 1 || len(second.get()) != 1 {
		t.Fatalf("first %q, second %q", first.get(), second.get())
	}
}

// Each node's report per set, read by every node, forgotten after its ttl
// or when dropped.
func contractPresence(t *testing.T, s *server) {
	a, b := s.node(t, "x"), s.node(t, "x")
	other := s.node(t, "y")
	ctx := context.Background()
	if err := a.PutPresence(ctx, "hub:nodes", "n1", map[string]int64{"all": 3, "g:room": 2, "g:a.b c": 7}, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := b.PutPresence(ctx, "hub:nodes", "n2", map[string]int64{"all": 1}, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, err := b.Presence(ctx, "hub:nodes", "g:room")
	if err != nil || got["n1"] != 2 || got["n2"] != 0 || len(got) != 2 {
		t.Fatalf("presence: %v, %v", got, err)
	}
	if got, err := a.Presence(ctx, "hub:nodes", "g:a.b c"); err != nil || got["n1"] != 7 {
		t.Fatalf("presence of an odd name: %v, %v", got, err)
	}
	if got, err := other.Presence(ctx, "hub:nodes", "all"); err != nil || len(got) != 0 {
		t.Fatalf("another prefix sees %v, %v", got, err)
	}
	if got, err := a.Presence(ctx, "other:nodes", "all"); err != nil || len(got) != 0 {
		t.Fatalf("a set nobody reported to: %v, %v", got, err)
	}
	// n2 keeps reporting; n1 stops and expires.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				_ = b.PutPresence(ctx, "hub:nodes", "n2", map[string]int64{"all": 1}, 1500*time.Millisecond)
			}
		}
	}()
	var once sync.Once
	stopReports := func() { once.Do(func() { close(stop); <-stopped }) }
	t.Cleanup(stopReports)
	testutil.EventuallyWithin(t, 10*time.Second, "n1 expired", func() bool {
		got, err := b.Presence(ctx, "hub:nodes", "all")
		return err == nil && len(got) == 1 && got["n2"] == 1
	})
	stopReports()
	if err := b.DropPresence(ctx, "hub:nodes", "n2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Presence(ctx, "hub:nodes", "all"); len(got) != 0 {
		t.Fatalf("after drop: %v", got)
	}
	if err := a.DropPresence(ctx, "never:reported", "n9"); err != nil {
		t.Fatalf("dropping what was never reported: %v", err)
	}
}

// After Close: publishes fail with ErrClosed, a second Close too, and a
// subscription is not waited for.
func contractClosed(t *testing.T, s *server) {
	a := s.node(t, "")
	var got inbox
	<-a.Subscribe("c", got.handle)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Publish("c", []byte("x"), nil); !errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if err := a.Close(); !errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Close twice: %v", err)
	}
	select {
	case <-a.Subscribe("d", got.handle):
	case <-time.After(time.Second):
		t.Fatal("Subscribe after Close waits")
	}
	a.Unsubscribe("c")
}

// A server that does not answer at start is an error at once, naming it;
// so is a bad URL.
func contractUnreachable(t *testing.T, s *server) {
	if s.deadURL == "" {
		t.Skip("no URL")
	}
	start := time.Now()
	_, err := backplane.Open(s.deadURL, backplane.Options{})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	host := s.deadURL[strings.Index(s.deadURL, "://")+3:]
	host = host[strings.LastIndex(host, "@")+1:]
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	if !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("the error does not name %s as unreachable: %v", host, err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	t.Log(err)
	scheme := s.deadURL[:strings.Index(s.deadURL, "://")]
	if _, err := backplane.Open(scheme+"://[nope", backplane.Options{}); err == nil {
		t.Fatal("a malformed URL was accepted")
	}
}

// The server stops: publishes fail fast, a subscription made meanwhile is
// not waited for. It returns: the nodes find it again by themselves,
// subscriptions made before and during the outage work.
func contractOutage(t *testing.T, s *server) {
	a, b := s.node(t, "p"), s.node(t, "p")
	var got, late inbox
	<-b.Subscribe("ch", got.handle)
	publish(t, a, "ch", "before")
	testutil.EventuallyWithin(t, 5*time.Second, "before", func() bool { return len(got.get()) == 1 })

	ready := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return a.(readier).Ready(ctx)
	}
	if err := ready(); err != nil {
		t.Fatalf("Ready with the server up: %v", err)
	}

	s.stop()
	testutil.EventuallyWithin(t, 5*time.Second, "Ready failing with the server down", func() bool {
		return errors.Is(ready(), backplane.ErrUnavailable)
	})
	start := time.Now()
	// The first publishes may be on their way as it stops; they fail
	// after the fact. Soon publishes fail at once.
	testutil.EventuallyWithin(t, 10*time.Second, "a publish that fails", func() bool {
		_, err := tryPublish(a, "ch", "lost")
		return errors.Is(err, backplane.ErrUnavailable)
	})
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("failing took %v", d)
	}
	start = time.Now()
	_ = a.Publish("ch", []byte("lost"), nil)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a publish while down took %v", d)
	}
	select {
	case <-a.Subscribe("late", late.handle):
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe waited for a server that is down")
	}
	if _, err := a.Presence(context.Background(), "s", "all"); err == nil {
		t.Fatal("presence while down did not fail")
	}
	if st := a.(backplane.StatsReporter).Stats(); st.PublishErrors == 0 {
		t.Fatalf("stats while down: %+v", st)
	}

	s.restart()
	testutil.EventuallyWithin(t, 30*time.Second, "delivery after the server returns", func() bool {
		_ = a.Publish("ch", []byte("after"), nil)
		_ = b.Publish("late", []byte("after"), nil)
		time.Sleep(50 * time.Millisecond) // paces the poll's publishes: one pair per 50 ms
		msgs := got.get()
		return len(late.get()) > 0 && msgs[len(msgs)-1] == "ch=after"
	})
	if n := publish(t, b, "late", "counted"); n != 1 {
		t.Fatalf("receivers of the late subscription: %d", n)
	}
	if st := a.(backplane.StatsReporter).Stats(); !st.Up {
		t.Fatalf("stats after the outage: %+v", st)
	}
	testutil.EventuallyWithin(t, 10*time.Second, "Ready once the server is back", func() bool { return ready() == nil })
	a.Close()
	if err := ready(); !errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Ready after Close: %v", err)
	}
}

// readier is what a readiness probe asks of a backplane (cmd/server's
// /readyz); every engine has it.
type readier interface {
	Ready(ctx context.Context) error
}
