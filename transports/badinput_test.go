package transports_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/gobwas/ws"
)

const closedWithError = `{"type":7,"error":"Connection closed with an error.","allowReconnect":true}`

// TestBadInput sends what a broken or hostile client might over a real
// socket: the offender is closed as ASP.NET Core would close it, and a
// bystander connection keeps working.
func TestBadInput(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{MaximumReceiveMessageSize: 1024}, transports.Config{})
	bystander := connect(t, hubURL)
	round := 0
	bystanderWorks := func(t *testing.T) {
		t.Helper()
		round++
		bystander.echo(fmt.Sprint(round))
	}

	t.Run("malformed JSON", func(t *testing.T) {
		c := connect(t, hubURL)
		c.send(`{"type":1,"invocationId":"1","target":"Echo","arguments":[`)
		c.expect(closedWithError)
		if code := c.expectCloseFrame(); code != ws.StatusNormalClosure {
			t.Fatalf("close code %d, want 1000", code)
		}
		c.expectEOF()
		bystanderWorks(t)
	})
	t.Run("too large", func(t *testing.T) {
		c := connect(t, hubURL)
		c.echo("1") // under the limit
		c.send(invocation("2", "Echo", strings.Repeat("x", 1024)))
		c.expect(closedWithError)
		if code := c.expectCloseFrame(); code != ws.StatusNormalClosure {
			t.Fatalf("close code %d, want 1000", code)
		}
		c.expectEOF()
		bystanderWorks(t)
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		c := connect(t, hubURL)
		c.sendRaw(clientFrame(ws.OpText, []byte("{\"type\":1,\"target\":\"Echo\",\"arguments\":[\"\xff\xfe\"]}\x1e")))
		if code := c.expectCloseFrame(); code != ws.StatusInvalidFramePayloadData {
			t.Fatalf("close code %d, want 1007", code)
		}
		c.expectEOF()
		bystanderWorks(t)
	})
	t.Run("unknown message type", func(t *testing.T) {
		c := connect(t, hubURL)
		c.send(`{"type":99,"whatever":[1,2,3]}`)
		c.echo("1")
		c.send(`{"type":99}`, invocation("2", "Add", 1, 2)) // in one frame
		if m := c.completion("2"); m.Result != float64(3) {
			t.Fatalf("Add: %+v", m)
		}
	})
	t.Run("non-blocking failure", func(t *testing.T) {
		c := connect(t, hubURL)
		c.send(invocation("", "Fail"))
		c.send(invocation("", "Boom"))
		c.send(invocation("", "NoSuchMethod"))
		c.send(invocation("", "Add", "not a number", 1))
		// Nothing answered them: the next message is this Completion.
		c.echo("1")
	})
	t.Run("failing method", func(t *testing.T) {
		c := connect(t, hubURL)
		if m := c.invoke("1", "Fail"); m.Error != "An unexpected error occurred invoking 'Fail' on the server." {
			t.Fatalf("Fail: %+v", m)
		}
		if m := c.invoke("2", "NoSuchMethod"); m.Error != "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist." {
			t.Fatalf("NoSuchMethod: %+v", m)
		}
		if m := c.invoke("3", "Add", "x", 1); m.Error != "Failed to invoke 'Add' due to an error on the server." {
			t.Fatalf("Add with a bad argument: %+v", m)
		}
		c.echo("4")
	})
	t.Run("panic", func(t *testing.T) {
		c := connect(t, hubURL)
		for i := range 3 {
			id := fmt.Sprint(i)
			if m := c.invoke(id, "Boom"); m.Error != "An unexpected error occurred invoking 'Boom' on the server." {
				t.Fatalf("Boom: %+v", m)
			}
		}
		c.echo("4")
		bystanderWorks(t)
		connect(t, hubURL).echo("1") // and it takes new connections
	})

	bystanderWorks(t)
	if n := h.Stats().Closes["protocol"]; n != 2 {
		t.Errorf("%d protocol closes, want 2 (malformed, too large)", n)
	}
}

// TestStalledHalfFrame: clients that send half a WebSocket frame and stop
// hold no worker; another client's invocations keep completing promptly,
// and the stalled frames are served when they are finished.
func TestStalledHalfFrame(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})

	frames := make([][]byte, 8) // more stallers than workers
	stallers := make([]*wsClient, len(frames))
	for i := range stallers {
		stallers[i] = connect(t, hubURL)
		frames[i] = clientFrame(ws.OpText, []byte(invocation("s", "Echo", strings.Repeat("y", 1000*i))+"\x1e"))
		cut := len(frames[i]) / 2
		if i == 0 {
			cut = 1 // one byte of a header
		}
		stallers[i].sendRaw(frames[i][:cut])
		frames[i] = frames[i][cut:]
	}

	other := connect(t, hubURL)
	var slowest time.Duration
	for i := range 200 {
		start := time.Now()
		other.echo(fmt.Sprint(i))
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("slowest of 200 invocations while %d clients stall: %v", len(stallers), slowest)
	if slowest > time.Second {
		t.Fatalf("an invocation took %v while others stall", slowest)
	}

	for i, c := range stallers {
		c.sendRaw(frames[i])
		if m := c.completion("s"); m.Error != "" || m.Result != strings.Repeat("y", 1000*i) {
			t.Fatalf("staller %d: %.80v", i, m)
		}
	}
}
