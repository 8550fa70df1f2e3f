package actors

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

func memberIDs(t *testing.T, e *Engine, key string) []string {
	t.Helper()
	conns, err := e.Members(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range conns {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// Members lists a group's members, whether the group holds them itself or
// has moved them to shards, and nothing for a group nobody is in.
func TestMembers(t *testing.T) {
	e, _ := newTestEngine(t, EngineConfig{partitionSize: 3, partitions: 2})
	ctx := context.Background()
	var want []string
	for i := range 7 {
		id := fmt.Sprint("m", i)
		connect(t, e, id, "u", false)
		if err := e.AddToGroup(ctx, id, GroupKey("big")); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	connect(t, e, "solo", "", false)
	if err := e.AddToGroup(ctx, "solo", GroupKey("small")); err != nil {
		t.Fatal(err)
	}
	if got := memberIDs(t, e, GroupKey("big")); !slices.Equal(got, want) {
		t.Fatalf("big (partitioned): %v, want %v", got, want)
	}
	if got := memberIDs(t, e, GroupKey("small")); !slices.Equal(got, []string{"solo"}) {
		t.Fatalf("small: %v", got)
	}
	if got := memberIDs(t, e, UserKey("u")); !slices.Equal(got, want) {
		t.Fatalf("user u: %v, want %v", got, want)
	}
	if got := memberIDs(t, e, GroupKey("nobody")); len(got) != 0 {
		t.Fatalf("nobody: %v", got)
	}
	if got := memberIDs(t, e, KeyAll); len(got) != 8 {
		t.Fatalf("all: %v", got)
	}
	if err := e.RemoveFromGroup(ctx, "solo", GroupKey("small")); err != nil {
		t.Fatal(err)
	}
	if got := memberIDs(t, e, GroupKey("small")); len(got) != 0 {
		t.Fatalf("small after the last left: %v", got)
	}
	c, _ := e.Conn("m3")
	if err := e.AddToGroup(ctx, "m3", GroupKey("other")); err != nil {
		t.Fatal(err)
	}
	keys := c.GroupKeys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{GroupKey("big"), GroupKey("other")}) {
		t.Fatalf("GroupKeys: %v", keys)
	}
}
