package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
)

var (
	buildOnce   sync.Once
	builtServer Target
	buildErr    error
)

// actorhub builds cmd/server once per test binary and starts it.
func actorhub(t *testing.T) *Server {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bench-test-")
		if err != nil {
			buildErr = err
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		builtServer, buildErr = BuildTarget(context.Background(), "actorhub", root, dir)
	})
	if buildErr != nil {
		if _, err := exec.LookPath("go"); err != nil {
			t.Skip("no go command to build the server")
		}
		t.Fatal(buildErr)
	}
	s, err := Start(builtServer, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestPoolBroadcastAndEcho(t *testing.T) {
	srv := actorhub(t)
	for _, proto := range []Protocol{JSON, MessagePack} {
		t.Run(proto.String(), func(t *testing.T) {
			p, err := NewPool(Config{URL: srv.URL(), Protocol: proto})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			const n = 100
			if err := p.Connect(context.Background(), n, func(i int) string { return "g" + strconv.Itoa(i%10) }); err != nil {
				t.Fatal(err)
			}
			if s := p.Stats(false); s.Up != n {
				t.Fatalf("up = %d, want %d", s.Up, n)
			}
			c := p.Conns()[0]
			for range 5 {
				if err := c.InvokeTimed("SendToAll", "m", payloadArg(time.Now().UnixNano(), 100)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.InvokeTimed("SendToGroup", "g3", "m", payloadArg(time.Now().UnixNano(), 2048)); err != nil {
				t.Fatal(err)
			}
			if err := c.InvokeTimed("Echo", payloadArg(time.Now().UnixNano(), 10)); err != nil {
				t.Fatal(err)
			}
			testutil.EventuallyWithin(t, 10*time.Second, "deliveries", func() bool {
				s := p.Stats(false)
				return s.Delivered == 5*n+n/10 && s.Completions == 7
			})
			s := p.Stats(true)
			if s.Failures != 0 || s.Latency.Total() != 5*n+n/10 || s.RTT.Total() != 7 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}
