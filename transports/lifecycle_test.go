package transports_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
)

// TestShutdown: Hub.Shutdown sends every client Close{allowReconnect: true}
// and a close frame, returns once they are gone, and (startServer's
// cleanup checks) leaves no goroutine behind.
func TestShutdown(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	clients := []*wsClient{connect(t, hubURL), connect(t, hubURL)}
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	clients = append(clients, dial(t, hubURL, "id="+n.ConnectionToken, nil))
	clients[2].handshake()
	for _, c := range clients {
		c.echo("1")
	}

	done := make(chan error, 1)
	go func() { done <- shutdownHub(t, h) }()
	for _, c := range clients {
		c.expect(`{"type":7,"allowReconnect":true}`)
		if code := c.expectCloseFrame(); code != ws.StatusNormalClosure {
			t.Fatalf("close code %d, want 1000", code)
		}
		c.expectEOF()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if s := h.Stats(); s.Open != 0 || s.Connections != 0 || s.Closes["shutdown"] != 3 {
		t.Fatalf("after Shutdown: %+v", s)
	}
	// A shut-down hub takes no new connection: the upgrade is answered,
	// then the connection ends at once.
	dial(t, hubURL, "", nil).expectEOF()
}

// TestShutdownTwice: a second Shutdown reports that the hub is shut down,
// as http.Server.Shutdown does, and does not panic.
func TestShutdownTwice(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})
	c := connect(t, hubURL)
	done := make(chan error, 1)
	go func() { done <- shutdownHub(t, h) }()
	c.expect(`{"type":7,"allowReconnect":true}`)
	c.expectCloseFrame()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var (
		err       error
		recovered any
	)
	func() {
		defer func() { recovered = recover() }()
		err = h.Shutdown(context.Background())
	}()
	if recovered != nil {
		t.Fatalf("a second Hub.Shutdown panicked: %v", recovered)
	}
	if !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("a second Shutdown returned %v, want hub.ErrClosed", err)
	}
}

// TestKeepAlive: an idle connection gets Pings every KeepAliveInterval.
func TestKeepAlive(t *testing.T) {
	const interval = 200 * time.Millisecond
	hubURL, _ := startServer(t, hub.Config{KeepAliveInterval: interval}, transports.Config{})
	c := connect(t, hubURL)

	start := time.Now()
	for range 3 {
		if rec := c.read(); !jsonEqual(rec, `{"type":6}`) {
			t.Fatalf("got %s, want a Ping", rec)
		}
	}
	// The heartbeat ticks every 50 ms (a quarter of the interval, at least
	// 50 ms) and the engine's clock is advanced by those ticks, so a ping
	// may come up to one tick early or late: three pings take about three
	// intervals.
	d := time.Since(start)
	t.Logf("3 pings in %v", d)
	if d < 3*(interval-50*time.Millisecond) || d > 3*interval+time.Second {
		t.Fatalf("3 pings in %v with KeepAliveInterval %v", d, interval)
	}
	c.echo("1") // still usable
}

// TestClientTimeout: a client that pinged once and then went silent is
// closed after ClientTimeoutInterval with Close{allowReconnect: true}.
func TestClientTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	hubURL, h := startServer(t, hub.Config{ClientTimeoutInterval: timeout}, transports.Config{})
	silent := connect(t, hubURL)
	neverPinged := connect(t, hubURL)

	start := time.Now()
	silent.send(`{"type":6}`)
	silent.expect(`{"type":7,"allowReconnect":true}`)
	d := time.Since(start)
	if code := silent.expectCloseFrame(); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d, want 1000", code)
	}
	silent.expectEOF()
	t.Logf("closed %v after its last message", d)
	// The timeout is measured on the exact clock and checked every
	// heartbeat tick (here a quarter of the timeout): the close never comes
	// early, and should come within a tick or so after it.
	if d < timeout || d > timeout+2*time.Second {
		t.Fatalf("closed %v after its last message with ClientTimeoutInterval %v", d, timeout)
	}
	if n := h.Stats().Closes["timeout"]; n != 1 {
		t.Fatalf("%d timeout closes, want 1", n)
	}
	// A client that never pinged is not timed out (ASP.NET starts the
	// check at the first Ping).
	neverPinged.echo("1")
}
