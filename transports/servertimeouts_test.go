package transports_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// startTimedServer serves a testHub at /hub on an http.Server with every
// timeout set to d, as an embedder (or cmd/server) may set them.
func startTimedServer(t *testing.T, d time.Duration, cfg transports.Config) string {
	t.Helper()
	h, err := hub.New(testHub{}, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := transports.NewHandler(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hd.Mount(mux, "/hub")
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout, srv.Config.IdleTimeout, srv.Config.ReadHeaderTimeout = d, d, d, d
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		_ = hd.Close()
	})
	return srv.URL + "/hub"
}

// An http.Server's ReadTimeout and WriteTimeout are for short requests: a
// WebSocket, an SSE stream and a pending long poll outlive them many times
// over and still carry messages, while the keep-alive connections that
// sent one request are closed by IdleTimeout.
func TestServerTimeoutsSpareOpenRequests(t *testing.T) {
	const d = 300 * time.Millisecond
	hubURL := startTimedServer(t, d, transports.Config{LongPollTimeout: 4 * d})
	start := time.Now()

	wsc := connect(t, hubURL)
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	sse := openSSE(t, hubURL, "id="+n.ConnectionToken, nil)
	sse.readN(3)
	if s, _, b := send(t, http.MethodPost, hubURL+"?id="+n.ConnectionToken, records(handshakeRequest), nil); s != http.StatusOK {
		t.Fatalf("SSE handshake POST: %d %s", s, b)
	}
	if m := sse.message(); m != "{}" {
		t.Fatalf("SSE handshake answer %q", m)
	}
	lp := startLongPoll(t, hubURL, true)
	pending := pollAsync(t, hubURL, lp)

	idle := keepAliveSockets(t, hubURL, 50)
	for i, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle keep-alive socket %d: %v, want the server to close it", i, err)
		}
	}
	// Time itself is what is tested here: the open requests must live well
	// past the server's timeouts.
	time.Sleep(time.Until(start.Add(6 * d)))

	wsc.echo("1")
	wsc.send(invocation("2", "SendToAll", "still here"))
	want := `{"type":1,"target":"broadcast","arguments":["still here"]}`
	if m := sse.message(); !jsonEqual(m, want) {
		t.Fatalf("SSE after the timeouts: %s", m)
	}
	// The poll waited past WriteTimeout, and its empty answer still came.
	select {
	case r := <-pending:
		if r.status != http.StatusOK || len(r.body) != 0 || r.took < 4*d {
			t.Fatalf("a poll that waited out LongPollTimeout: %d %q after %v", r.status, r.body, r.took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pending poll did not return")
	}
	if m := pollMessages(t, hubURL, lp, 1); !jsonEqual(m[0], want) {
		t.Fatalf("long polling after the timeouts: %s", m[0])
	}
}

// keepAliveSockets opens n connections that each send one request (a
// negotiate) and read its answer, then stay open as a keep-alive client
// leaves them.
func keepAliveSockets(t *testing.T, hubURL string, n int) []net.Conn {
	t.Helper()
	var out []net.Conn
	for range n {
		c, err := net.Dial("tcp", hostOf(t, hubURL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		req, _ := http.NewRequest(http.MethodPost, hubURL+"/negotiate?negotiateVersion=1", nil)
		if err := req.Write(c); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("negotiate: %d (close %v)", resp.StatusCode, resp.Close)
		}
		out = append(out, c)
	}
	return out
}

// A POST body that trickles slower than Kestrel's least rate (240 bytes per
// second after 5 s) is answered 408, whatever the server's ReadTimeout (none
// here); the other connections carry on.
func TestSlowPostBodyTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 5 s grace period")
	}
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})
	lp := startLongPoll(t, hubURL, true)
	other := connect(t, hubURL)

	c, err := net.Dial("tcp", hostOf(t, hubURL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := strings.TrimPrefix(hubURL, "http://"+hostOf(t, hubURL))
	fmt.Fprintf(c, "POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 10000\r\n\r\n", path, lp, hostOf(t, hubURL))
	start := time.Now()
	done := make(chan struct{})
	go func() { // a byte a second: 1/240 of the least rate
		defer close(done)
		for range 20 {
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
			select {
			case <-time.After(time.Second):
			case <-t.Context().Done():
				return
			}
		}
	}()
	other.echo("1")
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to the trickling POST: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("trickling POST: %d", resp.StatusCode)
	}
	if took := time.Since(start); took < 5*time.Second || took > 10*time.Second {
		t.Fatalf("answered after %v, want just after the 5 s grace period", took)
	}
	c.Close()
	<-done
	other.echo("2")
}
