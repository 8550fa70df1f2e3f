package transports_test

import (
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// TestClientTimeoutStrict: a client that completes the handshake and then
// sends nothing, not even a ping, is never timed out by default (as in
// ASP.NET Core, whose client timeout starts at the first ping): it still
// gets the server's pings four client timeouts later. With
// ClientTimeoutStrict it is closed with Close{allowReconnect: true} after
// the client timeout, while a client that pings stays.
func TestClientTimeoutStrict(t *testing.T) {
	const keepAlive, timeout = 100 * time.Millisecond, 300 * time.Millisecond
	for _, strict := range []bool{false, true} {
		hubURL, h := startServer(t, hub.Config{KeepAliveInterval: keepAlive, ClientTimeoutInterval: timeout, ClientTimeoutStrict: strict}, transports.Config{})
		silent := connect(t, hubURL)
		pinging := connect(t, hubURL)
		if !strict {
			// The server's pings are the clock: 4 timeouts' worth of them,
			// and nothing else.
			for range 4 * int(timeout/keepAlive) {
				if rec := silent.read(); rec != `{"type":6}` {
					t.Fatalf("default: the silent client got %s", rec)
				}
			}
			if h.Stats().Closes["timeout"] != 0 {
				t.Fatal("default: a client that never pinged was timed out")
			}
			continue
		}
		// The pinging client pings every keepAlive/2 meanwhile, from a
		// goroutine this test owns and waits for. The silent client reads
		// until something other than a ping comes, under one deadline for
		// the whole wait: a read cut by a deadline in the middle of a frame
		// would lose the frame's place in the stream.
		stop := make(chan struct{})
		var pings sync.WaitGroup
		pings.Add(1)
		go func() {
			defer pings.Done()
			tick := time.NewTicker(keepAlive / 2)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if pinging.trySend(`{"type":6}`) != nil {
					return
				}
			}
		}()
		deadline := time.Now().Add(10 * time.Second)
		rec, err := silent.next(time.Until(deadline))
		for err == nil && rec == `{"type":6}` {
			rec, err = silent.next(time.Until(deadline))
		}
		close(stop)
		pings.Wait()
		if err != nil {
			t.Fatalf("strict: the silent client was not timed out: %v", err)
		}
		if !jsonEqual(rec, `{"type":7,"allowReconnect":true}`) {
			t.Fatalf("strict: the silent client got %s", rec)
		}
		silent.expectCloseFrame()
		pinging.echo("1")
		if n := h.Stats().Closes["timeout"]; n != 1 {
			t.Fatalf("strict: %d timeouts, want 1", n)
		}
	}
}
