package backplane_test

import (
	"testing"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/redistest"
)

// startRedisCluster is Redis Cluster under the contract: 3 masters and 3
// replicas of the test's own.
func startRedisCluster(t testing.TB) *server {
	c := redistest.StartCluster(t, redistest.ClusterConfig{})
	return &server{
		node: func(t testing.TB, prefix string) backplane.Backplane {
			return newRedisCluster(t, c.URL(), prefix)
		},
		stop:            c.Stop,
		restart:         c.Restart,
		deadURL:         "redis-cluster://:secret@127.0.0.1:1,127.0.0.1:2",
		orderPerChannel: true,
	}
}

func newRedisCluster(t testing.TB, url, prefix string) *backplane.RedisCluster {
	t.Helper()
	cfg, err := backplane.ParseRedisClusterURL(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix = prefix
	r, err := backplane.NewRedisCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
