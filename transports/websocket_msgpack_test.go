package transports_test

import (
	"io"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/protocol"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// readFrame returns the next data frame's opcode and payload, answering
// pings on the way.
func (c *wsClient) readFrame() (ws.OpCode, []byte) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			c.t.Fatalf("client read: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, p); err != nil {
			c.t.Fatalf("client read: %v", err)
		}
		switch h.OpCode {
		case ws.OpPing:
			_ = wsutil.WriteClientMessage(c.conn, ws.OpPong, p)
		case ws.OpPong:
		default:
			if !h.Fin {
				c.t.Fatalf("fragmented server frame")
			}
			return h.OpCode, p
		}
	}
}

// readMsgPack reads binary frames until a hub message other than Ping,
// checking that every frame holds whole messages.
func (c *wsClient) readMsgPack() protocol.Message {
	c.t.Helper()
	for {
		op, p := c.readFrame()
		if op != ws.OpBinary {
			c.t.Fatalf("got a %v frame %q, want binary", op, p)
		}
		for len(p) > 0 {
			m, rest, err := protocol.MessagePack.ReadMessage(p, 0)
			if err != nil {
				c.t.Fatalf("frame %x: %v", p, err)
			}
			if _, ping := m.(*protocol.Ping); !ping {
				if len(rest) != 0 {
					c.t.Fatalf("more messages after %#v in one frame", m)
				}
				return m
			}
			p = rest
		}
	}
}

func (c *wsClient) sendMsgPack(msgs ...protocol.Message) {
	c.t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = protocol.MessagePack.AppendMessage(b, m); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := wsutil.WriteClientBinary(c.conn, b); err != nil {
		c.t.Fatalf("client write: %v", err)
	}
}

func bindCompletion[T any](t *testing.T, m protocol.Message, id string) T {
	t.Helper()
	comp, ok := m.(*protocol.Completion)
	if !ok || comp.InvocationID != id || comp.Error != "" || !comp.HasResult {
		t.Fatalf("got %#v, want a result for %q", m, id)
	}
	var v T
	if err := protocol.MessagePack.Bind(comp.Result, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWebSocketMessagePack: the handshake comes in a text frame, as the JS
// client sends it, and is answered with {} in a binary frame; invocations
// and their completions travel in binary frames.
func TestWebSocketMessagePack(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})
	c := dial(t, hubURL, "", nil)
	c.send(`{"protocol":"messagepack","version":1}`)
	op, p := c.readFrame()
	if op != ws.OpBinary || string(p) != "{}\x1e" {
		t.Fatalf("handshake answer: %v frame %q, want binary {}\\x1e", op, p)
	}
	c.sendMsgPack(&protocol.Ping{}, &protocol.Invocation{InvocationID: "1", Target: "Add", Arguments: []any{40, 2}})
	if n := bindCompletion[int](t, c.readMsgPack(), "1"); n != 42 {
		t.Fatalf("Add(40, 2) = %d", n)
	}
	c.sendMsgPack(&protocol.Invocation{InvocationID: "2", Target: "Echo", Arguments: []any{"héllo"}})
	if s := bindCompletion[string](t, c.readMsgPack(), "2"); s != "héllo" {
		t.Fatalf("Echo = %q", s)
	}
	// A float does not bind to an int parameter.
	c.sendMsgPack(&protocol.Invocation{InvocationID: "3", Target: "Add", Arguments: []any{1.5, 2}})
	if comp, ok := c.readMsgPack().(*protocol.Completion); !ok || comp.InvocationID != "3" ||
		comp.Error != "Failed to invoke 'Add' due to an error on the server." {
		t.Fatalf("got %#v", comp)
	}
}

// TestWebSocketMessagePackHandshakeSharesFrame: a client may put its first
// messages in the handshake's frame. That frame must be binary: a text frame
// must hold UTF-8, which MessagePack is not (the JS client never mixes them:
// its send queue refuses to join strings and buffers).
func TestWebSocketMessagePackHandshakeSharesFrame(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})
	c := dial(t, hubURL, "", nil)
	b := []byte(`{"protocol":"messagepack","version":1}` + "\x1e")
	b, _ = protocol.MessagePack.AppendMessage(b, &protocol.Invocation{InvocationID: "7", Target: "Echo", Arguments: []any{"x"}})
	if err := wsutil.WriteClientBinary(c.conn, b); err != nil {
		t.Fatal(err)
	}
	if op, p := c.readFrame(); op != ws.OpBinary || string(p) != "{}\x1e" {
		t.Fatalf("handshake answer: %v frame %q", op, p)
	}
	if s := bindCompletion[string](t, c.readMsgPack(), "7"); s != "x" {
		t.Fatalf("Echo = %q", s)
	}
}

// TestWebSocketMessagePackBroadcast: one broadcast reaches a JSON and a
// MessagePack connection, each in its own protocol and frame type.
func TestWebSocketMessagePackBroadcast(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})
	j := connect(t, hubURL)
	m := dial(t, hubURL, "", nil)
	m.send(`{"protocol":"messagepack","version":1}`)
	if op, p := m.readFrame(); op != ws.OpBinary || string(p) != "{}\x1e" {
		t.Fatalf("handshake answer: %v frame %q", op, p)
	}
	m.sendMsgPack(&protocol.Invocation{InvocationID: "1", Target: "SendToAll", Arguments: []any{"hi"}})
	var sawBroadcast, sawCompletion bool
	for range 2 { // the broadcast and the completion, in either order
		switch msg := m.readMsgPack().(type) {
		case *protocol.Invocation:
			var s string
			if msg.Target != "broadcast" || len(msg.Arguments) != 1 || protocol.MessagePack.Bind(msg.Arguments[0], &s) != nil || s != "hi" {
				t.Fatalf("broadcast: %#v", msg)
			}
			sawBroadcast = true
		case *protocol.Completion:
			if msg.InvocationID != "1" || msg.Error != "" {
				t.Fatalf("completion: %#v", msg)
			}
			sawCompletion = true
		default:
			t.Fatalf("unexpected %#v", msg)
		}
	}
	if !sawBroadcast || !sawCompletion {
		t.Fatalf("broadcast %v, completion %v", sawBroadcast, sawCompletion)
	}
	j.expect(`{"type":1,"target":"broadcast","arguments":["hi"]}`)
}
