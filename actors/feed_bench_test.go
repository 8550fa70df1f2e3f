package actors

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// countingInvoker counts the invocations it runs and does nothing else.
type countingInvoker struct{ n atomic.Int64 }

func (i *countingInvoker) OnConnected(*Conn) error { return nil }
func (i *countingInvoker) Invoke(*Conn, *protocol.Invocation) *protocol.Completion {
	i.n.Add(1)
	return nil
}
func (i *countingInvoker) StreamInvoke(*Conn, *protocol.StreamInvocation) *protocol.Completion {
	return nil
}
func (i *countingInvoker) Other(*Conn, protocol.Message) {}
func (i *countingInvoker) OnDisconnected(*Conn, error)   {}

// BenchmarkFeed hands a connection transport messages of batch small
// invocations (what an honest client pipelines) and waits until its actor
// has run them all: the read path, Feed's parsing and accounting, the
// mailbox and the turn. ns/op is per transport message.
func BenchmarkFeed(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			sys := newTestSystem(b)
			defer sys.Close()
			inv := &countingInvoker{}
			e, err := NewEngine(sys, inv, testConfig(EngineConfig{HandshakeTimeout: time.Hour, KeepAliveInterval: time.Hour, ClientTimeoutInterval: time.Hour}))
			if err != nil {
				b.Fatal(err)
			}
			c, err := e.NewConn(ConnInfo{ID: "f"}, countingTransport{delivered: &counter{}})
			if err != nil {
				b.Fatal(err)
			}
			c.Feed([]byte(`{"protocol":"json","version":1}` + "\x1e"))
			for !c.Connected() {
				runtime.Gosched()
			}
			msg := []byte(strings.Repeat(`{"type":1,"target":"Send","arguments":["room","hello there"]}`+"\x1e", batch))
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c.Feed(msg)
				for inv.n.Load() < int64((i+1)*batch) {
					runtime.Gosched()
				}
			}
		})
	}
}
