package hub_test

import (
	"slices"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
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
