package backplane_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/natstest"
)

// startNATS is NATS under the contract: a nats-server of the test's own,
// with JetStream.
func startNATS(t testing.TB) *server {
	srv := natstest.Start(t)
	return &server{
		node: func(t testing.TB, prefix string) backplane.Backplane {
			return newNATS(t, backplane.NATSConfig{URL: srv.URL(), Prefix: prefix})
		},
		stop:    srv.Stop,
		restart: srv.Restart,
		deadURL: "nats://user:secret@127.0.0.1:1",
	}
}

func newNATS(t testing.TB, cfg backplane.NATSConfig) *backplane.NATS {
	t.Helper()
	if cfg.AckWait == 0 {
		cfg.AckWait = time.Second
	}
	n, err := backplane.NewNATS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// A server whose max_payload is small: every large message travels in
// hundreds of parts, and arrives whole, in order with the others.
func TestNATSSmallMaxPayload(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte("max_payload: 4096\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, "-c", conf)
	s := &server{node: func(t testing.TB, prefix string) backplane.Backplane {
		return newNATS(t, backplane.NATSConfig{URL: srv.URL(), Prefix: prefix})
	}}
	contractLargeMessages(t, s)
	contractConcurrentPublishers(t, s)
}
