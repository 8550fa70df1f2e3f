package transports_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
)

const (
	helperURLEnv   = "TRANSPORTS_TEST_HELPER_URL"
	helperConnsEnv = "TRANSPORTS_TEST_HELPER_CONNS"
	idleConns      = 10000
	// goroutineSlack is how many goroutines above the baseline are
	// tolerated with every connection open: the actor pool's workers that
	// the warm-up did not start (it keeps GOMAXPROCS), transient ones (an
	// HTTP connection's last moments, a core actor's turn); never one per
	// connection.
	goroutineSlack = 4
	broadcastText  = `{"type":1,"target":"broadcast","arguments":["to every idle connection"]}`
)

// TestIdleConnectionsOwnNoGoroutine opens 10,000 SignalR WebSocket
// connections through the whole stack (HTTP upgrade, netpoll, connection
// actors, the hub) and checks that, once handshaken and idle, they add no
// goroutine, and that a broadcast from the hub context reaches all of them.
// The clients run in a child process: a process may hold 20,000 files.
func TestIdleConnectionsOwnNoGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	if raceEnabled {
		t.Skip("too slow under the race detector")
	}
	// No keep-alive Ping may reach the clients before the broadcast.
	hubURL, h := startServer(t, hub.Config{KeepAliveInterval: 5 * time.Minute}, transports.Config{})

	// One connection first starts most of what starts lazily (an actor
	// pool worker) and is gone before the baseline is taken.
	warm := connect(t, hubURL)
	warm.echo("1")
	warm.send(`{"type":7}`)
	warm.expectCloseFrame()
	warm.expectEOF()
	testutil.EventuallyWithin(t, 10*time.Second, "the first connection to end", func() bool { return h.Stats().Open == 0 })

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	baseline := runtime.NumGoroutine()

	start := time.Now()
	child := testutil.StartChild(t, "TestHelperClients", []string{helperURLEnv + "=" + hubURL, helperConnsEnv + "=" + strconv.Itoa(idleConns)}, 2*time.Minute)
	// Registered after startServer's: runs before it, so the hub shuts
	// down with no client left.
	t.Cleanup(func() {
		child.Stop()
		testutil.EventuallyWithin(t, 30*time.Second, "every connection to end", func() bool { return h.Stats().Open == 0 })
	})
	child.Expect("ready")
	testutil.EventuallyWithin(t, 30*time.Second, "10,000 connections", func() bool { return h.Stats().Connections == idleConns })
	t.Logf("%d connections upgraded and handshaken in %v", idleConns, time.Since(start))

	at := runtime.NumGoroutine()
	settled := at
	testutil.Poll(15*time.Second, func() bool { // past the actor pool's idle timeout; checked below
		settled = runtime.NumGoroutine()
		return settled <= baseline+goroutineSlack
	})
	runtime.GC()
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	t.Logf("goroutines: %d before, %d once %d connections were handshaken, %d settled", baseline, at, idleConns, settled)
	t.Logf("Go heap per idle connection: %d bytes (whole stack: net.TCPConn, netpoll, actor, hub state)",
		(int64(held.HeapAlloc)-int64(before.HeapAlloc))/idleConns)
	if settled > baseline+goroutineSlack {
		t.Fatalf("%d goroutines with %d idle connections, %d before", settled, idleConns, baseline)
	}
	if s := h.Stats(); s.Open != idleConns {
		t.Fatalf("stats %+v", s)
	}

	start = time.Now()
	if err := h.Clients().All().Send("broadcast", "to every idle connection"); err != nil {
		t.Fatal(err)
	}
	child.Send("read")
	line := child.Expect("received ")
	if n, _ := strconv.Atoi(strings.TrimPrefix(line, "received ")); n != idleConns {
		t.Fatalf("helper: %s, want %d", line, idleConns)
	}
	t.Logf("broadcast received by %d connections in %v", idleConns, time.Since(start))
}

// TestHelperClients is the client side of TestIdleConnectionsOwnNoGoroutine,
// run in a child process. It opens the connections with skipNegotiation,
// completes the JSON handshake on each and prints "ready". Then each "read"
// line on stdin makes it read one message from every connection and print
// "received N", N being how many got the broadcast. It exits when stdin
// closes.
func TestHelperClients(t *testing.T) {
	hubURL := os.Getenv(helperURLEnv)
	if hubURL == "" {
		t.Skip("the client process of TestIdleConnectionsOwnNoGoroutine")
	}
	n, _ := strconv.Atoi(os.Getenv(helperConnsEnv))
	fail := func(format string, args ...any) {
		fmt.Printf("fail: "+format+"\n", args...)
		os.Exit(1)
	}

	conns := make([]*wsClient, n)
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		dialed error
	)
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				c, err := helperConnect(hubURL)
				if err != nil {
					mu.Lock()
					dialed = fmt.Errorf("connection %d: %w", i, err)
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if dialed != nil {
		fail("%v", dialed)
	}
	fmt.Println("ready")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "read" {
			fail("command %q", in.Text())
		}
		got := 0
		deadline := time.Now().Add(20 * time.Second) // for all of them
		for i, c := range conns {
			rec, err := c.next(max(time.Until(deadline), time.Millisecond))
			if err != nil {
				fmt.Fprintf(os.Stderr, "helper: connection %d: %v\n", i, err)
				break
			}
			if jsonEqual(rec, broadcastText) {
				got++
			}
		}
		fmt.Printf("received %d\n", got)
	}
	os.Exit(0)
}

// helperConnect opens a WebSocket without negotiate and completes the
// handshake.
func helperConnect(hubURL string) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dialer{}.Dial(ctx, wsURL(hubURL, ""))
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	if err := c.trySend(handshakeRequest); err != nil {
		conn.Close()
		return nil, err
	}
	rec, err := c.next(20 * time.Second)
	if err == nil && rec != "{}" {
		err = fmt.Errorf("handshake answered %q", rec)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}
