package hub

import (
	"context"
	"fmt"

	"github.com/actorhub/actorhub/actors"
)

// NodeConnectionCounts is the number of connected clients of the hub on
// each node of the deployment, by node id: this node's exactly, the others'
// as of their last report (see Config.NodeExpiry). It is nil without a
// backplane. With the backplane unreachable it returns this node's count
// and an error.
func (h *Hub) NodeConnectionCounts(ctx context.Context) (map[string]int64, error) {
	if h.scale == nil {
		return nil, nil
	}
	return h.scale.nodeCounts(ctx, actors.KeyAll)
}

// nodeCounts is the number of members of key on each live node.
func (s *scaleout) nodeCounts(ctx context.Context, key string) (map[string]int64, error) {
	local, err := s.engine.Load().MemberCounts(ctx, key)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{s.node: local[key]}
	others, err := s.bp.Presence(ctx, s.presenceSet(), presenceName(key))
	if err != nil {
		return out, fmt.Errorf("hub: counts of other nodes: %w", err)
	}
	for node, n := range others {
		if node != s.node {
			out[node] = n
		}
	}
	return out, nil
}
