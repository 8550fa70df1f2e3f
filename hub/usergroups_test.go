package hub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// plain is a hub with nothing to call: the tests drive it from outside.
type plain struct{}

func (plain) Nothing() {}

// got reports whether c received an Invocation of target with argument tag.
func got(c *client, target, tag string) bool {
	return slices.Contains(c.invocations(target), fmt.Sprintf("%q", tag))
}

// sendAndCheck sends tag to group g from h and checks that exactly the
// clients in want get it: those first, then an All marker sent after it
// reaches the others, and they must not have it by then.
func sendAndCheck(t *testing.T, h *hub.Hub, g, tag string, want []*client, others ...*client) {
	t.Helper()
	if err := h.Clients().Group(g).Send("G", tag); err != nil {
		t.Fatal(err)
	}
	for _, c := range want {
		testutil.Eventually(t, c.conn.ID()+" gets "+tag, func() bool { return got(c, "G", tag) })
	}
	mark := "after-" + tag
	if err := h.Clients().All().Send("Mark", mark); err != nil {
		t.Fatal(err)
	}
	for _, c := range others {
		testutil.Eventually(t, c.conn.ID()+" gets "+mark, func() bool { return got(c, "Mark", mark) })
		if got(c, "G", tag) {
			t.Fatalf("%s got %s, sent to group %s it is not in", c.conn.ID(), tag, g)
		}
	}
}

// waitCount waits until group g has n members on every node, as h counts.
func waitCount(t *testing.T, h *hub.Hub, g string, n int) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("group %s of %d", g, n), func() bool {
		c, err := h.Groups().Count(context.Background(), g)
		return err == nil && c == n
	})
}

