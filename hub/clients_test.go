package hub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// targets is what Clients and CallerClients have in common.
type targets interface {
	All() hub.Proxy
	AllExcept(ids ...string) hub.Proxy
	Client(id string) hub.Proxy
	Clients(ids ...string) hub.Proxy
	Group(name string) hub.Proxy
	Groups(names ...string) hub.Proxy
	GroupExcept(name string, ids ...string) hub.Proxy
	User(id string) hub.Proxy
	Users(ids ...string) hub.Proxy
}

var (
	_ targets = hub.Clients{}
	_ targets = hub.CallerClients{}
)

// pick returns the proxy a test case names.
func pick(t targets, kind string, names []string) hub.Proxy {
	switch kind {
	case "All":
		return t.All()
	case "AllExcept":
		return t.AllExcept(names...)
	case "Client":
		return t.Client(names[0])
	case "Clients":
		return t.Clients(names...)
	case "Group":
		return t.Group(names[0])
	case "Groups":
		return t.Groups(names...)
	case "GroupExcept":
		return t.GroupExcept(names[0], names[1:]...)
	case "User":
		return t.User(names[0])
	case "Users":
		return t.Users(names...)
	}
	cc := t.(hub.CallerClients)
	switch kind {
	case "Caller":
		return cc.Caller()
	case "Others":
		return cc.Others()
	case "OthersInGroup":
		return cc.OthersInGroup(names[0])
	}
	panic("unknown target " + kind)
}

// router sends "Msg" to the clients a call names.
type router struct{}

func (router) Route(ctx *hub.Context, kind string, names []string, tag string) error {
	return pick(ctx.Clients, kind, names).Send("Msg", tag)
}

func (router) AddAndSend(ctx *hub.Context, id, group string) error {
	if err := ctx.Groups.Add(ctx, id, group); err != nil {
		return err
	}
	return ctx.Clients.Group(group).Send("InGroup", group)
}

func (router) SendUnencodable(ctx *hub.Context) string {
	return fmt.Sprint(ctx.Clients.All().Send("Bad", make(chan int)))
}

// fixture is four connections: c1 and c2 of user u1, c3 of user u2, c4
// anonymous; c1 and c2 in group a, c1, c2 and c3 in group b.
type fixture struct {
	h      *hub.Hub            // the hub the test sends from
	at     map[string]*hub.Hub // connection -> the hub (node) it is on
	conns  map[string]*client
	ids    []string
	groups map[string][]string // group -> members, as the test expects them
	users  map[string][]string // user -> connections
	marks  int
}

func newFixture(t *testing.T) *fixture {
	return newFixtureOn(t, newHub(t, router{}, hub.Config{}))
}

