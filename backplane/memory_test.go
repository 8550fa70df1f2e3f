package backplane_test

import (
	"sync"
	"testing"

	"github.com/actorhub/actorhub/backplane"
)

// startMemory is the in-process broker under the contract: a broker per
// prefix, all of them down at once.
func startMemory(t testing.TB) *server {
	var mu sync.Mutex
	brokers := map[string]*backplane.Memory{}
	all := func(down bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range brokers {
			m.SetDown(down)
		}
	}
	return &server{
		node: func(t testing.TB, prefix string) backplane.Backplane {
			mu.Lock()
			m := brokers[prefix]
			if m == nil {
				m = backplane.NewMemory()
				brokers[prefix] = m
			}
			mu.Unlock()
			n := m.Node()
			t.Cleanup(func() { n.Close() })
			return n
		},
		stop:    func() { all(true) },
		restart: func() { all(false) },
	}
}