func hasUser(t *testing.T, h *hub.Hub, user, group string) bool {
	t.Helper()
	ok, err := h.Groups().HasUser(context.Background(), user, group)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A user's group membership covers its connections now and later; it ends
// on RemoveUser, RemoveUserFromAll or its TTL; AddUserConnections covers
// only the connections of now.
func TestUserGroups(t *testing.T) {
	h := newHub(t, plain{}, hub.Config{})
	ctx := context.Background()
	groups := h.Groups()
	a1 := dial(t, h, "a1", "alice")
	b := dial(t, h, "b", "bob")
	anon := dial(t, h, "x", "")

	if err := groups.AddUser(ctx, "alice", "g", 0); err != nil {
		t.Fatal(err)
	}
	sendAndCheck(t, h, "g", "one", []*client{a1}, b, anon)
	a2 := dial(t, h, "a2", "alice") // a later connection joins at once
	sendAndCheck(t, h, "g", "two", []*client{a1, a2}, b, anon)
	if !hasUser(t, h, "alice", "g") || hasUser(t, h, "bob", "g") || hasUser(t, h, "alice", "other") {
		t.Fatal("HasUser")
	}

	if err := groups.RemoveUser(ctx, "alice", "g"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, h, "g", 0)
	if hasUser(t, h, "alice", "g") {
		t.Fatal("alice still in g after RemoveUser")
	}
	a3 := dial(t, h, "a3", "alice")
	sendAndCheck(t, h, "g", "three", nil, a1, a2, a3)

	// TTL: the membership, and the connections' with it, ends on its own.
	if err := groups.AddUser(ctx, "alice", "brief", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitCount(t, h, "brief", 3)
	waitCount(t, h, "brief", 0)
	if hasUser(t, h, "alice", "brief") {
		t.Fatal("expired membership still there")
	}
	a4 := dial(t, h, "a4", "alice")
	sendAndCheck(t, h, "brief", "late", nil, a4)

	// Only the connections of now.
	if err := groups.AddUserConnections(ctx, "bob", "now"); err != nil {
		t.Fatal(err)
	}
	if !hasUser(t, h, "bob", "now") { // through its connection
		t.Fatal("bob's connection not in now")
	}
	b2 := dial(t, h, "b2", "bob")
	sendAndCheck(t, h, "now", "now", []*client{b}, b2)

	// RemoveUserFromAll: every group, those joined on their own too.
	if err := groups.Add(ctx, "a1", "own"); err != nil {
		t.Fatal(err)
	}
	if err := groups.AddUser(ctx, "alice", "g2", time.Hour); err != nil {
		t.Fatal(err)
	}
	waitCount(t, h, "g2", 4)
	if err := groups.RemoveUserFromAll(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, h, "g2", 0)
	waitCount(t, h, "own", 0)
	a5 := dial(t, h, "a5", "alice")
	sendAndCheck(t, h, "g2", "gone", nil, a1, a5)
}

// Config.MaxUserGroups bounds the memberships a hub keeps; past it AddUser
// fails, while changes to existing ones and everything else go on.
func TestUserGroupsBound(t *testing.T) {
	h := newHub(t, plain{}, hub.Config{MaxUserGroups: 3})
	ctx := context.Background()
	g := h.Groups()
	for i := range 3 {
		if err := g.AddUser(ctx, "u", fmt.Sprint("g", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AddUser(ctx, "u", "g3", 0); !errors.Is(err, hub.ErrTooManyUserGroups) {
		t.Fatalf("fourth membership: %v", err)
	}
	if err := g.AddUser(ctx, "u", "g1", time.Hour); err != nil {
		t.Fatalf("renewing an existing one: %v", err)
	}
	c := dial(t, h, "c", "u")
	sendAndCheck(t, h, "g1", "still", []*client{c})
	if !hasUser(t, h, "u", "g0") || hasUser(t, h, "u", "g3") {
		t.Fatal("memberships")
	}
}

// A user without TTL keeps its newest MaxUserGroupsWithoutTTL memberships.
func TestUserGroupsWithoutTTLCapped(t *testing.T) {
	h := newHub(t, plain{}, hub.Config{})
	ctx := context.Background()
	for i := range hub.MaxUserGroupsWithoutTTL + 1 {
		if err := h.Groups().AddUser(ctx, "u", fmt.Sprint("g", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	if hasUser(t, h, "u", "g0") {
		t.Fatal("the oldest membership without TTL is still there")
	}
	if !hasUser(t, h, "u", "g1") || !hasUser(t, h, "u", fmt.Sprint("g", hub.MaxUserGroupsWithoutTTL)) {
		t.Fatal("newer memberships gone")
	}
}

// On three nodes: a membership made on one node covers the user's
// connections on every node, now and later; it ends everywhere; and a node
// that starts later learns the memberships from the others.
func TestClusterUserGroups(t *testing.T) {
	broker := backplane.NewMemory()
	var hubs []*hub.Hub
	start := func(name string) *hub.Hub {
		node := broker.Node()
		t.Cleanup(func() { node.Close() })
		h := newHub(t, plain{}, hub.Config{
			Backplane: node, NodeID: name, Name: "ug",
			AckTimeout: time.Second, NodeExpiry: 600 * time.Millisecond,
		})
		hubs = append(hubs, h)
		return h
	}
	n1, n2, n3 := start("n1"), start("n2"), start("n3")
	ctx := context.Background()
	a2 := dial(t, n2, "a2", "alice")
	a3 := dial(t, n3, "a3", "alice")
	b1 := dial(t, n1, "b1", "bob")

	if err := n1.Groups().AddUser(ctx, "alice", "g", 0); err != nil {
		t.Fatal(err)
	}
	sendAndCheck(t, n1, "g", "one", []*client{a2, a3}, b1)
	a1 := dial(t, n1, "a1", "alice")
	sendAndCheck(t, n3, "g", "two", []*client{a1, a2, a3}, b1)
	for _, h := range hubs {
		if !hasUser(t, h, "alice", "g") {
			t.Fatalf("%s: alice not in g", h.NodeID())
		}
	}

	// A node that starts now asks the others.
	n4 := start("n4")
	a4 := dial(t, n4, "a4", "alice")
	sendAndCheck(t, n2, "g", "three", []*client{a1, a2, a3, a4}, b1)

	if err := n3.Groups().RemoveUser(ctx, "alice", "g"); err != nil {
		t.Fatal(err)
	}
	for _, h := range hubs {
		if hasUser(t, h, "alice", "g") {
			t.Fatalf("%s: alice still in g", h.NodeID())
		}
	}
	sendAndCheck(t, n1, "g", "four", nil, a1, a2, a3, a4)

	// A TTL ends on every node.
	if err := n2.Groups().AddUser(ctx, "alice", "brief", 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	sendAndCheck(t, n4, "brief", "five", []*client{a1, a2, a3, a4}, b1)
	testutil.Eventually(t, "brief to expire", func() bool {
		for _, c := range []*client{a1, a2, a3, a4} {
			if ok, err := n1.Clients().Client(c.conn.ID()).Exists(ctx); !ok || err != nil {
				return false
			}
		}
		ok, err := n1.Clients().Group("brief").Exists(ctx)
		return err == nil && !ok
	})

	// RemoveUserFromAll on every node, groups joined on their own too.
	if err := n1.Groups().Add(ctx, "a3", "own"); err != nil {
		t.Fatal(err)
	}
	if err := n4.Groups().RemoveUserFromAll(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ok, err := n2.Clients().Group("own").Exists(ctx); ok || err != nil {
		t.Fatalf("group own after RemoveUserFromAll: %v %v", ok, err)
	}
}