// newFixtureOn spreads the connections over hubs, the nodes of one hub:
// c1 on the first, c2 on the second, and so on round.
func newFixtureOn(t *testing.T, hubs ...*hub.Hub) *fixture {
	h := hubs[0]
	f := &fixture{
		h: h, at: map[string]*hub.Hub{}, conns: map[string]*client{}, ids: []string{"c1", "c2", "c3", "c4"},
		groups: map[string][]string{"a": {"c1", "c2"}, "b": {"c1", "c2", "c3"}},
		users:  map[string][]string{"u1": {"c1", "c2"}, "u2": {"c3"}},
	}
	for i, id := range f.ids {
		f.at[id] = hubs[i%len(hubs)]
	}
	for id, user := range map[string]string{"c1": "u1", "c2": "u1", "c3": "u2", "c4": ""} {
		f.conns[id] = dial(t, f.at[id], id, user)
	}
	ctx := context.Background()
	for g, members := range f.groups {
		for _, id := range members {
			if err := h.Groups().Add(ctx, id, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// settle waits until every connection has received all that was sent to it
// before the call, through any path: a "Mark" goes through every group,
// user and connection, each after whatever the test sent that way, and
// every connection waits for all the marks it is due.
func (f *fixture) settle(t *testing.T) {
	t.Helper()
	f.marks++
	tag := "mark" + strconv.Itoa(f.marks)
	cl := f.h.Clients()
	due := map[string]int{}
	send := func(p hub.Proxy, to []string) {
		if err := p.Send("Mark", tag); err != nil {
			t.Fatal(err)
		}
		for _, id := range to {
			due[id]++
		}
	}
	send(cl.All(), f.ids)
	for g, members := range f.groups {
		send(cl.Group(g), members)
	}
	for u, conns := range f.users {
		send(cl.User(u), conns)
	}
	for _, id := range f.ids {
		send(cl.Client(id), []string{id})
	}
	for id, n := range due {
		c := f.conns[id]
		testutil.Eventually(t, id+" marks", func() bool { return count(c.invocations("Mark"), `"`+tag+`"`) == n })
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

type targetCase struct {
	kind  string
	names []string
	want  []string // connections that get the message, once each
}

// Cases valid from anywhere; the caller, when there is one, is c1.
var commonCases = []targetCase{
	{"All", nil, []string{"c1", "c2", "c3", "c4"}},
	{"AllExcept", []string{"c2", "c4"}, []string{"c1", "c3"}},
	{"AllExcept", []string{"c1"}, []string{"c2", "c3", "c4"}},
	{"Client", []string{"c3"}, []string{"c3"}},
	{"Client", []string{"c1"}, []string{"c1"}},
	{"Client", []string{"nobody"}, nil},
	{"Clients", []string{"c1", "c3", "c3"}, []string{"c1", "c3"}},
	{"Clients", []string{"c4", "nobody"}, []string{"c4"}},
	{"Group", []string{"a"}, []string{"c1", "c2"}},
	{"Group", []string{"empty"}, nil},
	{"Groups", []string{"a", "b"}, []string{"c1", "c2", "c3"}},
	{"Groups", []string{"b", "a", "b"}, []string{"c1", "c2", "c3"}},
	{"GroupExcept", []string{"b", "c3"}, []string{"c1", "c2"}},
	{"GroupExcept", []string{"b", "c1", "c2"}, []string{"c3"}},
	{"User", []string{"u1"}, []string{"c1", "c2"}},
	{"User", []string{"u2"}, []string{"c3"}},
	{"Users", []string{"u1", "u2"}, []string{"c1", "c2", "c3"}},
	{"Users", []string{"u2", "nobody"}, []string{"c3"}},
}

// Cases only a hub method has.
var callerCases = []targetCase{
	{"Caller", nil, []string{"c1"}},
	{"Others", nil, []string{"c2", "c3", "c4"}},
	{"OthersInGroup", []string{"a"}, []string{"c2"}},
	{"OthersInGroup", []string{"b"}, []string{"c2", "c3"}},
}

// check asserts that exactly want got the message tagged tag, once each.
func (f *fixture) check(t *testing.T, tc targetCase, tag string) {
	t.Helper()
	for _, id := range f.ids {
		wantN := 0
		if slices.Contains(tc.want, id) {
			wantN = 1
		}
		if n := count(f.conns[id].invocations("Msg"), `"`+tag+`"`); n != wantN {
			t.Errorf("%s%v: %s got it %d times, want %d", tc.kind, tc.names, id, n, wantN)
		}
	}
}

// fixtures are the deployments a test body runs on: one node, and three
// nodes on a backplane with the connections spread over them.
var fixtures = []struct {
	name string
	make func(t *testing.T) *fixture
}{
	{"single", newFixture},
	{"cluster", newClusterFixture},
}

func TestClientsFromHubMethod(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) { testClientsFromHubMethod(t, fx.make(t)) })
	}
}

func testClientsFromHubMethod(t *testing.T, f *fixture) {
	caller := f.conns["c1"]
	for i, tc := range append(slices.Clone(commonCases), callerCases...) {
		tag := "m" + strconv.Itoa(i)
		id, msg := caller.invocation("Route", tc.kind, tc.names, tag)
		caller.feed(msg)
		if got := caller.waitCompletion(id); got.Error != "" {
			t.Fatalf("%s%v: %s", tc.kind, tc.names, got.Error)
		}
		f.settle(t)
		f.check(t, tc, tag)
		if !slices.Contains(tc.want, "c1") {
			continue
		}
		// The caller gets its copy before the method's completion.
		var msgAt, doneAt = -1, -1
		for j, m := range caller.received() {
			w := decode(t, m)
			if w.Type == 1 && w.Target == "Msg" && string(w.Arguments[0]) == `"`+tag+`"` {
				msgAt = j
			}
			if w.Type == 3 && w.InvocationID == id {
				doneAt = j
			}
		}
		if msgAt > doneAt {
			t.Errorf("%s%v: the caller got the message (at %d) after the completion (at %d)", tc.kind, tc.names, msgAt, doneAt)
		}
	}
}

func TestClientsFromHubContext(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) { testClientsFromHubContext(t, fx.make(t)) })
	}
}

func testClientsFromHubContext(t *testing.T, f *fixture) {
	for i, tc := range commonCases {
		tag := "h" + strconv.Itoa(i)
		if err := pick(f.h.Clients(), tc.kind, tc.names).Send("Msg", tag); err != nil {
			t.Fatalf("%s%v: %v", tc.kind, tc.names, err)
		}
		f.settle(t)
		f.check(t, tc, tag)
	}
}

