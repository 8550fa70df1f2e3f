package backplane_test

import (
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane/redistest"
)

func TestZZDebugFailover(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterConfig{})
	v := c.Master(0)
	v.Kill()
	for range 10 {
		time.Sleep(time.Second)
		for _, n := range c.Nodes {
			if out := n.CLI("cluster", "slots"); out != "" {
				t.Log(n.Addr, out[:min(200, len(out))])
				break
			}
		}
		t.Log(c.Nodes[5].CLI("cluster", "nodes"))
	}
}
