package hub_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// closeLog records why connections ended.
type closeLog struct {
	plain
	mu     sync.Mutex
	causes map[string]error // guarded by mu
}

func (l *closeLog) OnDisconnected(ctx *hub.Context, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.causes == nil {
		l.causes = map[string]error{}
	}
	l.causes[ctx.ConnectionID] = err
}

func (l *closeLog) cause(id string) (error, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err, ok := l.causes[id]
	return err, ok
}

// closedWith waits until c got a Close message and returns it.
func closedWith(t *testing.T, c *client) wire {
	t.Helper()
	var w wire
	testutil.Eventually(t, c.conn.ID()+" closed", func() bool {
		for _, m := range c.received() {
			if w = decode(t, m); w.Type == 7 {
				return c.tr.Closed()
			}
		}
		return false
	})
	return w
}

func exists(t *testing.T, p hub.Proxy) bool {
	t.Helper()
	ok, err := p.Exists(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// closeScenario runs the close and exists checks against nodes (one hub
// or the nodes of one): connections c1..c6 spread over them.
func closeScenario(t *testing.T, log *closeLog, nodes []*hub.Hub) {
	ctx := context.Background()
	at := func(i int) *hub.Hub { return nodes[i%len(nodes)] }
	c1 := dial(t, at(0), "c1", "u1")
	c2 := dial(t, at(1), "c2", "u1")
	c3 := dial(t, at(2), "c3", "u2")
	c4 := dial(t, at(3), "c4", "")
	c5 := dial(t, at(4), "c5", "u3")
	c6 := dial(t, at(5), "c6", "")
	h := nodes[0]
	for _, id := range []string{"c3", "c4", "c5"} {
		if err := h.Groups().Add(ctx, id, "g"); err != nil {
			t.Fatal(err)
		}
	}
	cl := h.Clients()
	for _, p := range []hub.Proxy{cl.Client("c2"), cl.Clients("nobody", "c3"), cl.User("u1"), cl.Users("nobody", "u2"), cl.Group("g"), cl.GroupExcept("g", "c3"), cl.All()} {
		if !exists(t, p) {
			t.Fatalf("%+v does not exist", p)
		}
	}
	for _, p := range []hub.Proxy{cl.Client("nobody"), cl.User("nobody"), cl.Group("nobody"), cl.GroupExcept("g", "c3", "c4", "c5")} {
		if exists(t, p) {
			t.Fatalf("%+v exists", p)
		}
	}

	// One connection, on whatever node, with a reason.
	if err := cl.Client("c2").Close(ctx, "go away"); err != nil {
		t.Fatal(err)
	}
	if w := closedWith(t, c2); w.Error != "go away" || w.AllowReconnect {
		t.Fatalf("c2's Close: %+v", w)
	}
	testutil.Eventually(t, "c2's OnDisconnected", func() bool {
		err, ok := log.cause("c2")
		return ok && errors.Is(err, hub.ErrServerClosed)
	})
	testutil.Eventually(t, "c2 gone", func() bool { return !exists(t, cl.Client("c2")) })

	// A group but one, without a reason.
	if err := cl.GroupExcept("g", "c4").Close(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{c3, c5} {
		if w := closedWith(t, c); w.Error != "" || w.AllowReconnect {
			t.Fatalf("%s's Close: %+v", c.conn.ID(), w)
		}
	}
	// A user.
	if err := cl.User("u1").Close(ctx, "user"); err != nil {
		t.Fatal(err)
	}
	if w := closedWith(t, c1); w.Error != "user" {
		t.Fatalf("c1's Close: %+v", w)
	}
	if !exists(t, cl.Client("c4")) || !exists(t, cl.Client("c6")) {
		t.Fatal("c4 or c6 closed")
	}
	// All but one.
	if err := cl.AllExcept("c6").Close(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	closedWith(t, c4)
	if !exists(t, cl.Client("c6")) || c6.tr.Closed() {
		t.Fatal("c6 closed")
	}
	// Unknown connections are no error.
	if err := cl.Client("nobody").Close(ctx, ""); err != nil {
		t.Fatal(err)
	}
}

func TestCloseAndExists(t *testing.T) {
	log := &closeLog{}
	closeScenario(t, log, []*hub.Hub{newHub(t, log, hub.Config{})})
}

func TestClusterCloseAndExists(t *testing.T) {
	log := &closeLog{}
	closeScenario(t, log, newCluster(t, log, 3))
}

// RemoveFromAll takes a connection out of every group, on whichever node
// holds it.
func TestRemoveFromAll(t *testing.T) {
	for name, nodes := range map[string][]*hub.Hub{
		"one node":    {newHub(t, plain{}, hub.Config{})},
		"three nodes": newCluster(t, plain{}, 3),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h, far := nodes[0], nodes[len(nodes)-1]
			c := dial(t, far, "c-"+name, "")
			other := dial(t, far, "o-"+name, "")
			for _, g := range []string{"x", "y"} {
				if err := h.Groups().Add(ctx, c.conn.ID(), g); err != nil {
					t.Fatal(err)
				}
				if err := h.Groups().Add(ctx, other.conn.ID(), g); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Groups().RemoveFromAll(ctx, c.conn.ID()); err != nil {
				t.Fatal(err)
			}
			if got := hub.GroupsOf(far, c.conn.ID()); len(got) != 0 {
				t.Fatalf("still in %v", got)
			}
			sendAndCheck(t, h, "x", "x", []*client{other}, c)
			if err := h.Groups().RemoveFromAll(ctx, "nobody"); err != nil {
				t.Fatalf("unknown connection: %v", err)
			}
		})
	}
}

// A node that shut down has left presence: Exists does not wait for it
// (it would end with ErrNoAck).
func TestClusterExistsNodeGone(t *testing.T) {
	nodes := newCluster(t, plain{}, 2)
	ctx := context.Background()
	dial(t, nodes[1], "there", "")
	testutil.Eventually(t, "both nodes in presence", func() bool {
		n, err := nodes[0].ConnectionCount(ctx)
		return err == nil && n == 1
	})
	shut, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = nodes[1].Shutdown(shut) // drops its presence: no wait for it
	if ok, err := nodes[0].Clients().Client("there").Exists(ctx); ok || err != nil {
		t.Fatalf("a gone node's connection: %v %v", ok, err)
	}
}

// A node that stopped answering (its backplane connection is gone, its
// presence not yet expired) makes Exists answer what the others said, with
// an error wrapping ErrNoAck after AckTimeout; Close says the same.
func TestClusterNodeSilent(t *testing.T) {
	broker := backplane.NewMemory()
	var bps []*backplane.MemoryNode
	var nodes []*hub.Hub
	for i := range 2 {
		node := broker.Node()
		bps = append(bps, node)
		t.Cleanup(func() { node.Close() })
		nodes = append(nodes, newHub(t, plain{}, hub.Config{
			Backplane: node, NodeID: fmt.Sprint("s", i), AckTimeout: 300 * time.Millisecond, NodeExpiry: time.Minute,
		}))
	}
	ctx := context.Background()
	dial(t, nodes[0], "here", "")
	bps[1].Close() // silent from now on; its presence stays for a minute
	if ok, err := nodes[0].Clients().Client("elsewhere").Exists(ctx); ok || !errors.Is(err, hub.ErrNoAck) {
		t.Fatalf("with a silent node: %v %v", ok, err)
	}
	if ok, err := nodes[0].Clients().Client("here").Exists(ctx); !ok || err != nil {
		t.Fatalf("a connection of this node: %v %v", ok, err)
	}
	if err := nodes[0].Clients().Group("g").Close(ctx, ""); !errors.Is(err, hub.ErrNoAck) {
		t.Fatalf("Close with a silent node: %v", err)
	}
}
