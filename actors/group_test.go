package actors

import (
	"context"
	"errors"
	"fmt"
	"github.com/actorhub/actorhub/internal/testutil"
	"runtime"
	"testing"
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// TestGroupLimitPerConnection: a connection joins at most
// MaxGroupsPerConnection named groups; the implicit groups (all, its user)
// do not count, a leave frees a place, and the refused join changes
// nothing.
func TestGroupLimitPerConnection(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{MaxGroupsPerConnection: 3})
	ctx := context.Background()
	_, tr := connect(t, e, "c", "alice", true)
	for i := range 3 {
		if err := e.AddToGroup(ctx, "c", GroupKey(fmt.Sprint(i))); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
	}
	if err := e.AddToGroup(ctx, "c", GroupKey("0")); err != nil {
		t.Fatalf("joining a group it is in: %v", err)
	}
	if err := e.AddToGroup(ctx, "c", GroupKey("3")); !errors.Is(err, ErrTooManyGroups) {
		t.Fatalf("a fourth group: %v, want ErrTooManyGroups", err)
	}
	e.SendKey(GroupKey("3"), NewPayload(&protocol.Invocation{Target: "ToThree", Arguments: []any{}}))
	if err := e.RemoveFromGroup(ctx, "c", GroupKey("1")); err != nil {
		t.Fatal(err)
	}
	if err := e.AddToGroup(ctx, "c", GroupKey("3")); err != nil {
		t.Fatalf("a join after a leave: %v", err)
	}
	e.SendKey(GroupKey("3"), NewPayload(&protocol.Invocation{Target: "Joined", Arguments: []any{}}))
	testutil.Eventually(t, "Joined", hasMsg(tr, "Joined"))
	if count(tr, "ToThree") != 0 {
		t.Fatal("the refused join took effect")
	}
}

// TestGroupsReleasedWhenEmpty: one connection joins many groups, then
// goes; every group's actor stops and the Go heap comes back to within a
// few MB of where it started (what stays is the room protoactor's process
// registry keeps: a few MB once each of its 32,768 maps has held an
// actor), while another connection is served throughout.
func TestGroupsReleasedWhenEmpty(t *testing.T) {
	if testing.Short() {
		t.Skip("joins 50,000 groups")
	}
	const groups = 50_000
	// What may stay: the room of protoactor's process registry (32,768 Go
	// maps that keep their largest size, ~5 MB once each has held an
	// actor), pool workers.
	const slack = 12 << 20
	e, _ := newTestEngine(t, EngineConfig{})
	ctx := context.Background()
	_, honest := connect(t, e, "honest", "", true)
	base := e.Stats().Groups
	before := heapAfterGC()

	greedy, _ := connect(t, e, "greedy", "", false)
	for i := range groups {
		if err := e.AddToGroup(ctx, "greedy", GroupKey(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i%10_000 == 0 { // the honest connection is served meanwhile
			target := fmt.Sprint("Honest", i)
			e.SendConn("honest", NewPayload(&protocol.Invocation{Target: target, Arguments: []any{}}))
			testutil.Eventually(t, target, hasMsg(honest, target))
		}
	}
	if n := e.Stats().Groups; n != base+groups {
		t.Fatalf("%d group actors with %d groups joined, %d before", n, groups, base)
	}
	joined := heapAfterGC()

	greedy.Feed([]byte(`{"type":7}` + "\x1e"))
	testutil.EventuallyWithin(t, time.Minute, "the groups to be released", func() bool { return e.Stats().Groups == base })
	e.SendConn("honest", NewPayload(&protocol.Invocation{Target: "HonestAfter", Arguments: []any{}}))
	testutil.Eventually(t, "HonestAfter", hasMsg(honest, "HonestAfter"))
	after := heapAfterGC()
	t.Logf("Go heap: %d MB before, %d MB with %d groups, %d MB after they emptied", before>>20, joined>>20, groups, after>>20)
	if joined < before+2*slack {
		t.Fatalf("the groups held only %d bytes: the test cannot tell a leak", joined-before)
	}
	if after > before+slack {
		t.Fatalf("%d bytes still held after the groups emptied (%d before), want under %d more", after, before, slack)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
