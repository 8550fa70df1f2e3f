package netpoll

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
)

// echoHandler echoes without recording anything.
type echoHandler struct{}

func (echoHandler) OnMessage(c *Conn, op ws.OpCode, p []byte) {
	_ = c.Write([][]byte{AppendFrame(nil, op, p)})
}

func (echoHandler) OnClose(*Conn, error) {}

// BenchmarkEcho measures echo round trips over loopback connections: each
// client goroutine sends a message and waits for its echo, over and over.
// Allocations include the echo frame the handler builds per message.
func BenchmarkEcho(b *testing.B) {
	for _, conns := range []int{1, 16, 256} {
		for _, size := range []int{64, 4096} {
			b.Run(fmt.Sprintf("conns=%d/size=%d", conns, size), func(b *testing.B) {
				benchEcho(b, conns, size)
			})
		}
	}
}

func benchEcho(b *testing.B, conns, size int) {
	p := newPoller(b, Config{})
	addr := serve(b, p, echoHandler{})
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dial(b, addr)
	}
	payload := bytes.Repeat([]byte{'x'}, size)
	frame := clientFrame(ws.OpBinary, true, payload) // the server unmasks its own copy
	want := AppendFrame(nil, ws.OpBinary, payload)

	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for _, cl := range clients {
		wg.Go(func() {
			r := bufio.NewReaderSize(cl.r, 64<<10)
			got := make([]byte, len(want))
			copy(got, want) // in case this client gets no turn
			for next.Add(1) <= int64(b.N) {
				if _, err := cl.conn.Write(frame); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(r, got); err != nil {
					b.Error(err)
					return
				}
			}
			if !bytes.Equal(got, want) {
				b.Errorf("echo %q..., want %q...", got[:8], want[:8])
			}
		})
	}
	wg.Wait()
}
