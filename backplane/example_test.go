package backplane_test

import (
	"context"
	"fmt"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
)

type Counter struct{}

func (Counter) Ping() string { return "pong" }

// Two nodes of one hub in one process, on the in-process broker: what one
// node counts includes the other's connections. In a real deployment each
// node, in its own process, would use backplane.Open("redis://...",
// backplane.Options{}) instead (or postgres://..., nats://...).
func Example() {
	broker := backplane.NewMemory()
	var nodes []*hub.Hub
	for _, id := range []string{"n1", "n2"} {
		bp := broker.Node()
		defer bp.Close()
		h, err := hub.New(Counter{}, hub.Config{Backplane: bp, Name: "counter", NodeID: id})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer h.Shutdown(context.Background())
		nodes = append(nodes, h)
	}
	// A send from either node reaches the clients of both.
	if err := nodes[0].Clients().All().Send("Tick", time.Now().Unix()); err != nil {
		fmt.Println(err)
	}
	n, err := nodes[1].ConnectionCount(context.Background())
	fmt.Println(n, err)
	// Output: 0 <nil>
}
