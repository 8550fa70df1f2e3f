package backplane_test

import (
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/pgtest"
)

// startPostgres is PostgreSQL under the contract: a server of the test's
// own (initdb into a temporary directory).
func startPostgres(t *testing.T) *server {
	srv := pgtest.Start(t)
	return &server{
		node: func(t *testing.T, prefix string) backplane.Backplane {
			return newPostgres(t, backplane.PostgresConfig{URL: srv.URL(), Prefix: prefix})
		},
		stop:    srv.Stop,
		restart: srv.Restart,
		deadURL: "postgres://postgres:secret@127.0.0.1:1/postgres?sslmode=disable",
	}
}

func newPostgres(t *testing.T, cfg backplane.PostgresConfig) *backplane.Postgres {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	p, err := backplane.NewPostgres(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
