package transports_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
)

// TestTransportMessageLimitPerHub: two hubs on one runtime (one poller)
// keep their own MaxTransportMessageSize: a WebSocket message between the
// two limits closes the connection of the tighter hub with 1009 and
// reaches the hub method of the looser one. Hub messages have no limit
// here, so only the transport limit can refuse it.
func TestTransportMessageLimitPerHub(t *testing.T) {
	rt, err := hub.NewRuntime(hub.RuntimeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	var hubs []*hub.Hub
	var handlers []*transports.Handler
	for _, c := range []struct {
		path  string
		limit int
	}{{"/tight", 2000}, {"/loose", 8000}} {
		h, err := hub.New(testHub{}, hub.Config{Runtime: rt, MaximumReceiveMessageSize: -1, MaxTransportMessageSize: c.limit})
		if err != nil {
			t.Fatal(err)
		}
		hd, err := transports.NewHandler(h, transports.Config{})
		if err != nil {
			t.Fatal(err)
		}
		hd.Mount(mux, c.path)
		hubs = append(hubs, h)
		handlers = append(handlers, hd)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i, h := range hubs {
			if err := h.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			_ = handlers[i].Close()
		}
		rt.Close()
	})

	big := strings.Repeat("x", 4000)
	loose := connect(t, srv.URL+"/loose")
	if m := loose.invoke("1", "Echo", big); m.Result != big {
		t.Fatalf("a 4 kB message to the 8 kB hub: %+v", m.Error)
	}
	tight := connect(t, srv.URL+"/tight")
	tight.echo("1") // under the limit
	tight.send(invocation("2", "Echo", big))
	if code := tight.expectCloseFrame(); code != ws.StatusMessageTooBig {
		t.Fatalf("a 4 kB message to the 2 kB hub: close code %d, want %d", code, ws.StatusMessageTooBig)
	}
	loose.echo("2") // the other hub's connection carries on
}
