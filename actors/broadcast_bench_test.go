package actors

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// countingTransport counts delivered frames for benchmarks; it keeps nothing.
type countingTransport struct{ delivered *counter }

// counter counts deliveries and closes reached when it gets to target.
type counter struct {
	atomic.Int64
	target  int64
	reached chan struct{}
}

func (c *counter) expect(target int64) {
	c.target = target
	c.reached = make(chan struct{})
}

func (t countingTransport) Framed() bool { return true }
func (t countingTransport) Write(bufs [][]byte) error {
	if t.delivered.Add(int64(len(bufs))) == t.delivered.target {
		close(t.delivered.reached)
	}
	return nil
}
func (t countingTransport) Buffered() int { return 0 }
func (t countingTransport) Close(bool)    {}

// connectMany makes n connected in-memory connections.
func connectMany(b *testing.B, e *Engine, n int, delivered *counter) []*Conn {
	b.Helper()
	conns := make([]*Conn, n)
	delivered.expect(int64(n))
	hs := []byte(`{"protocol":"json","version":1}` + "\x1e")
	for i := range conns {
		c, err := e.NewConn(ConnInfo{ID: fmt.Sprint("c", i)}, countingTransport{delivered})
		if err != nil {
			b.Fatal(err)
		}
		c.Feed(hs)
		conns[i] = c
	}
	select { // every handshake answered
	case <-delivered.reached:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d handshakes done", delivered.Load(), n)
	}
	delivered.Store(0)
	return conns
}

// BenchmarkBroadcast sends one 100-byte message to a group holding every
// connection, through the group actor (partitioned) and each connection's
// actor, and waits until every connection has written it. deliveries/s is
// the figure that matters; ns/op is the time of one whole broadcast.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			var delivered counter
			e, _ := newTestEngine(b, EngineConfig{HandshakeTimeout: time.Hour, KeepAliveInterval: time.Hour, ClientTimeoutInterval: time.Hour})
			connectMany(b, e, n, &delivered)
			msg := &protocol.Invocation{Target: "ReceiveMessage", Arguments: []any{"bench", string(make([]byte, 60))}}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				delivered.expect(int64(i+1) * int64(n))
				e.SendAll(NewPayload(msg))
				<-delivered.reached
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkIdleConnMemory reports the Go heap held by one idle, connected
// connection: its actor, mailbox, state, registry entry and group
// membership (the transport is not counted; see netpoll for its share).
//
// It measures one population of n connections whatever b.N is; run it with
// -benchtime=1x.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 100_000
	{
		var delivered counter
		e, _ := newTestEngine(b, EngineConfig{HandshakeTimeout: time.Hour, KeepAliveInterval: time.Hour, ClientTimeoutInterval: time.Hour})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := connectMany(b, e, n, &delivered)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/conn")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		runtime.KeepAlive(conns)
	}
}
