package hub_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/natstest"
	"github.com/actorhub/actorhub/backplane/pgtest"
	"github.com/actorhub/actorhub/backplane/redistest"
	"github.com/actorhub/actorhub/hub"
)

// tally counts the frames written to many connections and says when a
// target is reached.
type tally struct {
	n       atomic.Int64
	target  atomic.Int64
	reached chan struct{}
}

func (t *tally) expect(n int64) {
	t.reached = make(chan struct{})
	t.target.Store(n)
	if t.n.Load() >= n {
		close(t.reached)
	}
}

type tallyTransport struct{ t *tally }

func (tr tallyTransport) Framed() bool { return true }
func (tr tallyTransport) Write(bufs [][]byte) error {
	if tr.t.n.Add(int64(len(bufs))) == tr.t.target.Load() {
		close(tr.t.reached)
	}
	return nil
}
func (tr tallyTransport) Buffered() int { return 0 }
func (tr tallyTransport) Close(bool)    {}

// connectTallied makes n connected connections on h that count into t.
func connectTallied(b *testing.B, h *hub.Hub, prefix string, n int, t *tally) {
	b.Helper()
	start := t.n.Load()
	t.expect(start + int64(n))
	hs := []byte(`{"protocol":"json","version":1}` + "\x1e")
	for i := range n {
		c, err := h.Connect(hub.ConnInfo{ID: fmt.Sprint(prefix, i)}, tallyTransport{t})
		if err != nil {
			b.Fatal(err)
		}
		c.Feed(hs)
	}
	select { // every handshake answered
	case <-t.reached:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d handshakes done", t.n.Load()-start, n)
	}
}

// BenchmarkClusterBroadcast is a broadcast of a 100-byte message from a hub
// context to 18,000 connections: on one node, and on two nodes of 9,000
// each, the second reached through a real Redis (or the in-process
// backplane, to tell Redis' cost from the scale-out layer's). One broadcast
// at a time, each waited for until every connection has written it; the
// figure is deliveries/s. Every variant runs its nodes on one runtime
// (one worker pool), so the variants differ only by the backplane hop.
func BenchmarkClusterBroadcast(b *testing.B) {
	const total = 18_000
	rt, err := hub.NewRuntime(hub.RuntimeConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.Close)
	cfg := hub.Config{HandshakeTimeout: time.Hour, KeepAliveInterval: time.Hour, ClientTimeoutInterval: time.Hour, Name: "bench", Runtime: rt}
	run := func(b *testing.B, origin *hub.Hub, t *tally) {
		arg := string(make([]byte, 60))
		b.ReportAllocs()
		b.ResetTimer()
		base := t.n.Load()
		start := time.Now()
		for i := range b.N {
			t.expect(base + int64(i+1)*total)
			if err := origin.Clients().All().Send("ReceiveMessage", "bench", arg); err != nil {
				b.Fatal(err)
			}
			<-t.reached
		}
		b.ReportMetric(float64(t.n.Load()-base)/time.Since(start).Seconds(), "deliveries/s")
	}
	b.Run("single/18000", func(b *testing.B) {
		var t tally
		h := newHub(b, asker{}, cfg)
		connectTallied(b, h, "c", total, &t)
		run(b, h, &t)
	})
	twoNodes := func(b *testing.B, bp1, bp2 backplane.Backplane) {
		var t tally
		c1, c2 := cfg, cfg
		c1.Backplane, c1.NodeID = bp1, "n1"
		c2.Backplane, c2.NodeID = bp2, "n2"
		h1, h2 := newHub(b, asker{}, c1), newHub(b, asker{}, c2)
		connectTallied(b, h1, "a", total/2, &t)
		connectTallied(b, h2, "b", total/2, &t)
		run(b, h1, &t)
	}
	b.Run("redis/2x9000", func(b *testing.B) {
		srv := redistest.Start(b)
		var bps []backplane.Backplane
		for range 2 {
			r, err := backplane.NewRedis(backplane.RedisConfig{URL: srv.URL()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.Close() })
			bps = append(bps, r)
		}
		twoNodes(b, bps[0], bps[1])
	})
	b.Run("postgres/2x9000", func(b *testing.B) {
		srv := pgtest.Start(b)
		var bps []backplane.Backplane
		for range 2 {
			p, err := backplane.NewPostgres(backplane.PostgresConfig{URL: srv.URL()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Close() })
			bps = append(bps, p)
		}
		twoNodes(b, bps[0], bps[1])
	})
	b.Run("nats/2x9000", func(b *testing.B) {
		srv := natstest.Start(b)
		var bps []backplane.Backplane
		for range 2 {
			n, err := backplane.NewNATS(backplane.NATSConfig{URL: srv.URL()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { n.Close() })
			bps = append(bps, n)
		}
		twoNodes(b, bps[0], bps[1])
	})
	b.Run("memory/2x9000", func(b *testing.B) {
		broker := backplane.NewMemory()
		n1, n2 := broker.Node(), broker.Node()
		b.Cleanup(func() { n1.Close(); n2.Close() })
		twoNodes(b, n1, n2)
	})
}
