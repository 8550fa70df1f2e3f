package netpoll_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/actorhub/actorhub/netpoll"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// echo answers every message with the same message.
type echo struct{ closed chan error }

func (echo) OnMessage(c *netpoll.Conn, op ws.OpCode, payload []byte) {
	// payload is only valid during the call: AppendFrame copies it.
	_ = c.Write([][]byte{netpoll.AppendFrame(nil, op, payload)})
}

func (e echo) OnClose(c *netpoll.Conn, err error) { e.closed <- err }

func Example() {
	p, err := netpoll.New(netpoll.Config{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	h := echo{closed: make(chan error, 1)}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		// Bytes the HTTP server read past the request belong to the
		// WebSocket stream.
		buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
		if _, err := p.Register(conn, h, buffered); err != nil {
			conn.Close()
		}
		// Returning frees this goroutine; the connection stays open.
	}))
	defer srv.Close()

	conn, _, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		panic(err)
	}
	_ = wsutil.WriteClientText(conn, []byte("hello"))
	msg, _ := wsutil.ReadServerText(conn)
	fmt.Println(string(msg))

	_ = wsutil.WriteClientMessage(conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	fmt.Println("clean close:", <-h.closed == nil)
	conn.Close()
	// Output:
	// hello
	// clean close: true
}