func TestSendEncoding(t *testing.T) {
	f := newFixture(t)
	if err := f.h.Clients().Client("c4").Send("NoArgs"); err != nil {
		t.Fatal(err)
	}
	if err := f.h.Clients().Client("c4").Send("Args", 1, "two", []int{3}, nil, map[string]bool{"x": true}); err != nil {
		t.Fatal(err)
	}
	c := f.conns["c4"]
	testutil.Eventually(t, "two messages", func() bool { return len(c.received()) == 2 })
	want := []string{
		`{"type":1,"target":"NoArgs","arguments":[]}`,
		`{"type":1,"target":"Args","arguments":[1,"two",[3],null,{"x":true}]}`,
	}
	if got := c.received(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSendUnencodable(t *testing.T) {
	f := newFixture(t)
	if err := f.h.Clients().All().Send("Bad", make(chan int)); err == nil {
		t.Fatal("hub context: no error sending a channel")
	}
	if err := f.h.Clients().Group("a").Send("Bad", func() {}); err == nil {
		t.Fatal("hub context: no error sending a func")
	}
	if got := f.conns["c1"].invoke("SendUnencodable").Result; got == `"<nil>"` || got == "" {
		t.Fatalf("hub method: Send returned %s", got)
	}
	f.settle(t)
	for _, id := range f.ids {
		if got := f.conns[id].invocations("Bad"); len(got) != 0 {
			t.Errorf("%s got %q", id, got)
		}
	}
}

// Groups.Add returns once the membership is in effect: a send right after
// reaches the new member, with no retry.
func TestGroupAddInEffectOnReturn(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) { testGroupAddInEffectOnReturn(t, fx.make(t)) })
	}
}

func testGroupAddInEffectOnReturn(t *testing.T, f *fixture) {
	ctx := context.Background()
	c4 := f.conns["c4"]
	const n = 50
	var want []string
	for i := range n {
		g := "fresh" + strconv.Itoa(i) // a group with no actor yet
		if err := f.h.Groups().Add(ctx, "c4", g); err != nil {
			t.Fatal(err)
		}
		if err := f.h.Clients().Group(g).Send("InGroup", g); err != nil {
			t.Fatal(err)
		}
		want = append(want, `"`+g+`"`)
	}
	testutil.Eventually(t, "all group messages", func() bool { return len(c4.invocations("InGroup")) == n })
	// Each group has its own actor: no order holds between groups.
	if got := c4.invocations("InGroup"); !sameSet(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}

	// From a hub method, adding another connection.
	c1 := f.conns["c1"]
	for i := range 20 {
		g := "method" + strconv.Itoa(i)
		if got := c1.invoke("AddAndSend", "c4", g); got.Error != "" {
			t.Fatal(got.Error)
		}
		testutil.Eventually(t, g, func() bool { return slices.Contains(c4.invocations("InGroup"), `"`+g+`"`) })
	}
	if got := c1.invocations("InGroup"); len(got) != 0 {
		t.Fatalf("the caller, not a member, got %q", got)
	}
}

func TestGroupRemove(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) { testGroupRemove(t, fx.make(t)) })
	}
}

func testGroupRemove(t *testing.T, f *fixture) {
	ctx := context.Background()
	if err := f.h.Groups().Remove(ctx, "c2", "a"); err != nil {
		t.Fatal(err)
	}
	f.groups["a"] = []string{"c1"}
	if err := f.h.Clients().Group("a").Send("Msg", "after-remove"); err != nil {
		t.Fatal(err)
	}
	f.settle(t)
	f.check(t, targetCase{"Group", []string{"a"}, []string{"c1"}}, "after-remove")

	// Unknown groups are no error, as in ASP.NET Core; unknown
	// connections neither on one node, while across nodes no node
	// acknowledges the change.
	unknown := []error{f.h.Groups().Add(ctx, "nobody", "a"), f.h.Groups().Remove(ctx, "nobody", "a")}
	for _, err := range unknown {
		if clustered := len(f.hubs()) > 1; clustered != errors.Is(err, hub.ErrNoAck) {
			t.Errorf("unknown connection: got %v", err)
		}
	}
	for _, err := range []error{
		f.h.Groups().Remove(ctx, "c4", "never-joined"),
		f.h.Groups().Add(ctx, "c1", "a"), // already a member
	} {
		if err != nil {
			t.Errorf("got %v", err)
		}
	}
	// Adding twice delivers once.
	if err := f.h.Clients().Group("a").Send("Msg", "twice-added"); err != nil {
		t.Fatal(err)
	}
	f.settle(t)
	f.check(t, targetCase{"Group", []string{"a"}, []string{"c1"}}, "twice-added")
}

// A group membership ends with its connection.
func TestGroupsLeftOnDisconnect(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) { testGroupsLeftOnDisconnect(t, fx.make(t)) })
	}
}

func testGroupsLeftOnDisconnect(t *testing.T, f *fixture) {
	c2 := f.conns["c2"]
	c2.feed(`{"type":7}`)
	testutil.Eventually(t, "c2 gone", func() bool { return !hub.Holds(f.at["c2"], "c2") })
	f.groups = map[string][]string{"a": {"c1"}, "b": {"c1", "c3"}}
	// A new connection with the same id is not in c2's groups.
	f.conns["c2"] = dial(t, f.at["c2"], "c2", "u1")
	if err := f.h.Clients().Group("a").Send("Msg", "after"); err != nil {
		t.Fatal(err)
	}
	f.settle(t)
	f.check(t, targetCase{"Group", []string{"a"}, []string{"c1"}}, "after")
}
