package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nhooyr.io/websocket"
)

// client is a raw SignalR JSON client over nhooyr.io/websocket (the
// library's own WebSocket package, so the module needs nothing more).
type client struct {
	t    *testing.T
	conn *websocket.Conn
	ctx  context.Context
	got  []string // records read but not yet taken
}

func dial(t *testing.T, ctx context.Context, base string) *client {
	t.Helper()
	resp, err := http.Post(base+"/hubs/conformance/negotiate?negotiateVersion=1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n struct {
		ConnectionID    string `json:"connectionId"`
		ConnectionToken string `json:"connectionToken"`
	}
	err = json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := n.ConnectionToken
	if id == "" { // v0.6.3 answers negotiate v0
		id = n.ConnectionID
	}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/hubs/conformance?id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	c := &client{t: t, conn: conn, ctx: ctx}
	c.send(`{"protocol":"json","version":1}`)
	if got := c.recv(); got != "{}" {
		t.Fatalf("handshake reply %q", got)
	}
	return c
}

func (c *client) send(record string) {
	c.t.Helper()
	if err := c.conn.Write(c.ctx, websocket.MessageText, []byte(record+"\x1e")); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next record that is not a Ping.
func (c *client) recv() string {
	c.t.Helper()
	for {
		for len(c.got) > 0 {
			r := c.got[0]
			c.got = c.got[1:]
			if r != `{"type":6}` {
				return r
			}
		}
		_, data, err := c.conn.Read(c.ctx)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		for _, r := range strings.Split(string(data), "\x1e") {
			if r != "" {
				c.got = append(c.got, r)
			}
		}
	}
}

// recvAll reads n records, in whatever order they come (the library runs
// invocations concurrently).
func (c *client) recvAll(n int) map[string]bool {
	out := map[string]bool{}
	for range n {
		out[c.recv()] = true
	}
	return out
}

func TestHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mux, err := newMux(ctx, time.Minute, time.Minute, 32768, false)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a, b := dial(t, ctx, srv.URL), dial(t, ctx, srv.URL)

	a.send(`{"type":1,"invocationId":"0","target":"Echo","arguments":[{"x":[1,"é"]}]}`)
	if got := a.recv(); got != `{"type":3,"invocationId":"0","result":{"x":[1,"é"]}}` {
		t.Fatalf("Echo: %q", got)
	}

	inv := `{"type":1,"target":"tick","arguments":[{"k":1}]}`
	a.send(`{"type":1,"invocationId":"1","target":"SendToAll","arguments":["tick",{"k":1}]}`)
	if got := a.recvAll(2); !got[inv] || !got[`{"type":3,"invocationId":"1"}`] {
		t.Fatalf("caller got %v", got)
	}
	if got := b.recv(); got != inv {
		t.Fatalf("other got %q", got)
	}

	b.send(`{"type":1,"invocationId":"0","target":"JoinGroup","arguments":["g"]}`)
	if got := b.recv(); got != `{"type":3,"invocationId":"0"}` {
		t.Fatalf("JoinGroup: %q", got)
	}
	a.send(`{"type":1,"invocationId":"2","target":"SendToGroup","arguments":["g","room","hi"]}`)
	if got := a.recv(); got != `{"type":3,"invocationId":"2"}` {
		t.Fatalf("SendToGroup: %q", got)
	}
	if got := b.recv(); got != `{"type":1,"target":"room","arguments":["hi"]}` {
		t.Fatalf("member got %q", got)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "\ngo_goroutines ") {
		t.Fatalf("metrics:\n%s", body)
	}
}
