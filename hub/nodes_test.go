package hub_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// NodeConnectionCounts: each node's connections, by node id, as every node
// sees them; nil without a backplane.
func TestNodeConnectionCounts(t *testing.T) {
	ctx := context.Background()
	single := newHub(t, asker{}, hub.Config{})
	dial(t, single, "alone", "")
	if counts, err := single.NodeConnectionCounts(ctx); counts != nil || err != nil {
		t.Fatalf("without a backplane: %v, %v", counts, err)
	}

	broker := backplane.NewMemory()
	var hubs []*hub.Hub
	for i := range 3 {
		node := broker.Node()
		t.Cleanup(func() { node.Close() })
		h := newHub(t, asker{}, hub.Config{Backplane: node, NodeID: fmt.Sprint("n", i), NodeExpiry: 300 * time.Millisecond})
		for j := range i {
			dial(t, h, fmt.Sprintf("c%d-%d", i, j), "")
		}
		hubs = append(hubs, h)
	}
	want := map[string]int64{"n0": 0, "n1": 1, "n2": 2}
	for _, h := range hubs {
		testutil.Eventually(t, fmt.Sprintf("%s sees %v", h.NodeID(), want), func() bool {
			got, err := h.NodeConnectionCounts(ctx)
			return err == nil && maps.Equal(got, want)
		})
	}
	broker.SetDown(true)
	got, err := hubs[2].NodeConnectionCounts(ctx)
	if err == nil || !maps.Equal(got, map[string]int64{"n2": 2}) {
		t.Fatalf("with the backplane down: %v, %v; want this node's count and an error", got, err)
	}
	broker.SetDown(false)
}
