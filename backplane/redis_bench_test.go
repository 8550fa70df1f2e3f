package backplane_test

import (
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/redistest"
)

// BenchmarkRedisHop is one message from Publish on one node to the
// handler on another, through a real Redis, one at a time: the latency the
// backplane adds to a cross-node send.
func BenchmarkRedisHop(b *testing.B) {
	srv := redistest.Start(b)
	open := func() *backplane.Redis {
		r, err := backplane.NewRedis(backplane.RedisConfig{URL: srv.URL()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	}
	a, z := open(), open()
	got := make(chan struct{}, 1)
	<-z.Subscribe("hop", func(string, []byte) { got <- struct{}{} })
	msg := make([]byte, 200)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := a.Publish("hop", msg, nil); err != nil {
			b.Fatal(err)
		}
		<-got
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/hop")
}
