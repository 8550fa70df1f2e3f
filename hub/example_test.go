package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Chat is a hub: clients call Send, and every client gets ReceiveMessage.
type Chat struct{}

// Send broadcasts a message to every connected client, the caller included.
func (Chat) Send(ctx *hub.Context, user, message string) error {
	return ctx.Clients.All().Send("ReceiveMessage", user, message)
}

// A hub served over HTTP, and a raw WebSocket client that speaks the SignalR
// JSON protocol to it: handshake, one invocation, and what comes back.
func Example() {
	h, err := hub.New(Chat{}, hub.Config{})
	if err != nil {
		panic(err)
	}
	handler, err := transports.NewHandler(h, transports.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	handler.Mount(mux, "/hubs/chat")
	srv := httptest.NewServer(mux)

	// A client that skips negotiation connects with no id.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/hubs/chat")
	if err != nil {
		panic(err)
	}
	send := func(record string) {
		if err := wsutil.WriteClientText(conn, []byte(record+"\x1e")); err != nil {
			panic(err)
		}
	}
	send(`{"protocol":"json","version":1}`)
	send(`{"type":1,"invocationId":"1","target":"Send","arguments":["ann","hi"]}`)

	// Records end with 0x1E; a frame may hold several.
	for done := false; !done; {
		data, _, err := wsutil.ReadServerData(conn)
		if err != nil {
			panic(err)
		}
		for _, rec := range bytes.Split(data, []byte{0x1e}) {
			if len(rec) == 0 {
				continue
			}
			fmt.Println(string(rec))
			done = done || bytes.HasPrefix(rec, []byte(`{"type":3,`))
		}
	}

	conn.Close()
	if err := h.Shutdown(ctx); err != nil {
		panic(err)
	}
	handler.Close()
	srv.Close()
	// Output:
	// {}
	// {"type":1,"target":"ReceiveMessage","arguments":["ann","hi"]}
	// {"type":3,"invocationId":"1","result":null}
}

// The hub context sends from outside any hub method: a timer, an HTTP
// handler, another service. The error only reports arguments that cannot be
// encoded; it is nil here even though no client is connected.
func ExampleHub_Clients() {
	h, err := hub.New(Chat{}, hub.Config{})
	if err != nil {
		panic(err)
	}
	defer h.Shutdown(context.Background())

	err = h.Clients().All().Send("ReceiveMessage", "system", "maintenance at 22:00")
	fmt.Println(err)

	err = h.Clients().Group("admins").Send("ReceiveMessage", "system", make(chan int))
	fmt.Println(err != nil)
	// Output:
	// <nil>
	// true
}

// Upper answers every message of a raw connection in upper case.
type Upper struct{}

func (Upper) OnConnected(hub.RawConn) error { return nil }

func (Upper) OnReceive(c hub.RawConn, data []byte) { _ = c.Write(bytes.ToUpper(data)) }

func (Upper) OnDisconnected(hub.RawConn, error) {}

// A raw connection endpoint (ASP.NET Core's MapConnectionHandler): the
// transport's bytes with no hub protocol, here over a WebSocket without
// negotiate.
func ExampleNewEndpoint() {
	e, err := hub.NewEndpoint(Upper{}, hub.EndpointConfig{})
	if err != nil {
		panic(err)
	}
	handler, err := transports.NewConnectionHandler(e, transports.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	handler.Mount(mux, "/upper")
	srv := httptest.NewServer(mux)
	defer func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		_ = handler.Close()
	}()

	conn, _, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/upper")
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_ = wsutil.WriteClientText(conn, []byte("hello"))
	reply, op, _ := wsutil.ReadServerData(conn)
	fmt.Println(op == ws.OpText, string(reply))
	// Output: true HELLO
}
