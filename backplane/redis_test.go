package backplane_test

import (
	"testing"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/redistest"
)

// startRedis is Redis under the contract: a redis-server of the test's own.
func startRedis(t testing.TB) *server {
	srv := redistest.Start(t)
	return &server{
		node: func(t testing.TB, prefix string) backplane.Backplane {
			return newRedis(t, srv.URL(), prefix)
		},
		stop:    srv.Stop,
		restart: srv.Restart,
		deadURL: "redis://:secret@127.0.0.1:1/0",
	}
}

func newRedis(t testing.TB, url, prefix string) *backplane.Redis {
	t.Helper()
	r, err := backplane.NewRedis(backplane.RedisConfig{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
