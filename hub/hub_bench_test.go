package hub_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/actorhub/actorhub/hub"
)

// signalTransport tells the benchmark about each write and keeps nothing.
type signalTransport struct {
	conn   hub.Conn
	writes chan int // records per write
}

func (t *signalTransport) Framed() bool { return false }

func (t *signalTransport) Write(bufs [][]byte) error {
	n := 0
	for _, b := range bufs {
		n += bytes.Count(b, []byte{0x1e})
	}
	t.writes <- n
	return nil
}

func (t *signalTransport) Buffered() int { return 0 }

func (t *signalTransport) Close(graceful bool) { t.conn.Closed(nil) }

type echoHub struct{}

func (echoHub) Echo(s string) string { return s }

// BenchmarkInvoke is one echo round trip: the bytes of an Invocation fed to
// the connection, decoded, run on its actor, and the Completion encoded and
// written.
func BenchmarkInvoke(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"16B", 16}, {"1KiB", 1024}} {
		b.Run(size.name, func(b *testing.B) {
			h := newHub(b, echoHub{}, hub.Config{})
			tr := &signalTransport{writes: make(chan int, 16)}
			c, err := h.Connect(hub.ConnInfo{ID: "bench"}, tr)
			if err != nil {
				b.Fatal(err)
			}
			tr.conn = c
			c.Feed([]byte(`{"protocol":"json","version":1}` + "\x1e"))
			<-tr.writes // the handshake answer
			msg := []byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":["` +
				strings.Repeat("x", size.n) + `"]}` + "\x1e")
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				c.Feed(msg)
				<-tr.writes
			}
		})
	}
}
