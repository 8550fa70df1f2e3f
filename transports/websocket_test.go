package transports_test

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
)

func TestWebSocketConnectionTokens(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{}, transports.Config{})

	t.Run("unknown id", func(t *testing.T) {
		if s := dialStatus(t, hubURL, "id=AAAAAAAAAAAAAAAAAAAAAA", nil); s != http.StatusNotFound {
			t.Fatalf("status %d, want 404", s)
		}
	})
	t.Run("second WebSocket", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", nil)
		c := dial(t, hubURL, "id="+n.ConnectionToken, nil)
		c.handshake()
		if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, nil); s != http.StatusConflict {
			t.Fatalf("status %d, want 409", s)
		}
		c.echo("1") // the first is unharmed
	})
	t.Run("connection id is not the token", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", nil)
		if s := dialStatus(t, hubURL, "id="+n.ConnectionID, nil); s != http.StatusNotFound {
			t.Fatalf("status %d, want 404", s)
		}
	})
	t.Run("token after close", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", nil)
		c := dial(t, hubURL, "id="+n.ConnectionToken, nil)
		c.handshake()
		c.send(`{"type":7}`) // the client's Close
		if code := c.expectCloseFrame(); code != ws.StatusNormalClosure {
			t.Fatalf("close code %d", code)
		}
		c.expectEOF()
		// The token is forgotten when the transport ends; until then a
		// new WebSocket gets 409.
		testutil.EventuallyWithin(t, 10*time.Second, "the token to be forgotten", func() bool {
			switch s := dialStatus(t, hubURL, "id="+n.ConnectionToken, nil); s {
			case http.StatusNotFound:
				return true
			case http.StatusConflict:
				return false
			default:
				t.Fatalf("status %d, want 409 then 404", s)
				return false
			}
		})
	})
	t.Run("skipNegotiation", func(t *testing.T) {
		// The earlier subtests' connections are gone once their
		// transports end.
		testutil.EventuallyWithin(t, 10*time.Second, "no connection", func() bool { return h.Stats().Open == 0 })
		c := connect(t, hubURL)
		if m := c.invoke("1", "Add", 2, 3); m.Error != "" || m.Result != float64(5) {
			t.Fatalf("Add: %+v", m)
		}
		if got := h.Stats().Connections; got != 1 {
			t.Fatalf("%d connections, want 1", got)
		}
	})
	t.Run("POST to a WebSocket connection", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", nil)
		c := dial(t, hubURL, "id="+n.ConnectionToken, nil)
		c.handshake()
		status, _, body := post(t, hubURL+"?id="+n.ConnectionToken, nil)
		if status != http.StatusMethodNotAllowed {
			t.Fatalf("status %d: %s", status, body)
		}
		// Another transport's GET: 400.
		status, _, body = do(t, http.MethodGet, hubURL+"?id="+n.ConnectionToken, nil)
		if status != http.StatusBadRequest {
			t.Fatalf("GET: status %d: %s", status, body)
		}
		c.echo("1")
	})
}

// TestNegotiatedTokenExpires: a token that no transport takes up within
// DisconnectTimeout is forgotten, and its WebSocket then gets 404.
func TestNegotiatedTokenExpires(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	hubURL, _ := startServer(t, hub.Config{DisconnectTimeout: timeout}, transports.Config{})

	// A token taken up by a WebSocket does not expire: negotiated before
	// the other, it would be forgotten in the same janitor round.
	live := negotiate(t, hubURL, "negotiateVersion=1", nil)
	c := dial(t, hubURL, "id="+live.ConnectionToken, nil)
	c.handshake()

	start := time.Now()
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	// A DELETE looks the token up without taking it: 400 (not a long
	// polling connection) while it is known, 404 once it is forgotten.
	known := func() bool {
		status, _, body := do(t, http.MethodDelete, hubURL+"?id="+n.ConnectionToken, nil)
		switch status {
		case http.StatusBadRequest:
			return true
		case http.StatusNotFound:
			return false
		}
		t.Fatalf("DELETE: status %d: %s", status, body)
		return false
	}
	if !known() {
		t.Fatal("the token is unknown at once")
	}
	testutil.EventuallyWithin(t, timeout+5*time.Second, "the token to expire", func() bool { return !known() })
	if d := time.Since(start); d < timeout {
		t.Fatalf("the token expired after %v, before DisconnectTimeout %v", d, timeout)
	} else {
		t.Logf("expired after %v", d)
	}
	if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, nil); s != http.StatusNotFound {
		t.Fatalf("WebSocket status %d, want 404", s)
	}

	if s := dialStatus(t, hubURL, "id="+live.ConnectionToken, nil); s != http.StatusConflict {
		t.Fatalf("status %d for a live connection's token, want 409", s)
	}
	c.echo("1")
}

// TestBufferedBytesAfterUpgrade: the upgrade request, the handshake and an
// invocation in one TCP write; the HTTP server's reader holds the frames
// when the handler runs, and the server must still serve them.
func TestBufferedBytesAfterUpgrade(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})

	conn, err := net.Dial("tcp", hostOf(t, hubURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET /hub HTTP/1.1\r\n" +
		"Host: " + hostOf(t, hubURL) + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	b := []byte(req)
	b = append(b, clientFrame(ws.OpText, []byte(handshakeRequest+"\x1e"+invocation("1", "Add", 2, 3)+"\x1e"))...)
	b = append(b, clientFrame(ws.OpText, []byte(invocation("2", "Echo", "second frame")+"\x1e"))...)
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}

	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept %q", got)
	}
	c := &wsClient{t: t, conn: conn, r: br}
	c.expect(`{}`)
	if m := c.completion("1"); m.Error != "" || m.Result != float64(5) {
		t.Fatalf("Add: %+v", m)
	}
	if m := c.completion("2"); m.Error != "" || m.Result != "second frame" {
		t.Fatalf("Echo: %+v", m)
	}
}

// TestGroupsAndBroadcast: a message to a group reaches its members only,
// and one to all reaches everyone, over real sockets.
func TestGroupsAndBroadcast(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})
	a, b := connect(t, hubURL), connect(t, hubURL)

	if m := a.invoke("1", "JoinGroup", "g"); m.Error != "" {
		t.Fatalf("JoinGroup: %+v", m)
	}
	// The member gets its copy before the Completion of the send.
	b.send(invocation("1", "SendToGroup", "g", "to g"))
	a.expect(`{"type":1,"target":"groupMessage","arguments":["to g"]}`)
	b.completion("1")

	a.send(invocation("2", "SendToAll", "to all"))
	a.expect(`{"type":1,"target":"broadcast","arguments":["to all"]}`)
	a.completion("2")
	// b got nothing from the group: the broadcast is the next thing it reads.
	b.expect(`{"type":1,"target":"broadcast","arguments":["to all"]}`)
}
